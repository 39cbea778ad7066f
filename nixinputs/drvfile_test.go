package nixinputs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWalkClosureRefusesSpecialFiles: a .drv that is a device, a FIFO or
// larger than MaxDerivationSize, as a root or as an input, is refused by
// name before it is read (a .drv symlinked to /dev/zero used to grow
// without bound, and a FIFO to hang the walk).
func TestWalkClosureRefusesSpecialFiles(t *testing.T) {
	s := newFakeStore(t)
	special := func(name string, make func(p string) error) string {
		p := fakeStorePath(s.seed, name)
		if err := make(filepath.Join(s.root, p)); err != nil {
			t.Fatal(err)
		}
		return p
	}
	zero := special("zero.drv", func(p string) error { return os.Symlink("/dev/zero", p) })
	fifo := special("fifo.drv", func(p string) error { return unix.Mkfifo(p, 0o600) })
	huge := special("huge.drv", func(p string) error {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Truncate(MaxDerivationSize + 1)
	})
	for _, tc := range []struct {
		drv, want string
	}{
		{zero, "a character device, not a regular file"},
		{fifo, "a named pipe (FIFO), not a regular file"},
		{huge, fmt.Sprintf("%d bytes, larger than the limit of %d bytes", MaxDerivationSize+1, MaxDerivationSize)},
	} {
		_, err := WalkClosure(context.Background(), []string{tc.drv}, WalkOptions{StoreRoot: s.root})
		if err == nil || !strings.Contains(err.Error(), tc.drv) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("root %s: error %v, want %q", tc.drv, err, tc.want)
		}
		top := s.add(t, simpleDrv(s.seed, "top-"+filepath.Base(tc.drv), tc.drv))
		_, err = WalkClosure(context.Background(), []string{top}, WalkOptions{StoreRoot: s.root, Workers: 2})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "an input of "+top) {
			t.Errorf("input %s: error %v, want %q", tc.drv, err, tc.want)
		}
		if _, err := ReadDerivation(filepath.Join(s.root, tc.drv)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadDerivation(%s): error %v, want %q", tc.drv, err, tc.want)
		}
	}
}
