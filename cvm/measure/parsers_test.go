package measure

import (
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// errCase is one malformed input and what its error must say.
type errCase struct {
	name    string
	in      func(t *testing.T) []byte
	wantErr error  // sentinel the error must wrap, if any
	wantMsg string // text the error must contain
}

func checkErr(t *testing.T, err error, c errCase) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one saying %q", c.wantMsg)
	}
	if c.wantErr != nil && !errors.Is(err, c.wantErr) {
		t.Errorf("error %q does not wrap %q", err, c.wantErr)
	}
	if !strings.Contains(err.Error(), c.wantMsg) {
		t.Errorf("error %q does not say %q", err, c.wantMsg)
	}
}

// patch returns a function building im and then changing it.
func patch(im image, f func(b []byte)) func(t *testing.T) []byte {
	return func(t *testing.T) []byte {
		b := im.build(t)
		f(b)
		return b
	}
}

func footerAt(b []byte) int { return len(b) - resetVectorSize - footerEntryHeaderSize }

func TestParseFooterTableErrors(t *testing.T) {
	im := small()
	dup := small()
	dup.extra = []footerEntrySpec{{sevESResetBlockGUID(), le32(1)}}
	cases := []errCase{
		{"too short", func(*testing.T) []byte { return make([]byte, 49) }, ErrNoFooterTable, "image is 49 bytes"},
		{"no footer GUID", func(*testing.T) []byte { return make([]byte, 4096) }, ErrNoFooterTable, "want GUID 96b582de-1fb2-45f7-baea-a366c55a082d at offset 0xfd0"},
		{"length below footer size", patch(im, func(b []byte) { binary.LittleEndian.PutUint16(b[footerAt(b):], 17) }), nil, "length 17 is less than its own 18-byte footer"},
		{"length past start of image", func(t *testing.T) []byte {
			b := make([]byte, 100)
			g := footerTableGUID()
			copy(b[footerAt(b)+2:], g[:])
			binary.LittleEndian.PutUint16(b[footerAt(b):], 90)
			return b
		}, nil, "reaches 22 bytes before the start of the image"},
		{"entry length below header", patch(im, func(b []byte) { binary.LittleEndian.PutUint16(b[footerAt(b)-18:], 3) }), nil, "entry 0 (GUID 00f771de-1a7e-4fcb-890e-68c77e2fb44e"},
		{"entry length past table", patch(im, func(b []byte) { binary.LittleEndian.PutUint16(b[footerAt(b)-18:], 500) }), nil, "length 500 is more than the"},
		{"stray bytes", patch(im, func(b []byte) {
			f := footerAt(b)
			binary.LittleEndian.PutUint16(b[f:], binary.LittleEndian.Uint16(b[f:])+5)
		}), nil, "5 bytes at offset"},
		{"duplicate GUID", func(t *testing.T) []byte { return dup.build(t) }, nil, "appears twice (entries 0 and 4)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseFooterTable(c.in(t))
			checkErr(t, err, c)
		})
	}
}

func TestParseFooterTable(t *testing.T) {
	b := small().build(t)
	tab, err := ParseFooterTable(b)
	if err != nil {
		t.Fatal(err)
	}
	var got []GUID
	for _, e := range tab.Entries {
		got = append(got, e.GUID)
		if string(b[e.Offset:e.Offset+len(e.Data)]) != string(e.Data) {
			t.Errorf("entry %s: data does not match the image at %#x", e.GUID, e.Offset)
		}
	}
	want := []GUID{sevESResetBlockGUID(), sevHashTableRVGUID(), sevMetadataGUID(), tdxMetadataGUID()}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GUIDs %v, want %v", got, want)
	}
	if d, ok := tab.Lookup(sevESResetBlockGUID()); !ok || binary.LittleEndian.Uint32(d) != 0x80b004 {
		t.Errorf("reset block %x, %v", d, ok)
	}
	if _, ok := tab.Lookup(GUID{}); ok {
		t.Error("found the zero GUID")
	}
	// An empty table is a table.
	e := make([]byte, 4096)
	putFooterTable(e, nil)
	if tab, err := ParseFooterTable(e); err != nil || len(tab.Entries) != 0 {
		t.Errorf("empty table: %v, %v", tab, err)
	}
}

