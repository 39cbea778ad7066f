package attest

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
