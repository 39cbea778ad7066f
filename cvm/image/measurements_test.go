package image

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testOVMF = "/usr/share/ovmf/OVMF.fd"

func testMeasurements(t *testing.T) *Measurements {
	t.Helper()
	if _, err := os.Stat(testOVMF); err != nil {
		t.Skipf("no %s (apt-get install ovmf)", testOVMF)
	}
	dir := t.TempDir()
	kernel, initrd := filepath.Join(dir, "bzImage"), filepath.Join(dir, "initrd")
	os.WriteFile(kernel, []byte("not a kernel"), 0o644)
	os.WriteFile(initrd, []byte("initrd"), 0o644)
	m, err := Compute(Files{Firmware: testOVMF, Kernel: kernel, Initrd: initrd, Cmdline: "console=ttyS0"}, Shapes{VCPUs: []int{1, 2}, VCPUTypes: []string{"EPYC-Milan", "EPYC-Genoa"}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestComputeDebianOVMF: Debian's OVMF has no SEV kernel-hashes table, so
// the SEV-SNP digests cover the firmware only, and measurement.json says so.
func TestComputeDebianOVMF(t *testing.T) {
	m := testMeasurements(t)
	if len(m.SNP) != 4 || m.SNPCovers != CoversFirmwareOnly {
		t.Fatalf("snp %d entries, covers %q", len(m.SNP), m.SNPCovers)
	}
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeMeasurements(data)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := back.LookupSNP("EPYC-Genoa", 2)
	if !ok {
		t.Fatal("no digest for 2 × EPYC-Genoa")
	}
	shape, err := back.Match(d)
	if err != nil || !strings.Contains(shape, "2 × EPYC-Genoa") || !strings.Contains(shape, "firmware only") {
		t.Errorf("match: %q %v", shape, err)
	}
	if _, ok := back.LookupSNP("EPYC-Turin", 2); ok {
		t.Error("a shape that was not measured has a digest")
	}
	if _, err := back.Match(make([]byte, 48)); err == nil {
		t.Error("a measurement of no shape matched")
	}
}

func TestDecodeMeasurementsBad(t *testing.T) {
	h := strings.Repeat("ab", 48)
	entry := `{"vcpus":1,"vcpuType":"EPYC-Milan","measurement":"` + h + `"}`
	doc := func(snp string) string {
		return `{"version":1,"inputs":{"firmware":"","kernel":"","initrd":"","cmdline":""},"snp":[` + snp + `],"snpCovers":"x","tdxNote":""}`
	}
	if _, err := DecodeMeasurements([]byte(doc(entry))); err != nil {
		t.Fatalf("good document: %v", err)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"not JSON", `nope`, FileMeasurements},
		{"version 2", strings.Replace(doc(entry), `"version":1`, `"version":2`, 1), "version 2"},
		{"unknown key", strings.Replace(doc(entry), `"snpCovers"`, `"extra":1,"snpCovers"`, 1), "extra"},
		{"no measurement", doc(""), "no measurement"},
		{"short digest", doc(`{"vcpus":1,"vcpuType":"EPYC-Milan","measurement":"abcd"}`), "snp[0].measurement"},
		{"upper-case digest", doc(`{"vcpus":1,"vcpuType":"EPYC-Milan","measurement":"` + strings.ToUpper(h) + `"}`), "snp[0].measurement"},
		{"zero vcpus", doc(`{"vcpus":0,"vcpuType":"EPYC-Milan","measurement":"` + h + `"}`), "snp[0].vcpus"},
		{"unknown type", doc(`{"vcpus":1,"vcpuType":"Pentium","measurement":"` + h + `"}`), "snp[0].vcpuType"},
		{"twice", doc(entry + "," + entry), "listed twice"},
		{"bad mrtd", strings.Replace(doc(entry), `"tdxNote"`, `"tdx":{"mrtd":"00","conventions":""},"tdxNote"`, 1), "tdx.mrtd"},
	} {
		if _, err := DecodeMeasurements([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func FuzzDecodeMeasurements(f *testing.F) {
	h := strings.Repeat("ab", 48)
	f.Add([]byte(`{"version":1,"inputs":{"firmware":"","kernel":"","initrd":"","cmdline":""},"snp":[{"vcpus":1,"vcpuType":"EPYC-Milan","measurement":"` + h + `"}],"snpCovers":"x","tdxNote":""}`))
	f.Add([]byte(`{"version":1,"snp":[],"tdx":{"mrtd":"` + h + `","conventions":"c"},"snpCovers":"","tdxNote":"n"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMeasurements(data)
		if err != nil {
			return
		}
		for _, s := range m.SNP {
			d, _ := hex.DecodeString(s.Measurement)
			if _, err := m.Match(d); err != nil {
				t.Fatalf("an entry does not match itself: %v", err)
			}
		}
	})
}
