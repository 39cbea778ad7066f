package nixinputs

import "github.com/kettle-build/kettle/internal/nixstore"

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
func ParseHash(s string) ([32]byte, error) { return nixstore.ParseSHA256(s) }
