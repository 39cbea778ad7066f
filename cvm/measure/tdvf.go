package measure

import (
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
)

// TDVFSectionType is the type of a TDVF metadata section.
type TDVFSectionType uint32

// TDVF section types (Intel TDX Virtual Firmware Design Guide, §11).
const (
	TDVFSectionBFV          TDVFSectionType = 0 // boot firmware volume: the code
	TDVFSectionCFV          TDVFSectionType = 1 // configuration firmware volume: UEFI variables
	TDVFSectionTDHOB        TDVFSectionType = 2 // the TD hand-off block
	TDVFSectionTempMem      TDVFSectionType = 3
	TDVFSectionPermMem      TDVFSectionType = 4
	TDVFSectionPayload      TDVFSectionType = 5
	TDVFSectionPayloadParam TDVFSectionType = 6
)

func (t TDVFSectionType) String() string {
	switch t {
	case TDVFSectionBFV:
		return "BFV"
	case TDVFSectionCFV:
		return "CFV"
	case TDVFSectionTDHOB:
		return "TD_HOB"
	case TDVFSectionTempMem:
		return "TempMem"
	case TDVFSectionPermMem:
		return "PermMem"
	case TDVFSectionPayload:
		return "Payload"
	case TDVFSectionPayloadParam:
		return "PayloadParam"
	}
	return fmt.Sprintf("type %d", uint32(t))
}

// TDVF section attributes.
const (
	// TDVFAttrMRExtend: the VMM extends MRTD with the section's contents.
	TDVFAttrMRExtend = 1 << 0
	// TDVFAttrPageAug: the pages are added later by TDH.MEM.PAGE.AUG, so they
	// are not in MRTD at all.
	TDVFAttrPageAug = 1 << 1
)

// TDVFSection is one section of the TDVF metadata: a range of guest memory
// the VMM adds to the TD before it runs, and where its initial contents
// lie in the firmware image.
type TDVFSection struct {
	DataOffset     uint32          `json:"dataOffset"`
	RawDataSize    uint32          `json:"rawDataSize"`
	MemoryAddress  uint64          `json:"memoryAddress"`
	MemoryDataSize uint64          `json:"memoryDataSize"`
	Type           TDVFSectionType `json:"type"`
	Attributes     uint32          `json:"attributes"`
}

const (
	tdvfHeaderSize  = 16 // "TDVF", u32 length, u32 version, u32 number of sections
	tdvfSectionSize = 32
	// MaxTDVFMemory bounds the memory all sections of a TDVF descriptor may
	// add together: real firmware adds a few MiB, and every page costs a
	// MEM.PAGE.ADD record in MRTD.
	MaxTDVFMemory = 4 << 30
	// maxGPA is the largest guest-physical address (52 bits).
	maxGPA = 1 << 52
)

