package attest

import "github.com/kettle-build/kettle/attest/azsnp"

// CompactJSONDigest returns the SHA-256 of provenance re-serialised as
// compact JSON in its own key order: what the foreign attested-build tool's
// az-snp quotes carry as qualifying data instead of the digest of the file's
// bytes.
func CompactJSONDigest(provenance []byte) ([]byte, error) {
	return azsnp.ForeignBinding(provenance)
}
