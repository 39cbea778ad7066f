package nixstore

import (
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/nixbase32"
)

const testHash = "0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r" // 32 characters of Nix's base-32 alphabet

func TestParsePath(t *testing.T) {
	for _, tc := range []struct{ in, dir, name string }{
		{"/nix/store/" + testHash + "-hello-2.12", "/nix/store", "hello-2.12"},
		{"/nix/store/" + testHash + "-hello-2.12.drv", "/nix/store", "hello-2.12.drv"},
		{"/mnt/nix/store/" + testHash + "-a+b_c?d=e", "/mnt/nix/store", "a+b_c?d=e"},
		{"/s/" + testHash + "-x", "/s", "x"},
		{"/nix/store/" + testHash + "-" + strings.Repeat("x", MaxNameLen), "/nix/store", strings.Repeat("x", MaxNameLen)},
	} {
		p, err := ParsePath(tc.in)
		if err != nil {
			t.Errorf("ParsePath(%q): %v", tc.in, err)
			continue
		}
		if p.Dir != tc.dir || p.Hash != testHash || p.Name != tc.name || p.String() != tc.in {
			t.Errorf("ParsePath(%q) = %+v", tc.in, p)
		}
	}
}

func TestParsePathBad(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "not an absolute path"},
		{"relative", testHash + "-x", "not an absolute path"},
		{"relative dir", "nix/store/" + testHash + "-x", "not an absolute path"},
		{"root store dir", "/" + testHash + "-x", "not an absolute path"},
		{"unclean dir", "/nix//store/" + testHash + "-x", "not an absolute path"},
		{"dot dir", "/nix/./store/" + testHash + "-x", "not an absolute path"},
		{"trailing slash", "/nix/store/" + testHash + "-x/", "not a store path"},
		{"no dash", "/nix/store/" + testHash + "xx", "not a store path"},
		{"no name", "/nix/store/" + testHash + "-", "not a store path"},
		{"short hash", "/nix/store/abc-x", "not a store path"},
		{"bad hash character", "/nix/store/" + strings.Repeat("e", HashLen) + "-x", "base-32"},
		{"upper-case hash", "/nix/store/" + strings.ToUpper(testHash) + "-x", "base-32"},
		{"leading dot", "/nix/store/" + testHash + "-.x", "starts with '.'"},
		{"space", "/nix/store/" + testHash + "-x y", `" " at byte 1`},
		{"slash in name", "/nix/store/" + testHash + "-x/y", "not a store path"},
		{"non-ASCII", "/nix/store/" + testHash + "-\xff", `"\xff" at byte 0`},
		{"too long", "/nix/store/" + testHash + "-" + strings.Repeat("x", MaxNameLen+1), "212 characters long"},
	} {
		if p, err := ParsePath(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ParsePath(%q) = %+v, %v; want an error containing %q", tc.name, tc.in, p, err, tc.want)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"x", "hello-2.12", "source", "a.b", "A-Z_0+9?=", strings.Repeat("n", MaxNameLen)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
		if err := CheckOutputName(ok); err != nil {
			t.Errorf("CheckOutputName(%q): %v", ok, err)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{".x", "starts with '.'"},
		{"..", "starts with '.'"},
		{"a b", "Nix does not allow"},
		{"a/b", "Nix does not allow"},
		{"é", "Nix does not allow"},
		{strings.Repeat("n", MaxNameLen+1), "more than 211"},
	} {
		if err := CheckName(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckName(%q): %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
	// An output name may start with '.'; nothing else differs.
	if err := CheckOutputName(".dev"); err != nil {
		t.Errorf("CheckOutputName(.dev): %v", err)
	}
	for _, bad := range []string{"", "o/ut", strings.Repeat("o", MaxNameLen+1)} {
		if err := CheckOutputName(bad); err == nil {
			t.Errorf("CheckOutputName(%q) accepted", bad)
		}
	}
}

// TestCharSets: the bit sets allow exactly the characters Nix does.
func TestCharSets(t *testing.T) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		wantName := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte(nameChars, b) >= 0
		if isNameChar(b) != wantName {
			t.Errorf("isNameChar(%q) = %t", rune(b), !wantName)
		}
		if isBase32(b) != nixbase32.Is(b) {
			t.Errorf("isBase32(%q) = %t, nixbase32.Is says %t", rune(b), isBase32(b), nixbase32.Is(b))
		}
	}
}
