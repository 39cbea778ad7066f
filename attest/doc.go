// Package attest binds digests to trusted-execution hardware: TEE backends
// behind one interface (Attester), the evidence they produce and its encoding
// (Evidence, evidence.json), verification of evidence to claims (Verify), and
// a verifier's policy on those claims (Policy).
//
// The binding is the 64-byte REPORT_DATA of the hardware report (ReportData):
// a 32-byte digest chosen by the caller — Kettle's builder uses the SHA-256 of
// provenance.json — followed by the requester's 32-byte nonce. The package
// knows nothing of what the digest covers.
//
// Verification runs in two steps, each failing with a *StepError that names
// it and the field at fault: the hardware signature chain (the report's
// signature, its endorsement key or PCK certificate chain, up to a vendor
// root pinned in the verifier, never one taken from the evidence), then a
// baseline TCB policy (no debug guest, no migration agent, firmware TCB
// consistent with its certificate, and, when collateral is supplied,
// revocation and Intel's TCB status). Claims.NotChecked lists what could not
// be checked for want of collateral. A Policy (ParsePolicy, JSON or YAML)
// then checks minimum TCBs and SVNs, HOST_DATA or MRCONFIGID, VMPL and the
// allowed launch measurements (CheckTCB, CheckMeasurement); comparing
// REPORT_DATA with the expected binding is the caller's job.
//
// Platforms:
//
//   - sev-snp: AMD SEV-SNP. Reports are obtained through configfs-tsm
//     (go-configfs-tsm) or /dev/sev-guest (go-sev-guest), with the
//     certificate chain from the host's certificate table, and verified to
//     AMD's ARK (Milan, Genoa, Turin) with go-sev-guest's verify and validate
//     packages; an AMD CRL, when supplied, is checked.
//   - tdx: Intel TDX. Quotes are obtained through configfs-tsm and verified
//     to Intel's SGX Root CA with go-tdx-guest's verify and validate
//     packages, offline; Intel's TCB info, QE identity and CRLs, when
//     supplied as collateral, judge the TCB.
//   - sim-snp, sim-tdx: real report and quote layouts signed by Kettle's
//     TEST-ONLY key chains (package attest/sim). Verify accepts them only
//     with VerifyOptions.AllowSimulated, and their claims say Simulated.
//   - none: no attestation; Verify refuses it with ErrUnattested.
//   - az-snp: AMD SEV-SNP behind Azure's paravisor and vTPM (package
//     attest/azsnp): the HCL report's SEV-SNP report verified as for
//     sev-snp (or, with AllowSimulated, to Kettle's TEST-ONLY root, and then
//     the claims say Simulated), then the vTPM attestation key it commits
//     to, the TPM quote that key signed and the PCR values; the build is
//     bound by the quote's qualifying data (Claims.QualifyingData).
//     Evidence in the foreign attested-build tool's shape
//     ({"platform":"az-snp","evidence":{…}}) is read as it is. NewAttester
//     produces it on an Azure CVM, with the report data in the quote.
package attest
