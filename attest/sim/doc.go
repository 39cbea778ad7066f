// Package sim produces simulated SEV-SNP and TDX evidence for tests and
// demos: real attestation reports in the SEV-SNP ABI layout (built with
// go-sev-guest's abi package) signed by Kettle's TEST-ONLY key chain, a VCEK
// certified by an ASK certified by an ARK, in the certificate layout of AMD's
// Key Distribution Service; and real TD quotes (version 4, built with
// go-tdx-guest's abi package) whose QE report is signed by a TEST-ONLY PCK
// key certified by a PCK CA certified by a root, in the layout of Intel's
// PCS.
//
// TEST ONLY. The chain's private keys are committed in testroot/ and compiled
// into every Kettle binary: anyone can sign anything with them, so a report
// that verifies to this root proves nothing about hardware. Verifiers trust
// the root only when told to (kettle verify --allow-simulated) and then say
// SIMULATED on every verdict.
//
// The simulated SEV-SNP machine is one fixed chip: a Milan-B1 (ProductName)
// with the chip ID ChipID and the firmware TCB TCB. The simulated TDX
// machine has the FMSPC TDXFMSPC, CPUSVN TDXCPUSVN and TEE_TCB_SVN
// TDXTEETCBSVN. Only the report's contents that a
// guest or its launcher chooses (REPORT_DATA, MEASUREMENT, HOST_DATA,
// REPORT_ID, the guest policy) vary.
package sim

//go:generate go run ./internal/gentestroot -dir testroot
