package attest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/kettle-build/kettle/attest/azsnp"
	"github.com/kettle-build/kettle/attest/sim"
)

// azureFixture reads the Azure bundle's evidence.json, skipping the test
// when ../shared/fixtures is absent.
func azureFixture(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join("..", "..", "shared", "fixtures", "azure-snp-ripgrep", "evidence.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s is not present: skipping the Azure az-snp sample", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestAzSNPFixture reads the foreign tool's az-snp evidence as it is and
// verifies it: the SEV-SNP report to AMD's Milan root, then the vTPM half.
func TestAzSNPFixture(t *testing.T) {
	ev, err := DecodeEvidence(azureFixture(t))
	if err != nil {
		t.Fatalf("DecodeEvidence: %v", err)
	}
	if ev.Platform != PlatformAzSNP || !ev.Foreign || ev.AzSNP == nil {
		t.Fatalf("decoded %s, foreign %v", ev.Platform, ev.Foreign)
	}
	claims, err := Verify(context.Background(), ev, VerifyOptions{Now: azureNow})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if claims.Platform != PlatformAzSNP || claims.Simulated || !strings.HasPrefix(claims.Product, "Milan-B1") || len(claims.PCRs) != 24 {
		t.Errorf("claims %+v", claims)
	}
	if got := hex.EncodeToString(claims.QualifyingData); got != "0672eef25d413c0c0326447e3a0a0635d4b2052c0e3a6abd46e042a9b1aed296" {
		t.Errorf("qualifying data %s", got)
	}
	// Kettle's encoding of it reads back, no longer foreign.
	data, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeEvidence(data)
	if err != nil || back.Foreign || back.Platform != PlatformAzSNP {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := json.Marshal(claims); err != nil {
		t.Fatal(err)
	}
	// A changed PCR breaks the vTPM half: a chain-step error.
	back.AzSNP.Quote.PCRs[3][0] ^= 1
	_, err = Verify(context.Background(), back, VerifyOptions{Now: azureNow})
	wantStepError(t, err, StepChain, "PCR digest")
	// Simulated evidence is not trusted for a real chip's report.
	back.AzSNP.Quote.PCRs[3][0] ^= 1
	back.AzSNP.HCLReport[0x20+0x90] ^= 1
	_, err = Verify(context.Background(), back, VerifyOptions{Now: azureNow, AllowSimulated: true})
	wantStepError(t, err, StepChain, "SEV-SNP report in the HCL report")
}

// simAzSNP returns az-snp evidence around a TEST-ONLY SEV-SNP report, its
// quote signed by a fresh AK over extraData.
func simAzSNP(t *testing.T, extraData []byte) *Evidence {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	claims, _ := json.Marshal(map[string]any{"keys": []azsnp.JWK{azsnp.NewJWK(azsnp.AKKeyID, &key.PublicKey)}})
	s, err := sim.NewSNPSigner()
	if err != nil {
		t.Fatal(err)
	}
	var f sim.ReportFields
	sum := sha256.Sum256(claims)
	copy(f.ReportData[:], sum[:])
	copy(f.Measurement[:], DefaultSimMeasurement())
	report, err := s.Sign(sim.NewSNPReport(f))
	if err != nil {
		t.Fatal(err)
	}
	hcl, err := azsnp.NewHCLReport(report, claims, 0)
	if err != nil {
		t.Fatal(err)
	}
	pcrs := make([][]byte, 24)
	for i := range pcrs {
		pcrs[i] = make([]byte, 32)
	}
	digest, _ := azsnp.PCRDigest(pcrs)
	q := tpm2.TPMSQuoteInfo{PCRSelect: azsnp.AllPCRs(), PCRDigest: tpm2.TPM2BDigest{Buffer: digest}}
	msg := tpm2.Marshal(tpm2.TPMSAttest{Magic: tpm2.TPMGeneratedValue, Type: tpm2.TPMSTAttestQuote,
		ExtraData: tpm2.TPM2BData{Buffer: extraData}, Attested: tpm2.NewTPMUAttest(tpm2.TPMSTAttestQuote, &q)})
	h := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return &Evidence{Version: 1, Platform: PlatformAzSNP, Device: DeviceSimulated, AzSNP: &azsnp.Evidence{Version: 1,
		HCLReport: hcl, VCEK: s.Chain().VCEK, Quote: azsnp.Quote{Signature: sig, Message: msg, PCRs: pcrs}}}
}

// TestAzSNPSimulated: az-snp evidence around a TEST-ONLY report verifies
// only with AllowSimulated, and then says so; the SNP policy applies to it.
func TestAzSNPSimulated(t *testing.T) {
	rd := ReportData(sha256.Sum256([]byte("provenance")), [32]byte{1})
	ev := simAzSNP(t, rd[:])
	data, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if ev, err = DecodeEvidence(data); err != nil {
		t.Fatalf("DecodeEvidence(Marshal): %v", err)
	}
	claims, err := Verify(context.Background(), ev, simOptions())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !claims.Simulated || string(claims.QualifyingData) != string(rd[:]) {
		t.Errorf("claims: simulated %v, qualifying data %x", claims.Simulated, claims.QualifyingData)
	}
	_, err = Verify(context.Background(), ev, VerifyOptions{Now: testNow})
	wantStepError(t, err, StepChain, "SEV-SNP report in the HCL report")
	pol := &Policy{Version: 1, SNP: &SNPPolicy{Measurements: [][]byte{DefaultSimMeasurement()}}}
	if ok, _, err := pol.CheckMeasurement(claims); !ok || err != nil {
		t.Errorf("SNP policy on az-snp claims: %v, %v", ok, err)
	}
	if _, err := pol.CheckTCB(claims); err != nil {
		t.Errorf("CheckTCB: %v", err)
	}
}

func TestAzSNPEvidenceBad(t *testing.T) {
	good := simAzSNP(t, nil)
	for _, tc := range []struct {
		name string
		doc  string
		want string
	}{
		{"foreign shape with an extra field", `{"platform":"az-snp","device":"x","evidence":{}}`, "version: missing"},
		{"none with a body", `{"version":1,"platform":"none","evidence":{}}`, "evidence.version: missing"},
		{"az-snp without a body", `{"version":1,"platform":"az-snp"}`, "evidence: missing"},
		{"empty body", `{"platform":"az-snp","evidence":{}}`, "evidence.version: missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeEvidence([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	ev := *good
	ev.Report = make([]byte, 1184)
	if _, err := ev.Marshal(); err == nil || !strings.Contains(err.Error(), "not used by az-snp") {
		t.Errorf("az-snp with a report: %v", err)
	}
}

// TestAzSNPPolicy: the policy's azsnp.pcrs applies to az-snp claims, on top
// of its snp section; bad PCR entries are refused naming the key.
func TestAzSNPPolicy(t *testing.T) {
	ev := simAzSNP(t, nil)
	claims, err := Verify(context.Background(), ev, simOptions())
	if err != nil {
		t.Fatal(err)
	}
	zero := strings.Repeat("00", 32)
	pol, err := ParsePolicy([]byte("version: 1\nsnp: {vmpl: 0}\nazsnp:\n  pcrs:\n    \"0\": [\"" + zero + "\"]\n    \"23\": [\"" + strings.Repeat("11", 32) + "\", \"" + zero + "\"]\n"))
	if err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
	rep, err := pol.CheckTCB(claims)
	if err != nil {
		t.Fatalf("CheckTCB: %v", err)
	}
	if !strings.Contains(strings.Join(rep.Checked, "; "), "vTPM PCRs [0 23] hold allowed values") {
		t.Errorf("checked: %v", rep.Checked)
	}
	out, err := pol.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePolicy(out)
	if err != nil || len(back.AzSNP.PCRs) != 2 {
		t.Fatalf("round trip: %v\n%s", err, out)
	}
	pol.AzSNP.PCRs[5] = [][]byte{make([]byte, 31)}
	pol.AzSNP.PCRs[5][0] = append(pol.AzSNP.PCRs[5][0], 1)
	_, err = pol.CheckTCB(claims)
	var pe *PolicyError
	if !errors.As(err, &pe) || pe.Key != "azsnp.pcrs" || !strings.Contains(err.Error(), "PCR 5") {
		t.Errorf("PCR 5 not allowed: %v", err)
	}
	for doc, want := range map[string]string{
		"version: 1\nazsnp: {pcrs: {\"24\": []}}":            "azsnp.pcrs.24: unknown key",
		"version: 1\nazsnp: {pcrs: {\"1\": [\"00\"]}}":       "azsnp.pcrs.1",
		"version: 1\nazsnp: {pcrs: {\"1\": []}}":             "azsnp.pcrs.1: empty list",
		"version: 1\nazsnp: {pcr: {}}":                       "azsnp.pcr: unknown key",
		"version: 1\nazsnp: {pcrs: {1: [\"" + zero + "\"]}}": "want a string",
	} {
		if _, err := ParsePolicy([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePolicy(%q): %v, want %q", doc, err, want)
		}
	}
}
