package azsnp

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/go-sev-guest/abi"
)

// Layout of the HCL report, as Azure's paravisor writes it (see Microsoft's
// az-cvm-vtpm crate, hcl module): a 32-byte attestation header, the hardware
// report area (1184 bytes, an SEV-SNP ATTESTATION_REPORT), the IGVM request
// data (five little-endian uint32) and its variable data, the runtime claims.
// The NV index is larger than the report; the rest is zero padding.
const (
	// HCLMagic begins every HCL report ("HCLA", the header's signature).
	HCLMagic = "HCLA"
	// HCLHeaderSize is the size of the attestation header.
	HCLHeaderSize = 32
	// SNPReportOffset is where the SEV-SNP report starts.
	SNPReportOffset = HCLHeaderSize
	// RequestDataOffset is where the IGVM request data starts.
	RequestDataOffset = SNPReportOffset + abi.ReportSize
	// RequestDataHeaderSize is the fixed part of the IGVM request data.
	RequestDataHeaderSize = 20
	// RuntimeClaimsOffset is where the runtime claims start.
	RuntimeClaimsOffset = RequestDataOffset + RequestDataHeaderSize
	// MaxHCLReportSize bounds what ParseHCLReport reads.
	MaxHCLReportSize = 64 << 10
)

// Values of the HCL report's fields that this package understands.
const (
	HCLVersion         = 1 // header version
	HCLRequestType     = 2 // header request_type: an attestation request
	RequestDataVersion = 1 // IGVM request data version
	ReportTypeSNP      = 2 // IGVM report_type: SEV-SNP
	ReportTypeTDX      = 4 // IGVM report_type: TDX (Azure TDX; see ParseTDXHCLReport)
	HashTypeSHA256     = 1 // IGVM report_data_hash_type
	HashTypeSHA384     = 2
	HashTypeSHA512     = 3
)

// HCLReport is a decoded HCL report. The byte slices alias the input.
type HCLReport struct {
	// Header fields.
	Version     uint32
	ReportSize  uint32 // header, hardware report, request data and claims
	RequestType uint32
	Status      uint32
	// SNPReport is the 1184-byte SEV-SNP ATTESTATION_REPORT.
	SNPReport []byte
	// IGVM request data fields.
	DataSize           uint32 // fixed part and runtime claims
	RequestDataVersion uint32
	ReportType         uint32
	HashType           uint32
	// RuntimeClaims is the variable data: a JSON document whose hash
	// REPORT_DATA begins with.
	RuntimeClaims []byte
	// Padding is the number of zero bytes after ReportSize.
	Padding int
}

// ParseHCLReport decodes an HCL report strictly: the magic, the known header
// version, request type and status, zero reserved words, sizes that agree
// with each other and with the input, an SEV-SNP report type and a known hash
// type, and nothing but zeros after the report. The header and padding are
// covered by no signature, so this reader leaves them no freedom. Errors name
// the field at fault and its offset, not the HCL report: the caller says
// what it parsed.
func ParseHCLReport(b []byte) (*HCLReport, error) { return parseHCLReport(b, ReportTypeSNP) }

// ParseTDXHCLReport decodes an HCL report of a TDX guest (Azure TDX) as
// strictly as ParseHCLReport does an SEV-SNP one. The hardware report area
// (HCLReport.SNPReport, 1184 bytes) then holds the TDREPORT, which no
// verifier outside the TD can authenticate; the TD quote is checked
// instead.
func ParseTDXHCLReport(b []byte) (*HCLReport, error) { return parseHCLReport(b, ReportTypeTDX) }

