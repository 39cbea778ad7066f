package rebuild

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync/atomic"

	"github.com/nix-community/go-nix/pkg/nar"
)

// Bounds on a NAR read here, beyond go-nix's own (255 bytes per name, 4095
// per symlink target). A tree deeper or larger than these cannot be
// unpacked on Linux or listed in useful memory, and no Nix output is.
const (
	// maxNARPath bounds the path of an entry inside the NAR (PATH_MAX).
	maxNARPath = 4096
	// maxNAREntries bounds the entries of one NAR.
	maxNAREntries = 1 << 22
)

// errStopped is what the NAR's reader returns once walkNAR has stopped.
var errStopped = errors.New("stopped reading the NAR")

// narSource is the reader go-nix's nar.Reader parses from.
//
// A NAR ends with the root node's ")": the parser never reads past it, so
// an end of input it meets is always a truncated NAR. go-nix reports an
// end that falls between two tokens as io.EOF, which its Next passes on as
// the NAR's regular end; narSource reports it as io.ErrUnexpectedEOF.
//
// go-nix parses in a goroutine that waits for its consumer. Once stopped
// is set, reads fail with errStopped: a consumer that stops early makes
// the goroutine fail on its next read, and Next then collects its error,
// so that it ends.
type narSource struct {
	r       io.Reader
	stopped atomic.Bool
}

func (s *narSource) Read(p []byte) (int, error) {
	if s.stopped.Load() {
		return 0, errStopped
	}
	n, err := s.r.Read(p)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// narVisitor is called for each entry of a NAR, in NAR order. name is the
// entry's path relative to the root, "." for the root itself; body reads a
// regular file's contents (only during the call).
type narVisitor func(name string, h *nar.Header, body io.Reader) error

// walkNAR reads the NAR serialisation in r entry by entry and calls visit
// for each. Beyond what go-nix checks, every entry's path must come
// strictly after the one before in NAR order (so that no name is empty,
// "." or "..", and none repeats), below a directory that is in the NAR,
// within maxNARPath bytes, and there are at most maxNAREntries; nothing may
// follow the root node.
func walkNAR(r io.Reader, visit narVisitor) (err error) {
	src := &narSource{r: r}
	nr, err := nar.NewReader(src)
	if err != nil {
		return fmt.Errorf("not a NAR: %w", err)
	}
	defer func() {
		if err != nil {
			// Let the parser run into errStopped, and collect its error.
			src.stopped.Store(true)
			for {
				if _, e := nr.Next(); e != nil {
					break
				}
			}
		}
	}()
	dirs := map[string]bool{}
	prev := ""
	for n := 0; ; n++ {
		h, err := nr.Next()
		if err == io.EOF && n == 0 {
			// go-nix takes "( type ) )" for a node of no type.
			return errors.New("reading the NAR: no root node")
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the NAR: %w", err)
		}
		if n == maxNAREntries {
			return fmt.Errorf("the NAR has more than %d entries", maxNAREntries)
		}
		if err := checkEntry(h, n, prev, dirs); err != nil {
			return err
		}
		if h.Type == nar.TypeDirectory {
			dirs[h.Path] = true
		}
		prev = h.Path
		name := "."
		if h.Path != "/" {
			name = h.Path[1:]
		}
		if err := visit(name, h, nr); err != nil {
			return err
		}
	}
	var b [1]byte
	switch k, err := io.ReadFull(r, b[:]); {
	case k > 0:
		return errors.New("the NAR is followed by other data")
	case err != io.EOF:
		return fmt.Errorf("reading the NAR: %w", err)
	}
	return nil
}

// checkEntry checks the n-th entry's header against the entries before it.
func checkEntry(h *nar.Header, n int, prev string, dirs map[string]bool) error {
	if err := h.Validate(); err != nil {
		return fmt.Errorf("NAR entry %q: %w", h.Path, err)
	}
	if len(h.Path) > maxNARPath {
		return fmt.Errorf("NAR entry %.64q…: path longer than %d bytes", h.Path, maxNARPath)
	}
	if n == 0 {
		if h.Path != "/" {
			return fmt.Errorf("NAR entry %q comes before the root", h.Path)
		}
		return nil
	}
	if narCompare(prev, h.Path) >= 0 {
		return fmt.Errorf("NAR entry %q does not come after %q (a repeated, empty, \".\" or \"..\" name, or entries out of order)", h.Path, prev)
	}
	if !dirs[path.Dir(h.Path)] {
		return fmt.Errorf("NAR entry %q is not inside a directory of the NAR", h.Path)
	}
	return nil
}

// narCompare orders paths as a NAR lists them: component by component,
// each compared bytewise, so that "/a/b" comes before "/a-b". Since no name
// holds a '/' or a NUL, that is a bytewise comparison in which '/' sorts
// before every other byte. The root ("/" or ".") comes first; a leading
// '/' is ignored.
func narCompare(a, b string) int {
	a, b = narKey(a), narKey(b)
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		switch {
		case ca == cb:
		case ca == '/':
			return -1
		case cb == '/':
			return 1
		case ca < cb:
			return -1
		default:
			return 1
		}
	}
	return len(a) - len(b)
}

func narKey(p string) string {
	if p == "." {
		return ""
	}
	return strings.TrimPrefix(p, "/")
}
