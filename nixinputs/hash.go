package nixinputs

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixbase32"
)

// ParseHash decodes a SHA-256 digest written in any of the forms Nix uses:
//
//	sha256-<base64>     SRI, as in flake.lock and newer `nix path-info`
//	sha256:<nix32>      as older `nix path-info` prints narHash
//	sha256:<hex>
//	sha256:<base64>
//	<nix32>             52 characters, as `nix hash path --base32` prints
//	<hex>               64 characters, upper or lower case
//
// Other algorithms are refused: every digest Kettle compares is SHA-256.
// Encodings must be canonical (no non-zero padding bits), so that a digest
// has one spelling per encoding.
func ParseHash(s string) ([32]byte, error) {
	var out [32]byte
	digest := s
	sri := false
	if i := strings.IndexAny(s, ":-"); i >= 0 {
		algo := s[:i]
		if algo != "sha256" {
			if algo == "" {
				return out, fmt.Errorf("hash %q: missing algorithm before %q", s, s[i])
			}
			return out, fmt.Errorf("hash %q: algorithm %q is not supported (want sha256)", s, algo)
		}
		sri = s[i] == '-'
		digest = s[i+1:]
	}
	var (
		b   []byte
		err error
	)
	switch {
	case digest == "":
		return out, fmt.Errorf("hash %q: empty digest", s)
	case sri:
		if len(digest) != base64.StdEncoding.EncodedLen(32) {
			return out, fmt.Errorf("hash %q: SRI digest must be %d base64 characters, got %d", s, base64.StdEncoding.EncodedLen(32), len(digest))
		}
		b, err = base64.StdEncoding.Strict().DecodeString(digest)
	case len(digest) == hex.EncodedLen(32):
		b, err = hex.DecodeString(digest)
	case len(digest) == nixbase32.EncodedLen(32):
		b, err = nixbase32.DecodeString(digest)
	case len(digest) == base64.StdEncoding.EncodedLen(32) && digest != s:
		// "sha256:<base64>", which Nix also accepts.
		b, err = base64.StdEncoding.Strict().DecodeString(digest)
	default:
		return out, fmt.Errorf("hash %q: a sha256 digest is 64 hex, 52 nix32 or 44 base64 characters, got %d characters", s, len(digest))
	}
	if err != nil {
		return out, fmt.Errorf("hash %q: %w", s, err)
	}
	if len(b) != len(out) {
		return out, fmt.Errorf("hash %q: decoded to %d bytes, want 32", s, len(b))
	}
	copy(out[:], b)
	return out, nil
}
