package measure

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// tiny is a whole synthetic firmware in one 4 KiB page: footer table, SEV
// metadata and a TDVF descriptor whose BFV is the page itself.
func tiny() image {
	im := small()
	im.size = pageSize
	im.tdvf = []TDVFSection{
		{0, pageSize, 0xfffff000, pageSize, TDVFSectionBFV, TDVFAttrMRExtend},
		{0, 0, 0x809000, 0x2000, TDVFSectionTDHOB, 0},
		{0, 0, 0x800000, 0x6000, TDVFSectionTempMem, 0},
	}
	return im
}

// addFirmwareSeeds adds synthetic images and, when present, the shared
// fixtures' 4 KiB firmware suffixes.
func addFirmwareSeeds(f *testing.F) {
	f.Add(tiny().build(f))
	noTDX := tiny()
	noTDX.tdvf = nil
	f.Add(noTDX.build(f))
	onlyTable := make([]byte, 256)
	putFooterTable(onlyTable, []footerEntrySpec{{sevESResetBlockGUID(), le32(0x80b004)}})
	f.Add(onlyTable)
	f.Add(make([]byte, 64))
	for _, rel := range []string{amdSevSuffix, ovmfX64Suffix} {
		if b, err := os.ReadFile(filepath.Join(sharedFixtures, rel)); err == nil {
			f.Add(b)
		}
	}
}

// FuzzFooterTable: parsing never panics; a parsed table's entries are views
// of the image at their offsets, with unique GUIDs; and laying the entries
// out again gives the same table.
func FuzzFooterTable(f *testing.F) {
	addFirmwareSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		tab, err := ParseFooterTable(b)
		if err != nil {
			return
		}
		seen := map[GUID]bool{}
		var specs []footerEntrySpec
		for _, e := range tab.Entries {
			if seen[e.GUID] {
				t.Fatalf("GUID %s twice", e.GUID)
			}
			seen[e.GUID] = true
			if e.Offset < 0 || e.Offset+len(e.Data)+footerEntryHeaderSize > len(b)-resetVectorSize-footerEntryHeaderSize {
				t.Fatalf("entry %s at %d+%d is outside the table", e.GUID, e.Offset, len(e.Data))
			}
			if !bytes.Equal(b[e.Offset:e.Offset+len(e.Data)], e.Data) {
				t.Fatalf("entry %s data is not the image's", e.GUID)
			}
			specs = append(specs, footerEntrySpec{e.GUID, e.Data})
		}
		again := make([]byte, len(b))
		putFooterTable(again, specs)
		tab2, err := ParseFooterTable(again)
		if err != nil {
			t.Fatalf("re-laid table: %v", err)
		}
		if len(tab2.Entries) != len(tab.Entries) {
			t.Fatalf("re-laid table has %d entries, want %d", len(tab2.Entries), len(tab.Entries))
		}
		for i := range tab.Entries {
			a, c := tab.Entries[i], tab2.Entries[i]
			if a.GUID != c.GUID || a.Offset != c.Offset || !bytes.Equal(a.Data, c.Data) {
				t.Fatalf("entry %d differs after laying out again", i)
			}
		}
	})
}

// FuzzSNPLayout: parsing the SEV metadata never panics; parsed sections are
// well formed and are what the image holds; and when a digest can be
// computed, seeding with the OVMF hash gives the same one.
func FuzzSNPLayout(f *testing.F) {
	addFirmwareSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseSNPLayout(b)
		if err != nil {
			return
		}
		if err := checkSEVSections(l.Sections); err != nil {
			t.Fatalf("parsed sections fail the checks: %v", err)
		}
		tab, _ := ParseFooterTable(b)
		d, _ := tab.Lookup(sevMetadataGUID())
		start := len(b) - int(binary.LittleEndian.Uint32(d))
		for i, s := range l.Sections {
			if !bytes.Equal(b[start+16+12*i:start+28+12*i], le32(s.GPA, s.Size, uint32(s.Type))) {
				t.Fatalf("section %d is not what the image holds", i)
			}
		}
		o := SNPOptions{VCPUs: 2, VCPUSig: 0x800f12, GuestFeatures: 1, Kernel: &SEVHashes{}}
		whole, err := MeasureSNP(b, o)
		if err != nil {
			return
		}
		h, err := OVMFHash(b)
		if err != nil {
			t.Fatalf("MeasureSNP worked but OVMFHash fails: %v", err)
		}
		seeded, err := SNPLaunchDigest(h, l, o)
		if err != nil || seeded != whole {
			t.Fatalf("seeded digest %x (%v), measured %x", seeded, err, whole)
		}
	})
}

