package nixstore

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"
)

// HashSize returns the digest size in bytes of a hash algorithm Nix knows
// (md5, sha1, sha256, sha512), or 0.
func HashSize(algo string) int {
	a, err := nixhash.ParseAlgorithm(algo)
	if err != nil {
		return 0
	}
	return a.Func().Size()
}

// ParseHash decodes a digest of the hash algorithm algo in the forms Nix
// writes it:
//
//	<algo>-<base64>           SRI, as in flake.lock and newer `nix path-info`
//	<algo>:<nix32|hex|base64> as older `nix path-info` prints narHash
//	<nix32>                   as `nix hash path --base32` prints it
//	<hex>                     upper or lower case, as in a .drv
//
// A bare base64 digest is refused: without the prefix it is not a form Nix
// prints. Nix's base-32 and base64 must be canonical (no non-zero padding
// bits), so that a digest has one spelling per encoding. Errors quote s.
//
// go-nix's nixhash.ParseAny is not used: it accepts base64 with non-zero
// padding bits, and bare base64.
func ParseHash(algo, s string) ([]byte, error) {
	size := HashSize(algo)
	if size == 0 {
		return nil, fmt.Errorf("hash %q: unknown hash algorithm %q", s, algo)
	}
	digest, sri, prefixed := s, false, false
	if i := strings.IndexAny(s, ":-"); i >= 0 {
		switch s[:i] {
		case "":
			return nil, fmt.Errorf("hash %q: missing algorithm before %q", s, s[i:i+1])
		case algo:
		default:
			return nil, fmt.Errorf("hash %q: algorithm %q is not supported (want %s)", s, s[:i], algo)
		}
		digest, sri, prefixed = s[i+1:], s[i] == '-', true
	}
	b64 := base64.StdEncoding
	var (
		b   []byte
		err error
	)
	switch {
	case digest == "":
		return nil, fmt.Errorf("hash %q: empty digest", s)
	case sri:
		if len(digest) != b64.EncodedLen(size) {
			return nil, fmt.Errorf("hash %q: SRI digest must be %d base64 characters, got %d", s, b64.EncodedLen(size), len(digest))
		}
		b, err = b64.Strict().DecodeString(digest)
	case len(digest) == hex.EncodedLen(size):
		b, err = hex.DecodeString(digest)
	case len(digest) == nixbase32.EncodedLen(size):
		b, err = nixbase32.DecodeString(digest)
	case len(digest) == b64.EncodedLen(size) && prefixed:
		b, err = b64.Strict().DecodeString(digest)
	default:
		return nil, fmt.Errorf("hash %q: a %s digest is %d hex, %d nix32 or %d base64 characters, got %d characters",
			s, algo, hex.EncodedLen(size), nixbase32.EncodedLen(size), b64.EncodedLen(size), len(digest))
	}
	if err != nil {
		return nil, fmt.Errorf("hash %q: %w", s, err)
	}
	if len(b) != size {
		return nil, fmt.Errorf("hash %q: decoded to %d bytes, want %d", s, len(b), size)
	}
	return b, nil
}

// ParseSHA256 is ParseHash for a SHA-256 digest.
func ParseSHA256(s string) ([32]byte, error) {
	var d [32]byte
	b, err := ParseHash("sha256", s)
	if err != nil {
		return d, err
	}
	copy(d[:], b)
	return d, nil
}

// SRI returns the Subresource Integrity form of a digest, as Nix prints it:
// "<algo>-<base64>".
func SRI(algo string, digest []byte) string {
	return algo + "-" + base64.StdEncoding.EncodeToString(digest)
}
