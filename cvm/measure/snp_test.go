package measure

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"math/rand"
	"runtime"
	"strings"
	"testing"
)

func kernelHashes(kernel, initrd []byte, cmdline string) *SEVHashes {
	c, err := CmdlineSHA256(cmdline)
	if err != nil {
		panic(err)
	}
	return &SEVHashes{Cmdline: c, Initrd: sha256.Sum256(initrd), Kernel: sha256.Sum256(kernel)}
}

func defaultOpts() SNPOptions {
	sig, _ := VCPUSignature("EPYC-v4")
	return SNPOptions{VCPUs: 1, VCPUSig: sig, GuestFeatures: DefaultGuestFeatures}
}

func TestSNPErrors(t *testing.T) {
	fw := small().build(t)
	noMeta := small()
	noMeta.sev = nil
	noReset := small()
	noReset.resetEIP = nil
	zeroEIP := small()
	zeroEIP.resetEIP = u32p(0)
	noHashGPA := small()
	noHashGPA.hashTable = nil
	zeroHashGPA := small()
	zeroHashGPA.hashTable = &[2]uint32{0, 0}
	crossing := small()
	crossing.hashTable = &[2]uint32{0x810f80, 0x400}
	bigHashes := small()
	bigHashes.sev = append([]SEVSection(nil), bigHashes.sev...)
	bigHashes.sev[5].Size = 0x2000
	bigHashes.sev[6] = SEVSection{0x812000, 0xe000, SEVSectionSNPSecMem}
	k := kernelHashes(nil, nil, "")
	with := func(f func(o *SNPOptions)) SNPOptions { o := defaultOpts(); f(&o); return o }
	for _, c := range []struct {
		name    string
		fw      []byte
		opts    SNPOptions
		wantErr error
		want    string
	}{
		{"0 vCPUs", fw, with(func(o *SNPOptions) { o.VCPUs = 0 }), ErrVCPUCount, "0 vCPUs, want 1..512"},
		{"513 vCPUs", fw, with(func(o *SNPOptions) { o.VCPUs = 513 }), ErrVCPUCount, "513 vCPUs, want 1..512"},
		{"unknown VMM", fw, with(func(o *SNPOptions) { o.VMM = 7 }), nil, "unknown VMM type 7"},
		{"no footer table", make([]byte, 8192), defaultOpts(), ErrNoFooterTable, "no OVMF footer table"},
		{"no SNP metadata", noMeta.build(t), defaultOpts(), ErrNoSEVMetadata, "no SEV metadata entry"},
		{"no reset block", noReset.build(t), defaultOpts(), ErrNoResetBlock, "no SEV-ES reset block entry"},
		{"AP reset address 0", zeroEIP.build(t), with(func(o *SNPOptions) { o.VCPUs = 2 }), ErrNoResetBlock, "AP reset address 0, so only 1 vCPU can start (asked for 2)"},
		{"no hash table entry", noHashGPA.build(t), with(func(o *SNPOptions) { o.Kernel = k }), ErrNoKernelHashes, "gives no SEV hash table GPA"},
		{"hash table GPA 0", zeroHashGPA.build(t), with(func(o *SNPOptions) { o.Kernel = k }), ErrNoKernelHashes, "gives no SEV hash table GPA"},
		{"table crosses page", crossing.build(t), with(func(o *SNPOptions) { o.Kernel = k }), nil, "SEV hashes table at page offset 0xf80: its 176 bytes cross the end"},
		{"hashes section of 2 pages", bigHashes.build(t), with(func(o *SNPOptions) { o.Kernel = k }), nil, "SEV metadata section 5 (SNP_KERNEL_HASHES): size 0x2000, want one 4 KiB page"},
		{"firmware not pages", append(small().build(t), 0), defaultOpts(), ErrNoFooterTable, ""},
		{"empty firmware", nil, defaultOpts(), ErrNoFooterTable, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := MeasureSNP(c.fw, c.opts)
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Errorf("error %q is not %q", err, c.wantErr)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
	for _, c := range []struct {
		fw   []byte
		want string
	}{
		{nil, "firmware image is empty"},
		{make([]byte, 5000), "5000 bytes, not a whole number of 4 KiB pages"},
	} {
		if _, err := OVMFHash(c.fw); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("OVMFHash of %d bytes: %v, want %q", len(c.fw), err, c.want)
		}
	}
	if _, err := CmdlineSHA256("a\x00b"); err == nil || !strings.Contains(err.Error(), "NUL byte at offset 1") {
		t.Errorf("cmdline with NUL: %v", err)
	}
	var d LaunchDigest
	if err := d.UpdateNormalPages(0, make([]byte, 100)); err == nil {
		t.Error("UpdateNormalPages of 100 bytes: no error")
	}
}

func TestVCPUAndVMMNames(t *testing.T) {
	for _, name := range VCPUTypes() {
		if _, err := VCPUSignature(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, want := range map[string]uint32{
		"EPYC": 0x00800f12, "EPYC-v4": 0x00800f12, "EPYC-IBPB": 0x00800f12, "EPYC-Rome-v3": 0x00830f10,
		"EPYC-Milan": 0x00a00f11, "EPYC-Genoa-v1": 0x00a10f10, "EPYC-Turin": 0x00b00f00,
	} {
		if got, err := VCPUSignature(name); err != nil || got != want {
			t.Errorf("%s: %#x, %v; want %#x", name, got, err, want)
		}
	}
	for _, bad := range []string{"", "epyc", "EPYC-v5", "EPYC-Milan-v3", "host"} {
		if _, err := VCPUSignature(bad); !errors.Is(err, ErrUnknownVCPUType) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for _, c := range []struct{ f, m, s int }{{-1, 0, 0}, {0x10f, 0, 0}, {25, 256, 0}, {25, 1, 16}, {25, -1, 0}} {
		if _, err := CPUSignature(c.f, c.m, c.s); err == nil {
			t.Errorf("CPUSignature(%d, %d, %d): no error", c.f, c.m, c.s)
		}
	}
	if s, err := CPUSignature(6, 0x8f, 4); err != nil || s != 0x000806f4 {
		t.Errorf("family 6: %#x, %v", s, err)
	}
	for in, want := range map[string]VMMType{"QEMU": VMMQEMU, "qemu": VMMQEMU, "ec2": VMMEC2, "EC2": VMMEC2, "gce": VMMGCE} {
		if got, err := ParseVMMType(in); err != nil || got != want {
			t.Errorf("%q: %v, %v", in, got, err)
		}
	}
	if _, err := ParseVMMType("kvm"); err == nil || !strings.Contains(err.Error(), "known: QEMU, ec2, gce") {
		t.Errorf("kvm: %v", err)
	}
	var v VMMType
	if err := v.UnmarshalText([]byte("gce")); err != nil || v != VMMGCE {
		t.Errorf("unmarshal gce: %v %v", v, err)
	}
	if _, err := VMMType(9).MarshalText(); err == nil {
		t.Error("marshalling VMMType(9): no error")
	}
}

// TestVMSALayout checks the VMSA fields against sev-snp-measure's table
// (METHOD.md §5).
func TestVMSALayout(t *testing.T) {
	u16 := func(p *[pageSize]byte, o int) uint64 { return uint64(binary.LittleEndian.Uint16(p[o:])) }
	u32 := func(p *[pageSize]byte, o int) uint64 { return uint64(binary.LittleEndian.Uint32(p[o:])) }
	u64 := func(p *[pageSize]byte, o int) uint64 { return binary.LittleEndian.Uint64(p[o:]) }
	for _, c := range []struct {
		name                                   string
		eip                                    uint32
		vmm                                    VMMType
		cs, ss, tr, rdx, gpat, mxcsr, fcw, rip uint64
		csBase                                 uint64
	}{
		{"QEMU BSP", bspEIP, VMMQEMU, 0x9b, 0x93, 0x8b, 0x800f12, 0x0007040600070406, 0x1f80, 0x37f, 0xfff0, 0xffff0000},
		{"QEMU AP", 0x80b004, VMMQEMU, 0x9b, 0x93, 0x8b, 0x800f12, 0x0007040600070406, 0x1f80, 0x37f, 0xb004, 0x800000},
		{"EC2 BSP", bspEIP, VMMEC2, 0x9a, 0x92, 0x83, 0x600, 0x0007040600070406, 0, 0, 0xfff0, 0xffff0000},
		{"EC2 AP", 0x80b004, VMMEC2, 0x9b, 0x92, 0x83, 0x600, 0x0007040600070406, 0, 0, 0xb004, 0x800000},
		{"GCE BSP", bspEIP, VMMGCE, 0x9b, 0x93, 0x8b, 0x600, 0x00070106, 0, 0, 0xfff0, 0xffff0000},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := VMSA(c.eip, c.vmm, 0x800f12, 0x21)
			for _, f := range []struct {
				name      string
				got, want uint64
			}{
				{"cs.sel", u16(p, vmsaCS), 0xf000}, {"cs.attrib", u16(p, vmsaCS+2), c.cs}, {"cs.base", u64(p, vmsaCS+8), c.csBase},
				{"ss.attrib", u16(p, vmsaSS+2), c.ss}, {"tr.attrib", u16(p, vmsaTR+2), c.tr}, {"ldtr.attrib", u16(p, vmsaLDTR+2), 0x82},
				{"es.attrib", u16(p, vmsaES+2), 0x93}, {"gdtr.limit", u32(p, vmsaGDTR+4), 0xffff},
				{"efer", u64(p, vmsaEFER), 0x1000}, {"cr4", u64(p, vmsaCR4), 0x40}, {"cr0", u64(p, vmsaCR0), 0x10},
				{"dr7", u64(p, vmsaDR7), 0x400}, {"dr6", u64(p, vmsaDR6), 0xffff0ff0}, {"rflags", u64(p, vmsaRFLAGS), 2},
				{"rip", u64(p, vmsaRIP), c.rip}, {"g_pat", u64(p, vmsaGPAT), c.gpat}, {"rdx", u64(p, vmsaRDX), c.rdx},
				{"sev_features", u64(p, vmsaSEVFeatures), 0x21}, {"xcr0", u64(p, vmsaXCR0), 1},
				{"mxcsr", u32(p, vmsaMXCSR), c.mxcsr}, {"x87_fcw", u16(p, vmsaX87FCW), c.fcw},
			} {
				if f.got != f.want {
					t.Errorf("%s = %#x, want %#x", f.name, f.got, f.want)
				}
			}
		})
	}
}

// TestOVMFHashSeed: seeding the chain with OVMFHash gives the digest of
// measuring the firmware, for random images and shapes.
func TestOVMFHashSeed(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := range 20 {
		im := small()
		im.seed = byte(i)
		fw := im.build(t)
		o := defaultOpts()
		o.VCPUs = 1 + r.Intn(16)
		o.VMM = VMMType(r.Intn(3))
		o.GuestFeatures = uint64(r.Intn(256)) | 1
		if r.Intn(2) == 0 {
			o.Kernel = kernelHashes([]byte{byte(i)}, nil, "x")
		}
		whole, err := MeasureSNP(fw, o)
		if err != nil {
			t.Fatal(err)
		}
		h, err := OVMFHash(fw)
		if err != nil {
			t.Fatal(err)
		}
		l, err := ParseSNPLayout(fw)
		if err != nil {
			t.Fatal(err)
		}
		seeded, err := SNPLaunchDigest(h, l, o)
		if err != nil {
			t.Fatal(err)
		}
		if whole != seeded {
			t.Fatalf("image %d: measured %x, seeded %x", i, whole, seeded)
		}
	}
}

// TestSNPInputsMatter: one byte of the kernel or initrd, one character of
// the command line, the guest features, the VMM, the vCPU type and count,
// each changes the digest; "none" and "empty" initrd and command line do not.
func TestSNPInputsMatter(t *testing.T) {
	fw := small().build(t)
	kernel := kernelSpec(0x4000).build()
	initrd := bytes.Repeat([]byte("kettle-initrd\n"), 300)
	const cmdline = "console=ttyS0 init=/init"
	base := defaultOpts()
	base.VCPUs = 2
	base.Kernel = kernelHashes(kernel, initrd, cmdline)
	ref, err := MeasureSNP(fw, base)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[48]byte]string{ref: "reference"}
	differs := func(name string, o SNPOptions) {
		t.Helper()
		d, err := MeasureSNP(fw, o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if prev, dup := seen[d]; dup {
			t.Errorf("%s gives the digest of %s", name, prev)
		}
		seen[d] = name
	}
	r := rand.New(rand.NewSource(2))
	for i := range 8 {
		k := append([]byte(nil), kernel...)
		k[i*len(k)/8+r.Intn(len(k)/8)] ^= byte(1 + r.Intn(255))
		o := base
		o.Kernel = kernelHashes(k, initrd, cmdline)
		differs("kernel byte "+string(rune('0'+i)), o)
		in := append([]byte(nil), initrd...)
		in[i*len(in)/8+r.Intn(len(in)/8)] ^= 0x80
		o.Kernel = kernelHashes(kernel, in, cmdline)
		differs("initrd byte "+string(rune('0'+i)), o)
		c := []byte(cmdline)
		c[3*i] ^= 0x01
		o.Kernel = kernelHashes(kernel, initrd, string(c))
		differs("cmdline "+string(c), o)
	}
	o := base
	o.Kernel = kernelHashes(kernel, initrd, cmdline+" ")
	differs("cmdline with a trailing space", o)
	o = base
	o.GuestFeatures = 0x21
	differs("guest features 0x21", o)
	o = base
	o.VCPUSig, _ = VCPUSignature("EPYC-Milan")
	differs("EPYC-Milan", o)
	o = base
	o.VMM = VMMEC2
	differs("ec2", o)
	o.VMM = VMMGCE
	differs("gce", o)
	o = base
	o.Kernel = nil
	differs("no kernel", o)

	// Absent and empty initrd, and absent and empty cmdline, are one.
	a := base
	a.Kernel = kernelHashes(kernel, nil, "")
	b := base
	b.Kernel = kernelHashes(kernel, []byte{}, "")
	da, _ := MeasureSNP(fw, a)
	db, _ := MeasureSNP(fw, b)
	if da != db {
		t.Error("an empty initrd and none differ")
	}
}

// TestVCPUCountOrder: each extra vCPU extends the chain by one AP VMSA page
// and nothing else, so digest(n+1) = digest(n) extended by the AP VMSA, and
// every count gives a different digest.
func TestVCPUCountOrder(t *testing.T) {
	fw := small().build(t)
	o := defaultOpts()
	seen := map[[48]byte]int{}
	var prev [48]byte
	for n := 1; n <= 64; n++ {
		o.VCPUs = n
		d, err := MeasureSNP(fw, o)
		if err != nil {
			t.Fatal(err)
		}
		if m, dup := seen[d]; dup {
			t.Fatalf("%d and %d vCPUs give the same digest", m, n)
		}
		seen[d] = n
		if n > 1 {
			ld := NewLaunchDigest(prev)
			ld.UpdateVMSA(VMSA(0x80b004, VMMQEMU, o.VCPUSig, o.GuestFeatures))
			if ld.Sum() != d {
				t.Fatalf("%d vCPUs: not the %d-vCPU digest extended by one AP VMSA", n, n-1)
			}
		}
		prev = d
	}
	o.VCPUs = MaxVCPUs
	if _, err := MeasureSNP(fw, o); err != nil {
		t.Errorf("%d vCPUs: %v", MaxVCPUs, err)
	}
}

// TestPageDigestsParallel: the page hashes are the same whatever the number
// of goroutines.
func TestPageDigestsParallel(t *testing.T) {
	data := make([]byte, 300*pageSize)
	rand.New(rand.NewSource(3)).Read(data)
	want := make([][48]byte, 300)
	for i := range want {
		want[i] = sha512.Sum384(data[i*pageSize : (i+1)*pageSize])
	}
	for _, procs := range []int{1, 2, 3, 7} {
		old := runtime.GOMAXPROCS(procs)
		got := pageDigests(data)
		runtime.GOMAXPROCS(old)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("GOMAXPROCS %d: page %d differs", procs, i)
			}
		}
	}
}

// TestSEVHashesRoundTrip: Table and ParseSEVHashesTable are inverse, and
// the SNP page holds the table at the GPA's offset.
func TestSEVHashesRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for range 50 {
		var h SEVHashes
		r.Read(h.Cmdline[:])
		r.Read(h.Initrd[:])
		r.Read(h.Kernel[:])
		tb := h.Table()
		got, err := ParseSEVHashesTable(tb[:])
		if err != nil || got != h {
			t.Fatalf("round trip: %v", err)
		}
		off := uint32(r.Intn(pageSize - SEVHashesTablePaddedSize + 1))
		p, err := h.page(off)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p[off:int(off)+len(tb)], tb[:]) || bytes.Count(p, []byte{0}) < pageSize-len(tb) {
			t.Fatalf("page at offset %d does not hold the table alone", off)
		}
	}
}
