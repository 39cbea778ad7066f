package azsnp_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/attest/azsnp"
)

// tamper is one change to the fixture's evidence and the step that must
// refuse it.
type tamper struct {
	name string
	edit func(ev *azsnp.Evidence)
	step azsnp.Step
}

// flipHCL changes one bit of the HCL report's byte at off.
func flipHCL(off int) func(ev *azsnp.Evidence) {
	return func(ev *azsnp.Evidence) { ev.HCLReport[off] ^= 1 }
}

// fixtureTampers lists the changes of the matrix: every header field, every
// fourth byte of the SEV-SNP report's signed part, every byte of its
// signature, every request-data field, every third byte of the runtime
// claims, the padding, the AK, the VCEK, each PCR, every byte of the quote
// message and of its signature.
func fixtureTampers(t *testing.T, ev *azsnp.Evidence) []tamper {
	hcl, err := azsnp.ParseHCLReport(ev.HCLReport)
	if err != nil {
		t.Fatal(err)
	}
	var ts []tamper
	for off, field := range map[int]string{0: "signature", 4: "version", 8: "report_size", 12: "request_type", 16: "status", 20: "reserved[0]", 24: "reserved[1]", 28: "reserved[2]"} {
		ts = append(ts, tamper{"HCL header " + field, flipHCL(off), azsnp.StepHCLReport})
	}
	// Every fourth byte the VCEK signs (0x000-0x29f), and every byte of
	// the signature's R and S.
	for off := 0; off < 0x2a0; off += 4 {
		ts = append(ts, tamper{fmt.Sprintf("SEV-SNP report byte 0x%03x", off), flipHCL(azsnp.SNPReportOffset + off), azsnp.StepSNPReport})
	}
	for _, base := range []int{0x2a0, 0x2e8} {
		for off := base; off < base+48; off++ {
			ts = append(ts, tamper{fmt.Sprintf("SEV-SNP signature byte 0x%03x", off), flipHCL(azsnp.SNPReportOffset + off), azsnp.StepSNPReport})
		}
	}
	for i, field := range []string{"data_size", "version", "report_type", "report_data_hash_type", "variable_data_size"} {
		ts = append(ts, tamper{"IGVM request data " + field, flipHCL(azsnp.RequestDataOffset + 4*i), azsnp.StepHCLReport})
	}
	for i := 0; i < len(hcl.RuntimeClaims); i += 3 {
		ts = append(ts, tamper{fmt.Sprintf("runtime claims byte %d", i), flipHCL(azsnp.RuntimeClaimsOffset + i), azsnp.StepRuntimeClaims})
	}
	ts = append(ts, tamper{"padding", flipHCL(len(ev.HCLReport) - 1), azsnp.StepHCLReport})
	ts = append(ts, tamper{"padding removed", func(ev *azsnp.Evidence) { ev.HCLReport = ev.HCLReport[:hcl.ReportSize] }, ""})
	ts = append(ts, tamper{"AK swapped, quote re-signed by the new key", swapAK(t), azsnp.StepRuntimeClaims})
	ts = append(ts, tamper{"VCEK signature", func(ev *azsnp.Evidence) { ev.VCEK[len(ev.VCEK)-1] ^= 1 }, azsnp.StepSNPReport})
	ts = append(ts, tamper{"VCEK removed", func(ev *azsnp.Evidence) { ev.VCEK = nil }, azsnp.StepSNPReport})
	for i := range ev.Quote.PCRs {
		i := i
		ts = append(ts, tamper{fmt.Sprintf("PCR %d", i), func(ev *azsnp.Evidence) { ev.Quote.PCRs[i][31] ^= 1 }, azsnp.StepPCRs})
	}
	for i := range ev.Quote.Message {
		i := i
		ts = append(ts, tamper{fmt.Sprintf("quote message byte %d", i), func(ev *azsnp.Evidence) { ev.Quote.Message[i] ^= 1 }, azsnp.StepQuote})
	}
	for i := range ev.Quote.Signature {
		i := i
		ts = append(ts, tamper{fmt.Sprintf("quote signature byte %d", i), func(ev *azsnp.Evidence) { ev.Quote.Signature[i] ^= 1 }, azsnp.StepQuote})
	}
	ts = append(ts, tamper{"quote signature truncated", func(ev *azsnp.Evidence) { ev.Quote.Signature = ev.Quote.Signature[1:] }, azsnp.StepQuote})
	return ts
}

