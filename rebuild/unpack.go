package rebuild

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/nix-community/go-nix/pkg/nar"
)

// unpackNAR writes the tree of the NAR in r at dest, which must not exist:
// directories 0755, files 0644 or 0755 when executable, symbolic links as
// they are. walkNAR has checked every name, so no entry leaves dest, and
// every parent was made here as a directory, so none is followed through a
// link.
func unpackNAR(r io.Reader, dest string) error {
	return walkNAR(r, func(name string, h *nar.Header, body io.Reader) error {
		p := filepath.Join(dest, filepath.FromSlash(name))
		switch h.Type {
		case nar.TypeDirectory:
			return os.Mkdir(p, 0o755)
		case nar.TypeSymlink:
			return os.Symlink(h.LinkTarget, p)
		case nar.TypeRegular:
			perm := os.FileMode(0o644)
			if h.Executable {
				perm = 0o755
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, body); err != nil {
				f.Close()
				return fmt.Errorf("unpacking %s: %w", name, err)
			}
			return f.Close()
		}
		return fmt.Errorf("NAR entry %s: unknown type %q", name, h.Type)
	})
}
