package measure

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"math/rand"
	"strings"
	"testing"
)

// TestMRTDCoverage: MRTD covers the measured (BFV) bytes and no others; the
// UEFI variable store (CFV) is only added, not measured.
func TestMRTDCoverage(t *testing.T) {
	im := small()
	fw := im.build(t)
	ref, err := MRTD(fw, im.tdvf, MRTDPerPage)
	if err != nil {
		t.Fatal(err)
	}
	sw, _ := MRTD(fw, im.tdvf, MRTDSectionWise)
	if sw == ref {
		t.Error("both page orders give the same MRTD")
	}
	bfv, cfv := im.tdvf[0], im.tdvf[1]
	r := rand.New(rand.NewSource(5))
	for range 16 {
		b := append([]byte(nil), fw...)
		b[int(bfv.DataOffset)+r.Intn(int(bfv.RawDataSize))] ^= 1
		if m, _ := MRTD(b, im.tdvf, MRTDPerPage); m == ref {
			t.Fatal("a BFV byte does not change MRTD")
		}
		b = append([]byte(nil), fw...)
		b[int(cfv.DataOffset)+r.Intn(int(cfv.RawDataSize))] ^= 1
		if m, _ := MRTD(b, im.tdvf, MRTDPerPage); m != ref {
			t.Fatal("a CFV byte changes MRTD")
		}
	}
	// A section's GPA is measured; a PAGE_AUG section is not.
	moved := append([]TDVFSection(nil), im.tdvf...)
	moved[2].MemoryAddress += pageSize
	if m, _ := MRTD(fw, moved, MRTDPerPage); m == ref {
		t.Error("moving a TempMem section does not change MRTD")
	}
	aug := append([]TDVFSection(nil), im.tdvf...)
	aug = append(aug, TDVFSection{0, 0, 0x40000000, 0x100000, TDVFSectionPermMem, TDVFAttrPageAug})
	if m, _ := MRTD(fw, aug, MRTDPerPage); m != ref {
		t.Error("a PAGE_AUG section changes MRTD")
	}
	// Reference: the stream laid out naively, record by record.
	var stream bytes.Buffer
	for _, s := range im.tdvf {
		for p := uint64(0); p < s.MemoryDataSize/pageSize; p++ {
			rec := make([]byte, 128)
			copy(rec, "MEM.PAGE.ADD")
			binary.LittleEndian.PutUint64(rec[16:], s.MemoryAddress+p*pageSize)
			stream.Write(rec)
			if s.Attributes&TDVFAttrMRExtend == 0 {
				continue
			}
			for k := uint64(0); k < 16; k++ {
				rec := make([]byte, 128)
				copy(rec, "MR.EXTEND")
				binary.LittleEndian.PutUint64(rec[16:], s.MemoryAddress+p*pageSize+k*256)
				stream.Write(rec)
				off := uint64(s.DataOffset) + p*pageSize + k*256
				stream.Write(fw[off : off+256])
			}
		}
	}
	if sha512.Sum384(stream.Bytes()) != ref {
		t.Error("MRTD differs from the naive record stream")
	}
}

