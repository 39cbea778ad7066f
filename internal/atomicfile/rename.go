package atomicfile

import (
	"errors"
	"fmt"
	"os"
)

// ErrExists is the error of RenameNoReplace when the new name exists.
var ErrExists = errors.New("already exists")

// RenameNoReplace renames from to to, failing with an error that wraps
// ErrExists if to exists: the file or directory a writer prepared under a
// temporary name appears whole at its name, and never replaces something
// that appeared there meanwhile (rename(2) would replace a file or an empty
// directory). On Linux it is renameat2 with RENAME_NOREPLACE; elsewhere, and
// on file systems without that flag, a regular file is linked (link(2)
// refuses an existing name) and a directory is checked for just before the
// rename, which leaves a window that only another writer racing for the
// same name can use.
func RenameNoReplace(from, to string) error {
	return renameNoReplace(from, to)
}

// renamePortable is RenameNoReplace without renameat2.
func renamePortable(from, to string) error {
	fi, err := os.Lstat(from)
	if err != nil {
		return err
	}
	if fi.Mode().IsRegular() {
		err := os.Link(from, to)
		if err == nil {
			return os.Remove(from)
		}
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s: %w", to, ErrExists)
		}
		// No hard links on this file system: check, then rename.
	}
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("%s: %w", to, ErrExists)
	}
	return os.Rename(from, to)
}
