package sim

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/google/go-sev-guest/abi"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/go-sev-guest/validate"
	"github.com/google/go-sev-guest/verify"
	"github.com/google/go-sev-guest/verify/trust"
)

// TestSignedReportVerifies checks the whole point of the package: a signed
// report verifies with go-sev-guest, to the TEST-ONLY root and to no other.
func TestSignedReportVerifies(t *testing.T) {
	s, err := NewSNPSigner()
	if err != nil {
		t.Fatal(err)
	}
	var f ReportFields
	copy(f.ReportData[:], "report data")
	copy(f.Measurement[:], "measurement")
	copy(f.HostData[:], "host data")
	raw, err := s.Sign(NewSNPReport(f))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != abi.ReportSize {
		t.Fatalf("report is %d bytes, want %d", len(raw), abi.ReportSize)
	}
	report, err := abi.ReportToProto(raw)
	if err != nil {
		t.Fatal(err)
	}
	chain := s.Chain()
	att := &spb.Attestation{Report: report, CertificateChain: &spb.CertificateChain{
		VcekCert: chain.VCEK, AskCert: chain.ASK, ArkCert: chain.ARK,
	}}
	root, err := TrustedRoot()
	if err != nil {
		t.Fatal(err)
	}
	roots := map[string][]*trust.AMDRootCerts{ProductLine: {{
		ProductLine:  ProductLine,
		ProductCerts: &trust.ProductCerts{Ark: root.ARK, Ask: root.ASK},
	}}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := verify.SnpAttestation(att, &verify.Options{TrustedRoots: roots, Now: now, DisableCertFetching: true}); err != nil {
		t.Fatalf("verify to the test root: %v", err)
	}
	if err := validate.SnpAttestation(att, &validate.Options{GuestPolicy: abi.SnpPolicy{SMT: true}}); err != nil {
		t.Fatalf("validate: %v", err)
	}
	// AMD's own roots must refuse it.
	err = verify.SnpAttestation(att, &verify.Options{Now: now, DisableCertFetching: true})
	if err == nil {
		t.Fatal("verified against AMD's roots")
	}
}

func TestSignRejects(t *testing.T) {
	s, err := NewSNPSigner()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sign(nil); err == nil {
		t.Error("Sign(nil) succeeded")
	}
	r := NewSNPReport(ReportFields{})
	r.SignatureAlgo = 0
	if _, err := s.Sign(r); err == nil || !strings.Contains(err.Error(), "SIGNATURE_ALGO") {
		t.Errorf("Sign with algo 0: %v", err)
	}
	r = NewSNPReport(ReportFields{})
	r.Measurement = r.Measurement[:47]
	if _, err := s.Sign(r); err == nil {
		t.Error("Sign with a short measurement succeeded")
	}
}

// TestRootIsTestOnly guards the labels that tell a human what this chain is.
func TestRootIsTestOnly(t *testing.T) {
	root, err := TrustedRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*x509.Certificate{root.ARK, root.ASK} {
		if !strings.Contains(c.Subject.SerialNumber, "TEST ONLY") {
			t.Errorf("%s: subject %q does not say TEST ONLY", c.Subject.CommonName, c.Subject)
		}
	}
	if err := root.ASK.CheckSignatureFrom(root.ARK); err != nil {
		t.Errorf("ASK not signed by ARK: %v", err)
	}
	sum := sha256.Sum256(root.ARK.Raw)
	t.Logf("test ARK SHA-256 %s", hex.EncodeToString(sum[:]))
}
