package attest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tdxdata "github.com/google/go-tdx-guest/testing/testdata"
	"github.com/kettle-build/kettle/attest/sim"
)

// TestEvidenceBadNewFields covers what evidence.json may carry beyond the
// SEV-SNP report and chain: device, collateral, TDX quotes, none.
func TestEvidenceBadNewFields(t *testing.T) {
	snp := newSimEvidence(t, AttesterOptions{}, [64]byte{1})
	tdx := &Evidence{Version: 1, Platform: PlatformTDX, Report: tdxdata.RawQuote}
	col := tdxCollateral(t)
	for _, tc := range []struct {
		name string
		ev   func() *Evidence
		want string
	}{
		{"unknown device", func() *Evidence { e := cloneEvidence(snp); e.Device = "/dev/tpm0"; return e }, `device: unknown device "/dev/tpm0"`},
		{"snp collateral entry unknown", func() *Evidence {
			e := cloneEvidence(snp)
			e.Collateral = map[string][]byte{CollateralTCBInfo: []byte("{}")}
			return e
		}, "collateral.tcbInfo: unknown entry (want crl)"},
		{"snp empty crl", func() *Evidence { e := cloneEvidence(snp); e.Collateral = map[string][]byte{"crl": {}}; return e }, "collateral.crl: empty"},
		{"tdx truncated quote", func() *Evidence { e := cloneEvidence(tdx); e.Report = e.Report[:1000]; return e }, "report: 1000 bytes, want a TD quote"},
		{"tdx oversized quote", func() *Evidence {
			e := cloneEvidence(tdx)
			e.Report = append(e.Report, make([]byte, MaxQuoteSize)...)
			return e
		}, "want a TD quote of 1020 to 65536 bytes"},
		{"tdx with certificates", func() *Evidence { e := cloneEvidence(tdx); e.Certificates = snp.Certificates; return e }, "certificates: not used by TDX evidence"},
		{"tdx collateral without issuer chain", func() *Evidence {
			e := cloneEvidence(tdx)
			e.Collateral = cloneMap(col)
			delete(e.Collateral, CollateralTCBInfoIssuerChain)
			return e
		}, "collateral.tcbInfoIssuerChain: missing"},
		{"tdx CRLs without root CRL", func() *Evidence {
			e := cloneEvidence(tdx)
			e.Collateral = cloneMap(col)
			delete(e.Collateral, CollateralRootCACRL)
			return e
		}, "collateral.rootCaCrl: missing"},
		{"tdx CRLs alone", func() *Evidence {
			e := cloneEvidence(tdx)
			e.Collateral = map[string][]byte{CollateralPCKCRL: col[CollateralPCKCRL], CollateralPCKCRLIssuerChain: col[CollateralPCKCRLIssuerChain], CollateralRootCACRL: col[CollateralRootCACRL]}
			return e
		}, "collateral.tcbInfo: missing"},
		{"tdx snp crl", func() *Evidence { e := cloneEvidence(tdx); e.Collateral = map[string][]byte{"crl": {1}}; return e }, "collateral.crl: unknown entry"},
		{"none with report", func() *Evidence { return &Evidence{Version: 1, Platform: PlatformNone, Report: []byte{1}} }, "report: unattested evidence"},
		{"none with device", func() *Evidence { return &Evidence{Version: 1, Platform: PlatformNone, Device: DeviceSimulated} }, "device: unattested evidence"},
		{"az-snp without its body", func() *Evidence { e := cloneEvidence(snp); e.Platform = PlatformAzSNP; return e }, "evidence: missing (az-snp evidence carries"},
		{"unknown platform", func() *Evidence { e := cloneEvidence(snp); e.Platform = "sgx"; return e }, `platform: unknown platform "sgx"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := tc.ev()
			if _, err := ev.Marshal(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Marshal = %v, want an error containing %q", err, tc.want)
			}
			_, err := Verify(context.Background(), ev, VerifyOptions{Now: tdxSampleNow, AllowSimulated: true})
			wantStepError(t, err, StepChain, tc.want)
		})
	}
	// Good evidence of the new kinds round-trips.
	for _, ev := range []*Evidence{
		{Version: 1, Platform: PlatformNone},
		{Version: 1, Platform: PlatformTDX, Device: DeviceConfigfsTSM, Report: tdxdata.RawQuote, Collateral: col},
	} {
		out, err := ev.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeEvidence(out)
		if err != nil {
			t.Fatalf("DecodeEvidence(%s): %v", out[:60], err)
		}
		if again, _ := back.Marshal(); string(again) != string(out) {
			t.Errorf("%s evidence does not round-trip", ev.Platform)
		}
	}
	if _, err := Verify(context.Background(), &Evidence{Version: 1, Platform: PlatformNone}, VerifyOptions{}); err == nil || !strings.Contains(err.Error(), "UNATTESTED") {
		t.Errorf("Verify(none) = %v", err)
	}
}

// simCRL returns a CRL signed by the TEST-ONLY ARK revoking serials.
func simCRL(t *testing.T, next time.Time, serials ...*big.Int) []byte {
	t.Helper()
	keyPEM, err := os.ReadFile(filepath.Join("sim", "testroot", "ark.key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(keyPEM)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	root, err := sim.TrustedRoot()
	if err != nil {
		t.Fatal(err)
	}
	var entries []x509.RevocationListEntry
	for _, s := range serials {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: testNow.Add(-time.Hour)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: testNow.Add(-24 * time.Hour), NextUpdate: next,
		RevokedCertificateEntries: entries, SignatureAlgorithm: x509.SHA384WithRSAPSS,
	}, root.ARK, key.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestSNPRevocation checks AMD's CRL when one is supplied: revoking the
// VCEK or the ASK fails the TCB step naming the certificate; a CRL not
// signed by the ARK, expired, or not a CRL fails naming collateral.crl; a
// good CRL passes and revocation leaves the list of checks not made.
func TestSNPRevocation(t *testing.T) {
	ev := newSimEvidence(t, AttesterOptions{}, [64]byte{1})
	vcek, _ := x509.ParseCertificate(ev.Certificates[CertVCEK])
	ask, _ := x509.ParseCertificate(ev.Certificates[CertASK])
	later := testNow.Add(30 * 24 * time.Hour)

	claims, err := Verify(context.Background(), ev, simOptions())
	if err != nil || len(claims.NotChecked) != 1 || !strings.Contains(claims.NotChecked[0], "revocation") {
		t.Fatalf("without a CRL: %v, not checked %q", err, claims.NotChecked)
	}
	opts := simOptions()
	opts.Collateral = map[string][]byte{CollateralSNPCRL: simCRL(t, later, big.NewInt(99))}
	claims, err = Verify(context.Background(), ev, opts)
	if err != nil || len(claims.NotChecked) != 0 {
		t.Fatalf("with a CRL revoking something else: %v, not checked %q", err, claims.NotChecked)
	}
	// The CRL can travel in the evidence too.
	withCRL := cloneEvidence(ev)
	withCRL.Collateral = map[string][]byte{CollateralSNPCRL: simCRL(t, later, vcek.SerialNumber)}
	_, err = Verify(context.Background(), withCRL, simOptions())
	wantStepError(t, err, StepTCB, "certificates.vcek: revoked")

	for _, tc := range []struct {
		name string
		crl  []byte
		want string
	}{
		{"ASK revoked", simCRL(t, later, ask.SerialNumber), "certificates.ask: revoked"},
		{"expired", simCRL(t, testNow.Add(-time.Hour)), "collateral.crl: expired"},
		{"not a CRL", []byte("garbage"), "collateral.crl: not a DER certificate revocation list"},
		{"signed by AMD instead", amdSignedCRL(t), "collateral.crl: not signed by the ARK"},
	} {
		opts := simOptions()
		opts.Collateral = map[string][]byte{CollateralSNPCRL: tc.crl}
		_, err := Verify(context.Background(), ev, opts)
		wantStepError(t, err, StepTCB, tc.want)
	}
}

// amdSignedCRL returns a CRL signed by another CA than the test ARK.
func amdSignedCRL(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ARK-Milan"},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: testNow.Add(-time.Hour), NextUpdate: testNow.Add(time.Hour)}, ca, key)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

func TestReadCollateralDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ReadCollateralDir(dir); err == nil || !strings.Contains(err.Error(), "no collateral files") {
		t.Errorf("empty dir: %v", err)
	}
	write("tcb_info.json", []byte("{}"))
	write("crl.der", []byte{1})
	col, err := ReadCollateralDir(dir)
	if err != nil || len(col) != 2 || string(col[CollateralTCBInfo]) != "{}" {
		t.Fatalf("ReadCollateralDir = %v, %v", col, err)
	}
	write("empty.der", nil)
	if _, err := ReadCollateralDir(dir); err == nil || !strings.Contains(err.Error(), "empty.der: not a collateral file") {
		t.Errorf("unknown file: %v", err)
	}
	os.Remove(filepath.Join(dir, "empty.der"))
	write("pck_crl.der", nil)
	if _, err := ReadCollateralDir(dir); err == nil || !strings.Contains(err.Error(), "pck_crl.der: 0 bytes") {
		t.Errorf("empty file: %v", err)
	}
	if _, err := ReadCollateralDir(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing dir accepted")
	}
}

// TestParseQuoteBadSizes: quotes whose nested sizes lie are refused with an
// error naming the size, never a panic (go-tdx-guest v0.3.1's parser panics
// on some of them).
func TestParseQuoteBadSizes(t *testing.T) {
	good := append([]byte(nil), tdxdata.RawQuote...)
	if _, err := parseQuote(good); err != nil {
		t.Fatal(err)
	}
	put16 := func(b []byte, at, v int) { b[at], b[at+1] = byte(v), byte(v>>8) }
	put32 := func(b []byte, at, v int) { put16(b, at, v); put16(b, at+2, v>>16) }
	sds := int(good[0x278]) | int(good[0x279])<<8
	for _, tc := range []struct {
		name string
		edit func(b []byte) []byte
		want string
	}{
		{"short", func(b []byte) []byte { return b[:0x200] }, "shorter than a header"},
		{"version 5", func(b []byte) []byte { put16(b, 0, 5); return b }, "header VERSION is 5"},
		{"signed data size too big", func(b []byte) []byte { put32(b, 0x278, 1<<30); return b }, "signed data size 0x40000000 overruns"},
		{"signed data size too small", func(b []byte) []byte { put32(b, 0x278, 10); return b }, "leaves no room"},
		{"certification data size", func(b []byte) []byte { put32(b, 0x27c+130, sds); return b }, "certification data size"},
		{"QE auth data size", func(b []byte) []byte { put16(b, 0x27c+134+448, 0xffff); return b }, "QE auth data size 65535 overruns"},
		{"certification data short", func(b []byte) []byte {
			put32(b, 0x278, 134+100)
			put32(b, 0x27c+130, 100)
			return b[:0x27c+134+100]
		}, "shorter than a QE report"},
	} {
		b := tc.edit(append([]byte(nil), good...))
		if _, err := parseQuote(b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: parseQuote = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
