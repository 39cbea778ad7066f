// Package azsnp reads, verifies and produces az-snp evidence: AMD SEV-SNP
// attestation as Azure's confidential VMs expose it, through a paravisor
// (HCL) and a virtual TPM.
//
// On such a VM the guest cannot ask the secure processor for a report with
// data of its choosing. Instead the paravisor, at boot, obtains an SEV-SNP
// report whose REPORT_DATA commits to a JSON document of "runtime claims"
// holding the vTPM's attestation key (AK), and stores both in the HCL report
// (magic "HCLA"), which the guest reads from the vTPM's NV index 0x01400001.
// The guest binds its own data with a TPM2 quote signed by that AK: the
// quote's qualifying data (TPMS_ATTEST extraData) carries the caller's
// digest, and its PCR digest commits to the PCR values shipped alongside.
//
// Verify checks the whole chain, in order, each failure a *StepError naming
// the step and the field:
//
//  1. evidence: the JSON document and its encodings;
//  2. hcl-report: the HCL report's layout (header, SEV-SNP report, IGVM
//     request data, runtime claims);
//  3. snp-report: the SEV-SNP report and its VCEK, up to AMD's root — a
//     check this package delegates to the caller's SNPVerifier (package
//     attest pins AMD's roots);
//  4. runtime-claims: REPORT_DATA begins with the hash of the runtime
//     claims, which are well-formed JSON;
//  5. attestation-key: the claims hold one RSA key with kid "HCLAkPub";
//  6. quote: the TPMS_ATTEST is a quote, of the 24 SHA-256 PCRs, signed by
//     that key (RSASSA-PKCS1-v1_5, SHA-256);
//  7. pcrs: the quote's PCR digest is the SHA-256 of the PCR values shipped;
//  8. pcr-policy: the PCR values are allowed by the caller's PCRPolicy.
//
// The quote's extraData is returned in the claims; comparing it with the
// digest it should carry is the caller's job (CheckBinding). Two bindings
// exist: Kettle's own bundles put SHA-256(provenance.json) ‖ nonce in it
// (KettleBinding); bundles from the Rust attested-build tool
// (github.com/lunal-dev/kettle) put the SHA-256 of the provenance
// re-serialised as compact JSON in its own key order (ForeignBinding).
//
// Attester produces az-snp evidence over a TPM transport (/dev/tpmrm0 on an
// Azure CVM).
package azsnp
