package azsnp_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/kettle-build/kettle/attest/azsnp"
	"github.com/kettle-build/kettle/attest/sim"
)

// addFixtureSeed adds the fixture's evidence, when present, through pick.
// Fuzz seeds never come from copies of the fixture in the repository.
func addFixtureSeed(f *testing.F, pick func(ev *azsnp.Evidence) []byte) {
	data, err := os.ReadFile(filepath.Join(fixtureDir, "evidence.json"))
	if err != nil {
		return
	}
	ev, err := azsnp.DecodeEvidence(data)
	if err != nil {
		f.Fatalf("fixture: %v", err)
	}
	f.Add(pick(ev))
}

// FuzzParseHCLReport: no input panics the decoder; what it accepts lays out
// again to the same bytes, and its parts lie inside the input.
func FuzzParseHCLReport(f *testing.F) {
	// Seeds are built without generating RSA keys: fuzz workers run this
	// setup each.
	f.Add(testHCL(f, []byte(`{"keys":[{"kid":"HCLAkPub","kty":"RSA","e":"AQAB","n":"AQAB"}],"user-data":""}`), 0))
	f.Add(testHCL(f, []byte(`{"keys":[]}`), 40))
	f.Add([]byte("HCLA"))
	addFixtureSeed(f, func(ev *azsnp.Evidence) []byte { return ev.HCLReport })
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := azsnp.ParseHCLReport(b)
		if err != nil {
			if r != nil {
				t.Fatal("report returned with an error")
			}
			return
		}
		out, err := r.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed report: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatal("Marshal(ParseHCLReport(b)) != b")
		}
		if len(r.SNPReport) != 1184 || int(r.ReportSize)+r.Padding != len(b) {
			t.Fatalf("SEV-SNP report %d bytes, report size %d + padding %d for %d bytes", len(r.SNPReport), r.ReportSize, r.Padding, len(b))
		}
		if _, err := r.RuntimeClaimsDigest(); err != nil {
			t.Fatalf("accepted hash type has no digest: %v", err)
		}
	})
}

// FuzzParseQuoteMessage: no input panics the decoder; what it accepts is
// exactly the TPMS_ATTEST rebuilt from the decoded fields.
func FuzzParseQuoteMessage(f *testing.F) {
	f.Add(testQuoteMessage(zeroPCRs(), []byte("extra"), nil))
	f.Add(testQuoteMessage(zeroPCRs(), make([]byte, 64), func(a *tpm2.TPMSAttest, q *tpm2.TPMSQuoteInfo) {
		a.ClockInfo = tpm2.TPMSClockInfo{Clock: 1 << 40, ResetCount: 3, RestartCount: 1, Safe: true}
	}))
	f.Add([]byte{0xff, 'T', 'C', 'G', 0x80, 0x18})
	addFixtureSeed(f, func(ev *azsnp.Evidence) []byte { return ev.Quote.Message })
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := azsnp.ParseQuoteMessage(b)
		if err != nil {
			return
		}
		if len(info.PCRs) != azsnp.NumPCRs || len(info.PCRDigest) != 32 {
			t.Fatalf("accepted a quote of %d PCRs, digest of %d bytes", len(info.PCRs), len(info.PCRDigest))
		}
		q := tpm2.TPMSQuoteInfo{PCRSelect: azsnp.AllPCRs(), PCRDigest: tpm2.TPM2BDigest{Buffer: info.PCRDigest}}
		again := tpm2.Marshal(tpm2.TPMSAttest{
			Magic:           tpm2.TPMGeneratedValue,
			Type:            tpm2.TPMSTAttestQuote,
			QualifiedSigner: tpm2.TPM2BName{Buffer: info.QualifiedSigner},
			ExtraData:       tpm2.TPM2BData{Buffer: info.ExtraData},
			ClockInfo:       tpm2.TPMSClockInfo{Clock: info.Clock, ResetCount: info.ResetCount, RestartCount: info.RestartCount, Safe: tpm2.TPMIYesNo(info.Safe)},
			FirmwareVersion: info.FirmwareVersion,
			Attested:        tpm2.NewTPMUAttest(tpm2.TPMSTAttestQuote, &q),
		})
		if !bytes.Equal(again, b) {
			t.Fatalf("rebuilt quote %x != input %x", again, b)
		}
	})
}

// FuzzCompactJSON: what CompactJSON accepts is valid JSON, means the same
// document, and is its own compact form.
func FuzzCompactJSON(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[true,null,"x\u00e9\n"]}`, `  [ 1.5e3 , "<&>" ]  `, `{"a":{"a":{}}}`, `"\ud83d\ude00"`} {
		f.Add([]byte(s))
	}
	if data, err := os.ReadFile(filepath.Join(fixtureDir, "provenance.json")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := azsnp.CompactJSON(b)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("CompactJSON(%q) = %q, not valid JSON", b, out)
		}
		again, err := azsnp.CompactJSON(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("CompactJSON is not idempotent on %q: %q, %v", out, again, err)
		}
		var v1, v2 any
		if err := json.Unmarshal(b, &v1); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", b, err)
		}
		if err := json.Unmarshal(out, &v2); err != nil || !reflect.DeepEqual(v1, v2) {
			t.Fatalf("CompactJSON(%q) = %q means something else", b, out)
		}
	})
}

// FuzzDecodeEvidence: no evidence.json panics the decoder; what it accepts
// encodes to a document that decodes to the same evidence.
func FuzzDecodeEvidence(f *testing.F) {
	s, err := sim.NewSNPSigner()
	if err != nil {
		f.Fatal(err)
	}
	ev := &azsnp.Evidence{Version: 1, HCLReport: testHCL(f, []byte(`{"keys":[]}`), 0), VCEK: s.Chain().VCEK,
		Quote: azsnp.Quote{Signature: make([]byte, 256), Message: testQuoteMessage(zeroPCRs(), nil, nil), PCRs: zeroPCRs()}}
	good, err := ev.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"platform":"az-snp","evidence":{"version":1}}`))
	if data, err := os.ReadFile(filepath.Join(fixtureDir, "evidence.json")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := azsnp.DecodeEvidence(b)
		if err != nil {
			return
		}
		out, err := ev.Marshal()
		if err != nil {
			t.Fatalf("Marshal of decoded evidence: %v", err)
		}
		back, err := azsnp.DecodeEvidence(out)
		if err != nil || !reflect.DeepEqual(back, ev) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