// ParseTDVF reads the TDVF metadata descriptor of a unified OVMF image
// (CODE and VARS in one file, as QEMU's -bios takes it for a TD): the footer
// table's TDX metadata entry gives its offset from the end of the image;
// there "TDVF" | u32 length | u32 version (1) | u32 count is followed by count
// 32-byte sections {u32 DataOffset, u32 RawDataSize, u64 MemoryAddress,
// u64 MemoryDataSize, u32 Type, u32 Attributes}. Sections must be page
// aligned, their raw data inside the image, and a measured (MR_EXTEND)
// section's memory exactly its raw data.
func ParseTDVF(fw []byte) ([]TDVFSection, error) {
	t, err := ParseFooterTable(fw)
	if err != nil {
		return nil, err
	}
	v, ok, err := t.u32s(tdxMetadataGUID(), "TDX metadata", 1)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: the OVMF footer table has no TDX metadata entry (GUID %s); is this a TDX-capable OVMF build?", ErrNoTDVFMetadata, tdxMetadataGUID())
	}
	off := int64(v[0])
	if off < tdvfHeaderSize || off > int64(len(fw)) {
		return nil, fmt.Errorf("TDVF descriptor: offset %#x from the end does not leave room for its %d-byte header in a %d-byte image", off, tdvfHeaderSize, len(fw))
	}
	start := len(fw) - int(off)
	d := fw[start:]
	if string(d[:4]) != "TDVF" {
		return nil, fmt.Errorf("TDVF descriptor at offset %#x: signature %q, want \"TDVF\"", start, d[:4])
	}
	length := int64(binary.LittleEndian.Uint32(d[4:]))
	version := binary.LittleEndian.Uint32(d[8:])
	count := int64(binary.LittleEndian.Uint32(d[12:]))
	if version != 1 {
		return nil, fmt.Errorf("TDVF descriptor at offset %#x: version %d, want 1", start, version)
	}
	if count == 0 {
		return nil, fmt.Errorf("TDVF descriptor at offset %#x: no sections", start)
	}
	want := tdvfHeaderSize + count*tdvfSectionSize
	if want > off {
		return nil, fmt.Errorf("TDVF descriptor at offset %#x is truncated: %d sections need %d bytes, the image ends after %d", start, count, want, off)
	}
	if length != want {
		return nil, fmt.Errorf("TDVF descriptor at offset %#x: length %d, want %d for %d sections", start, length, want, count)
	}
	secs := make([]TDVFSection, count)
	for i := range secs {
		b := d[tdvfHeaderSize+i*tdvfSectionSize:]
		secs[i] = TDVFSection{
			DataOffset:     binary.LittleEndian.Uint32(b),
			RawDataSize:    binary.LittleEndian.Uint32(b[4:]),
			MemoryAddress:  binary.LittleEndian.Uint64(b[8:]),
			MemoryDataSize: binary.LittleEndian.Uint64(b[16:]),
			Type:           TDVFSectionType(binary.LittleEndian.Uint32(b[24:])),
			Attributes:     binary.LittleEndian.Uint32(b[28:]),
		}
	}
	if err := CheckTDVFSections(secs, len(fw)); err != nil {
		return nil, err
	}
	return secs, nil
}

// CheckTDVFSections is what ParseTDVF requires of the sections of a
// descriptor in an image of imageSize bytes.
func CheckTDVFSections(secs []TDVFSection, imageSize int) error {
	var total uint64
	for i, s := range secs {
		at := fmt.Sprintf("TDVF section %d (%s)", i, s.Type)
		if s.Type > TDVFSectionPayloadParam {
			return fmt.Errorf("TDVF section %d: unknown type %d (known: 0 BFV … 6 PayloadParam)", i, uint32(s.Type))
		}
		if s.Attributes&^(TDVFAttrMRExtend|TDVFAttrPageAug) != 0 {
			return fmt.Errorf("%s: attributes %#x have reserved bits set", at, s.Attributes)
		}
		if s.Attributes == TDVFAttrMRExtend|TDVFAttrPageAug {
			return fmt.Errorf("%s: attributes %#x ask to extend MRTD with pages added later by PAGE.AUG", at, s.Attributes)
		}
		if s.MemoryAddress%pageSize != 0 {
			return fmt.Errorf("%s: memory address %#x is not 4 KiB aligned", at, s.MemoryAddress)
		}
		if s.MemoryDataSize == 0 || s.MemoryDataSize%pageSize != 0 {
			return fmt.Errorf("%s: memory size %#x is not a positive multiple of 4 KiB", at, s.MemoryDataSize)
		}
		if s.MemoryDataSize > maxGPA || s.MemoryAddress > maxGPA-s.MemoryDataSize {
			return fmt.Errorf("%s: memory %#x + %#x runs past the 52-bit guest-physical space", at, s.MemoryAddress, s.MemoryDataSize)
		}
		if uint64(s.RawDataSize) > s.MemoryDataSize {
			return fmt.Errorf("%s: raw data size %#x is more than its memory size %#x", at, s.RawDataSize, s.MemoryDataSize)
		}
		if end := uint64(s.DataOffset) + uint64(s.RawDataSize); s.RawDataSize != 0 && end > uint64(imageSize) {
			return fmt.Errorf("%s: raw data at %#x + %#x runs past the end of the %#x-byte image (a split OVMF_CODE.fd? TDX needs the unified OVMF.fd)", at, s.DataOffset, s.RawDataSize, imageSize)
		}
		if s.Attributes&TDVFAttrMRExtend != 0 && uint64(s.RawDataSize) != s.MemoryDataSize {
			return fmt.Errorf("%s: measured (MR_EXTEND) but its raw data size %#x differs from its memory size %#x", at, s.RawDataSize, s.MemoryDataSize)
		}
		if s.Attributes&TDVFAttrPageAug == 0 {
			total += s.MemoryDataSize
			if total > MaxTDVFMemory {
				return fmt.Errorf("%s: the sections add more than %d GiB of memory, far more than a firmware does", at, MaxTDVFMemory>>30)
			}
		}
	}
	return nil
}

