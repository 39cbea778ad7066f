package attest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-sev-guest/kds"
	"github.com/google/go-sev-guest/verify/testdata"
	"github.com/google/go-sev-guest/verify/trust"
)

// milanChain returns AMD's Milan ASK and ARK, DER.
func milanChain(t testing.TB) (ask, ark []byte) {
	t.Helper()
	ask, ark, err := kds.ParseProductCertChain(trust.AskArkMilanVcekBytes)
	if err != nil {
		t.Fatal(err)
	}
	return ask, ark
}

// goSevGuestEvidence wraps the real attestation report that go-sev-guest
// ships in verify/testdata (a Milan-B0 guest launched without an ID block),
// with its real VCEK and AMD's Milan ASK and ARK.
func goSevGuestEvidence(t testing.TB) *Evidence {
	ask, ark := milanChain(t)
	return &Evidence{Version: 1, Platform: PlatformSEVSNP, Report: testdata.AttestationBytes,
		Certificates: map[string][]byte{CertVCEK: testdata.VcekBytes, CertASK: ask, CertARK: ark}}
}

// vcekValid is inside the validity of go-sev-guest's sample VCEK
// (2022-09-24 to 2029-09-24).
var vcekValid = time.Date(2023, time.June, 1, 0, 0, 0, 0, time.UTC)

// TestRealHardwareReport verifies a report signed by a real AMD secure
// processor to AMD's real ARK. The guest ran with the DEBUG policy bit set,
// so the chain holds and the baseline policy refuses it; the claims decode to
// the values the report is known to hold (go-sev-guest's own test fetches
// this VCEK from AMD's KDS by this chip ID and TCB).
func TestRealHardwareReport(t *testing.T) {
	ev := goSevGuestEvidence(t)
	data, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if ev, err = DecodeEvidence(data); err != nil {
		t.Fatal(err)
	}
	claims, err := Verify(context.Background(), ev, VerifyOptions{Now: vcekValid})
	wantStepError(t, err, StepTCB, "POLICY.DEBUG is set")
	if claims == nil {
		t.Fatal("no claims with the TCB error")
	}
	wantRD := make([]byte, 64)
	copy(wantRD, []byte{1, 2, 3, 4, 5})
	checks := []struct {
		field     string
		got, want any
	}{
		{"platform", claims.Platform, PlatformSEVSNP},
		{"simulated", claims.Simulated, false},
		{"product", claims.Product, "Milan-B0"},
		{"measurement", hex.EncodeToString(claims.Measurement), "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01"},
		{"report data", hex.EncodeToString(claims.ReportData[:]), hex.EncodeToString(wantRD)},
		{"host data", hex.EncodeToString(claims.HostData), hex.EncodeToString(make([]byte, 32))},
		{"chip ID", hex.EncodeToString(claims.ChipID), "3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d"},
		{"TCB", claims.TCB, "bl=2 tee=0 snp=5 ucode=68 (0x4405000000000002)"},
		{"debug", claims.Debug, true},
		{"VMPL", claims.VMPL, 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
}

// TestRealHardwareRefused: the real report, changed or out of its
// certificates' validity, or presented as simulated, fails at the chain step.
func TestRealHardwareRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(e *Evidence)
		opts   VerifyOptions
		substr string
	}{
		{"measurement changed", func(e *Evidence) { e.Report[0x90] ^= 1 }, VerifyOptions{Now: vcekValid}, "report: signature (SIGNATURE) does not verify"},
		{"report data changed", func(e *Evidence) { e.Report[0x50] ^= 1 }, VerifyOptions{Now: vcekValid}, "report: signature (SIGNATURE) does not verify"},
		{"signature changed", func(e *Evidence) { e.Report[0x2a0] ^= 1 }, VerifyOptions{Now: vcekValid}, "report: signature (SIGNATURE) does not verify"},
		{"VCEK changed", func(e *Evidence) { e.Certificates[CertVCEK][len(e.Certificates[CertVCEK])-1] ^= 1 }, VerifyOptions{Now: vcekValid}, "certificates.vcek: not certified by certificates.ask"},
		{"VCEK expired", func(e *Evidence) {}, VerifyOptions{Now: time.Date(2029, 10, 1, 0, 0, 0, 0, time.UTC)}, "certificates.vcek: x509: certificate has expired"},
		{"Genoa root", func(e *Evidence) {
			ask, ark, err := kds.ParseProductCertChain(trust.AskArkGenoaVcekBytes)
			if err != nil {
				t.Fatal(err)
			}
			e.Certificates[CertASK], e.Certificates[CertARK] = ask, ark
		}, VerifyOptions{Now: vcekValid}, "certificates.ark: not the AMD ARK for Milan"},
		{"presented as simulated", func(e *Evidence) { e.Platform = PlatformSimSNP }, VerifyOptions{Now: vcekValid, AllowSimulated: true}, "certificates.ark: not the Kettle TEST-ONLY ARK for Milan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := cloneEvidence(goSevGuestEvidence(t))
			tc.edit(ev)
			claims, err := Verify(context.Background(), ev, tc.opts)
			if claims != nil {
				t.Errorf("claims %+v", claims)
			}
			wantStepError(t, err, StepChain, tc.substr)
		})
	}
	ev := cloneEvidence(goSevGuestEvidence(t))
	ev.Platform = PlatformSimSNP
	if _, err := Verify(context.Background(), ev, VerifyOptions{Now: vcekValid}); !errors.Is(err, ErrSimulatedNotTrusted) {
		t.Errorf("real evidence labelled sim-snp without AllowSimulated: %v", err)
	}
}

