package nixstore

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/nixbase32"
)

// FuzzParsePath: an accepted path splits into parts that put it back
// together, and each part keeps its rule.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"/nix/store/" + testHash + "-hello-2.12", "/nix/store/" + testHash + "-x.drv", "/" + testHash + "-x",
		"/nix/store/" + testHash + "-.x", "/nix//store/" + testHash + "-x", "", "/", "/nix/store/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if p.String() != s {
			t.Fatalf("String() = %q, want %q", p.String(), s)
		}
		if len(p.Hash) != HashLen || strings.Trim(p.Hash, nixbase32.Alphabet) != "" {
			t.Fatalf("hash %q", p.Hash)
		}
		if err := CheckName(p.Name); err != nil || strings.ContainsRune(p.Name, '/') || len(p.Name) > MaxNameLen {
			t.Fatalf("name %q: %v", p.Name, err)
		}
		if !strings.HasPrefix(p.Dir, "/") || p.Dir == "/" || strings.Contains(p.Dir+"/", "//") || strings.Contains(p.Dir+"/", "/./") || strings.Contains(p.Dir+"/", "/../") {
			t.Fatalf("store directory %q", p.Dir)
		}
	})
}

// FuzzParseHash: an accepted hash has the algorithm's size, and its digest
// is spelt in the form it was given.
func FuzzParseHash(f *testing.F) {
	for _, tc := range []struct{ algo, s string }{
		{"sha256", testHex}, {"sha256", testNix32}, {"sha256", testSRI}, {"sha256", "sha256:" + testNix32},
		{"sha256", strings.ToUpper(testHex)}, {"md5", "md5-1B2M2Y8AsgTpgAmY7PhCfg=="}, {"sha512", strings.Repeat("0", 128)},
		{"sha1", "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709"}, {"sha256", "-"}, {"blake3", ""},
		{"sha256", strings.Repeat("z", 52)}, {"md5", strings.Repeat("z", 26)}, {"sha512", strings.Repeat("z", 103)},
	} {
		f.Add(tc.algo, tc.s)
	}
	f.Fuzz(func(t *testing.T, algo, s string) {
		b, err := ParseHash(algo, s)
		if err != nil {
			if b != nil || err.Error() == "" {
				t.Fatalf("%x, %q", b, err)
			}
			return
		}
		if len(b) != HashSize(algo) || len(b) == 0 {
			t.Fatalf("%d bytes for %s", len(b), algo)
		}
		digest := s
		if i := strings.IndexAny(s, ":-"); i >= 0 {
			if s[:i] != algo {
				t.Fatalf("accepted %q for %s", s, algo)
			}
			digest = s[i+1:]
			if s[i] == '-' && SRI(algo, b) != s {
				t.Fatalf("SRI %q is not canonical", s)
			}
		}
		if digest != hex.EncodeToString(b) && strings.ToLower(digest) != hex.EncodeToString(b) &&
			digest != nixbase32.EncodeToString(b) && digest != base64.StdEncoding.EncodeToString(b) {
			t.Fatalf("%q is not a canonical spelling of %x", s, b)
		}
	})
}
