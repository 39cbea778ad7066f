// Package attest binds digests to trusted-execution hardware: TEE backends
// behind one interface (Attester), the evidence they produce and its encoding
// (Evidence, evidence.json), and verification of evidence to claims (Verify).
//
// The binding is the 64-byte REPORT_DATA of the hardware report (ReportData):
// a 32-byte digest chosen by the caller — Kettle's builder uses the SHA-256 of
// provenance.json — followed by the requester's 32-byte nonce. The package
// knows nothing of what the digest covers.
//
// Verification runs in two steps, each failing with a *StepError that names
// it: the hardware signature chain (the report's signature, its endorsement
// key certificate, up to a vendor root pinned in the verifier, never one taken
// from the evidence), then a baseline TCB policy (no debug guest, no migration
// agent, firmware TCB consistent with its certificate). Comparing the claims
// with expected values (launch measurement, REPORT_DATA, HOST_DATA) is the
// caller's job.
//
// Platforms:
//
//   - sev-snp: AMD SEV-SNP. Evidence is verified to AMD's ARK (Milan, Genoa,
//     Turin) with go-sev-guest's verify and validate packages. Obtaining a
//     report inside a guest is not in this build yet.
//   - sim-snp: a real SEV-SNP report layout signed by Kettle's TEST-ONLY key
//     chain (package attest/sim). Verify accepts it only with
//     VerifyOptions.AllowSimulated, and its claims say Simulated.
//   - tdx, az-snp, sim-tdx: named, not yet supported by this build.
//   - none: no attestation.
package attest
