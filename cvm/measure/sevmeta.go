package measure

import (
	"encoding/binary"
	"fmt"
)

// SEVSectionType is the type of an OVMF SEV metadata section.
type SEVSectionType uint32

// SEV metadata section types (edk2 OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm).
const (
	SEVSectionSNPSecMem       SEVSectionType = 1    // pre-validated memory: ZERO pages
	SEVSectionSNPSecrets      SEVSectionType = 2    // the SNP secrets page
	SEVSectionCPUID           SEVSectionType = 3    // the SNP CPUID page
	SEVSectionSVSMCAA         SEVSectionType = 4    // the SVSM calling area: ZERO pages
	SEVSectionSNPKernelHashes SEVSectionType = 0x10 // the page holding the SEV hashes table
)

func (t SEVSectionType) String() string {
	switch t {
	case SEVSectionSNPSecMem:
		return "SNP_SEC_MEM"
	case SEVSectionSNPSecrets:
		return "SNP_SECRETS"
	case SEVSectionCPUID:
		return "CPUID"
	case SEVSectionSVSMCAA:
		return "SVSM_CAA"
	case SEVSectionSNPKernelHashes:
		return "SNP_KERNEL_HASHES"
	}
	return fmt.Sprintf("type %#x", uint32(t))
}

// SEVSection is one section of the SEV metadata: a guest-physical range the
// VMM hands to SNP_LAUNCH_UPDATE before the guest runs.
type SEVSection struct {
	GPA  uint32         `json:"gpa"`
	Size uint32         `json:"size"`
	Type SEVSectionType `json:"type"`
}

const (
	pageSize          = 4096
	sevMetadataHeader = 16 // "ASEV", u32 size, u32 version, u32 number of items
	sevMetadataItem   = 12 // u32 gpa, u32 size, u32 type
	fourGiB           = 1 << 32
)

// ParseSEVMetadata reads the SEV metadata the footer table points to: the
// header "ASEV" | u32 size | u32 version (1) | u32 count at the offset the
// entry gives from the end of the image, then count {u32 gpa, u32 size,
// u32 type} items. Every section must be page-aligned, lie below 4 GiB and
// have a known type.
func ParseSEVMetadata(fw []byte, t *FooterTable) ([]SEVSection, error) {
	v, ok, err := t.u32s(sevMetadataGUID(), "SEV metadata", 1)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: the OVMF footer table has no SEV metadata entry (GUID %s); is this an SEV-capable OVMF build?", ErrNoSEVMetadata, sevMetadataGUID())
	}
	off := int64(v[0])
	if off < sevMetadataHeader || off > int64(len(fw)) {
		return nil, fmt.Errorf("SEV metadata: offset %#x from the end does not leave room for the %d-byte header in a %d-byte image", off, sevMetadataHeader, len(fw))
	}
	start := len(fw) - int(off)
	h := fw[start:]
	if string(h[:4]) != "ASEV" {
		return nil, fmt.Errorf("SEV metadata at offset %#x: signature %q, want \"ASEV\"", start, h[:4])
	}
	size := int64(binary.LittleEndian.Uint32(h[4:]))
	version := binary.LittleEndian.Uint32(h[8:])
	count := int64(binary.LittleEndian.Uint32(h[12:]))
	if version != 1 {
		return nil, fmt.Errorf("SEV metadata at offset %#x: version %d, want 1", start, version)
	}
	if size > off {
		return nil, fmt.Errorf("SEV metadata at offset %#x: size %d runs %d bytes past the end of the image", start, size, size-off)
	}
	if need := sevMetadataHeader + count*sevMetadataItem; size < need {
		return nil, fmt.Errorf("SEV metadata at offset %#x: size %d is too small for %d sections (want at least %d)", start, size, count, need)
	}
	secs := make([]SEVSection, count)
	for i := range secs {
		b := h[sevMetadataHeader+i*sevMetadataItem:]
		secs[i] = SEVSection{
			GPA:  binary.LittleEndian.Uint32(b),
			Size: binary.LittleEndian.Uint32(b[4:]),
			Type: SEVSectionType(binary.LittleEndian.Uint32(b[8:])),
		}
	}
	if err := checkSEVSections(secs); err != nil {
		return nil, err
	}
	return secs, nil
}

// checkSEVSections is what ParseSEVMetadata requires of each section; a
// layout read from a record is held to the same.
func checkSEVSections(secs []SEVSection) error {
	for i, s := range secs {
		switch s.Type {
		case SEVSectionSNPSecMem, SEVSectionSNPSecrets, SEVSectionCPUID, SEVSectionSVSMCAA, SEVSectionSNPKernelHashes:
		default:
			return fmt.Errorf("SEV metadata section %d: unknown type %#x (known: 1 SNP_SEC_MEM, 2 SNP_SECRETS, 3 CPUID, 4 SVSM_CAA, 0x10 SNP_KERNEL_HASHES)", i, uint32(s.Type))
		}
		if s.GPA%pageSize != 0 {
			return fmt.Errorf("SEV metadata section %d (%s): gpa %#x is not 4 KiB aligned", i, s.Type, s.GPA)
		}
		if s.Size%pageSize != 0 {
			return fmt.Errorf("SEV metadata section %d (%s): size %#x is not a multiple of 4 KiB", i, s.Type, s.Size)
		}
		if s.Size == 0 {
			return fmt.Errorf("SEV metadata section %d (%s): size is 0", i, s.Type)
		}
		if uint64(s.GPA)+uint64(s.Size) > fourGiB {
			return fmt.Errorf("SEV metadata section %d (%s): gpa %#x + size %#x runs past 4 GiB", i, s.Type, s.GPA, s.Size)
		}
	}
	return nil
}