func TestGUIDConstants(t *testing.T) {
	for _, c := range []struct {
		g    GUID
		text string
	}{
		{footerTableGUID(), "96b582de-1fb2-45f7-baea-a366c55a082d"},
		{sevESResetBlockGUID(), "00f771de-1a7e-4fcb-890e-68c77e2fb44e"},
		{sevHashTableRVGUID(), "7255371f-3a3b-4b04-927b-1da6efa8d454"},
		{sevMetadataGUID(), "dc886566-984a-4798-a75e-5585a7bf67cc"},
		{tdxMetadataGUID(), "e47a6535-984a-4798-865e-4685a7bf8ec2"},
		{sevHashTableHeaderGUID(), "9438d606-4f22-4cc9-b479-a793d411fd21"},
		{sevCmdlineEntryGUID(), "97d02dd8-bd20-4c94-aa78-e7714d36ab2a"},
		{sevInitrdEntryGUID(), "44baf731-3a2f-4bd7-9af1-41e29169781d"},
		{sevKernelEntryGUID(), "4de79437-abd2-427f-b835-d5b172d2045b"},
	} {
		p, err := ParseGUID(c.text)
		if err != nil || p != c.g || c.g.String() != c.text {
			t.Errorf("%s: parsed %v (%v), constant %v prints %s", c.text, p, err, c.g, c.g)
		}
	}
	for _, bad := range []string{"", "96b582de-1fb2-45f7-baea-a366c55a082", "96b582de1fb2-45f7-baea-a366c55a082d0", "96b582de-1fb2-45f7-baea-a366c55a08zz"} {
		if _, err := ParseGUID(bad); err == nil {
			t.Errorf("ParseGUID(%q): no error", bad)
		}
	}
}

// sevAt is the offset of small()'s SEV metadata header.
func sevAt(b []byte) int { return len(b) - small().sevOffset }

func TestParseSEVMetadataErrors(t *testing.T) {
	im := small()
	noSEV := small()
	noSEV.sev = nil
	withSEC := func(s SEVSection) func(t *testing.T) []byte {
		i := small()
		i.sev = append([]SEVSection(nil), i.sev...)
		i.sev[2] = s
		return func(t *testing.T) []byte { return i.build(t) }
	}
	setOffset := func(off uint32) func(t *testing.T) []byte {
		i := small()
		i.extra = nil
		return func(t *testing.T) []byte {
			b := i.build(t)
			es := i.entries()
			es[2].data = le32(off)
			putFooterTable(b, es)
			return b
		}
	}
	shortEntry := func(t *testing.T) []byte {
		i := small()
		b := i.build(t)
		es := i.entries()
		es[2].data = []byte{1, 2}
		putFooterTable(b, es)
		return b
	}
	cases := []errCase{
		{"no entry", func(t *testing.T) []byte { return noSEV.build(t) }, ErrNoSEVMetadata, "no SEV metadata entry (GUID dc886566-984a-4798-a75e-5585a7bf67cc)"},
		{"entry too short", shortEntry, nil, "SEV metadata entry (GUID dc886566-984a-4798-a75e-5585a7bf67cc) has 2 data bytes, want at least 4"},
		{"offset zero", setOffset(0), nil, "offset 0x0 from the end does not leave room"},
		{"offset past start", setOffset(1 << 20), nil, "offset 0x100000 from the end"},
		{"signature", patch(im, func(b []byte) { copy(b[sevAt(b):], "ASEX") }), nil, `signature "ASEX", want "ASEV"`},
		{"version", patch(im, func(b []byte) { binary.LittleEndian.PutUint32(b[sevAt(b)+8:], 2) }), nil, "version 2, want 1"},
		{"size past end", patch(im, func(b []byte) { binary.LittleEndian.PutUint32(b[sevAt(b)+4:], 0x1000) }), nil, "size 4096 runs"},
		{"too many items", patch(im, func(b []byte) { binary.LittleEndian.PutUint32(b[sevAt(b)+12:], 8) }), nil, "too small for 8 sections"},
		{"unknown type", withSEC(SEVSection{0x80d000, 0x1000, 7}), nil, "section 2: unknown type 0x7"},
		{"unaligned gpa", withSEC(SEVSection{0x80d010, 0x1000, SEVSectionSNPSecrets}), nil, "section 2 (SNP_SECRETS): gpa 0x80d010 is not 4 KiB aligned"},
		{"size not pages", withSEC(SEVSection{0x80d000, 0x1001, SEVSectionSNPSecrets}), nil, "size 0x1001 is not a multiple of 4 KiB"},
		{"zero size", withSEC(SEVSection{0x80d000, 0, SEVSectionSNPSecrets}), nil, "size is 0"},
		{"past 4 GiB", withSEC(SEVSection{0xfffff000, 0x2000, SEVSectionSNPSecMem}), nil, "runs past 4 GiB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.in(t)
			tab, err := ParseFooterTable(b)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseSEVMetadata(b, tab)
			checkErr(t, err, c)
		})
	}
}

