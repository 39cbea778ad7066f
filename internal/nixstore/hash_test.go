package nixstore

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// The NAR hash of a store path in every spelling Nix uses (from `nix hash
// to-base16` and `nix hash to-base32`).
const (
	testHex   = "39b08a1b6cf3594d7b47b3ddec7f8ed933c3601619d000d4171198174b0ff1d8"
	testNix32 = "1n7i1x5ig60i2za01l0r2rhc6cyrirzyrpdk8xxlsngkdhdqmc1r"
	testSRI   = "sha256-ObCKG2zzWU17R7Pd7H+O2TPDYBYZ0ADUFxGYF0sP8dg="
)

func TestParseHash(t *testing.T) {
	want, _ := hex.DecodeString(testHex)
	for _, s := range []string{
		testHex,
		strings.ToUpper(testHex),
		"sha256:" + testHex,
		testNix32,
		"sha256:" + testNix32,
		testSRI,
		"sha256:" + testSRI[len("sha256-"):],
	} {
		got, err := ParseSHA256(s)
		if err != nil {
			t.Errorf("ParseSHA256(%q): %v", s, err)
			continue
		}
		if !bytes.Equal(got[:], want) {
			t.Errorf("ParseSHA256(%q) = %x, want %s", s, got, testHex)
		}
	}
	if got := SRI("sha256", want); got != testSRI {
		t.Errorf("SRI = %s, want %s", got, testSRI)
	}
	for _, tc := range []struct{ algo, s string }{
		{"md5", "md5-1B2M2Y8AsgTpgAmY7PhCfg=="},
		{"md5", "d41d8cd98f00b204e9800998ecf8427e"},
		{"sha1", "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709"},
		{"sha1", "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk="},
		{"sha512", strings.Repeat("0", 128)},
	} {
		if _, err := ParseHash(tc.algo, tc.s); err != nil {
			t.Errorf("ParseHash(%s, %q): %v", tc.algo, tc.s, err)
		}
	}
}

func TestParseHashBad(t *testing.T) {
	for _, tc := range []struct{ algo, in, want string }{
		{"sha256", "", "empty digest"},
		{"sha256", "sha256:", "empty digest"},
		{"sha256", "sha256-", "empty digest"},
		{"sha256", ":abc", "missing algorithm"},
		{"sha256", "-abc", "missing algorithm"},
		{"sha256", "md5-1B2M2Y8AsgTpgAmY7PhCfg==", `algorithm "md5" is not supported (want sha256)`},
		{"sha256", "sha512:" + strings.Repeat("0", 128), `algorithm "sha512"`},
		{"sha256", "SHA256:" + strings.Repeat("0", 64), `algorithm "SHA256"`},
		{"sha256", strings.Repeat("0", 63), "got 63 characters"},
		{"sha256", strings.Repeat("0", 65), "got 65 characters"},
		{"sha256", strings.Repeat("g", 64), "invalid byte"},
		{"sha256", strings.Repeat("e", 52), "not in Nix alphabet"},
		{"sha256", strings.Repeat("z", 52), "non-zero padding"},
		{"sha256", "sha256-" + strings.Repeat("A", 43), "SRI digest must be 44"},
		{"sha256", "sha256-" + testHex, "SRI digest must be 44"},
		{"sha256", "sha256-" + testNix32, "SRI digest must be 44"},
		{"sha256", "sha256-" + strings.Repeat("!", 44), "illegal base64"},
		{"sha256", "sha256-ObCKG2zzWU17R7Pd7H+O2TPDYBYZ0ADUFxGYF0sP8dh=", "illegal base64"}, // non-zero padding bits
		{"sha256", testSRI[len("sha256-"):], "got 44 characters"},                           // bare base64
		{"sha256", "sha256:" + testHex + "\n", "got 65 characters"},
		{"blake3", strings.Repeat("0", 64), `unknown hash algorithm "blake3"`},
		{"", testHex, "unknown hash algorithm"},
		{"sha1", "sha1:" + testHex, "got 64 characters"},
	} {
		if h, err := ParseHash(tc.algo, tc.in); err == nil {
			t.Errorf("ParseHash(%s, %q) = %x, want an error containing %q", tc.algo, tc.in, h, tc.want)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseHash(%s, %q): error %q does not contain %q", tc.algo, tc.in, err, tc.want)
		}
	}
}

func TestHashSize(t *testing.T) {
	for algo, want := range map[string]int{"md5": 16, "sha1": 20, "sha256": 32, "sha512": 64, "blake3": 0, "SHA256": 0, "": 0} {
		if got := HashSize(algo); got != want {
			t.Errorf("HashSize(%q) = %d, want %d", algo, got, want)
		}
	}
}
