package measure

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func writeTemp(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMeasureSNPFilesVectors runs vectors through the file layer, checks
// the record's input hashes, and recomputes the digest from the decoded
// JSON record alone.
func TestMeasureSNPFilesVectors(t *testing.T) {
	amd := fixturePath(t, amdSevSuffix)
	kernel := fixturePath(t, synthKernel)
	initrd := fixturePath(t, synthInitrd)
	empty := writeTemp(t, t.TempDir(), "empty", nil)
	for _, c := range []struct {
		id   string
		req  SNPRequest
		want string
	}{
		{"S10", SNPRequest{OVMF: amd, Kernel: kernel, Initrd: initrd, Cmdline: "console=ttyS0 init=/init kettle.test=1", VCPUs: 2, VCPUType: "EPYC-Milan", GuestFeatures: 1},
			"f936f20fbe5e7900f0757c024bc238ebfe84e2566baa2363d4a88802b870410fb9cd61fd930c5a42784bb75dc64e21d1"},
		{"S11", SNPRequest{OVMF: amd, Kernel: kernel, VCPUs: 1, VCPUType: "EPYC-Rome", GuestFeatures: 1},
			"c1976b1a4c0cfbb1c3330a4dd916637c247e6ac6082a9fc6c30f06f4f56119079fe05ae22a35bdaae538b6dada43fbff"},
		{"S2", SNPRequest{OVMF: amd, Kernel: empty, Initrd: empty, Cmdline: "console=ttyS0 loglevel=7", VCPUs: 1, VCPUType: "EPYC-v4", GuestFeatures: 0x21},
			"803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977"},
		{"S5", SNPRequest{OVMF: amd, Kernel: empty, Initrd: empty, VCPUs: 1, VMM: VMMEC2, GuestFeatures: 0x21},
			"0ce9ccc06bab55eebe8abc234f3df6514883977a68a591b71052498ab52b2f1aa415db338033946ef93aa8278c0d67fb"},
		{"S6", SNPRequest{OVMF: amd, Kernel: empty, Initrd: empty, VCPUs: 1, VMM: VMMGCE, GuestFeatures: 1},
			"5da7106cf14cf46b1725ebab123eb9e53bd46a1e9f400cd0c08e7827b04b688ea8b4e403c8404efed4397ea5d5d0722e"},
		{"S8", SNPRequest{OVMF: amd, OVMFHash: func() *[48]byte {
			h := unhex48(t, "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74")
			return &h
		}(), Kernel: empty, Initrd: empty, VCPUs: 1, VCPUType: "EPYC-v4", GuestFeatures: 1},
			"ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a07a9079397fa3852819b5"},
		{"S1", SNPRequest{Mode: ModeSNPOVMFHash, OVMF: amd},
			"086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74"},
		{"L1", SNPRequest{Mode: ModeSEVES, OVMF: amd, Kernel: empty, Initrd: empty, VCPUs: 1, VCPUType: "EPYC-v4"},
			"13810ae661ea11e2bb205621f582fee268f0367c8f97bc297b7fadef3e12002c"},
		{"L2", SNPRequest{Mode: ModeSEV, OVMF: amd, Kernel: empty, Initrd: empty, Cmdline: "console=ttyS0 loglevel=7"},
			"82a3ee5d537c3620628270c292ae30cb40c3c878666a7890ee7ef2a08fb535ff"},
	} {
		t.Run(c.id, func(t *testing.T) {
			rec, err := MeasureSNPFiles(c.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(rec.Measurement); got != c.want {
				t.Fatalf("measurement %s\nwant        %s", got, c.want)
			}
			for _, f := range []*InputFile{rec.Inputs.OVMF, rec.Inputs.Kernel, rec.Inputs.Initrd} {
				if f == nil {
					continue
				}
				b, _ := os.ReadFile(f.Path)
				if s := sha256.Sum256(b); string(s[:]) != string(f.SHA256) || f.Size != int64(len(b)) {
					t.Errorf("%s: record says %x (%d bytes)", f.Path, []byte(f.SHA256), f.Size)
				}
			}
			j, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			var back SNPRecord
			if err := json.Unmarshal(j, &back); err != nil {
				t.Fatal(err)
			}
			if rec.Mode != ModeSNP {
				return
			}
			d, err := back.Recompute()
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(d[:]) != c.want {
				t.Errorf("recomputed from the record: %x", d)
			}
		})
	}
}

func TestMeasureSNPFilesErrors(t *testing.T) {
	dir := t.TempDir()
	fw := writeTemp(t, dir, "OVMF.fd", small().build(t))
	k := writeTemp(t, dir, "kernel", []byte("k"))
	h := [48]byte{}
	sig := uint32(0x800f12)
	for _, c := range []struct {
		name    string
		req     SNPRequest
		wantErr error
		want    string
	}{
		{"bad mode", SNPRequest{Mode: "snp:svsm", OVMF: fw}, nil, `mode "snp:svsm"`},
		{"no firmware", SNPRequest{VCPUs: 1, VCPUType: "EPYC"}, nil, "no firmware image"},
		{"missing firmware", SNPRequest{OVMF: filepath.Join(dir, "nope.fd"), VCPUs: 1, VCPUType: "EPYC"}, os.ErrNotExist, "reading firmware: open " + filepath.Join(dir, "nope.fd")},
		{"missing kernel", SNPRequest{OVMF: fw, Kernel: filepath.Join(dir, "nokernel"), VCPUs: 1, VCPUType: "EPYC"}, os.ErrNotExist, "reading kernel: open"},
		{"missing initrd", SNPRequest{OVMF: fw, Kernel: k, Initrd: filepath.Join(dir, "noinitrd"), VCPUs: 1, VCPUType: "EPYC"}, os.ErrNotExist, "reading initrd: open"},
		{"initrd without kernel", SNPRequest{OVMF: fw, Initrd: k, VCPUs: 1, VCPUType: "EPYC"}, nil, "needs a kernel"},
		{"cmdline without kernel", SNPRequest{OVMF: fw, Cmdline: "x", VCPUs: 1, VCPUType: "EPYC"}, nil, "needs a kernel"},
		{"ovmf hash outside snp", SNPRequest{Mode: ModeSEVES, OVMF: fw, OVMFHash: &h, VCPUs: 1, VCPUType: "EPYC"}, nil, "only in mode snp"},
		{"no vCPU type", SNPRequest{OVMF: fw, VCPUs: 1}, ErrUnknownVCPUType, "QEMU needs the vCPU type"},
		{"type and signature", SNPRequest{OVMF: fw, VCPUs: 1, VCPUType: "EPYC", VCPUSig: &sig}, nil, "not both"},
		{"unknown type", SNPRequest{OVMF: fw, VCPUs: 1, VCPUType: "EPYC-Zen9"}, ErrUnknownVCPUType, `"EPYC-Zen9"`},
		{"0 vCPUs", SNPRequest{OVMF: fw, VCPUType: "EPYC"}, ErrVCPUCount, "0 vCPUs"},
		{"firmware without table", SNPRequest{OVMF: k, VCPUs: 1, VCPUType: "EPYC"}, ErrNoFooterTable, k + ": no OVMF footer table"},
		{"cmdline with NUL", SNPRequest{OVMF: fw, Kernel: k, Cmdline: "a\x00", VCPUs: 1, VCPUType: "EPYC"}, nil, "NUL byte"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := MeasureSNPFiles(c.req)
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
	// A record that does not hold together is refused by Recompute.
	rec, err := MeasureSNPFiles(SNPRequest{OVMF: fw, Kernel: k, VCPUs: 2, VCPUType: "EPYC", GuestFeatures: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		mod  func(r *SNPRecord)
		want string
	}{
		{"version", func(r *SNPRecord) { r.Version = 2 }, "record version 2"},
		{"mode", func(r *SNPRecord) { r.Mode = ModeSEV }, `mode "sev"`},
		{"layout", func(r *SNPRecord) { r.Layout = nil }, "no firmware layout"},
		{"ovmf hash", func(r *SNPRecord) { r.OVMFHash = r.OVMFHash[:40] }, "ovmfHash: 40 bytes, want 48"},
		{"sig", func(r *SNPRecord) { r.VCPUSig = "zz" }, `vcpuSig "zz"`},
		{"features", func(r *SNPRecord) { r.GuestFeatures = "" }, `guestFeatures ""`},
		{"kernel hash", func(r *SNPRecord) { r.KernelHashes.Kernel = nil }, "kernelHashes.kernel: 0 bytes, want 32"},
		{"section", func(r *SNPRecord) { r.Layout.Sections[0].Type = 99 }, "unknown type 0x63"},
	} {
		t.Run("record/"+c.name, func(t *testing.T) {
			j, _ := json.Marshal(rec)
			var r SNPRecord
			if err := json.Unmarshal(j, &r); err != nil {
				t.Fatal(err)
			}
			c.mod(&r)
			if _, err := r.Recompute(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
	var x Hex
	if err := x.UnmarshalText([]byte("0g")); err == nil {
		t.Error("Hex accepted 0g")
	}
}

// TestMeasureTDXFiles runs the Debian firmware with a synthetic kernel and
// initrd through the file layer and replays the RTMRs from the JSON record.
func TestMeasureTDXFiles(t *testing.T) {
	fw := fixturePath(t, debianOVMF)
	dir := t.TempDir()
	kernel := writeTemp(t, dir, "bzImage", kernelSpec(0x20000).build())
	initrd := writeTemp(t, dir, "initrd", []byte(strings.Repeat("kettle-initrd\n", 300)))
	empty := writeTemp(t, dir, "empty", nil)
	rtmr0 := unhex48(t, strings.Repeat("ab", 48))
	for _, name := range TDXProfiles() {
		for _, in := range []string{"", empty, initrd} {
			c, _ := TDXProfile(name)
			rec, err := MeasureTDXFiles(TDXRequest{OVMF: fw, Kernel: kernel, Initrd: in, Cmdline: "console=ttyS0", Conventions: c, RTMR0: &rtmr0})
			if err != nil {
				t.Fatalf("%s, initrd %q: %v", name, in, err)
			}
			if hex.EncodeToString(rec.MRTD) != "4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb231c47" {
				t.Errorf("MRTD %x", []byte(rec.MRTD))
			}
			if string(rec.RTMR0) != string(rtmr0[:]) || rec.Assumed != c.Describe() {
				t.Error("RTMR[0] or the conventions not carried into the record")
			}
			j, _ := json.Marshal(rec)
			var back TDXRecord
			if err := json.Unmarshal(j, &back); err != nil {
				t.Fatal(err)
			}
			r1, r2, err := back.RecomputeRTMRs()
			if err != nil {
				t.Fatal(err)
			}
			if string(r1[:]) != string(rec.RTMR1) || string(r2[:]) != string(rec.RTMR2) {
				t.Errorf("%s, initrd %q: RTMRs recomputed from the record differ", name, in)
			}
			var ev [][48]byte
			for _, e := range back.RTMR2Events {
				ev = append(ev, [48]byte(e))
			}
			if rr := ReplayRTMR(ev); string(rr[:]) != string(rec.RTMR2) {
				t.Error("RTMR[2] events do not replay to RTMR[2]")
			}
		}
	}
	c, _ := TDXProfile(DefaultTDXProfile)
	rec, err := MeasureTDXFiles(TDXRequest{OVMF: fw, Conventions: c})
	if err != nil || rec.RTMR1 != nil || rec.Inputs.Kernel != nil || len(rec.Sections) != 6 {
		t.Errorf("firmware alone: %+v, %v", rec, err)
	}
	for _, e := range []struct {
		name string
		req  TDXRequest
		want string
	}{
		{"no firmware", TDXRequest{Conventions: c}, "no firmware image"},
		{"initrd without kernel", TDXRequest{OVMF: fw, Initrd: initrd, Conventions: c}, "needs a kernel"},
		{"missing initrd", TDXRequest{OVMF: fw, Kernel: kernel, Initrd: filepath.Join(dir, "none"), Conventions: c}, "reading initrd"},
		{"missing kernel", TDXRequest{OVMF: fw, Kernel: filepath.Join(dir, "none"), Conventions: c}, "reading kernel"},
		{"kernel not PE", TDXRequest{OVMF: fw, Kernel: initrd, Conventions: c}, initrd + ": kernel: not a PE/COFF image"},
		{"firmware without TDVF", TDXRequest{OVMF: kernel, Conventions: c}, kernel + ": no OVMF footer table"},
		{"no conventions", TDXRequest{OVMF: fw}, "initrd argument placement"},
	} {
		if _, err := MeasureTDXFiles(e.req); err == nil || !strings.Contains(err.Error(), e.want) {
			t.Errorf("%s: %v, want %q", e.name, err, e.want)
		}
	}
}

// TestSkipInputDigests: leaving out the inputs' SHA-256 changes nothing but
// the record's sha256 fields.
func TestSkipInputDigests(t *testing.T) {
	dir := t.TempDir()
	fw := writeTemp(t, dir, "OVMF.fd", small().build(t))
	kernel := writeTemp(t, dir, "bzImage", kernelSpec(0x10000).build())
	initrd := writeTemp(t, dir, "initrd", []byte("initrd"))
	snp := SNPRequest{OVMF: fw, Kernel: kernel, Initrd: initrd, VCPUs: 1, VCPUType: "EPYC", GuestFeatures: 1}
	full, err := MeasureSNPFiles(snp)
	if err != nil {
		t.Fatal(err)
	}
	snp.SkipInputDigests = true
	lean, err := MeasureSNPFiles(snp)
	if err != nil {
		t.Fatal(err)
	}
	if string(full.Measurement) != string(lean.Measurement) || lean.Inputs.OVMF.SHA256 != nil || lean.Inputs.OVMF.Size != full.Inputs.OVMF.Size {
		t.Errorf("SNP: %+v vs %+v", lean.Inputs.OVMF, full.Inputs.OVMF)
	}
	c, _ := TDXProfile(DefaultTDXProfile)
	tdx := TDXRequest{OVMF: fw, Kernel: kernel, Initrd: initrd, Conventions: c}
	tf, err := MeasureTDXFiles(tdx)
	if err != nil {
		t.Fatal(err)
	}
	tdx.SkipInputDigests = true
	tl, err := MeasureTDXFiles(tdx)
	if err != nil {
		t.Fatal(err)
	}
	if string(tf.RTMR2) != string(tl.RTMR2) || string(tf.MRTD) != string(tl.MRTD) || string(tf.RTMR1) != string(tl.RTMR1) {
		t.Error("TDX registers differ without input digests")
	}
	for _, f := range []*InputFile{tl.Inputs.OVMF, tl.Inputs.Kernel, tl.Inputs.Initrd} {
		if f.SHA256 != nil || f.Size == 0 {
			t.Errorf("%s: %+v", f.Path, f)
		}
	}
	for _, f := range []*InputFile{tf.Inputs.OVMF, tf.Inputs.Kernel, tf.Inputs.Initrd} {
		if len(f.SHA256) != 32 {
			t.Errorf("%s: no SHA-256 in the full record", f.Path)
		}
	}
}

// TestMeasureFilesRefuseSpecialAndHuge: a device, a FIFO, a directory or
// a file over the cap of its kind is refused by name before it is read, in
// every role, by both file layers (reading /dev/zero used to grow without
// bound, and a FIFO to hang).
func TestMeasureFilesRefuseSpecialAndHuge(t *testing.T) {
	dir := t.TempDir()
	fw := writeTemp(t, dir, "OVMF.fd", small().build(t))
	k := writeTemp(t, dir, "kernel", kernelSpec(0x1000).build())
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	sparse := func(name string, size int64) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bigFW := sparse("big.fd", MaxFirmwareSize+1)
	bigKernel := sparse("big.kernel", MaxKernelSize+1)
	bigInitrd := sparse("big.initrd", MaxInitrdSize+1)
	c, _ := TDXProfile(DefaultTDXProfile)
	type files struct{ ovmf, kernel, initrd string }
	for _, tc := range []struct {
		name string
		in   files
		want string
	}{
		{"ovmf /dev/zero", files{"/dev/zero", "", ""}, "reading firmware: /dev/zero: a character device, not a regular file"},
		{"ovmf symlink to /dev/zero", files{zero, "", ""}, "reading firmware: " + zero + ": a character device"},
		{"ovmf FIFO", files{fifo, "", ""}, "reading firmware: " + fifo + ": a named pipe (FIFO)"},
		{"ovmf directory", files{dir, "", ""}, "reading firmware: " + dir + ": a directory"},
		{"ovmf over the cap", files{bigFW, "", ""}, fmt.Sprintf("reading firmware: %s: %d bytes, larger than the limit of %d bytes", bigFW, MaxFirmwareSize+1, MaxFirmwareSize)},
		{"kernel /dev/zero", files{fw, "/dev/zero", ""}, "reading kernel: /dev/zero: a character device"},
		{"kernel FIFO", files{fw, fifo, ""}, "reading kernel: " + fifo + ": a named pipe (FIFO)"},
		{"kernel over the cap", files{fw, bigKernel, ""}, fmt.Sprintf("reading kernel: %s: %d bytes, larger than the limit of %d bytes", bigKernel, MaxKernelSize+1, MaxKernelSize)},
		{"initrd /dev/zero", files{fw, k, "/dev/zero"}, "reading initrd: /dev/zero: a character device"},
		{"initrd FIFO", files{fw, k, fifo}, "reading initrd: " + fifo + ": a named pipe (FIFO)"},
		{"initrd over the cap", files{fw, k, bigInitrd}, fmt.Sprintf("reading initrd: %s: %d bytes, larger than the limit of %d bytes", bigInitrd, int64(MaxInitrdSize)+1, int64(MaxInitrdSize))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := MeasureSNPFiles(SNPRequest{OVMF: tc.in.ovmf, Kernel: tc.in.kernel, Initrd: tc.in.initrd, VCPUs: 1, VCPUType: "EPYC"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("MeasureSNPFiles: %v, want %q", err, tc.want)
			}
			_, err = MeasureSNPFiles(SNPRequest{Mode: ModeSNPOVMFHash, OVMF: tc.in.ovmf})
			if tc.in.kernel == "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("MeasureSNPFiles %s: %v, want %q", ModeSNPOVMFHash, err, tc.want)
			}
			_, err = MeasureTDXFiles(TDXRequest{OVMF: tc.in.ovmf, Kernel: tc.in.kernel, Initrd: tc.in.initrd, Conventions: c})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("MeasureTDXFiles: %v, want %q", err, tc.want)
			}
		})
	}
}
