package measure

import (
	"encoding/binary"
	"testing"
)

// footerEntrySpec is one entry to put in a synthetic footer table.
type footerEntrySpec struct {
	g    GUID
	data []byte
}

// image is a synthetic OVMF image for tests: size bytes of pseudo-random
// filler with a footer table of the given entries, the SEV metadata at
// sevOffset and the TDVF descriptor at tdvfOffset bytes from the end.
type image struct {
	size       int
	resetEIP   *uint32
	hashTable  *[2]uint32
	sev        []SEVSection
	tdvf       []TDVFSection
	extra      []footerEntrySpec // more entries, nearest the footer first
	sevOffset  int
	tdvfOffset int
	seed       byte
}

func u32p(v uint32) *uint32 { return &v }

func le32(vs ...uint32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return b
}

// amdSevLike is a 4 MiB image laid out like edk2's AmdSevX64 build: SNP
// metadata with a kernel hashes page, and TDVF sections whose BFV (3.5 MiB)
// is measured into MRTD.
func amdSevLike() image {
	return image{
		size:      4 << 20,
		resetEIP:  u32p(0x80b004),
		hashTable: &[2]uint32{0x810c00, 0x400},
		sev: []SEVSection{
			{0x800000, 0x9000, SEVSectionSNPSecMem}, {0x80a000, 0x3000, SEVSectionSNPSecMem},
			{0x80d000, 0x1000, SEVSectionSNPSecrets}, {0x80e000, 0x1000, SEVSectionCPUID},
			{0x80f000, 0x1000, SEVSectionSVSMCAA}, {0x810000, 0x1000, SEVSectionSNPKernelHashes},
			{0x811000, 0xf000, SEVSectionSNPSecMem},
		},
		tdvf: []TDVFSection{
			{0x80000, 0x380000, 0xffc80000, 0x380000, TDVFSectionBFV, TDVFAttrMRExtend},
			{0, 0x80000, 0xffc00000, 0x80000, TDVFSectionCFV, 0},
			{0, 0, 0x812000, 0xe000, TDVFSectionTempMem, 0},
			{0, 0, 0x809000, 0x2000, TDVFSectionTDHOB, 0},
			{0, 0, 0x800000, 0x6000, TDVFSectionTempMem, 0},
		},
		sevOffset:  0x554,
		tdvfOffset: 0x9d0,
		seed:       1,
	}
}

// small is amdSevLike in 64 KiB, for fuzz seeds and quick tests.
func small() image {
	im := amdSevLike()
	im.size = 64 << 10
	im.tdvf[0] = TDVFSection{0x8000, 0x8000, 0xffff8000, 0x8000, TDVFSectionBFV, TDVFAttrMRExtend}
	im.tdvf[1] = TDVFSection{0, 0x8000, 0xffff0000, 0x8000, TDVFSectionCFV, 0}
	return im
}

func (im image) entries() []footerEntrySpec {
	var es []footerEntrySpec
	if im.resetEIP != nil {
		es = append(es, footerEntrySpec{sevESResetBlockGUID(), le32(*im.resetEIP)})
	}
	if im.hashTable != nil {
		es = append(es, footerEntrySpec{sevHashTableRVGUID(), le32(im.hashTable[0], im.hashTable[1])})
	}
	if im.sev != nil {
		es = append(es, footerEntrySpec{sevMetadataGUID(), le32(uint32(im.sevOffset))})
	}
	if im.tdvf != nil {
		es = append(es, footerEntrySpec{tdxMetadataGUID(), le32(uint32(im.tdvfOffset))})
	}
	return append(es, im.extra...)
}

func (im image) build(t testing.TB) []byte {
	t.Helper()
	b := make([]byte, im.size)
	x := uint32(im.seed) + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	putFooterTable(b, im.entries())
	if im.sev != nil {
		s := b[im.size-im.sevOffset:]
		copy(s, "ASEV")
		binary.LittleEndian.PutUint32(s[4:], uint32(sevMetadataHeader+sevMetadataItem*len(im.sev)))
		binary.LittleEndian.PutUint32(s[8:], 1)
		binary.LittleEndian.PutUint32(s[12:], uint32(len(im.sev)))
		for i, sec := range im.sev {
			copy(s[16+12*i:], le32(sec.GPA, sec.Size, uint32(sec.Type)))
		}
	}
	if im.tdvf != nil {
		putTDVF(b[im.size-im.tdvfOffset:], im.tdvf)
	}
	return b
}