// MRTDOrder is the order in which the VMM adds and measures the pages of a
// section; the hardware measures whatever order it is given.
type MRTDOrder string

const (
	// MRTDPerPage adds a page, then extends MRTD with its 16 chunks, page by
	// page: upstream KVM (KVM_TDX_INIT_MEM_REGION, Linux 6.16) with upstream
	// QEMU, and the interleaving virtee/tdx-measure and current
	// edgelesssys/contrast use.
	MRTDPerPage MRTDOrder = "per-page"
	// MRTDSectionWise adds all pages of a section, then extends all of them:
	// the interim 2024 KVM/QEMU TDX series (KVM_MEMORY_MAPPING, then
	// KVM_TDX_EXTEND_MEMORY).
	MRTDSectionWise MRTDOrder = "section-wise"
)

// MRTD computes the TD's build-time measurement: SHA-384 over, for each
// section in table order and each of its pages, a 128-byte MEM.PAGE.ADD
// record ("MEM.PAGE.ADD", the GPA at byte 16) unless the section is PAGE_AUG,
// and, for MR_EXTEND sections, 16 MR.EXTEND records ("MR.EXTEND", the GPA of
// a 256-byte chunk at byte 16) each followed by the chunk, in the given order.
func MRTD(fw []byte, secs []TDVFSection, order MRTDOrder) ([48]byte, error) {
	if order != MRTDPerPage && order != MRTDSectionWise {
		return [48]byte{}, fmt.Errorf("MRTD order %q: want %q or %q", order, MRTDPerPage, MRTDSectionWise)
	}
	if err := CheckTDVFSections(secs, len(fw)); err != nil {
		return [48]byte{}, err
	}
	h := sha512.New384()
	// One page's records at a time: the ADD record, then 16 × (EXTEND
	// record, chunk), 49 SHA-384 blocks in one write.
	buf := make([]byte, 128+16*(128+256))
	for _, s := range secs {
		pages := s.MemoryDataSize / pageSize
		add := s.Attributes&TDVFAttrPageAug == 0
		ext := s.Attributes&TDVFAttrMRExtend != 0
		if order == MRTDSectionWise {
			if add {
				for p := range pages {
					writeAdd(h, buf, s.MemoryAddress+p*pageSize)
				}
			}
			if ext {
				for p := range pages {
					h.Write(extendRecords(buf, fw, s, p))
				}
			}
			continue
		}
		for p := range pages {
			switch {
			case add && ext:
				addRecord(buf[:128], s.MemoryAddress+p*pageSize)
				extendRecords(buf[128:], fw, s, p)
				h.Write(buf)
			case add:
				writeAdd(h, buf, s.MemoryAddress+p*pageSize)
			case ext:
				h.Write(extendRecords(buf, fw, s, p))
			}
		}
	}
	var sum [48]byte
	h.Sum(sum[:0])
	return sum, nil
}

func addRecord(r []byte, gpa uint64) {
	clear(r[:128])
	copy(r, "MEM.PAGE.ADD")
	binary.LittleEndian.PutUint64(r[16:], gpa)
}

func writeAdd(h hash.Hash, buf []byte, gpa uint64) {
	addRecord(buf[:128], gpa)
	h.Write(buf[:128])
}

// extendRecords lays out the 16 MR.EXTEND records and chunks of page p of
// section s in buf and returns them.
func extendRecords(buf, fw []byte, s TDVFSection, p uint64) []byte {
	const n = 16 * (128 + 256)
	gpa := s.MemoryAddress + p*pageSize
	data := fw[uint64(s.DataOffset)+p*pageSize:]
	for k := range uint64(16) {
		r := buf[k*384 : k*384+128]
		clear(r)
		copy(r, "MR.EXTEND")
		binary.LittleEndian.PutUint64(r[16:], gpa+k*256)
		copy(buf[k*384+128:k*384+384], data[k*256:k*256+256])
	}
	return buf[:n]
}