// swapAK replaces the AK in the runtime claims with a fresh key and re-signs
// the quote with it: everything after the SEV-SNP report is consistent, but
// the report no longer commits to the claims.
func swapAK(t *testing.T) func(ev *azsnp.Evidence) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return func(ev *azsnp.Evidence) {
		hcl, err := azsnp.ParseHCLReport(ev.HCLReport)
		if err != nil {
			t.Fatal(err)
		}
		claims, err := azsnp.ParseRuntimeClaims(hcl.RuntimeClaims)
		if err != nil {
			t.Fatal(err)
		}
		old := claims.Keys[0].N
		jwk := azsnp.NewJWK(azsnp.AKKeyID, &key.PublicKey)
		newClaims := bytes.Replace(hcl.RuntimeClaims, []byte(old), []byte(jwk.N), 1)
		b, err := azsnp.NewHCLReport(hcl.SNPReport, newClaims, len(ev.HCLReport)-azsnp.RuntimeClaimsOffset-len(newClaims))
		if err != nil {
			t.Fatal(err)
		}
		ev.HCLReport = b
		sum := sha256.Sum256(ev.Quote.Message)
		if ev.Quote.Signature, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTamperMatrix changes the fixture's evidence one part at a time; each
// change is refused at the step that owns the part (an empty step: the
// change is harmless and the evidence still verifies).
func TestTamperMatrix(t *testing.T) {
	orig := fixtureEvidence(t)
	tampers := fixtureTampers(t, orig)
	results := make([]error, len(tampers))
	for i, tc := range tampers {
		ev := cloneEvidence(orig)
		tc.edit(ev)
		_, results[i] = azsnp.Verify(context.Background(), ev, fixtureOptions())
	}
	refused := 0
	for i, tc := range tampers {
		err := results[i]
		if tc.step == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		var se *azsnp.StepError
		switch {
		case err == nil:
			t.Errorf("%s: accepted", tc.name)
		case !asStep(err, &se):
			t.Errorf("%s: %v is not a step error", tc.name, err)
		case se.Step != tc.step:
			t.Errorf("%s: refused at step %s (%v), want %s", tc.name, se.Step, err, tc.step)
		default:
			refused++
		}
	}
	t.Logf("%d changes to the Azure evidence refused at the expected step", refused)
}

// TestTamperProvenance: a one-byte change anywhere in the provenance (every
// eleventh byte), and a change of key order alone, breaks the compact
// binding; re-indenting does not (the foreign binding ignores white space,
// as the README says).
func TestTamperProvenance(t *testing.T) {
	ev := fixtureEvidence(t)
	prov := readFixture(t, "provenance.json")
	claims, err := azsnp.Verify(context.Background(), ev, fixtureOptions())
	if err != nil {
		t.Fatal(err)
	}
	changed := append([]byte(nil), prov...)
	n := 0
	for i := 0; i < len(changed); i += 11 {
		changed[i] ^= 1
		err := azsnp.CheckBinding(claims, azsnp.BindingCompactJSON, changed, [32]byte{})
		var se *azsnp.StepError
		if !asStep(err, &se) || se.Step != azsnp.StepBinding {
			t.Fatalf("provenance byte %d changed: %v", i, err)
		}
		changed[i] ^= 1
		n++
	}
	// The same members, top-level keys in reverse order.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(prov, &top); err != nil {
		t.Fatal(err)
	}
	keys := []string{"subject", "predicateType", "predicate", "_type"}
	if len(top) != len(keys) {
		t.Fatalf("fixture provenance has keys %v", top)
	}
	var reordered strings.Builder
	reordered.WriteString("{")
	for i, k := range keys {
		if i > 0 {
			reordered.WriteString(",")
		}
		fmt.Fprintf(&reordered, "%q:%s", k, top[k])
	}
	reordered.WriteString("}")
	err = azsnp.CheckBinding(claims, azsnp.BindingCompactJSON, []byte(reordered.String()), [32]byte{})
	wantStep(t, err, azsnp.StepBinding, "compact JSON in its own key order")
	var indented bytes.Buffer
	if err := json.Indent(&indented, prov, "", "\t"); err != nil {
		t.Fatal(err)
	}
	if err := azsnp.CheckBinding(claims, azsnp.BindingCompactJSON, indented.Bytes(), [32]byte{}); err != nil {
		t.Errorf("re-indented provenance: %v", err)
	}
	t.Logf("%d one-byte changes (every eleventh byte) and a key-order change of the provenance refused at the binding step", n)
}