func TestParseSNPLayout(t *testing.T) {
	im := small()
	l, err := ParseSNPLayout(im.build(t))
	if err != nil {
		t.Fatal(err)
	}
	want := SNPLayout{ResetEIP: 0x80b004, HashesTableGPA: 0x810c00, HashesTableSize: 0x400, Sections: im.sev}
	if !reflect.DeepEqual(l, want) {
		t.Errorf("layout %+v\nwant %+v", l, want)
	}
	noReset := small()
	noReset.resetEIP = nil
	_, err = ParseSNPLayout(noReset.build(t))
	checkErr(t, err, errCase{wantErr: ErrNoResetBlock, wantMsg: "no SEV-ES reset block entry (GUID 00f771de-1a7e-4fcb-890e-68c77e2fb44e)"})
	_, err = ParseSNPLayout(make([]byte, 8192))
	checkErr(t, err, errCase{wantErr: ErrNoFooterTable, wantMsg: "no OVMF footer table"})
	badHash := small()
	badHash.extra = nil
	b := badHash.build(t)
	es := badHash.entries()
	es[1].data = le32(0x810c00)
	putFooterTable(b, es)
	_, err = ParseSNPLayout(b)
	checkErr(t, err, errCase{wantMsg: "SEV hash table entry (GUID 7255371f-3a3b-4b04-927b-1da6efa8d454) has 4 data bytes, want at least 8"})
}

func TestParseSEVHashesTableErrors(t *testing.T) {
	h := SEVHashes{Cmdline: [32]byte{1}, Initrd: [32]byte{2}, Kernel: [32]byte{3}}
	good := h.Table()
	mod := func(f func(b []byte)) func(*testing.T) []byte {
		return func(*testing.T) []byte {
			b := append([]byte(nil), good[:]...)
			f(b)
			return b
		}
	}
	cases := []errCase{
		{"empty", func(*testing.T) []byte { return nil }, nil, "0 bytes, want 168 or 176"},
		{"short", mod(func(b []byte) {}), nil, ""},
		{"header GUID", mod(func(b []byte) { b[0] ^= 1 }), nil, "header GUID 9438d607-4f22-4cc9-b479-a793d411fd21, want 9438d606"},
		{"length field", mod(func(b []byte) { b[16] = 170 }), nil, "length field 170, want 168"},
		{"cmdline GUID", mod(func(b []byte) { b[18] ^= 1 }), nil, "entry 0 at offset 18"},
		{"entries swapped", mod(func(b []byte) {
			var tmp [50]byte
			copy(tmp[:], b[18:68])
			copy(b[18:68], b[68:118])
			copy(b[68:118], tmp[:])
		}), nil, "want the cmdline entry 97d02dd8"},
		{"kernel entry length", mod(func(b []byte) { b[118+16] = 51 }), nil, "kernel entry: length field 51, want 50"},
		{"padding", mod(func(b []byte) { b[170] = 9 }), nil, "padding byte 170 is 0x9, want 0"},
	}
	cases[1].in = func(*testing.T) []byte { return good[:100] }
	cases[1].wantMsg = "100 bytes, want 168 or 176"
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSEVHashesTable(c.in(t))
			checkErr(t, err, c)
		})
	}
	for _, b := range [][]byte{good[:], good[:SEVHashesTableSize]} {
		got, err := ParseSEVHashesTable(b)
		if err != nil || got != h {
			t.Errorf("%d bytes: %+v, %v", len(b), got, err)
		}
	}
}