func parseHCLReport(b []byte, reportType uint32) (*HCLReport, error) {
	if len(b) > MaxHCLReportSize {
		return nil, fmt.Errorf("%d bytes, more than the %d this reader accepts", len(b), MaxHCLReportSize)
	}
	if len(b) < 4 || string(b[:4]) != HCLMagic {
		n := min(len(b), 4)
		return nil, fmt.Errorf("signature (offset 0) is %q, want %q", b[:n], HCLMagic)
	}
	if len(b) < RuntimeClaimsOffset {
		return nil, fmt.Errorf("truncated: %d bytes, want at least %d (header, SEV-SNP report and IGVM request data)", len(b), RuntimeClaimsOffset)
	}
	u32 := func(off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
	r := &HCLReport{
		Version:            u32(4),
		ReportSize:         u32(8),
		RequestType:        u32(12),
		Status:             u32(16),
		SNPReport:          b[SNPReportOffset:RequestDataOffset],
		DataSize:           u32(RequestDataOffset),
		RequestDataVersion: u32(RequestDataOffset + 4),
		ReportType:         u32(RequestDataOffset + 8),
		HashType:           u32(RequestDataOffset + 12),
	}
	claimsSize := u32(RequestDataOffset + 16)
	if r.Version != HCLVersion {
		return nil, fmt.Errorf("header version (offset 4) is %d, want %d", r.Version, HCLVersion)
	}
	if r.RequestType != HCLRequestType {
		return nil, fmt.Errorf("header request_type (offset 12) is %d, want %d (attestation request)", r.RequestType, HCLRequestType)
	}
	if r.Status != 0 {
		return nil, fmt.Errorf("header status (offset 16) is %d, want 0", r.Status)
	}
	for off := 20; off < HCLHeaderSize; off += 4 {
		if v := u32(off); v != 0 {
			return nil, fmt.Errorf("header reserved word (offset %d) is 0x%x, want 0", off, v)
		}
	}
	if r.RequestDataVersion != RequestDataVersion {
		return nil, fmt.Errorf("request data version (offset %d) is %d, want %d", RequestDataOffset+4, r.RequestDataVersion, RequestDataVersion)
	}
	switch {
	case r.ReportType == reportType:
	case reportType == ReportTypeSNP && r.ReportType == ReportTypeTDX:
		return nil, fmt.Errorf("report_type (offset %d) is %d (TDX); only SEV-SNP HCL reports are read here", RequestDataOffset+8, r.ReportType)
	case reportType == ReportTypeTDX:
		return nil, fmt.Errorf("report_type (offset %d) is %d, want %d (TDX)", RequestDataOffset+8, r.ReportType, ReportTypeTDX)
	default:
		return nil, fmt.Errorf("report_type (offset %d) is %d, want %d (SEV-SNP)", RequestDataOffset+8, r.ReportType, ReportTypeSNP)
	}
	if _, err := r.hashSize(); err != nil {
		return nil, err
	}
	if int64(claimsSize) > int64(len(b)-RuntimeClaimsOffset) {
		return nil, fmt.Errorf("truncated: variable_data_size (offset %d) says %d bytes of runtime claims, %d follow", RequestDataOffset+16, claimsSize, len(b)-RuntimeClaimsOffset)
	}
	if r.DataSize != RequestDataHeaderSize+claimsSize {
		return nil, fmt.Errorf("request data_size (offset %d) is %d, want %d (20 + variable_data_size %d)", RequestDataOffset, r.DataSize, RequestDataHeaderSize+claimsSize, claimsSize)
	}
	end := RuntimeClaimsOffset + int(claimsSize)
	if r.ReportSize != uint32(end) {
		return nil, fmt.Errorf("header report_size (offset 8) is %d, want %d (header, SEV-SNP report and request data)", r.ReportSize, end)
	}
	r.RuntimeClaims = b[RuntimeClaimsOffset:end]
	for j, c := range b[end:] {
		if c != 0 {
			return nil, fmt.Errorf("padding byte at offset %d is 0x%02x, want 0 (nothing follows the report)", end+j, c)
		}
	}
	r.Padding = len(b) - end
	return r, nil
}

// hashSize returns the size of the digest HashType names.
func (r *HCLReport) hashSize() (int, error) {
	switch r.HashType {
	case HashTypeSHA256:
		return sha256.Size, nil
	case HashTypeSHA384:
		return sha512.Size384, nil
	case HashTypeSHA512:
		return sha512.Size, nil
	}
	return 0, fmt.Errorf("report_data_hash_type (offset %d) is %d, want 1 (SHA-256), 2 (SHA-384) or 3 (SHA-512)", RequestDataOffset+12, r.HashType)
}

// RuntimeClaimsDigest returns the hash of the runtime claims under HashType:
// what the SEV-SNP report's REPORT_DATA must begin with (the rest being
// zero).
func (r *HCLReport) RuntimeClaimsDigest() ([]byte, error) {
	switch r.HashType {
	case HashTypeSHA256:
		s := sha256.Sum256(r.RuntimeClaims)
		return s[:], nil
	case HashTypeSHA384:
		s := sha512.Sum384(r.RuntimeClaims)
		return s[:], nil
	case HashTypeSHA512:
		s := sha512.Sum512(r.RuntimeClaims)
		return s[:], nil
	}
	_, err := r.hashSize()
	return nil, err
}

// Marshal lays r out as ParseHCLReport reads it, followed by r.Padding zero
// bytes. The sizes are computed from SNPReport and RuntimeClaims; the other
// fields are written as they are.
func (r *HCLReport) Marshal() ([]byte, error) {
	if len(r.SNPReport) != abi.ReportSize {
		return nil, fmt.Errorf("HCL report: SEV-SNP report of %d bytes, want %d", len(r.SNPReport), abi.ReportSize)
	}
	if r.Padding < 0 || RuntimeClaimsOffset+len(r.RuntimeClaims)+r.Padding > MaxHCLReportSize {
		return nil, errors.New("HCL report: runtime claims and padding too large")
	}
	end := RuntimeClaimsOffset + len(r.RuntimeClaims)
	b := make([]byte, end+r.Padding)
	copy(b, HCLMagic)
	put := func(off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
	put(4, r.Version)
	put(8, uint32(end))
	put(12, r.RequestType)
	put(16, r.Status)
	copy(b[SNPReportOffset:], r.SNPReport)
	put(RequestDataOffset, uint32(RequestDataHeaderSize+len(r.RuntimeClaims)))
	put(RequestDataOffset+4, r.RequestDataVersion)
	put(RequestDataOffset+8, r.ReportType)
	put(RequestDataOffset+12, r.HashType)
	put(RequestDataOffset+16, uint32(len(r.RuntimeClaims)))
	copy(b[RuntimeClaimsOffset:], r.RuntimeClaims)
	return b, nil
}

// NewHCLReport returns the HCL report the paravisor would write for an
// SEV-SNP report and runtime claims (hash type SHA-256), with padding zero
// bytes after it.
func NewHCLReport(snpReport, runtimeClaims []byte, padding int) ([]byte, error) {
	r := &HCLReport{
		Version: HCLVersion, RequestType: HCLRequestType, SNPReport: snpReport,
		RequestDataVersion: RequestDataVersion, ReportType: ReportTypeSNP, HashType: HashTypeSHA256,
		RuntimeClaims: runtimeClaims, Padding: padding,
	}
	return r.Marshal()
}

// NewTDXHCLReport returns the HCL report the paravisor of a TDX guest would
// write for a hardware report area (a TDREPORT, at most 1184 bytes,
// zero-padded) and runtime claims (hash type SHA-256).
func NewTDXHCLReport(tdReport, runtimeClaims []byte, padding int) ([]byte, error) {
	if len(tdReport) > abi.ReportSize {
		return nil, fmt.Errorf("HCL report: TD report of %d bytes, more than the %d-byte hardware report area", len(tdReport), abi.ReportSize)
	}
	area := make([]byte, abi.ReportSize)
	copy(area, tdReport)
	r := &HCLReport{
		Version: HCLVersion, RequestType: HCLRequestType, SNPReport: area,
		RequestDataVersion: RequestDataVersion, ReportType: ReportTypeTDX, HashType: HashTypeSHA256,
		RuntimeClaims: runtimeClaims, Padding: padding,
	}
	return r.Marshal()
}
