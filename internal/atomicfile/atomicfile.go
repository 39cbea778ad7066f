// Package atomicfile writes a file so that its path never holds a partial
// one: the bytes go to a temporary sibling, which is renamed into place. Its
// RenameNoReplace puts what a writer prepared under a temporary name in
// place without replacing anything.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes data to path through a temporary sibling and a rename; on
// any error nothing is left at path or beside it.
func Write(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	fail := func(err error) error {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Chmod(perm); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