// putFooterTable writes the table and its footer just below the last 32
// bytes of b, the first entry nearest the footer.
func putFooterTable(b []byte, es []footerEntrySpec) {
	end := len(b) - resetVectorSize - footerEntryHeaderSize
	total := footerEntryHeaderSize
	for _, e := range es {
		total += len(e.data) + footerEntryHeaderSize
	}
	binary.LittleEndian.PutUint16(b[end:], uint16(total))
	g := footerTableGUID()
	copy(b[end+2:], g[:])
	for _, e := range es {
		hdr := end - footerEntryHeaderSize
		binary.LittleEndian.PutUint16(b[hdr:], uint16(len(e.data)+footerEntryHeaderSize))
		copy(b[hdr+2:], e.g[:])
		copy(b[hdr-len(e.data):], e.data)
		end = hdr - len(e.data)
	}
}

func putTDVF(d []byte, secs []TDVFSection) {
	copy(d, "TDVF")
	binary.LittleEndian.PutUint32(d[4:], uint32(tdvfHeaderSize+tdvfSectionSize*len(secs)))
	binary.LittleEndian.PutUint32(d[8:], 1)
	binary.LittleEndian.PutUint32(d[12:], uint32(len(secs)))
	for i, s := range secs {
		b := d[tdvfHeaderSize+tdvfSectionSize*i:]
		binary.LittleEndian.PutUint32(b, s.DataOffset)
		binary.LittleEndian.PutUint32(b[4:], s.RawDataSize)
		binary.LittleEndian.PutUint64(b[8:], s.MemoryAddress)
		binary.LittleEndian.PutUint64(b[16:], s.MemoryDataSize)
		binary.LittleEndian.PutUint32(b[24:], uint32(s.Type))
		binary.LittleEndian.PutUint32(b[28:], s.Attributes)
	}
}

// peSpec describes a synthetic EFI-stub kernel: a bzImage-like setup header
// and a PE32+ header at 0x40 with sections laid end to end after
// SizeOfHeaders.
type peSpec struct {
	size        int
	sections    []uint32 // raw sizes, laid out in order from SizeOfHeaders
	certSize    uint32   // certificate table at the end of the file
	nDirs       uint32
	pe32        bool
	noSetupHdr  bool
	protocol    uint16
	xloadflags  uint16
	headersSize uint32
}

func kernelSpec(size int) peSpec {
	return peSpec{size: size, sections: []uint32{0x3e00, uint32(size) - 0x4000}, nDirs: 6, protocol: 0x20f, xloadflags: 0x7f, headersSize: 0x200}
}

func (p peSpec) build() []byte {
	b := make([]byte, p.size)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	b[0], b[1] = 'M', 'Z'
	const lfanew = 0x40
	binary.LittleEndian.PutUint32(b[0x3c:], lfanew)
	copy(b[lfanew:], "PE\x00\x00")
	coff := lfanew + 4
	binary.LittleEndian.PutUint16(b[coff:], 0x8664)
	binary.LittleEndian.PutUint16(b[coff+2:], uint16(len(p.sections)))
	optSize, magic, dirs, nDirsOff := 240, uint16(0x20b), 112, 108
	if p.pe32 {
		optSize, magic, dirs, nDirsOff = 224, 0x10b, 96, 92
	}
	binary.LittleEndian.PutUint16(b[coff+16:], uint16(optSize))
	opt := coff + 20
	clear(b[opt : opt+optSize])
	binary.LittleEndian.PutUint16(b[opt:], magic)
	binary.LittleEndian.PutUint32(b[opt+60:], p.headersSize)
	binary.LittleEndian.PutUint32(b[opt+64:], 0xdeadbeef) // CheckSum
	binary.LittleEndian.PutUint32(b[opt+nDirsOff:], p.nDirs)
	if p.certSize > 0 {
		binary.LittleEndian.PutUint32(b[opt+dirs+32:], uint32(p.size)-p.certSize)
		binary.LittleEndian.PutUint32(b[opt+dirs+36:], p.certSize)
	}
	sec := opt + optSize
	off := p.headersSize
	for i, sz := range p.sections {
		s := b[sec+40*i : sec+40*i+40]
		clear(s)
		copy(s, ".sec")
		s[4] = '0' + byte(i)
		binary.LittleEndian.PutUint32(s[16:], sz)
		binary.LittleEndian.PutUint32(s[20:], off)
		off += sz
	}
	if !p.noSetupHdr {
		copy(b[0x202:], "HdrS")
		binary.LittleEndian.PutUint16(b[0x206:], p.protocol)
		b[0x211] = 0x01       // LOADED_HIGH
		clear(b[0x218:0x220]) // ramdisk_image, ramdisk_size
		binary.LittleEndian.PutUint32(b[0x22c:], 0x7fffffff)
		binary.LittleEndian.PutUint16(b[0x236:], p.xloadflags)
	}
	return b
}
