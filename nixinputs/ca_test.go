package nixinputs

import "testing"

func TestDecodeCAJSON(t *testing.T) {
	const nix32 = "1i66960fkg262ly2lclvyd4f7zv9pkm4ccmg9r4crxilnr050a2r"
	const want = "fixed:r:sha256:" + nix32
	d, err := ParseHash("sha256:" + nix32)
	if err != nil {
		t.Fatal(err)
	}
	hexDigest := NarHash{SHA256: d}.Hex()
	sri := NarHash{SHA256: d}.SRI()
	for _, tc := range []struct{ in, want string }{
		{`null`, ""},
		{`"` + want + `"`, want},
		{`"fixed:r:sha256:` + hexDigest + `"`, want},
		{`"text:sha256:` + nix32 + `"`, "text:sha256:" + nix32},
		{`"fixed:sha256:` + nix32 + `"`, "fixed:sha256:" + nix32},
		{`{"method":"nar","hash":"` + sri + `"}`, want},
		{`{"method":"nar","hash":{"algorithm":"sha256","format":"base16","hash":"` + hexDigest + `"}}`, want},
		{`{"method":"text","hash":{"algorithm":"sha256","format":"nix32","hash":"` + nix32 + `"}}`, "text:sha256:" + nix32},
	} {
		got, err := decodeCAJSON([]byte(tc.in))
		if err != nil || got != tc.want {
			t.Errorf("decodeCAJSON(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		`1`, `"sha256:` + nix32 + `"`, `"fixed:r:sha256"`, `"fixed:r:sha256:xyz"`,
		`"text:sha1:0000000000000000000000000000000000000000"`, `"fixed:r:sha256:sha256:` + nix32 + `"`,
		`{"method":"git","hash":"` + sri + `"}`, `{"method":"nar","hash":1}`, `{"method":"nar","hash":"abc"}`,
	} {
		if got, err := decodeCAJSON([]byte(bad)); err == nil {
			t.Errorf("decodeCAJSON(%s) = %q, want an error", bad, got)
		}
	}
}