// tdvfAt is the offset of small()'s TDVF descriptor.
func tdvfAt(b []byte) int { return len(b) - small().tdvfOffset }

func TestParseTDVFErrors(t *testing.T) {
	im := small()
	noTDX := small()
	noTDX.tdvf = nil
	withSec := func(i int, s TDVFSection) func(t *testing.T) []byte {
		x := small()
		x.tdvf = append([]TDVFSection(nil), x.tdvf...)
		x.tdvf[i] = s
		return func(t *testing.T) []byte { return x.build(t) }
	}
	cfv := small().tdvf[1]
	cases := []errCase{
		{"no footer", func(*testing.T) []byte { return make([]byte, 8192) }, ErrNoFooterTable, "no OVMF footer table"},
		{"no entry", func(t *testing.T) []byte { return noTDX.build(t) }, ErrNoTDVFMetadata, "no TDX metadata entry (GUID e47a6535-984a-4798-865e-4685a7bf8ec2)"},
		{"signature", patch(im, func(b []byte) { copy(b[tdvfAt(b):], "TDVX") }), nil, `signature "TDVX", want "TDVF"`},
		{"version", patch(im, func(b []byte) { binary.LittleEndian.PutUint32(b[tdvfAt(b)+8:], 0) }), nil, "version 0, want 1"},
		{"no sections", patch(im, func(b []byte) { binary.LittleEndian.PutUint32(b[tdvfAt(b)+12:], 0) }), nil, "no sections"},
		{"truncated", patch(im, func(b []byte) { binary.LittleEndian.PutUint32(b[tdvfAt(b)+12:], 1000) }), nil, "is truncated: 1000 sections need 32016 bytes, the image ends after 2512"},
		{"length", patch(im, func(b []byte) { binary.LittleEndian.PutUint32(b[tdvfAt(b)+4:], 100) }), nil, "length 100, want 176 for 5 sections"},
		{"unknown type", withSec(1, TDVFSection{0, 0x8000, 0xffff0000, 0x8000, 9, 0}), nil, "TDVF section 1: unknown type 9"},
		{"reserved attribute", withSec(1, TDVFSection{0, 0x8000, 0xffff0000, 0x8000, TDVFSectionCFV, 4}), nil, "TDVF section 1 (CFV): attributes 0x4 have reserved bits set"},
		{"extend and aug", withSec(2, TDVFSection{0, 0, 0x812000, 0xe000, TDVFSectionTempMem, 3}), nil, "pages added later by PAGE.AUG"},
		{"unaligned address", withSec(2, TDVFSection{0, 0, 0x812010, 0xe000, TDVFSectionTempMem, 0}), nil, "memory address 0x812010 is not 4 KiB aligned"},
		{"zero memory", withSec(2, TDVFSection{0, 0, 0x812000, 0, TDVFSectionTempMem, 0}), nil, "memory size 0x0 is not a positive multiple of 4 KiB"},
		{"memory not pages", withSec(2, TDVFSection{0, 0, 0x812000, 0x1800, TDVFSectionTempMem, 0}), nil, "memory size 0x1800"},
		{"past 52 bits", withSec(2, TDVFSection{0, 0, 1<<52 - 0x1000, 0x2000, TDVFSectionTempMem, 0}), nil, "runs past the 52-bit guest-physical space"},
		{"raw more than memory", withSec(1, TDVFSection{0, 0x9000, 0xffff0000, 0x8000, TDVFSectionCFV, 0}), nil, "raw data size 0x9000 is more than its memory size 0x8000"},
		{"raw past image", withSec(0, TDVFSection{0xc000, 0x8000, 0xffff8000, 0x8000, TDVFSectionBFV, TDVFAttrMRExtend}), nil, "raw data at 0xc000 + 0x8000 runs past the end of the 0x10000-byte image"},
		{"measured raw short", withSec(0, TDVFSection{0x8000, 0x7000, 0xffff8000, 0x8000, TDVFSectionBFV, TDVFAttrMRExtend}), nil, "measured (MR_EXTEND) but its raw data size 0x7000 differs from its memory size 0x8000"},
		{"too much memory", withSec(2, TDVFSection{0, 0, 0, 5 << 30, TDVFSectionTempMem, 0}), nil, "more than 4 GiB of memory"},
		{"split CODE file", withSec(1, cfv), nil, ""},
	}
	cases = cases[:len(cases)-1] // the last row is only a template
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseTDVF(c.in(t))
			checkErr(t, err, c)
		})
	}
	if _, err := MRTD(im.build(t), im.tdvf, "random"); err == nil || !strings.Contains(err.Error(), `MRTD order "random"`) {
		t.Errorf("bad order: %v", err)
	}
}

