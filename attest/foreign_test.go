package attest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/attest/sim"
)

// foreignSNPJSON is bare SEV-SNP evidence in the foreign tool's shape
// (attestation-rs 026cbda, src/platforms/snp/evidence.rs), signed by the
// TEST-ONLY chip, with its VCEK embedded.
func foreignSNPJSON(t testing.TB, rd [64]byte) []byte {
	t.Helper()
	s, err := sim.NewSNPSigner()
	if err != nil {
		t.Fatal(err)
	}
	report, err := s.Sign(sim.NewSNPReport(sim.ReportFields{ReportData: rd}))
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	out, err := json.Marshal(map[string]any{"platform": "snp", "evidence": map[string]any{
		"attestation_report": b64(report), "cert_chain": map[string]any{"vcek": b64(s.Chain().VCEK), "ask": nil, "ark": nil}}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// foreignTDXJSON is bare TDX evidence in the foreign tool's shape
// (src/platforms/tdx/evidence.rs) with an event log.
func foreignTDXJSON(t testing.TB, rd [64]byte) []byte {
	t.Helper()
	s, err := sim.NewTDXSigner()
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.Sign(s.NewTDXQuote(sim.TDXFields{ReportData: rd}))
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	out, err := json.Marshal(map[string]any{"platform": "tdx", "evidence": map[string]any{"quote": b64(q), "cc_eventlog": b64([]byte("log"))}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkForeignDecoded checks what DecodeEvidence returns for the foreign
// tool's shape: marked, with the body its platform needs, which Verify and
// UnverifiedBoundData take without panicking.
func checkForeignDecoded(t *testing.T, ev *Evidence) {
	t.Helper()
	if ev.Version != EvidenceVersion || ev.ForeignPlatform == "" {
		t.Fatalf("foreign evidence %+v", ev)
	}
	switch ev.Platform {
	case PlatformSEVSNP:
		if len(ev.Report) != 1184 || len(ev.Certificates) > 1 {
			t.Fatalf("foreign snp: %d-byte report, %d certificates", len(ev.Report), len(ev.Certificates))
		}
	case PlatformTDX:
		if len(ev.Report) < 1020 || len(ev.Report) > MaxQuoteSize {
			t.Fatalf("foreign tdx: %d-byte quote", len(ev.Report))
		}
	case PlatformAzSNP:
		if ev.AzSNP == nil {
			t.Fatal("foreign az-snp without a body")
		}
	case PlatformAzTDX:
		if ev.AzTDX == nil {
			t.Fatal("foreign az-tdx without a body")
		}
	default:
		t.Fatalf("foreign evidence of platform %s", ev.Platform)
	}
	if _, err := ev.Marshal(); err == nil && ev.Platform != PlatformAzSNP {
		t.Fatal("foreign evidence marshalled")
	}
	ev.UnverifiedBoundData()
	Verify(context.Background(), ev, simOptions())
}

// TestForeignEvidence: the foreign tool's bare SEV-SNP and TDX evidence
// decode into the claims of Kettle's own, verify as SIMULATED with the
// TEST-ONLY roots, and fail on tamper.
func TestForeignEvidence(t *testing.T) {
	rd := [64]byte{1, 2, 3}
	for _, tc := range []struct {
		name     string
		data     []byte
		platform Platform
		claims   Platform
	}{
		{"snp", foreignSNPJSON(t, rd), PlatformSEVSNP, PlatformSimSNP},
		{"tdx", foreignTDXJSON(t, rd), PlatformTDX, PlatformSimTDX},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := DecodeEvidence(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if !ev.Foreign || ev.Platform != tc.platform || ev.ForeignPlatform != tc.name {
				t.Fatalf("decoded %+v", ev)
			}
			bound, err := ev.UnverifiedBoundData()
			if err != nil || [64]byte(bound) != rd {
				t.Fatalf("bound data %x, %v", bound, err)
			}
			c, err := Verify(context.Background(), ev, simOptions())
			if err != nil {
				t.Fatal(err)
			}
			if !c.Simulated || c.Platform != tc.claims || c.ReportData != rd {
				t.Fatalf("claims %+v", c)
			}
			if _, err := Verify(context.Background(), ev, VerifyOptions{Now: testNow}); err == nil {
				t.Fatal("verified with no simulated evidence allowed")
			}
			ev.Report[len(ev.Report)/2] ^= 1
			if _, err := Verify(context.Background(), ev, simOptions()); err == nil {
				t.Fatal("tampered report verified")
			}
		})
	}
	// Without an embedded VCEK the evidence is not self-contained.
	ev, err := DecodeEvidence([]byte(strings.Replace(string(foreignSNPJSON(t, rd)), `"cert_chain":{`, `"cert_chain":null,"x":{`, 1)))
	if err == nil {
		t.Fatalf("unknown field accepted: %+v", ev)
	}
	var doc map[string]any
	if err := json.Unmarshal(foreignSNPJSON(t, rd), &doc); err != nil {
		t.Fatal(err)
	}
	doc["evidence"].(map[string]any)["cert_chain"] = nil
	data, _ := json.Marshal(doc)
	if ev, err = DecodeEvidence(data); err != nil {
		t.Fatal(err)
	}
	var se *StepError
	if _, err := Verify(context.Background(), ev, simOptions()); !errors.As(err, &se) || se.Step != StepChain || !strings.Contains(err.Error(), "not self-contained") {
		t.Fatalf("no VCEK: %v", err)
	}
}

// TestForeignEvidenceBadInput: each fault of the foreign tool's evidence
// is refused naming the field.
func TestForeignEvidenceBadInput(t *testing.T) {
	snp := func(body string) string { return `{"platform":"snp","evidence":` + body + `}` }
	tdx := func(body string) string { return `{"platform":"tdx","evidence":` + body + `}` }
	report := base64.StdEncoding.EncodeToString(make([]byte, 1184))
	for _, tc := range []struct {
		name, data, want string
	}{
		{"unknown platform", `{"platform":"sgx","evidence":{}}`, `unknown platform "sgx"`},
		{"dstack", `{"platform":"dstack","evidence":{}}`, "dstack evidence"},
		{"platform not a string", `{"platform":1,"evidence":{}}`, "platform: want a string"},
		{"snp without report", snp(`{}`), "evidence.attestation_report: missing"},
		{"snp unknown field", snp(`{"attestation_report":"","extra":1}`), "evidence"},
		{"snp report not base64", snp(`{"attestation_report":"***"}`), "evidence.attestation_report: not canonical base64"},
		{"snp report short", snp(`{"attestation_report":"AAAA"}`), "evidence.attestation_report: 3 bytes, want 1184"},
		{"snp chain without vcek", snp(`{"attestation_report":"` + report + `","cert_chain":{}}`), "evidence.cert_chain.vcek: missing"},
		{"snp vcek not a certificate", snp(`{"attestation_report":"` + report + `","cert_chain":{"vcek":"AAAA"}}`), "evidence.cert_chain.vcek: not a DER X.509 certificate"},
		{"snp ask not a certificate", snp(`{"attestation_report":"` + report + `","cert_chain":{"vcek":"AAAA","ask":"AAAA"}}`), "evidence.cert_chain.ask: not a DER X.509 certificate"},
		{"tdx without quote", tdx(`{}`), "evidence.quote: missing"},
		{"tdx quote short", tdx(`{"quote":"AAAA"}`), "evidence.quote: 3 bytes"},
		{"tdx event log empty", tdx(`{"quote":"AAAA","cc_eventlog":""}`), "evidence.cc_eventlog: 0 bytes"},
		{"az-tdx without version", `{"platform":"az-tdx","evidence":{}}`, "evidence.version: missing"},
		{"az-tdx version 2", `{"platform":"az-tdx","evidence":{"version":2}}`, "evidence.version: 2 is not supported"},
		{"az-tdx without td_quote", `{"platform":"az-tdx","evidence":{"version":1,"tpm_quote":{"signature":"","message":"","pcrs":[]},"hcl_report":""}}`, "evidence.td_quote: missing"},
		{"az-tdx hcl not base64url", `{"platform":"az-tdx","evidence":{"version":1,"tpm_quote":{"signature":"","message":"","pcrs":[` + strings.Repeat(`"`+strings.Repeat("00", 32)+`",`, 23) + `"` + strings.Repeat("00", 32) + `"]},"hcl_report":"+/","td_quote":"AA"}}`, "evidence.hcl_report: not unpadded base64url"},
		{"a third member", `{"platform":"snp","evidence":{},"device":"x"}`, "version: missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := DecodeEvidence([]byte(tc.data))
			if err == nil || ev != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DecodeEvidence: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeForeignEvidence: no input in the foreign tool's shape panics
// the decoder, the bound-data reader or the verifier.
func FuzzDecodeForeignEvidence(f *testing.F) {
	f.Add(foreignSNPJSON(f, [64]byte{1}))
	f.Add(foreignTDXJSON(f, [64]byte{2}))
	f.Add([]byte(`{"platform":"az-tdx","evidence":{"version":1}}`))
	f.Add([]byte(`{"platform":"snp","evidence":{"attestation_report":"","cert_chain":null}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := DecodeEvidence(data)
		if err != nil {
			if ev != nil {
				t.Fatalf("evidence and error %v", err)
			}
			return
		}
		if ev.Foreign {
			checkForeignDecoded(t, ev)
		}
	})
}
