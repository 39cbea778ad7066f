package measure

import (
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
	"sort"
)

// peImage is what the Authenticode hash needs of a PE/COFF image.
//
// It is read by hand rather than with debug/pe: the hash needs the file
// offsets of the CheckSum field and of the certificate table's directory
// entry, which debug/pe does not expose, and debug/pe parses much that the
// hash does not need (symbols, string tables) and so refuses images the
// firmware measures.
type peImage struct {
	checksumOff   int // offset of the optional header's CheckSum (4 bytes)
	certDirOff    int // offset of the security data directory entry (8 bytes), -1 if none
	sizeOfHeaders int
	certSize      uint32
	sections      []peSection // with raw data, sorted by file offset
}

type peSection struct {
	index        int
	offset, size uint32
}

// parsePE reads the DOS, COFF and optional headers and the section table,
// checking every offset against the image.
func parsePE(img []byte) (*peImage, error) {
	if len(img) < 0x40 || img[0] != 'M' || img[1] != 'Z' {
		return nil, fmt.Errorf("%w: no MS-DOS header (\"MZ\" at offset 0); a kernel must have an EFI stub to be measured", ErrNotPE)
	}
	lfanew := int64(binary.LittleEndian.Uint32(img[0x3c:]))
	const coffSize = 20
	if lfanew+4+coffSize > int64(len(img)) {
		return nil, fmt.Errorf("%w: e_lfanew %#x puts the PE header past the end of the %d-byte image", ErrNotPE, lfanew, len(img))
	}
	pe := int(lfanew)
	if string(img[pe:pe+4]) != "PE\x00\x00" {
		return nil, fmt.Errorf("%w: signature %q at e_lfanew %#x, want \"PE\\0\\0\"", ErrNotPE, img[pe:pe+4], pe)
	}
	coff := pe + 4
	nsec := int(binary.LittleEndian.Uint16(img[coff+2:]))
	optSize := int(binary.LittleEndian.Uint16(img[coff+16:]))
	opt := coff + coffSize
	if opt+optSize > len(img) {
		return nil, fmt.Errorf("PE optional header: %d bytes at %#x run past the end of the %d-byte image", optSize, opt, len(img))
	}
	if optSize < 2 {
		return nil, fmt.Errorf("PE optional header: size %d, too small for its magic", optSize)
	}
	var dirs, nDirsOff int
	switch magic := binary.LittleEndian.Uint16(img[opt:]); magic {
	case 0x10b: // PE32
		nDirsOff, dirs = 92, 96
	case 0x20b: // PE32+
		nDirsOff, dirs = 108, 112
	default:
		return nil, fmt.Errorf("PE optional header: magic %#x, want 0x10b (PE32) or 0x20b (PE32+)", magic)
	}
	if optSize < dirs {
		return nil, fmt.Errorf("PE optional header: size %d, too small for its fixed fields (%d bytes)", optSize, dirs)
	}
	p := &peImage{checksumOff: opt + 64, certDirOff: -1}
	p.sizeOfHeaders = int(binary.LittleEndian.Uint32(img[opt+60:]))
	nDirs := int64(binary.LittleEndian.Uint32(img[opt+nDirsOff:]))
	hdrEnd := p.checksumOff + 4
	const securityDir = 4
	if nDirs > securityDir {
		p.certDirOff = opt + dirs + securityDir*8
		if p.certDirOff+8 > opt+optSize {
			return nil, fmt.Errorf("PE optional header: %d data directories do not fit its %d bytes", nDirs, optSize)
		}
		p.certSize = binary.LittleEndian.Uint32(img[p.certDirOff+4:])
		hdrEnd = p.certDirOff + 8
	}
	if p.sizeOfHeaders < hdrEnd || p.sizeOfHeaders > len(img) {
		return nil, fmt.Errorf("PE optional header: SizeOfHeaders %#x, want between %#x (end of the fields hashed around) and the image size %#x", p.sizeOfHeaders, hdrEnd, len(img))
	}
	secTable := opt + optSize
	if int64(secTable)+int64(nsec)*40 > int64(len(img)) {
		return nil, fmt.Errorf("PE section table: %d sections at %#x run past the end of the %d-byte image", nsec, secTable, len(img))
	}
	for i := range nsec {
		b := img[secTable+40*i:]
		s := peSection{index: i, size: binary.LittleEndian.Uint32(b[16:]), offset: binary.LittleEndian.Uint32(b[20:])}
		if s.size == 0 {
			continue
		}
		if uint64(s.offset)+uint64(s.size) > uint64(len(img)) {
			return nil, fmt.Errorf("PE section %d (%q): raw data at %#x + %#x runs past the end of the %#x-byte image", i, sectionName(b), s.offset, s.size, len(img))
		}
		p.sections = append(p.sections, s)
	}
	// Stable, as edk2's insertion sort is: sections at one offset keep
	// their table order.
	sort.SliceStable(p.sections, func(a, b int) bool { return p.sections[a].offset < p.sections[b].offset })
	return p, nil
}

func sectionName(b []byte) string {
	n := b[:8]
	for i, c := range n {
		if c == 0 {
			return string(n[:i])
		}
	}
	return string(n)
}

// AuthenticodeSHA384 is the Authenticode digest of a PE/COFF image with
// SHA-384, as OVMF's measured boot takes it when it loads the kernel
// (edk2 MeasurePeImageAndExtend, after the PE/COFF specification's
// appendix "Calculating the PE Image Hash"): the headers up to SizeOfHeaders
// without the CheckSum field and the certificate table's directory entry;
// each section's raw data in file order; then whatever follows the last
// hashed byte, less the certificate table's size.
//
// virtee/tdx-measure differs in two corners: it hashes the trailing bytes
// only when a certificate table is present, and it pads the stream with zeros
// to a multiple of 8 bytes of the file size. A bzImage is a whole number of
// 16-byte paragraphs long and its sections reach its end, so for kernels the
// two agree.
func AuthenticodeSHA384(img []byte) ([48]byte, error) {
	var sum [48]byte
	h := sha512.New384()
	if err := authenticode(img, h); err != nil {
		return sum, err
	}
	h.Sum(sum[:0])
	return sum, nil
}

// authenticode feeds the bytes the Authenticode digest covers to h.
func authenticode(img []byte, h hash.Hash) error {
	p, err := parsePE(img)
	if err != nil {
		return err
	}
	h.Write(img[:p.checksumOff])
	if p.certDirOff < 0 {
		h.Write(img[p.checksumOff+4 : p.sizeOfHeaders])
	} else {
		h.Write(img[p.checksumOff+4 : p.certDirOff])
		h.Write(img[p.certDirOff+8 : p.sizeOfHeaders])
	}
	hashed := uint64(p.sizeOfHeaders)
	for _, s := range p.sections {
		h.Write(img[s.offset : s.offset+s.size])
		hashed += uint64(s.size)
	}
	size := uint64(len(img))
	if size > hashed {
		cert := uint64(p.certSize)
		switch {
		case size > hashed+cert:
			h.Write(img[hashed : size-cert])
		case size < hashed+cert:
			return fmt.Errorf("PE image: %d bytes hashed and a %d-byte certificate table are more than its %d bytes", hashed, cert, size)
		}
	}
	return nil
}
