package azsnp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/kettle-build/kettle/attest/azsnp"
)

// TestFixtureVerifies verifies the real Azure bundle end to end: HCL report,
// SEV-SNP report to AMD's Milan root, runtime claims, AK, quote signature,
// PCR digest, and the binding to its provenance by compact re-serialisation.
func TestFixtureVerifies(t *testing.T) {
	ev := fixtureEvidence(t)
	prov := readFixture(t, "provenance.json")
	claims, err := azsnp.Verify(context.Background(), ev, fixtureOptions())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if claims.Simulated {
		t.Error("real Azure evidence reported as simulated")
	}
	if got := hex.EncodeToString(claims.ExtraData); got != fixtureCompactSHA256 {
		t.Errorf("extraData %s, want %s", got, fixtureCompactSHA256)
	}
	if err := azsnp.CheckBinding(claims, azsnp.BindingCompactJSON, prov, [32]byte{}); err != nil {
		t.Errorf("compact binding: %v", err)
	}
	// The file's own bytes are not what the foreign tool bound.
	err = azsnp.CheckBinding(claims, azsnp.BindingKettle, prov, [32]byte{})
	wantStep(t, err, azsnp.StepBinding, "SHA-256(provenance.json) ‖ nonce")
	if claims.AK.N.BitLen() != 2048 || claims.AK.E != 65537 {
		t.Errorf("AK: %d-bit modulus, exponent %d", claims.AK.N.BitLen(), claims.AK.E)
	}
	if c := claims.RuntimeClaims.VMConfiguration; c == nil || !c.SecureBoot || !c.TPMEnabled || c.VMUniqueID != "5A7A08AC-DB45-4145-881F-9B0CADDF00C4" {
		t.Errorf("vm-configuration %+v", c)
	}
	if len(claims.PCRs) != 24 || len(claims.Quote.PCRs) != 24 {
		t.Errorf("%d PCRs, %d quoted", len(claims.PCRs), len(claims.Quote.PCRs))
	}
	t.Logf("Azure vTPM quote: clock %d ms, reset %d, restart %d, firmware 0x%x; PCR digest %x",
		claims.Quote.Clock, claims.Quote.ResetCount, claims.Quote.RestartCount, claims.Quote.FirmwareVersion, claims.Quote.PCRDigest)
}

// TestFixtureCompactJSON: the compact re-serialisation of the fixture's
// provenance hashes to the extraData the README gives, the file to the
// other digest; CompactJSON is idempotent on it.
func TestFixtureCompactJSON(t *testing.T) {
	prov := readFixture(t, "provenance.json")
	if sum := sha256.Sum256(prov); hex.EncodeToString(sum[:]) != fixtureFileSHA256 {
		t.Fatalf("provenance.json SHA-256 %x, want %s", sum, fixtureFileSHA256)
	}
	compact, err := azsnp.CompactJSON(prov)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(compact); hex.EncodeToString(sum[:]) != fixtureCompactSHA256 {
		t.Errorf("compact SHA-256 %x, want %s", sum, fixtureCompactSHA256)
	}
	again, err := azsnp.CompactJSON(compact)
	if err != nil || !bytes.Equal(again, compact) {
		t.Errorf("CompactJSON is not idempotent on the fixture: %v", err)
	}
	b, err := azsnp.ForeignBinding(prov)
	if err != nil || hex.EncodeToString(b) != fixtureCompactSHA256 {
		t.Errorf("ForeignBinding = %x, %v", b, err)
	}
}

// TestFixtureRoundTrip: Kettle's encoding of the fixture's evidence decodes
// to the same evidence, which still verifies.
func TestFixtureRoundTrip(t *testing.T) {
	ev := fixtureEvidence(t)
	data, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := azsnp.DecodeEvidence(data)
	if err != nil {
		t.Fatalf("DecodeEvidence(Marshal): %v", err)
	}
	again, err := back.Marshal()
	if err != nil || !bytes.Equal(again, data) {
		t.Fatalf("Marshal is not stable: %v", err)
	}
	if _, err := azsnp.Verify(context.Background(), back, fixtureOptions()); err != nil {
		t.Fatalf("Verify after the round trip: %v", err)
	}
}
