package measure

import "errors"

// Sentinel errors; the errors returned wrap them with the details, so
// callers can tell the cases apart with errors.Is.
var (
	// ErrNoFooterTable: the image does not end with an OVMF footer table.
	ErrNoFooterTable = errors.New("no OVMF footer table")
	// ErrNoSEVMetadata: the footer table has no SEV metadata entry.
	ErrNoSEVMetadata = errors.New("no SEV metadata")
	// ErrNoResetBlock: the footer table has no SEV-ES reset block.
	ErrNoResetBlock = errors.New("no SEV-ES reset block")
	// ErrNoKernelHashes: a kernel is given but the firmware cannot measure it.
	ErrNoKernelHashes = errors.New("no kernel hashes support")
	// ErrNoTDVFMetadata: the footer table has no TDX metadata entry.
	ErrNoTDVFMetadata = errors.New("no TDX metadata")
	// ErrUnknownVCPUType: a vCPU model VCPUSignature does not know.
	ErrUnknownVCPUType = errors.New("unknown vCPU type")
	// ErrVCPUCount: a vCPU count outside 1..MaxVCPUs.
	ErrVCPUCount = errors.New("bad vCPU count")
	// ErrNotPE: a kernel that is not a PE/COFF image (no EFI stub).
	ErrNotPE = errors.New("not a PE/COFF image")
)