func TestAuthenticodeErrors(t *testing.T) {
	good := kernelSpec(0x10000)
	mod := func(p peSpec, f func(b []byte)) func(*testing.T) []byte {
		return func(*testing.T) []byte {
			b := p.build()
			f(b)
			return b
		}
	}
	withSpec := func(f func(p *peSpec)) peSpec {
		p := good
		p.sections = append([]uint32(nil), p.sections...)
		f(&p)
		return p
	}
	cases := []errCase{
		{"empty", func(*testing.T) []byte { return nil }, ErrNotPE, `no MS-DOS header ("MZ" at offset 0)`},
		{"not MZ", mod(good, func(b []byte) { b[0] = 'X' }), ErrNotPE, "no MS-DOS header"},
		{"lfanew past end", mod(good, func(b []byte) { binary.LittleEndian.PutUint32(b[0x3c:], 0xfff0) }), ErrNotPE, "e_lfanew 0xfff0 puts the PE header past the end"},
		{"no PE signature", mod(good, func(b []byte) { b[0x41] = 'X' }), ErrNotPE, `signature "PX\x00\x00"`},
		{"optional header past end", mod(good, func(b []byte) {
			binary.LittleEndian.PutUint32(b[0x3c:], 0xffe0)
			copy(b[0xffe0:], "PE\x00\x00")
			binary.LittleEndian.PutUint16(b[0xffe4+16:], 240)
		}), nil, "PE optional header: 240 bytes at 0xfff8 run past the end"},
		{"magic", mod(good, func(b []byte) { binary.LittleEndian.PutUint16(b[0x58:], 0x107) }), nil, "magic 0x107, want 0x10b (PE32) or 0x20b (PE32+)"},
		{"optional header too small", mod(good, func(b []byte) { binary.LittleEndian.PutUint16(b[0x44+16:], 64) }), nil, "size 64, too small for its fixed fields (112 bytes)"},
		{"directories do not fit", mod(good, func(b []byte) { binary.LittleEndian.PutUint16(b[0x44+16:], 120) }), nil, "6 data directories do not fit its 120 bytes"},
		{"SizeOfHeaders too small", mod(good, func(b []byte) { binary.LittleEndian.PutUint32(b[0x58+60:], 0x40) }), nil, "SizeOfHeaders 0x40, want between 0xf0"},
		{"SizeOfHeaders past end", mod(good, func(b []byte) { binary.LittleEndian.PutUint32(b[0x58+60:], 0x20000) }), nil, "SizeOfHeaders 0x20000"},
		{"section table past end", mod(good, func(b []byte) { binary.LittleEndian.PutUint16(b[0x46:], 0xffff) }), nil, "65535 sections at 0x148 run past the end"},
		{"section past end", func(*testing.T) []byte {
			return withSpec(func(p *peSpec) { p.sections[1] += 0x1000 }).build()
		}, nil, `PE section 1 (".sec1"): raw data at 0x4000 + 0xd000 runs past the end of the 0x10000-byte image`},
		{"certificate larger than the rest", func(*testing.T) []byte {
			return withSpec(func(p *peSpec) { p.sections[1] -= 0x100; p.certSize = 0x200 }).build()
		}, nil, "a 512-byte certificate table are more than its 65536 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := AuthenticodeSHA384(c.in(t))
			checkErr(t, err, c)
		})
	}
}

