package nixcache

import (
	"fmt"
	"path"
	"slices"

	"github.com/kettle-build/kettle/internal/nixstore"
)

// maxUnknownMentions bounds the unknown store paths a RefScanner keeps.
const maxUnknownMentions = 16

// A RefScanner finds the references of a store object in its NAR, written
// to it, as Nix's reference scanner does when it registers a build's
// output: a candidate store path is a reference if its hash part (the 32
// base-32 characters that begin its base name) occurs anywhere in the
// NAR's bytes. Like Nix's, it can only find the candidates it is given.
//
// So that a caller can tell a NAR that refers to paths it was not told
// of, the scanner also records each "<store dir>/<hash part>" in the NAR
// whose hash part is not a candidate's (Unknown). A reference spelt
// without the store directory before it is found only among the
// candidates.
//
// No library does this for Go (go-nix reads and writes NARs but has no
// reference scanner), and it is a few lines over the NAR stream.
type RefScanner struct {
	prefix  []byte            // "<store dir>/"
	hashes  map[string]string // hash part → candidate store path
	found   map[string]bool   // candidate store paths seen
	unknown map[string]bool   // "<store dir>/<hash part>" seen, not candidates
	more    bool              // unknown mentions beyond maxUnknownMentions
	carry   []byte            // the stream's last bytes, for matches across writes
	buf     []byte
}

// NewRefScanner returns a scanner for references to the candidates,
// store paths in storeDir.
func NewRefScanner(storeDir string, candidates []string) (*RefScanner, error) {
	s := &RefScanner{
		prefix:  []byte(storeDir + "/"),
		hashes:  map[string]string{},
		found:   map[string]bool{},
		unknown: map[string]bool{},
	}
	for _, c := range candidates {
		sp, err := nixstore.ParsePath(c)
		if err != nil {
			return nil, fmt.Errorf("reference candidate %q: %w", c, err)
		}
		if sp.Dir != storeDir {
			return nil, fmt.Errorf("reference candidate %s is not in the store %s", c, storeDir)
		}
		h := path.Base(c)[:nixstore.HashLen]
		if other, dup := s.hashes[h]; dup && other != c {
			return nil, fmt.Errorf("reference candidates %s and %s have the same hash part", other, c)
		}
		s.hashes[h] = c
	}
	return s, nil
}

// Write scans p; it never fails.
func (s *RefScanner) Write(p []byte) (int, error) {
	n := len(p)
	// A match may begin in the bytes kept from the last write: keep as many
	// as a store directory and a hash part less one byte.
	keep := len(s.prefix) + nixstore.HashLen - 1
	for len(p) > 0 {
		chunk := p[:min(len(p), 1<<16)]
		p = p[len(chunk):]
		s.buf = append(append(s.buf[:0], s.carry...), chunk...)
		s.scan(s.buf, len(s.carry))
		tail := s.buf[max(0, len(s.buf)-keep):]
		s.carry = append(s.carry[:0], tail...)
	}
	return n, nil
}

// scan looks at every run of 32 base-32 characters in buf that ends at or
// after from, the first byte not scanned before.
func (s *RefScanner) scan(buf []byte, from int) {
	run := 0
	for j, c := range buf {
		if !isNix32Char(c) {
			run = 0
			continue
		}
		run++
		if run < nixstore.HashLen || j < from {
			continue
		}
		i := j + 1 - nixstore.HashLen
		h := buf[i : j+1]
		if cand, ok := s.hashes[string(h)]; ok {
			s.found[cand] = true
			continue
		}
		if i >= len(s.prefix) && string(buf[i-len(s.prefix):i]) == string(s.prefix) {
			mention := string(s.prefix) + string(h)
			if len(s.unknown) < maxUnknownMentions {
				s.unknown[mention] = true
			} else if !s.unknown[mention] {
				s.more = true
			}
		}
	}
}

// References returns the candidates found, sorted.
func (s *RefScanner) References() []string {
	refs := make([]string, 0, len(s.found))
	for c := range s.found {
		refs = append(refs, c)
	}
	slices.Sort(refs)
	return refs
}

// Unknown returns the "<store dir>/<hash part>" strings found that are not
// a candidate's, sorted; at most 16 of them, and more says whether there
// were others.
func (s *RefScanner) Unknown() (mentions []string, more bool) {
	for m := range s.unknown {
		mentions = append(mentions, m)
	}
	slices.Sort(mentions)
	return mentions, s.more
}

// isNix32Char reports whether c is in Nix's base-32 alphabet,
// 0123456789abcdfghijklmnpqrsvwxyz (no e, o, t, u).
func isNix32Char(c byte) bool {
	switch {
	case '0' <= c && c <= '9':
		return true
	case 'a' <= c && c <= 'z':
		return c != 'e' && c != 'o' && c != 't' && c != 'u'
	}
	return false
}
