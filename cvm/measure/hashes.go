package measure

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
)

// SEVHashes are the SHA-256 digests QEMU writes into the SEV hashes table
// for a measured direct kernel boot (-kernel with kernel-hashes=on), which
// OVMF checks the blobs it loads against.
type SEVHashes struct {
	// Cmdline is SHA-256 of the -append bytes followed by one NUL (just
	// "\x00" when -append is absent or empty); see CmdlineSHA256.
	Cmdline [32]byte
	// Initrd is SHA-256 of the initrd file; an absent initrd hashes as an
	// empty one.
	Initrd [32]byte
	// Kernel is SHA-256 of the kernel file as given to QEMU.
	Kernel [32]byte
}

const (
	// SEVHashesTableSize is the size of the packed table: a GUID and u16
	// length header, then three {GUID, u16 length, SHA-256} entries.
	SEVHashesTableSize = 16 + 2 + 3*sevHashEntrySize
	// SEVHashesTablePaddedSize is the table zero-padded to 16 bytes, as QEMU
	// places (SNP) or hashes (SEV, SEV-ES) it.
	SEVHashesTablePaddedSize = (SEVHashesTableSize + 15) &^ 15
	sevHashEntrySize         = 16 + 2 + 32
)

// CmdlineSHA256 hashes a kernel command line the way QEMU does for the SEV
// hashes table: its bytes and a terminating NUL. A command line cannot hold
// a NUL itself.
func CmdlineSHA256(cmdline string) ([32]byte, error) {
	if i := strings.IndexByte(cmdline, 0); i >= 0 {
		return [32]byte{}, fmt.Errorf("kernel command line: NUL byte at offset %d (QEMU passes it as a C string)", i)
	}
	h := sha256.New()
	h.Write([]byte(cmdline))
	h.Write([]byte{0})
	var s [32]byte
	h.Sum(s[:0])
	return s, nil
}

// Table lays the hashes out as QEMU does, padded to SEVHashesTablePaddedSize
// bytes: header GUID 9438d606-…, length 168, then the cmdline, initrd and
// kernel entries in that order.
func (h SEVHashes) Table() [SEVHashesTablePaddedSize]byte {
	var t [SEVHashesTablePaddedSize]byte
	g := sevHashTableHeaderGUID()
	copy(t[:], g[:])
	binary.LittleEndian.PutUint16(t[16:], SEVHashesTableSize)
	entries := [3]struct {
		g GUID
		d [32]byte
	}{{sevCmdlineEntryGUID(), h.Cmdline}, {sevInitrdEntryGUID(), h.Initrd}, {sevKernelEntryGUID(), h.Kernel}}
	for i, e := range entries {
		b := t[18+i*sevHashEntrySize:]
		copy(b, e.g[:])
		binary.LittleEndian.PutUint16(b[16:], sevHashEntrySize)
		copy(b[18:], e.d[:])
	}
	return t
}

// ParseSEVHashesTable reads a table laid out as Table does, of
// SEVHashesTableSize bytes or padded with zeros to SEVHashesTablePaddedSize.
// It is strict: every GUID, length and padding byte must be what QEMU writes.
func ParseSEVHashesTable(b []byte) (SEVHashes, error) {
	var h SEVHashes
	if len(b) != SEVHashesTableSize && len(b) != SEVHashesTablePaddedSize {
		return h, fmt.Errorf("SEV hashes table: %d bytes, want %d or %d with padding", len(b), SEVHashesTableSize, SEVHashesTablePaddedSize)
	}
	if g := sevHashTableHeaderGUID(); !bytes.Equal(b[:16], g[:]) {
		return h, fmt.Errorf("SEV hashes table: header GUID %s, want %s", guidAt(b), g)
	}
	if l := binary.LittleEndian.Uint16(b[16:]); l != SEVHashesTableSize {
		return h, fmt.Errorf("SEV hashes table: length field %d, want %d", l, SEVHashesTableSize)
	}
	entries := [3]struct {
		name string
		g    GUID
		d    *[32]byte
	}{{"cmdline", sevCmdlineEntryGUID(), &h.Cmdline}, {"initrd", sevInitrdEntryGUID(), &h.Initrd}, {"kernel", sevKernelEntryGUID(), &h.Kernel}}
	for i, e := range entries {
		off := 18 + i*sevHashEntrySize
		eb := b[off:]
		if !bytes.Equal(eb[:16], e.g[:]) {
			return SEVHashes{}, fmt.Errorf("SEV hashes table: entry %d at offset %d: GUID %s, want the %s entry %s", i, off, guidAt(eb), e.name, e.g)
		}
		if l := binary.LittleEndian.Uint16(eb[16:]); l != sevHashEntrySize {
			return SEVHashes{}, fmt.Errorf("SEV hashes table: %s entry: length field %d, want %d", e.name, l, sevHashEntrySize)
		}
		copy(e.d[:], eb[18:18+32])
	}
	for i, c := range b[SEVHashesTableSize:] {
		if c != 0 {
			return SEVHashes{}, fmt.Errorf("SEV hashes table: padding byte %d is %#x, want 0", SEVHashesTableSize+i, c)
		}
	}
	return h, nil
}

func guidAt(b []byte) GUID {
	var g GUID
	copy(g[:], b)
	return g
}

// page lays the padded table into a 4 KiB page at offset off, the table's
// GPA within its page; the rest of the page is zero.
func (h SEVHashes) page(off uint32) ([]byte, error) {
	if int(off)+SEVHashesTablePaddedSize > pageSize {
		return nil, fmt.Errorf("SEV hashes table at page offset %#x: its %d bytes cross the end of the 4 KiB page", off, SEVHashesTablePaddedSize)
	}
	p := make([]byte, pageSize)
	t := h.Table()
	copy(p[off:], t[:])
	return p, nil
}