// FuzzSEVHashesTable: parsing never panics, and what parses is exactly the
// table Table lays out again.
func FuzzSEVHashesTable(f *testing.F) {
	h := SEVHashes{Cmdline: [32]byte{1, 2}, Initrd: [32]byte{3}, Kernel: [32]byte{4}}
	tb := h.Table()
	f.Add(tb[:])
	f.Add(tb[:SEVHashesTableSize])
	f.Add(tb[:100])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseSEVHashesTable(b)
		if err != nil {
			return
		}
		again := got.Table()
		if !bytes.Equal(again[:len(b)], b) {
			t.Fatalf("table laid out again differs from the input")
		}
	})
}

// FuzzTDVF: parsing the TDVF descriptor never panics; parsed sections pass
// the checks, are what the image holds, and MRTD can be computed from them
// in both orders.
func FuzzTDVF(f *testing.F) {
	addFirmwareSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		secs, err := ParseTDVF(b)
		if err != nil {
			return
		}
		if err := CheckTDVFSections(secs, len(b)); err != nil {
			t.Fatalf("parsed sections fail the checks: %v", err)
		}
		tab, _ := ParseFooterTable(b)
		d, _ := tab.Lookup(tdxMetadataGUID())
		start := len(b) - int(binary.LittleEndian.Uint32(d))
		enc := make([]byte, tdvfHeaderSize+tdvfSectionSize*len(secs))
		putTDVF(enc, secs)
		if !bytes.Equal(b[start:start+len(enc)], enc) {
			t.Fatal("sections laid out again differ from the image")
		}
		var pages uint64
		for _, s := range secs {
			pages += s.MemoryDataSize / pageSize
		}
		if pages > 1<<12 {
			return // valid, but too slow to hash on every fuzz input
		}
		for _, o := range []MRTDOrder{MRTDPerPage, MRTDSectionWise} {
			if _, err := MRTD(b, secs, o); err != nil {
				t.Fatalf("MRTD (%s) of parsed sections: %v", o, err)
			}
		}
	})
}

// FuzzAuthenticode: hashing never panics, and a digest does not depend on
// the CheckSum field unless a section's raw data or the trailing data covers
// it (edk2 hashes those ranges whatever they hold; the fuzzer found such an
// image, kept in testdata).
func FuzzAuthenticode(f *testing.F) {
	f.Add(kernelSpec(0x1000).build())
	pe32 := kernelSpec(0x1000)
	pe32.pe32 = true
	f.Add(pe32.build())
	cert := kernelSpec(0x1000)
	cert.sections = []uint32{0x800}
	cert.certSize = 0x100
	f.Add(cert.build())
	f.Add([]byte("MZ"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := AuthenticodeSHA384(b)
		if err != nil {
			return
		}
		p, err := parsePE(b)
		if err != nil {
			t.Fatalf("hash worked but parsePE fails: %v", err)
		}
		hashed := uint64(p.sizeOfHeaders)
		for _, s := range p.sections {
			if int(s.offset) < p.checksumOff+4 && int(s.offset+s.size) > p.checksumOff {
				return
			}
			hashed += uint64(s.size)
		}
		if hashed < uint64(p.checksumOff+4) {
			return // the trailing data starts before the CheckSum ends
		}
		c := append([]byte(nil), b...)
		for i := range 4 {
			c[p.checksumOff+i] ^= 0xa5
		}
		if d2, err := AuthenticodeSHA384(c); err != nil || d2 != d {
			t.Fatalf("CheckSum changes the digest (%v)", err)
		}
	})
}

// FuzzPatchKernel: patching never panics and changes only setup header
// fields, never the length.
func FuzzPatchKernel(f *testing.F) {
	f.Add(kernelSpec(0x1000).build(), int64(0), "console=ttyS0")
	f.Add(kernelSpec(0x1000).build(), int64(0x10000), "")
	f.Fuzz(func(t *testing.T, k []byte, initrd int64, cmdline string) {
		p, err := PatchKernelSetupHeader(k, cmdline, initrd, DefaultTDXMemory, DefaultACPIDataSize)
		if err != nil {
			return
		}
		if len(p) != len(k) {
			t.Fatalf("patched kernel is %d bytes, was %d", len(p), len(k))
		}
		for i := range k {
			if p[i] != k[i] && (i < 0x210 || i >= 0x22c) {
				t.Fatalf("byte %#x changed, outside the setup header fields", i)
			}
		}
	})
}
