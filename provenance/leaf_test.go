package provenance

import (
	"crypto/sha256"
	"strings"
	"testing"
	"unicode/utf8"
)

// Sample values shared by the tests of this package.
const (
	testHash32 = "0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r" // 32 characters of Nix's base-32 alphabet
	testDrv    = "/nix/store/" + testHash32 + "-hello.drv"
	testSrc    = "/nix/store/" + testHash32 + "-builder.sh"
	testOut    = "/nix/store/" + testHash32 + "-hello"
	testHex    = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
	testRev    = "0123456789abcdef0123456789abcdef01234567"
	testURL    = "path:/nix/store/" + testHash32 + "-source?lastModified=1700000000&narHash=sha256-AAAA"
)

func digest(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func TestLeafConstructorsRoundTrip(t *testing.T) {
	d := digest("x")
	leaves := append(SourceLeaves(testURL, testRev, d),
		FlakeInputLeaf("nixpkgs", "github:NixOS/nixpkgs/"+testRev, d),
		FlakeInputLeaf("a/b", "git+https://example.org/r.git?rev="+testRev, d),
		DrvLeaf(testDrv, d),
		SrcLeaf(testSrc, d),
		FODLeaf("source", "recursive", "sha256", testHex, "https://example.org/x.tar.gz"),
		FODLeaf("hello-2.12.tar.gz", "flat", "sha1", testRev, ""),
		FODLeaf("blob", "text", "sha512", strings.Repeat("ab", 64), "-"),
		FODLeaf("old", "flat", "md5", strings.Repeat("c", 32), "mirror://gnu/hello.tar.gz"),
		ToolchainLeaf("nix", "2.8.0", d),
		ToolchainLeaf("kettle", "v0.1.0-3-gdeadbee", d),
	)
	for _, l := range leaves {
		got, err := ParseLeaf(l.String())
		if err != nil {
			t.Errorf("ParseLeaf(%q): %v", l.String(), err)
			continue
		}
		if got != l {
			t.Errorf("ParseLeaf(%q) = %+v, want %+v", l.String(), got, l)
		}
	}
}

func TestLeafStrings(t *testing.T) {
	d := digest("x")
	dh := "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
	for _, tc := range []struct {
		leaf Leaf
		want string
	}{
		{SourceLeaves("github:o/r/"+testRev, "", d)[0], "source:github:o/r/" + testRev + ":" + dh},
		{SourceLeaves(testURL, testRev, d)[1], "source:rev:" + testRev},
		{FlakeInputLeaf("a/b", "github:o/r", d), "flake-input:a/b github:o/r:" + dh},
		{DrvLeaf(testDrv, d), "drv:" + testDrv + ":" + dh},
		{SrcLeaf(testSrc, d), "src:" + testSrc + ":" + dh},
		{FODLeaf("source", "recursive", "sha256", testHex, ""), "fod:source mode=recursive algo=sha256 url=-:" + testHex},
		{ToolchainLeaf("nix", "2.8.0", d), "toolchain:nix 2.8.0:" + dh},
	} {
		if got := tc.leaf.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
	if n := len(SourceLeaves(testURL, "", d)); n != 1 {
		t.Errorf("SourceLeaves without a rev returned %d leaves, want 1", n)
	}
}

func TestParseLeafBad(t *testing.T) {
	h := ":" + testHex
	for _, tc := range []struct {
		name, leaf, wantErr string
	}{
		{"empty", "", "no ':'"},
		{"no colon", "source", "no ':'"},
		{"one colon", "source:" + testHex, "only one ':'"},
		{"unknown kind", "input:x" + h, `kind "input" is not one of`},
		{"kind case", "Source:" + testURL + h, `kind "Source"`},
		{"empty kind", ":x" + h, `kind ""`},
		{"empty name", "drv:" + h, "empty name"},
		{"empty value", "drv:" + testDrv + ":", "empty value"},
		{"newline", "drv:" + testDrv + "\n" + h, "line break"},
		{"carriage return", "src:" + testSrc + h + "\r", "line break"},
		{"invalid utf-8", "src:/nix/store/\xff" + h, "UTF-8"},
		{"upper-case hex", "drv:" + testDrv + ":" + strings.ToUpper(testHex), "64 lower-case hex"},
		{"short hex", "drv:" + testDrv + ":" + testHex[:63], "64 lower-case hex"},
		{"long hex", "drv:" + testDrv + ":" + testHex + "0", "64 lower-case hex"},
		{"non-hex", "src:" + testSrc + ":" + strings.Repeat("g", 64), "64 lower-case hex"},
		{"rev short", "source:rev:" + testRev[:39], "40 or 64"},
		{"rev upper", "source:rev:" + strings.ToUpper(testRev), "40 or 64"},
		{"rev sha256 of wrong length", "source:rev:" + testHex + "00", "40 or 64"},
		{"source url with space", "source:path:/a b" + h, "white space"},
		{"source url with tab", "source:path:/a\tb" + h, "white space"},
		{"flake-input without url", "flake-input:nixpkgs" + h, "<input path> <locked URL>"},
		{"flake-input empty path", "flake-input: github:o/r" + h, "<input path> <locked URL>"},
		{"flake-input empty url", "flake-input:nixpkgs " + h, "empty URL"},
		{"drv relative", "drv:nix/store/" + testHash32 + "-x.drv" + h, "absolute"},
		{"drv unclean", "drv:/nix/store/../store/" + testHash32 + "-x.drv" + h, "not an absolute path in a store directory"},
		{"drv not .drv", "drv:" + testOut + h, "does not end in .drv"},
		{"drv bad hash part", "drv:/nix/store/" + strings.Repeat("e", 32) + "-x.drv" + h, "base-32"},
		{"drv short hash part", "drv:/nix/store/abc-x.drv" + h, "not a store path"},
		{"drv bad name", "drv:/nix/store/" + testHash32 + "-x y.drv" + h, "Nix does not allow"},
		{"drv long name", "drv:/nix/store/" + testHash32 + "-" + strings.Repeat("x", 208) + ".drv" + h, "more than 211"},
		{"src leading dot", "src:/nix/store/" + testHash32 + "-.x" + h, "starts with '.'"},
		{"fod leading dot", "fod:.source mode=flat algo=sha256 url=-" + h, "starts with '.'"},
		{"src root", "src:/" + h, "not an absolute path"},
		{"fod missing fields", "fod:source mode=flat" + h, "mode=<mode> algo=<algo>"},
		{"fod bad name", "fod:sou/rce mode=flat algo=sha256 url=-" + h, "Nix does not allow"},
		{"fod bad mode", "fod:source mode=nar algo=sha256 url=-" + h, "mode=flat"},
		{"fod mode without key", "fod:source flat algo=sha256 url=-" + h, "mode=flat"},
		{"fod bad algo", "fod:source mode=flat algo=blake3 url=-" + h, "algo=sha256"},
		{"fod no url key", "fod:source mode=flat algo=sha256 -" + h, "url="},
		{"fod empty url", "fod:source mode=flat algo=sha256 url=" + h, "empty URL"},
		{"fod url with space", "fod:source mode=flat algo=sha256 url=a b" + h, "white space"},
		{"fod hash length for algo", "fod:source mode=flat algo=sha1 url=-" + h, "40 lower-case hex"},
		{"fod sha512 short", "fod:source mode=flat algo=sha512 url=-" + h, "128 lower-case hex"},
		{"toolchain no version", "toolchain:nix" + h, "<tool> <version>"},
		{"toolchain empty version", "toolchain:nix " + h, "<tool> <version>"},
		{"toolchain upper tool", "toolchain:Nix 2.8" + h, "lower-case word"},
		{"toolchain version with space", "toolchain:nix 2.8 pre" + h, "white space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ParseLeaf(tc.leaf)
			if err == nil {
				t.Fatalf("ParseLeaf(%q) = %+v, want an error", tc.leaf, l)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseLeaf(%q) error %q does not mention %q", tc.leaf, err, tc.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "manifest leaf ") {
				t.Errorf("error %q does not say it is about a manifest leaf", err)
			}
		})
	}
}

// TestParseLeafNameWithColons: the name is everything between the first and
// the last ':'.
func TestParseLeafNameWithColons(t *testing.T) {
	s := "flake-input:a/b git+https://example.org:8080/r.git?ref=x:y:" + testHex
	l, err := ParseLeaf(s)
	if err != nil {
		t.Fatal(err)
	}
	if l.Kind != KindFlakeInput || l.Name != "a/b git+https://example.org:8080/r.git?ref=x:y" || l.Value != testHex {
		t.Errorf("ParseLeaf(%q) = %+v", s, l)
	}
}

func TestQuoteLeafShortens(t *testing.T) {
	long := "drv:" + strings.Repeat("x", 1000)
	_, err := ParseLeaf(long)
	if err == nil || len(err.Error()) > 400 {
		t.Errorf("error for a 1000-byte leaf is %d bytes long: %v", len(err.Error()), err)
	}
}

func FuzzParseLeaf(f *testing.F) {
	d := digest("seed")
	for _, l := range append(SourceLeaves(testURL, testRev, d),
		FlakeInputLeaf("nixpkgs", "github:NixOS/nixpkgs", d),
		DrvLeaf(testDrv, d), SrcLeaf(testSrc, d),
		FODLeaf("source", "recursive", "sha256", testHex, "https://example.org/a:b"),
		ToolchainLeaf("nix", "2.8.0", d)) {
		f.Add(l.String())
	}
	f.Add("drv:" + testDrv + ":")
	f.Add("source::")
	f.Add("fod:a mode=flat algo=md5 url=-:" + strings.Repeat("0", 32))
	f.Add("fod:a mode=git algo=sha1 url=-:" + strings.Repeat("0", 40))
	f.Add(DrvOutput{testDrv, "out", testOut, ByKettle, d}.Leaf().String())
	f.Add(DrvOutput{testDrv, "dev", UnknownOutputPath, ByNone, [32]byte{}}.Leaf().String())
	f.Add("output:" + testDrv + "!out " + testOut + " by=nix-db:absent")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLeaf(s)
		if err != nil {
			if l != (Leaf{}) {
				t.Fatalf("ParseLeaf(%q) returned %+v with error %v", s, l, err)
			}
			return
		}
		if l.String() != s {
			t.Fatalf("ParseLeaf(%q).String() = %q", s, l.String())
		}
		if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n") {
			t.Fatalf("ParseLeaf accepted %q", s)
		}
		if l.Name == "" || l.Value == "" || strings.Contains(l.Value, ":") || strings.Contains(string(l.Kind), ":") {
			t.Fatalf("ParseLeaf(%q) = %+v breaks the kind:name:value rules", s, l)
		}
		again, err := ParseLeaf(l.String())
		if err != nil || again != l {
			t.Fatalf("ParseLeaf does not round-trip %q: %+v, %v", s, again, err)
		}
		// A valid leaf makes a valid manifest, with the leaf that the
		// output rules pair it with.
		leaves := []Leaf{l}
		switch l.Kind {
		case KindDrv:
			leaves = append(leaves, DrvOutput{Drv: l.Name, Output: "out", Path: UnknownOutputPath, By: ByNone}.Leaf())
		case KindOutput:
			o, err := ParseOutputLeaf(l)
			if err != nil {
				t.Fatalf("ParseOutputLeaf(%q) of a valid leaf: %v", s, err)
			}
			leaves = append(leaves, DrvLeaf(o.Drv, d))
		}
		m, err := NewManifest(leaves)
		if err != nil {
			t.Fatalf("NewManifest of valid leaf %q: %v", s, err)
		}
		if _, err := m.Marshal(); err != nil {
			t.Fatalf("Marshal of a manifest with leaf %q: %v", s, err)
		}
	})
}

func TestIsLowerHexDigit(t *testing.T) {
	for c := 0; c < 256; c++ {
		want := '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
		if got := isLowerHexDigit(byte(c)); got != want {
			t.Errorf("isLowerHexDigit(%q) = %t", rune(c), got)
		}
	}
}
