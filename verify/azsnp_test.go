package verify

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/attest/azsnp"
	"github.com/kettle-build/kettle/attest/sim"
)

// fakeAzSNP makes az-snp evidence as an Azure vTPM would, around a
// TEST-ONLY SEV-SNP report: the report commits to runtime claims naming
// key, and key signs a quote of 24 zero PCRs over the report data.
type fakeAzSNP struct {
	t   *testing.T
	key *rsa.PrivateKey
}

func (f *fakeAzSNP) Platform() attest.Platform { return attest.PlatformAzSNP }
func (f *fakeAzSNP) Measurement() []byte       { return attest.DefaultSimMeasurement() }

func (f *fakeAzSNP) Attest(_ context.Context, rd [64]byte) (*attest.Evidence, error) {
	claims, err := json.Marshal(map[string]any{"keys": []azsnp.JWK{azsnp.NewJWK(azsnp.AKKeyID, &f.key.PublicKey)}})
	if err != nil {
		return nil, err
	}
	s, err := sim.NewSNPSigner()
	if err != nil {
		return nil, err
	}
	var fields sim.ReportFields
	sum := sha256.Sum256(claims)
	copy(fields.ReportData[:], sum[:])
	copy(fields.Measurement[:], f.Measurement())
	report, err := s.Sign(sim.NewSNPReport(fields))
	if err != nil {
		return nil, err
	}
	hcl, err := azsnp.NewHCLReport(report, claims, 0)
	if err != nil {
		return nil, err
	}
	pcrs := make([][]byte, azsnp.NumPCRs)
	for i := range pcrs {
		pcrs[i] = make([]byte, 32)
	}
	digest, err := azsnp.PCRDigest(pcrs)
	if err != nil {
		return nil, err
	}
	q := tpm2.TPMSQuoteInfo{PCRSelect: azsnp.AllPCRs(), PCRDigest: tpm2.TPM2BDigest{Buffer: digest}}
	msg := tpm2.Marshal(tpm2.TPMSAttest{Magic: tpm2.TPMGeneratedValue, Type: tpm2.TPMSTAttestQuote,
		ExtraData: tpm2.TPM2BData{Buffer: rd[:]}, Attested: tpm2.NewTPMUAttest(tpm2.TPMSTAttestQuote, &q)})
	h := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA256, h[:])
	if err != nil {
		return nil, err
	}
	return &attest.Evidence{Version: 1, Platform: attest.PlatformAzSNP, Device: attest.DeviceSimulated, AzSNP: &azsnp.Evidence{
		Version: 1, HCLReport: hcl, VCEK: s.Chain().VCEK, Quote: azsnp.Quote{Signature: sig, Message: msg, PCRs: pcrs}}}, nil
}

// TestVerifyKettleAzSNP: Kettle's own az-snp bundle binds SHA-256 of
// provenance.json's bytes ‖ nonce in the quote's qualifying data, and is no
// foreign bundle.
func TestVerifyKettleAzSNP(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	nonce := sha256.Sum256([]byte("az-snp nonce"))
	bundle := writeTestBundleWith(t, nonce, &fakeAzSNP{t, key})
	rep := Verify(context.Background(), Options{Bundle: bundle, Nonce: nonce[:], AllowSimulated: true})
	if !rep.OK || !rep.Simulated || rep.Foreign != "" || rep.Platform != attest.PlatformAzSNP {
		t.Fatalf("az-snp bundle: %+v", rep)
	}
	for _, s := range rep.Steps {
		if s.Step == StepBinding && !strings.Contains(s.Detail, "vTPM quote qualifying data = SHA-256(provenance.json)") {
			t.Errorf("binding detail %q", s.Detail)
		}
	}
	other := sha256.Sum256([]byte("another nonce"))
	rep = Verify(context.Background(), Options{Bundle: bundle, Nonce: other[:], AllowSimulated: true})
	if rep.OK || rep.Failed != StepBinding {
		t.Fatalf("wrong nonce: %+v", rep)
	}
	rep = Verify(context.Background(), Options{Bundle: bundle})
	if rep.OK || rep.Failed != StepChain {
		t.Fatalf("simulated az-snp without --allow-simulated: %+v", rep)
	}
}