func TestPatchKernelErrors(t *testing.T) {
	k := kernelSpec(0x10000)
	old := k
	old.protocol = 0x201
	noHdr := k
	noHdr.noSetupHdr = true
	for _, c := range []struct {
		name    string
		kernel  []byte
		cmdline string
		initrd  int64
		mem     uint64
		want    string
	}{
		{"short", make([]byte, 100), "", 0, 2 << 30, "100 bytes, too short for a bzImage"},
		{"no HdrS", noHdr.build(), "", 0, 2 << 30, `no "HdrS" setup header magic`},
		{"old protocol", old.build(), "", 0, 2 << 30, "boot protocol 0x201"},
		{"vga=", k.build(), "quiet vga=791", 0, 2 << 30, "vga="},
		{"initrd too large", k.build(), "", 3 << 30, 4 << 30, "do not fit below"},
		{"no memory", k.build(), "", 10, 0x1000, "leaves no room below"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := PatchKernelSetupHeader(c.kernel, c.cmdline, c.initrd, c.mem, DefaultACPIDataSize)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}

func TestPatchKernelSetupHeader(t *testing.T) {
	k := kernelSpec(0x10000).build()
	for _, c := range []struct {
		name           string
		initrd         int64
		mem            uint64
		xlf            bool
		wantAddr, size uint32
	}{
		{"no initrd", 0, 2 << 30, true, 0, 0},
		// Above-4G capable: max = 2 GiB - ACPI - 1, aligned down.
		{"2G", 0x123456, 2 << 30, true, uint32((0x80000000 - 0x28000 - 1 - 0x123456) &^ 0xfff), 0x123456},
		// 4 GiB of memory: low memory is 2 GiB (q35 split at 0xb0000000).
		{"4G", 0x1000, 4 << 30, true, uint32((0x80000000 - 0x28000 - 1 - 0x1000) &^ 0xfff), 0x1000},
		// initrd_addr_max caps it for kernels without XLF bit 6.
		{"8G no xlf", 0x1000, 8 << 30, false, uint32((0x37ffffff - 0x1000) &^ 0xfff), 0x1000},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := append([]byte(nil), k...)
			if !c.xlf {
				binary.LittleEndian.PutUint16(in[0x236:], 0)
				binary.LittleEndian.PutUint32(in[0x22c:], 0x37ffffff)
			}
			p, err := PatchKernelSetupHeader(in, "console=ttyS0", c.initrd, c.mem, DefaultACPIDataSize)
			if err != nil {
				t.Fatal(err)
			}
			if p[0x210] != 0xb0 || p[0x211] != 0x81 || binary.LittleEndian.Uint16(p[0x224:]) != 0xfe00 || binary.LittleEndian.Uint32(p[0x228:]) != 0x20000 {
				t.Errorf("header fields %x %x %x %x", p[0x210], p[0x211], p[0x224:0x226], p[0x228:0x22c])
			}
			if a, s := binary.LittleEndian.Uint32(p[0x218:]), binary.LittleEndian.Uint32(p[0x21c:]); a != c.wantAddr || s != c.size {
				t.Errorf("initrd at %#x size %#x, want %#x %#x", a, s, c.wantAddr, c.size)
			}
			if string(in) == string(p) {
				t.Error("the input was not copied, or nothing changed")
			}
		})
	}
}