// TestAuthenticode checks the hash against its definition on images whose
// headers and sections cover the file: SHA-384 of the file without the
// CheckSum and the certificate directory entry.
func TestAuthenticode(t *testing.T) {
	for _, p := range []peSpec{
		kernelSpec(0x10000),
		func() peSpec { p := kernelSpec(0x10000); p.pe32 = true; return p }(),
		func() peSpec { p := kernelSpec(0x10000); p.nDirs = 4; return p }(), // no certificate directory
	} {
		img := p.build()
		got, err := AuthenticodeSHA384(img)
		if err != nil {
			t.Fatal(err)
		}
		opt := 0x58
		dirs := 112
		if p.pe32 {
			dirs = 96
		}
		var want bytes.Buffer
		want.Write(img[:opt+64])
		if p.nDirs > 4 {
			want.Write(img[opt+68 : opt+dirs+32])
			want.Write(img[opt+dirs+40:])
		} else {
			want.Write(img[opt+68:])
		}
		if sha512.Sum384(want.Bytes()) != got {
			t.Errorf("pe32=%v nDirs=%d: digest differs from its definition", p.pe32, p.nDirs)
		}
		// The CheckSum field is not hashed; section bytes are.
		b := append([]byte(nil), img...)
		binary.LittleEndian.PutUint32(b[opt+64:], 0x12345678)
		if d, _ := AuthenticodeSHA384(b); d != got {
			t.Error("CheckSum changes the digest")
		}
		b[0x5000] ^= 1
		if d, _ := AuthenticodeSHA384(b); d == got {
			t.Error("a section byte does not change the digest")
		}
	}
	// A section whose raw data covers the headers hashes the CheckSum
	// with them, as edk2 does.
	over := kernelSpec(0x10000)
	img := over.build()
	binary.LittleEndian.PutUint32(img[0x58+240+20:], 0) // section 0 starts at offset 0
	binary.LittleEndian.PutUint32(img[0x58+240+16:], 0x4000)
	a, err := AuthenticodeSHA384(img)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(img[0x58+64:], 1)
	if d, _ := AuthenticodeSHA384(img); d == a {
		t.Error("CheckSum inside a section's raw data is not hashed")
	}
	// A certificate table at the end is left out; bytes between the last
	// section and it are hashed.
	p := kernelSpec(0x10000)
	p.sections[1] -= 0x1000
	p.certSize = 0x800
	img = p.build()
	got, err := AuthenticodeSHA384(img)
	if err != nil {
		t.Fatal(err)
	}
	b := append([]byte(nil), img...)
	b[len(b)-1] ^= 1 // in the certificate table
	if d, _ := AuthenticodeSHA384(b); d != got {
		t.Error("the certificate table changes the digest")
	}
	b[len(b)-0x900] ^= 1 // after the last section, before the table
	if d, _ := AuthenticodeSHA384(b); d == got {
		t.Error("trailing data does not change the digest")
	}
	// Sections are hashed in file order, whatever their table order.
	q := kernelSpec(0x10000)
	img = q.build()
	want, _ := AuthenticodeSHA384(img)
	swapped := append([]byte(nil), img...)
	sec := 0x58 + 240
	copy(swapped[sec:sec+40], img[sec+40:sec+80])
	copy(swapped[sec+40:sec+80], img[sec:sec+40])
	// The swapped table is itself hashed (it is a header), so compare with
	// the definition rather than with want.
	got, err = AuthenticodeSHA384(swapped)
	if err != nil {
		t.Fatal(err)
	}
	var def bytes.Buffer
	def.Write(swapped[:0x58+64])
	def.Write(swapped[0x58+68 : 0x58+112+32])
	def.Write(swapped[0x58+112+40:])
	if sha512.Sum384(def.Bytes()) != got || got == want {
		t.Error("sections not hashed in file order")
	}
}

func TestTDXConventions(t *testing.T) {
	if _, err := TDXProfile("ovmf"); err == nil || !strings.Contains(err.Error(), "known: edk2-prefix, edk2-suffix, qemu-patched-suffix, virtee") {
		t.Errorf("unknown profile: %v", err)
	}
	for _, name := range TDXProfiles() {
		c, err := TDXProfile(name)
		if err != nil || c.check() != nil || !strings.HasPrefix(c.Describe(), name+": ") {
			t.Errorf("%s: %+v %v", name, c, err)
		}
	}
	bad := TDXConventions{InitrdArg: "middle", MRTDOrder: MRTDPerPage}
	if _, err := RTMR2Events("", nil, bad); err == nil || !strings.Contains(err.Error(), `initrd argument placement "middle"`) {
		t.Errorf("bad placement: %v", err)
	}
	bad = TDXConventions{InitrdArg: InitrdArgPrefix, MRTDOrder: "x"}
	if _, err := MeasureTDX(small().build(t), nil, bad); err == nil || !strings.Contains(err.Error(), `MRTD order "x"`) {
		t.Errorf("bad order: %v", err)
	}
}

