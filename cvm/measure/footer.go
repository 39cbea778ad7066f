package measure

import (
	"encoding/binary"
	"fmt"
)

const (
	// resetVectorSize is the area at the very end of an OVMF image, below
	// 4 GiB, that holds the reset vector; the footer table ends just before it.
	resetVectorSize = 32
	// footerEntryHeaderSize is the u16 length and the GUID closing each entry.
	footerEntryHeaderSize = 2 + 16
)

// FooterEntry is one entry of the OVMF footer table.
type FooterEntry struct {
	GUID GUID
	// Data is the entry's payload (a copy, not a view of the image).
	Data []byte
	// Offset is where Data starts in the image.
	Offset int
}

// FooterTable is the GUIDed table OVMF keeps just below its reset vector,
// at the end of the image: the footer entry [u16 length][GUID 96b582de-…]
// ends 32 bytes before the end and the entries lie below it, each
// [data][u16 length][GUID] with the length counting its 18-byte header.
// QEMU and sev-snp-measure read it backwards from the footer; so does this.
type FooterTable struct {
	// Entries in the order they are read: nearest the footer first.
	Entries []FooterEntry
}

// ParseFooterTable reads the footer table of a firmware image. An image that
// does not end with one gives an error wrapping ErrNoFooterTable; a table that
// is there but malformed gives an error naming the entry and field at fault.
// Unlike QEMU, it refuses stray bytes below the first entry and a GUID seen
// twice: the measurement must not depend on which duplicate a reader picks.
func ParseFooterTable(fw []byte) (*FooterTable, error) {
	const minSize = resetVectorSize + footerEntryHeaderSize
	if len(fw) < minSize {
		return nil, fmt.Errorf("%w: image is %d bytes, less than the %d of a reset vector and a table footer", ErrNoFooterTable, len(fw), minSize)
	}
	footer := len(fw) - minSize // offset of the footer's u16 length
	var g GUID
	copy(g[:], fw[footer+2:footer+18])
	if g != footerTableGUID() {
		return nil, fmt.Errorf("%w: want GUID %s at offset %#x (48 bytes before the end), found %s", ErrNoFooterTable, footerTableGUID(), footer+2, g)
	}
	total := int(binary.LittleEndian.Uint16(fw[footer:]))
	if total < footerEntryHeaderSize {
		return nil, fmt.Errorf("OVMF footer table: length %d is less than its own %d-byte footer", total, footerEntryHeaderSize)
	}
	size := total - footerEntryHeaderSize
	if size > footer {
		return nil, fmt.Errorf("OVMF footer table: length %d reaches %d bytes before the start of the image", total, size-footer)
	}
	start := footer - size
	t := &FooterTable{}
	seen := map[GUID]int{}
	for end := footer; end > start; {
		n := len(t.Entries)
		if end-start < footerEntryHeaderSize {
			return nil, fmt.Errorf("OVMF footer table: %d bytes at offset %#x, below entry %d, are too few for an entry header (%d bytes)", end-start, start, n, footerEntryHeaderSize)
		}
		hdr := end - footerEntryHeaderSize
		copy(g[:], fw[hdr+2:end])
		l := int(binary.LittleEndian.Uint16(fw[hdr:]))
		if l < footerEntryHeaderSize {
			return nil, fmt.Errorf("OVMF footer table: entry %d (GUID %s, header at offset %#x): length %d is less than the %d-byte entry header", n, g, hdr, l, footerEntryHeaderSize)
		}
		if l > end-start {
			return nil, fmt.Errorf("OVMF footer table: entry %d (GUID %s, header at offset %#x): length %d is more than the %d bytes left in the table", n, g, hdr, l, end-start)
		}
		if i, dup := seen[g]; dup {
			return nil, fmt.Errorf("OVMF footer table: GUID %s appears twice (entries %d and %d)", g, i, n)
		}
		seen[g] = n
		data := end - l
		t.Entries = append(t.Entries, FooterEntry{GUID: g, Data: append([]byte(nil), fw[data:hdr]...), Offset: data})
		end = data
	}
	return t, nil
}

// Lookup returns the data of the entry with GUID g.
func (t *FooterTable) Lookup(g GUID) ([]byte, bool) {
	for _, e := range t.Entries {
		if e.GUID == g {
			return e.Data, true
		}
	}
	return nil, false
}

// u32s reads n little-endian u32 fields from the start of an entry's data.
func (t *FooterTable) u32s(g GUID, what string, n int) ([]uint32, bool, error) {
	d, ok := t.Lookup(g)
	if !ok {
		return nil, false, nil
	}
	if len(d) < 4*n {
		return nil, true, fmt.Errorf("OVMF footer table: %s entry (GUID %s) has %d data bytes, want at least %d", what, g, len(d), 4*n)
	}
	v := make([]uint32, n)
	for i := range v {
		v[i] = binary.LittleEndian.Uint32(d[4*i:])
	}
	return v, true, nil
}
