package attest

import (
	"crypto/sha256"
	"strings"
	"testing"
)

func TestParsePlatform(t *testing.T) {
	for _, p := range Platforms() {
		got, err := ParsePlatform(string(p))
		if err != nil || got != p {
			t.Errorf("ParsePlatform(%q) = %q, %v", p, got, err)
		}
	}
	if got, err := ParsePlatform("snp"); err != nil || got != PlatformSEVSNP {
		t.Errorf(`ParsePlatform("snp") = %q, %v; want sev-snp`, got, err)
	}
	for _, bad := range []string{"", "SEV-SNP", "sev_snp", "sgx", "auto", " tdx", "sim"} {
		if _, err := ParsePlatform(bad); err == nil || !strings.Contains(err.Error(), "want one of sev-snp, tdx") {
			t.Errorf("ParsePlatform(%q) error = %v, want a list of the platforms", bad, err)
		}
	}
}

func TestSimulated(t *testing.T) {
	want := map[Platform]bool{PlatformSimSNP: true, PlatformSimTDX: true}
	for _, p := range Platforms() {
		if p.Simulated() != want[p] {
			t.Errorf("%s.Simulated() = %t", p, p.Simulated())
		}
	}
}

func TestReportData(t *testing.T) {
	var digest, nonce [32]byte
	for i := range digest {
		digest[i], nonce[i] = byte(i), byte(0x80+i)
	}
	rd := ReportData(digest, nonce)
	for i := 0; i < 32; i++ {
		if rd[i] != byte(i) || rd[32+i] != byte(0x80+i) {
			t.Fatalf("ReportData = %x, want digest then nonce", rd)
		}
	}
	d, n := SplitReportData(rd)
	if d != digest || n != nonce {
		t.Errorf("SplitReportData(ReportData(d, n)) = %x, %x", d, n)
	}
}

func TestSessionReportData(t *testing.T) {
	spki := []byte("a DER SubjectPublicKeyInfo")
	nonce := [32]byte{0xee}
	want := sha256.Sum256(append([]byte("kettle-session-v1\x00"), spki...))
	rd := SessionReportData(spki, nonce)
	if d, n := SplitReportData(rd); d != want || n != nonce {
		t.Errorf("SessionReportData = %x, want %x then the nonce", rd, want)
	}
}