func TestRTMRs(t *testing.T) {
	if ReplayRTMR(nil) != ([48]byte{}) {
		t.Error("an empty log does not leave RTMR zero")
	}
	e := sha512.Sum384([]byte("x"))
	if ReplayRTMR([][48]byte{e}) != sha512.Sum384(append(make([]byte, 48), e[:]...)) {
		t.Error("one event is not SHA-384(zeros || digest)")
	}
	edk2, _ := TDXProfile("edk2-prefix")
	suffix, _ := TDXProfile("edk2-suffix")
	virtee, _ := TDXProfile("virtee")
	some := &TDXInitrd{SHA384: sha512.Sum384([]byte("i")), Size: 1}
	empty := &TDXInitrd{SHA384: sha512.Sum384(nil), Size: 0}
	for _, c := range []struct {
		cmdline string
		initrd  *TDXInitrd
		conv    TDXConventions
		want    string
	}{
		{"console=ttyS0", some, edk2, "initrd=initrd console=ttyS0"},
		{"console=ttyS0", some, suffix, "console=ttyS0 initrd=initrd"},
		{"", some, edk2, "initrd=initrd "},
		{"console=ttyS0", nil, edk2, "console=ttyS0"},
		{"console=ttyS0", empty, edk2, "console=ttyS0"},
		{"console=ttyS0", empty, virtee, "console=ttyS0 initrd=initrd"},
	} {
		if got := LoadOptions(c.cmdline, c.initrd, c.conv); got != c.want {
			t.Errorf("LoadOptions(%q, %v, %s) = %q, want %q", c.cmdline, c.initrd, c.conv.Name, got, c.want)
		}
	}
	// The command line event is UTF-16LE with a NUL, non-ASCII included.
	ev, err := RTMR2Events("ä€😀", nil, edk2)
	if err != nil {
		t.Fatal(err)
	}
	u := []byte{0xe4, 0, 0xac, 0x20, 0x3d, 0xd8, 0x00, 0xde, 0, 0}
	if len(ev) != 1 || ev[0] != sha512.Sum384(u) {
		t.Error("command line event is not SHA-384 of UTF-16LE with a NUL")
	}
	ev, _ = RTMR2Events("a", some, edk2)
	if len(ev) != 2 || ev[1] != some.SHA384 {
		t.Error("initrd event missing")
	}
	if ev, _ := RTMR2Events("a", empty, edk2); len(ev) != 1 {
		t.Error("an empty initrd is measured under edk2 conventions")
	}
	if ev, _ := RTMR2Events("a", empty, virtee); len(ev) != 2 {
		t.Error("an empty initrd is not measured under virtee conventions")
	}
	for _, bad := range []string{"a\xffb", "a\x00b"} {
		if _, err := RTMR2Events(bad, nil, edk2); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	// RTMR[1]: five events with the separator, four without.
	k := sha512.Sum384([]byte("kernel"))
	if n := len(RTMR1Events(k, edk2)); n != 5 {
		t.Errorf("%d RTMR[1] events, want 5", n)
	}
	noSep := edk2
	noSep.RTMR1Separator = false
	if n := len(RTMR1Events(k, noSep)); n != 4 || ReplayRTMR(RTMR1Events(k, noSep)) == ReplayRTMR(RTMR1Events(k, edk2)) {
		t.Error("the separator makes no difference")
	}
}

// TestMeasureTDX runs a whole direct boot on a synthetic firmware and
// kernel under every profile, and checks what each input changes.
func TestMeasureTDX(t *testing.T) {
	fw := small().build(t)
	kernel := kernelSpec(0x10000).build()
	initrd := bytes.Repeat([]byte("kettle-initrd\n"), 300)
	boot := func(k []byte, cmdline string, in []byte) *TDXBoot {
		b := &TDXBoot{Kernel: k, Cmdline: cmdline}
		if in != nil {
			b.Initrd = &TDXInitrd{SHA384: sha512.Sum384(in), Size: int64(len(in))}
		}
		return b
	}
	for _, name := range TDXProfiles() {
		t.Run(name, func(t *testing.T) {
			c, _ := TDXProfile(name)
			ref, err := MeasureTDX(fw, boot(kernel, "console=ttyS0", initrd), c)
			if err != nil {
				t.Fatal(err)
			}
			if *ref.RTMR1 != ReplayRTMR(ref.RTMR1Events) || *ref.RTMR2 != ReplayRTMR(ref.RTMR2Events) {
				t.Fatal("RTMRs are not their events replayed")
			}
			k := append([]byte(nil), kernel...)
			k[0x8000] ^= 1
			m, _ := MeasureTDX(fw, boot(k, "console=ttyS0", initrd), c)
			if *m.RTMR1 == *ref.RTMR1 || *m.RTMR2 != *ref.RTMR2 || m.MRTD != ref.MRTD {
				t.Error("a kernel byte: want only RTMR[1] to change")
			}
			m, _ = MeasureTDX(fw, boot(kernel, "console=ttyS1", initrd), c)
			if *m.RTMR2 == *ref.RTMR2 || m.MRTD != ref.MRTD {
				t.Error("a command line character: want RTMR[2] to change")
			}
			in := append([]byte(nil), initrd...)
			in[100] ^= 1
			m, _ = MeasureTDX(fw, boot(kernel, "console=ttyS0", in), c)
			if *m.RTMR2 == *ref.RTMR2 {
				t.Error("an initrd byte does not change RTMR[2]")
			}
			if *m.RTMR1 != *ref.RTMR1 {
				t.Error("an initrd byte of the same size changes RTMR[1]")
			}
			m, _ = MeasureTDX(fw, boot(kernel, "console=ttyS0", initrd[:len(initrd)-4096]), c)
			if (*m.RTMR1 != *ref.RTMR1) != c.KernelSetupPatched {
				t.Error("the initrd's size changes RTMR[1] exactly when QEMU patches the header")
			}
		})
	}
	c, _ := TDXProfile(DefaultTDXProfile)
	if _, err := MeasureTDX(fw, boot(make([]byte, 4096), "", nil), c); err == nil || !strings.Contains(err.Error(), "kernel: not a PE/COFF image") {
		t.Errorf("kernel without EFI stub: %v", err)
	}
}

func TestParseMemorySize(t *testing.T) {
	for in, want := range map[string]uint64{"2048": 2 << 30, "2G": 2 << 30, "2g": 2 << 30, "512M": 512 << 20, "1T": 1 << 40, "4096K": 4 << 20, "8192B": 8192} {
		if got, err := ParseMemorySize(in); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "G", "0", "-1G", "1.5G", "2X", "99999999999T"} {
		if _, err := ParseMemorySize(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
