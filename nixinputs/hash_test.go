package nixinputs

import (
	"encoding/hex"
	"strings"
	"testing"
)

func TestParseHash(t *testing.T) {
	// The NAR hash of a store path, in every spelling Nix uses (values from
	// `nix hash to-base16` and `nix hash to-base32`).
	const (
		hexForm = "39b08a1b6cf3594d7b47b3ddec7f8ed933c3601619d000d4171198174b0ff1d8"
		nix32   = "1n7i1x5ig60i2za01l0r2rhc6cyrirzyrpdk8xxlsngkdhdqmc1r"
		sri     = "sha256-ObCKG2zzWU17R7Pd7H+O2TPDYBYZ0ADUFxGYF0sP8dg="
	)
	want, err := hex.DecodeString(hexForm)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		hexForm,
		strings.ToUpper(hexForm),
		"sha256:" + hexForm,
		sri,
		"sha256:ObCKG2zzWU17R7Pd7H+O2TPDYBYZ0ADUFxGYF0sP8dg=",
	} {
		got, err := ParseHash(s)
		if err != nil {
			t.Errorf("ParseHash(%q): %v", s, err)
			continue
		}
		if string(got[:]) != string(want) {
			t.Errorf("ParseHash(%q) = %x, want %s", s, got, hexForm)
		}
		h := NarHash{SHA256: got}
		if h.Hex() != hexForm || h.SRI() != sri {
			t.Errorf("Hex, SRI = %s, %s", h.Hex(), h.SRI())
		}
	}
	// Nix32 round trip.
	got, err := ParseHash("sha256:" + nix32)
	if err != nil {
		t.Fatal(err)
	}
	if (NarHash{SHA256: got}).Nix32() != nix32 {
		t.Errorf("Nix32 round trip: got %s", NarHash{SHA256: got}.Nix32())
	}
	if bare, err := ParseHash(nix32); err != nil || bare != got {
		t.Errorf("bare nix32: %x, %v", bare, err)
	}
}

func TestParseHashBad(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "empty digest"},
		{"sha256:", "empty digest"},
		{"sha256-", "empty digest"},
		{":abc", "missing algorithm"},
		{"-abc", "missing algorithm"},
		{"md5-1B2M2Y8AsgTpgAmY7PhCfg==", `algorithm "md5" is not supported`},
		{"sha512:" + strings.Repeat("0", 128), `algorithm "sha512"`},
		{"SHA256:" + strings.Repeat("0", 64), `algorithm "SHA256"`},
		{strings.Repeat("0", 63), "got 63 characters"},
		{strings.Repeat("0", 65), "got 65 characters"},
		{strings.Repeat("g", 64), "invalid byte"},
		{strings.Repeat("e", 52), "not in Nix alphabet"},
		{"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "non-zero padding"},
		{"sha256-" + strings.Repeat("A", 43), "SRI digest must be 44"},
		{"sha256-" + strings.Repeat("A", 64), "SRI digest must be 44"},
		{"sha256-" + strings.Repeat("!", 44), "illegal base64"},
		{"sha256-ObCKG2zzWU17R7Pd7H+O2TPDYBYZ0ADUFxGYF0sP8dh=", "illegal base64"}, // non-zero trailing bits
		{strings.Repeat("A", 43) + "=", "got 44 characters"},                      // bare base64 is ambiguous
	} {
		if h, err := ParseHash(tc.in); err == nil {
			t.Errorf("ParseHash(%q) = %x, want error containing %q", tc.in, h, tc.want)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseHash(%q): error %q does not contain %q", tc.in, err, tc.want)
		}
	}
}
