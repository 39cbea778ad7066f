package nixcache

import (
	"bytes"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/internal/nixstore"
)

const (
	refHello   = "/nix/store/v71nn92j9c3gfb53bfhr3znzs15g1cgp-hello"
	refBusybox = "/nix/store/ayzynj05d1b7ihzm9gv9fm16c44m45v2-busybox-bin"
	refSource  = "/nix/store/p8mwzyiaprmv5ajlqjrnxckzvsvs4c9v-source"
)

func TestRefScanner(t *testing.T) {
	candidates := []string{refHello, refBusybox, refSource}
	for _, tc := range []struct {
		name, data string
		refs       []string
		unknown    []string
	}{
		{"none", "#!/bin/sh\necho hi\n", nil, nil},
		{"full path", "exec " + refBusybox + "/bin/busybox\n", []string{refBusybox}, nil},
		{"hash part alone", "ref=ayzynj05d1b7ihzm9gv9fm16c44m45v2;", []string{refBusybox}, nil},
		{"self and other", refHello + "/share " + refSource, []string{refSource, refHello}, nil},
		{"inside a longer run", "xx" + "p8mwzyiaprmv5ajlqjrnxckzvsvs4c9v" + "zz", []string{refSource}, nil},
		{"31 characters", "p8mwzyiaprmv5ajlqjrnxckzvsvs4c9", nil, nil},
		{"broken by a non-base-32 character", "p8mwzyiaprmv5ajlqjrnxeckzvsvs4c9v", nil, nil},
		{"unknown path", "/nix/store/0000000000000000000000000000000a-x and " + refSource,
			[]string{refSource}, []string{"/nix/store/0000000000000000000000000000000a"}},
		{"unknown hash without the store dir", "0000000000000000000000000000000a", nil, nil},
		{"other store", "/gnu/store/0000000000000000000000000000000a-x", nil, nil},
		{"at the very start", refSource, []string{refSource}, nil},
		{"at the very end", "x" + path.Base(refSource)[:32], []string{refSource}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Whole, then a byte at a time: matches across writes count.
			for _, step := range []int{len(tc.data) + 1, 1, 7} {
				s, err := NewRefScanner("/nix/store", candidates)
				if err != nil {
					t.Fatal(err)
				}
				for b := []byte(tc.data); len(b) > 0; b = b[min(step, len(b)):] {
					s.Write(b[:min(step, len(b))])
				}
				unknown, more := s.Unknown()
				if got := s.References(); !slices.Equal(got, tc.refs) && len(got)+len(tc.refs) > 0 {
					t.Errorf("step %d: references %q, want %q", step, got, tc.refs)
				}
				if !slices.Equal(unknown, tc.unknown) || more {
					t.Errorf("step %d: unknown %q (more %t), want %q", step, unknown, more, tc.unknown)
				}
			}
		})
	}
}

func TestRefScannerBad(t *testing.T) {
	for _, tc := range []struct {
		name       string
		candidates []string
		want       string
	}{
		{"not a store path", []string{"/nix/store/hello"}, "reference candidate"},
		{"other store", []string{"/gnu/store/v71nn92j9c3gfb53bfhr3znzs15g1cgp-hello"}, "not in the store"},
		{"same hash part", []string{refHello, "/nix/store/v71nn92j9c3gfb53bfhr3znzs15g1cgp-other"}, "same hash part"},
	} {
		if _, err := NewRefScanner("/nix/store", tc.candidates); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestRefScannerUnknownBounded(t *testing.T) {
	s, err := NewRefScanner("/nix/store", nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for i := range 100 {
		b.WriteString("/nix/store/" + strings.Repeat("0", 30) + string("0123456789abcdfghijklmnpqrsvwxyz"[i%32]) + string("0123456789"[i/32]) + "-x\n")
	}
	s.Write(b.Bytes())
	unknown, more := s.Unknown()
	if len(unknown) != maxUnknownMentions || !more {
		t.Errorf("%d unknown mentions kept (more %t), want %d and more", len(unknown), more, maxUnknownMentions)
	}
}

// naiveRefs is the reference scan written the obvious way, for the fuzz
// target to compare with.
func naiveRefs(data []byte, candidates []string) []string {
	var refs []string
	for _, c := range candidates {
		if bytes.Contains(data, []byte(path.Base(c)[:nixstore.HashLen])) {
			refs = append(refs, c)
		}
	}
	slices.Sort(refs)
	return refs
}

// FuzzRefScanner checks the scanner against naiveRefs, with the data
// written whole and in pieces.
func FuzzRefScanner(f *testing.F) {
	f.Add([]byte("exec "+refBusybox+"/bin/busybox cat "+refHello+"/share/greeting.txt\n"), uint8(1))
	f.Add([]byte("/nix/store/0000000000000000000000000000000a-x "+refSource), uint8(5))
	f.Add([]byte(strings.Repeat("p8mwzyiaprmv5ajlqjrnxckzvsvs4c9", 3)), uint8(31))
	candidates := []string{refHello, refBusybox, refSource}
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		whole, err := NewRefScanner("/nix/store", candidates)
		if err != nil {
			t.Fatal(err)
		}
		whole.Write(data)
		pieces, _ := NewRefScanner("/nix/store", candidates)
		n := int(step) + 1
		for b := data; len(b) > 0; b = b[min(n, len(b)):] {
			pieces.Write(b[:min(n, len(b))])
		}
		want := naiveRefs(data, candidates)
		if got := whole.References(); !slices.Equal(got, want) && len(got)+len(want) > 0 {
			t.Fatalf("whole: %q, want %q", got, want)
		}
		if got := pieces.References(); !slices.Equal(got, want) && len(got)+len(want) > 0 {
			t.Fatalf("in pieces of %d: %q, want %q", n, got, want)
		}
		u1, m1 := whole.Unknown()
		u2, m2 := pieces.Unknown()
		if !slices.Equal(u1, u2) || m1 != m2 {
			t.Fatalf("unknown mentions differ: %q %t, in pieces %q %t", u1, m1, u2, m2)
		}
		for _, u := range u1 {
			if !bytes.Contains(data, []byte(u)) {
				t.Fatalf("unknown mention %q is not in the data", u)
			}
		}
	})
}

// BenchmarkRefScanner scans 64 MiB of text with store paths in it.
func BenchmarkRefScanner(b *testing.B) {
	line := []byte("exec " + refBusybox + "/bin/busybox cat /nix/store/0000000000000000000000000000000a-x; echo some text of a script\n")
	data := bytes.Repeat(line, (64<<20)/len(line))
	b.SetBytes(int64(len(data)))
	for range b.N {
		s, _ := NewRefScanner("/nix/store", []string{refHello, refBusybox, refSource})
		for p := data; len(p) > 0; p = p[min(1<<20, len(p)):] {
			s.Write(p[:min(1<<20, len(p))])
		}
	}
}
