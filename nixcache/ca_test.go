package nixcache

import (
	"strings"
	"testing"
)

// Content-addressed paths as Nix 2.8 recorded them on the machine the
// tests were written on (nix path-info --json).
var caPaths = []struct {
	path, ca string
	refs     []string
}{
	// The hello example's flake source (path:), NAR-hashed.
	{"/nix/store/f6mh53y1aqrjgv8bm8mjwicdnnljr87g-source", "fixed:r:sha256:1i66960fkg262ly2lclvyd4f7zv9pkm4ccmg9r4crxilnr050a2r", nil},
	// Its busybox input (path:/bin/busybox).
	{"/nix/store/p8mwzyiaprmv5ajlqjrnxckzvsvs4c9v-source", "fixed:r:sha256:0sggvzh4dj0h7krcpg2sl239l8hashdvgi26r7kbjs1pkhahy611", nil},
	// A flat fixed-output derivation's output.
	{"/nix/store/hfxl9znb846vnnaq96x3qv2g4z4ghpvw-greeting.txt", "fixed:sha256:0lf99i9p0daghny4k9hs6q80mll5nmhdx11k8ylfqnd12k60wilx", nil},
	// builtins.toFile, with a reference.
	{"/nix/store/37vbms0kby37gll556rvymlz54d6xij1-busybox.mtree", "text:sha256:0m3dgsbz9vfv6hdg27kla1xfhgmv50xbbv4sl61rbqvm9ls09xsn",
		[]string{"/nix/store/p8mwzyiaprmv5ajlqjrnxckzvsvs4c9v-source"}},
}

func TestContentAddressStorePath(t *testing.T) {
	for _, tc := range caPaths {
		ca, err := ParseContentAddress(tc.ca)
		if err != nil {
			t.Fatal(err)
		}
		if ca.String() != tc.ca {
			t.Errorf("%s renders as %s", tc.ca, ca)
		}
		name := tc.path[len("/nix/store/")+33:]
		got, err := ca.StorePath("/nix/store", name, tc.refs)
		if err != nil || got != tc.path {
			t.Errorf("StorePath(%s, %s) = %s, %v; want %s", tc.ca, name, got, err, tc.path)
		}
		if got, _ := ca.StorePath("/gnu/store", name, tc.refs); got == strings.Replace(tc.path, "/nix/", "/gnu/", 1) {
			t.Errorf("StorePath ignores the store directory")
		}
	}
	ca, _ := ParseContentAddress(caPaths[2].ca)
	if _, err := ca.StorePath("/nix/store", "x", caPaths[3].refs); err == nil {
		t.Error("a flat content address with references gave a store path")
	}
}

func TestParseContentAddressBad(t *testing.T) {
	const d = "1i66960fkg262ly2lclvyd4f7zv9pkm4ccmg9r4crxilnr050a2r"
	for _, s := range []string{
		"", "fixed", "fixed:", "fixed:r:", "fixed:r:sha256", "fixed:r:sha256:", "sha256:" + d,
		"fixed:r:sha257:" + d, "fixed:r:sha256:" + d + "x", "fixed:r:sha256:sha256:" + d,
		"fixed:r:sha256-" + d, "text:sha1:0000000000000000000000000000000000000000", "git:sha256:" + d,
		"fixed:git:sha1:0000000000000000000000000000000000000000", "fixed:r:sha256:" + strings.ToUpper(d),
		"fixed:r:r:sha256:" + d, "fixed:r:sha256:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
	} {
		if ca, err := ParseContentAddress(s); err == nil {
			t.Errorf("ParseContentAddress(%q) = %v, want an error", s, ca)
		}
	}
}

func FuzzParseContentAddress(f *testing.F) {
	for _, tc := range caPaths {
		f.Add(tc.ca)
	}
	f.Add("fixed:md5:00000000000000000000000000000000")
	f.Fuzz(func(t *testing.T, s string) {
		ca, err := ParseContentAddress(s)
		if err != nil {
			return
		}
		again, err := ParseContentAddress(ca.String())
		if err != nil || again.String() != ca.String() {
			t.Errorf("%q renders as %q, which parses as %v, %v", s, ca, again, err)
		}
		ca.StorePath("/nix/store", "x", nil)
	})
}