// TestRealAzureReport verifies the SEV-SNP report inside the HCL report of
// an Azure confidential VM (../shared/fixtures/azure-snp-ripgrep, produced by
// another attested-build tool), with the VCEK it carries, as sev-snp
// evidence: the chain reaches AMD's Milan ARK and the baseline policy holds.
// (The vTPM half of that evidence is the az-snp platform's business.)
func TestRealAzureReport(t *testing.T) {
	ev, runtimeData := azureSNPEvidence(t)
	hcl := append(make([]byte, 0x20), ev.Report...)
	const snpOffset = 0x20
	// The VCEK is valid from 2025-01-28 to 2032-01-28.
	claims, err := Verify(context.Background(), ev, VerifyOptions{Now: azureNow})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	sum := sha256.Sum256(runtimeData)
	if !bytes.Equal(claims.ReportData[:32], sum[:]) {
		t.Errorf("REPORT_DATA %x does not start with SHA-256 of the HCL runtime data %x", claims.ReportData, sum)
	}
	if !bytes.Equal(claims.Measurement, hcl[snpOffset+0x90:snpOffset+0xc0]) || !bytes.Equal(claims.ChipID, hcl[snpOffset+0x1a0:snpOffset+0x1e0]) {
		t.Error("claims do not carry the report's MEASUREMENT and CHIP_ID")
	}
	if claims.Simulated || claims.Debug || claims.Product != "Milan-B1" {
		t.Errorf("claims %+v", claims)
	}
	t.Logf("Azure guest: product %s, TCB %s, VMPL %d, measurement %x", claims.Product, claims.TCB, claims.VMPL, claims.Measurement)
}

// azureNow is inside the validity of the Azure sample's VCEK (2025-01-28 to
// 2032-01-28).
var azureNow = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// azureSNPEvidence returns the SEV-SNP report inside the HCL report of the
// Azure sample as sev-snp evidence, with its VCEK and AMD's Milan ASK and
// ARK, and the HCL runtime data its REPORT_DATA commits to. It skips the
// test when ../shared/fixtures is absent.
func azureSNPEvidence(t testing.TB) (*Evidence, []byte) {
	t.Helper()
	path := filepath.Join("..", "..", "shared", "fixtures", "azure-snp-ripgrep", "evidence.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s is not present: skipping the Azure SEV-SNP sample", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	var fixture struct {
		Evidence struct {
			HCLReport string `json:"hcl_report"`
			VCEK      string `json:"vcek"`
		} `json:"evidence"`
	}
	if err := json.Unmarshal(data, &fixture); err != nil {
		t.Fatal(err)
	}
	hcl, err := base64.RawURLEncoding.DecodeString(fixture.Evidence.HCLReport)
	if err != nil {
		t.Fatal(err)
	}
	vcek, err := base64.RawURLEncoding.DecodeString(fixture.Evidence.VCEK)
	if err != nil {
		t.Fatal(err)
	}
	// HCL report: a 32-byte header ("HCLA"…), the 1184-byte SNP report, then
	// the IGVM request data: five uint32 (data size, version, report type,
	// hash type, variable data size) and the runtime data, whose SHA-256 the
	// SNP report's REPORT_DATA starts with.
	const snpOffset, rtOffset = 0x20, 0x20 + 1184
	if len(hcl) < rtOffset+20 || string(hcl[:4]) != "HCLA" {
		t.Fatalf("HCL report of %d bytes does not have the expected layout", len(hcl))
	}
	rtSize := int(binary.LittleEndian.Uint32(hcl[rtOffset+16:]))
	if len(hcl) < rtOffset+20+rtSize {
		t.Fatalf("runtime data of %d bytes overruns the HCL report", rtSize)
	}
	runtimeData := hcl[rtOffset+20 : rtOffset+20+rtSize]
	ask, ark := milanChain(t)
	ev := &Evidence{Version: 1, Platform: PlatformSEVSNP, Report: hcl[snpOffset:rtOffset],
		Certificates: map[string][]byte{CertVCEK: vcek, CertASK: ask, CertARK: ark}}
	return ev, runtimeData
}
