// Package measure computes confidential-VM launch measurements ahead of time,
// from the firmware, kernel, initrd, command line and VM shape, so that a
// verifier knows the expected values before any CVM runs:
//
//   - AMD SEV-SNP: the launch digest (the report's MEASUREMENT), the chain of
//     SHA-384 PAGE_INFO hashes the AMD-SP extends for every page QEMU, EC2 or
//     GCE hands to SNP_LAUNCH_UPDATE (SEV-SNP firmware ABI, §8.17), plus the
//     legacy SEV and SEV-ES SHA-256 digests. It is the job of
//     virtee/sev-snp-measure; this package gives the same digests.
//   - Intel TDX: MRTD, from the TDVF sections the VMM adds and extends
//     (TDH.MEM.PAGE.ADD, TDH.MR.EXTEND), and RTMR[1] and RTMR[2] for a QEMU
//     direct kernel boot, replayed from the events OVMF and the Linux EFI
//     stub log. RTMR[0] depends on the ACPI tables QEMU builds for one VM
//     shape, so it is pinned from a recorded boot and taken as an input.
//
// The firmware parsers (the OVMF GUIDed footer table, the SEV metadata,
// the SEV hashes table, the TDVF metadata descriptor and the PE/COFF
// headers of the kernel) treat their input as untrusted: every malformed
// or missing piece is an error naming the structure, the field and what
// was expected, never a panic.
//
// Two layers are offered. The functions on bytes and digests
// (OVMFHash, SNPLaunchDigest, MRTD, RTMR1Events, ...) are what a verifier
// recomputes from an image manifest; MeasureSNPFiles and MeasureTDXFiles
// read the files, hash every input with SHA-256 for the record, and work on
// independent inputs in parallel.
package measure
