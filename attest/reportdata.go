package attest

import "crypto/sha256"

// SessionLabel prefixes the key digest of SessionReportData.
const SessionLabel = "kettle-session-v1"

// ReportData returns the 64 bytes a report binds for Kettle: the provenance
// digest (SHA-256 of provenance.json) followed by the requester's nonce (all
// zero when there is none).
func ReportData(provenanceDigest, nonce [32]byte) [64]byte {
	var rd [64]byte
	copy(rd[:32], provenanceDigest[:])
	copy(rd[32:], nonce[:])
	return rd
}

// SplitReportData is the inverse of ReportData.
func SplitReportData(rd [64]byte) (digest, nonce [32]byte) {
	copy(digest[:], rd[:32])
	copy(nonce[:], rd[32:])
	return digest, nonce
}

// SessionReportData returns the 64 bytes a pre-attested session's first
// report binds: SHA-256("kettle-session-v1" ‖ 0x00 ‖ spki) followed by the
// requester's nonce, where spki is the DER SubjectPublicKeyInfo of the
// session's ephemeral TLS key.
func SessionReportData(spki []byte, nonce [32]byte) [64]byte {
	h := sha256.New()
	h.Write([]byte(SessionLabel))
	h.Write([]byte{0})
	h.Write(spki)
	var digest [32]byte
	h.Sum(digest[:0])
	return ReportData(digest, nonce)
}
