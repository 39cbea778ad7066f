package azsnp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/kettle-build/kettle/attest/azsnp"
	"github.com/kettle-build/kettle/attest/sim"
)

// testClaims returns runtime claims naming key as the AK.
func testClaims(t testing.TB, key *rsa.PublicKey) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": []azsnp.JWK{azsnp.NewJWK(azsnp.AKKeyID, key)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testHCL returns an HCL report around a TEST-ONLY SEV-SNP report that
// commits to claims, with padding zero bytes after it.
func testHCL(t testing.TB, claims []byte, padding int) []byte {
	t.Helper()
	s, err := sim.NewSNPSigner()
	if err != nil {
		t.Fatal(err)
	}
	var f sim.ReportFields
	sum := sha256.Sum256(claims)
	copy(f.ReportData[:], sum[:])
	report, err := s.Sign(sim.NewSNPReport(f))
	if err != nil {
		t.Fatal(err)
	}
	hcl, err := azsnp.NewHCLReport(report, claims, padding)
	if err != nil {
		t.Fatal(err)
	}
	return hcl
}

// testQuoteMessage returns a TPMS_ATTEST quote of pcrs (all 24 selected)
// with extraData, edited by edit.
func testQuoteMessage(pcrs [][]byte, extraData []byte, edit func(a *tpm2.TPMSAttest, q *tpm2.TPMSQuoteInfo)) []byte {
	digest, _ := azsnp.PCRDigest(pcrs)
	q := tpm2.TPMSQuoteInfo{PCRSelect: azsnp.AllPCRs(), PCRDigest: tpm2.TPM2BDigest{Buffer: digest}}
	a := tpm2.TPMSAttest{
		Magic:           tpm2.TPMGeneratedValue,
		Type:            tpm2.TPMSTAttestQuote,
		QualifiedSigner: tpm2.TPM2BName{Buffer: []byte{0, 0x0b, 1, 2, 3}},
		ExtraData:       tpm2.TPM2BData{Buffer: extraData},
		FirmwareVersion: 7,
	}
	if edit != nil {
		edit(&a, &q)
	}
	a.Attested = tpm2.NewTPMUAttest(a.Type, &q)
	return tpm2.Marshal(a)
}

func zeroPCRs() [][]byte {
	pcrs := make([][]byte, azsnp.NumPCRs)
	for i := range pcrs {
		pcrs[i] = make([]byte, 32)
	}
	return pcrs
}

func testKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseHCLReportBad(t *testing.T) {
	key := testKey(t)
	good := testHCL(t, testClaims(t, &key.PublicKey), 16)
	if _, err := azsnp.ParseHCLReport(good); err != nil {
		t.Fatalf("good report: %v", err)
	}
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	put := func(off int, v byte) []byte { return edit(func(b []byte) []byte { b[off] = v; return b }) }
	for _, tc := range []struct {
		name  string
		input []byte
		want  string
	}{
		{"empty", nil, `signature (offset 0) is "", want "HCLA"`},
		{"wrong magic", put(0, 'X'), `signature (offset 0) is "XCLA"`},
		{"TPM quote instead", []byte{0xff, 'T', 'C', 'G', 0x80, 0x18}, `want "HCLA"`},
		{"truncated in the header", good[:20], "truncated: 20 bytes"},
		{"truncated in the SEV-SNP report", good[:600], "truncated: 600 bytes"},
		{"truncated in the runtime claims", good[:azsnp.RuntimeClaimsOffset+10], "says"},
		{"header version 2", put(4, 2), "header version (offset 4) is 2"},
		{"request type", put(12, 1), "request_type (offset 12) is 1"},
		{"status", put(16, 1), "status (offset 16) is 1"},
		{"reserved", put(28, 1), "reserved word (offset 28)"},
		{"report size", put(9, 0), "report_size (offset 8)"},
		{"data size", put(azsnp.RequestDataOffset, 0), "data_size"},
		{"request data version", put(azsnp.RequestDataOffset+4, 9), "request data version"},
		{"TDX report type", put(azsnp.RequestDataOffset+8, 4), "(TDX); only SEV-SNP"},
		{"unknown report type", put(azsnp.RequestDataOffset+8, 7), "report_type"},
		{"unknown hash type", put(azsnp.RequestDataOffset+12, 9), "report_data_hash_type"},
		{"claims size overruns", put(azsnp.RequestDataOffset+17, 0x40), "variable_data_size"},
		{"non-zero padding", put(len(good)-3, 1), "padding byte at offset"},
		{"too large", make([]byte, azsnp.MaxHCLReportSize+1), "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := azsnp.ParseHCLReport(tc.input)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.HasPrefix(err.Error(), "HCL report") {
				t.Errorf("error %q names the HCL report, which the caller does", err)
			}
		})
	}
}

func TestParseRuntimeClaimsBad(t *testing.T) {
	key := testKey(t)
	jwk := azsnp.NewJWK(azsnp.AKKeyID, &key.PublicKey)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(keys ...azsnp.JWK) string {
		b, _ := json.Marshal(map[string]any{"keys": keys})
		return string(b)
	}
	ec := jwk
	ec.Type = "EC"
	other := jwk
	other.KeyID = "HCLEkPub"
	badN := jwk
	badN.N = "+/+/"
	evenE := jwk
	evenE.E = "AQAC"
	for _, tc := range []struct {
		name, input, want string
	}{
		{"not JSON", "HCLAkPub", "not JSON"},
		{"truncated JSON", `{"keys":[`, "keys: not JSON: unexpected EOF"},
		{"array", `[1]`, "want a JSON object"},
		{"no keys", `{"vm-configuration":{}}`, `keys: missing`},
		{"keys not an array", `{"keys":{}}`, "cannot unmarshal object"},
		{"duplicate member", `{"keys":[],"keys":[]}`, "keys: duplicate key"},
		{"no AK", mk(other), `no key of kid "HCLAkPub"`},
		{"two AKs", mk(jwk, jwk), "two keys"},
		{"EC key", mk(ec), `kty is "EC"`},
		{"small key", mk(azsnp.NewJWK(azsnp.AKKeyID, &small.PublicKey)), "1024-bit modulus"},
		{"n not base64url", mk(badN), "n: not unpadded base64url"},
		{"even exponent", mk(evenE), "not an odd exponent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := azsnp.ParseRuntimeClaims([]byte(tc.input))
			if err == nil {
				_, err = c.AK()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseQuoteMessageBad(t *testing.T) {
	pcrs := zeroPCRs()
	good := testQuoteMessage(pcrs, []byte("data"), nil)
	if info, err := azsnp.ParseQuoteMessage(good); err != nil || string(info.ExtraData) != "data" || info.FirmwareVersion != 7 {
		t.Fatalf("good quote: %+v, %v", info, err)
	}
	certify := tpm2.Marshal(tpm2.TPMSAttest{
		Magic: tpm2.TPMGeneratedValue, Type: tpm2.TPMSTAttestCertify,
		Attested: tpm2.NewTPMUAttest(tpm2.TPMSTAttestCertify, &tpm2.TPMSCertifyInfo{}),
	})
	for _, tc := range []struct {
		name  string
		input []byte
		want  string
	}{
		{"empty", nil, "not a TPMS_ATTEST"},
		{"truncated", good[:len(good)-5], "not a TPMS_ATTEST"},
		{"trailing byte", append(append([]byte(nil), good...), 0), "trailing or non-canonical"},
		{"wrong magic", testQuoteMessage(pcrs, nil, func(a *tpm2.TPMSAttest, q *tpm2.TPMSQuoteInfo) { a.Magic = 0x12345678 }), "TPM_GENERATED"},
		{"certify, not a quote", certify, "type is 0x8017, want 0x8018"},
		{"SHA-1 bank", testQuoteMessage(pcrs, nil, func(a *tpm2.TPMSAttest, q *tpm2.TPMSQuoteInfo) {
			q.PCRSelect.PCRSelections[0].Hash = tpm2.TPMAlgSHA1
		}), "hash algorithm is 0x0004, want 0x000b"},
		{"two banks", testQuoteMessage(pcrs, nil, func(a *tpm2.TPMSAttest, q *tpm2.TPMSQuoteInfo) {
			q.PCRSelect.PCRSelections = append(q.PCRSelect.PCRSelections, q.PCRSelect.PCRSelections[0])
		}), "2 banks"},
		{"PCRs 0 to 7 only", testQuoteMessage(pcrs, nil, func(a *tpm2.TPMSAttest, q *tpm2.TPMSQuoteInfo) {
			q.PCRSelect.PCRSelections[0].PCRSelect = []byte{0xff, 0, 0}
		}), "bitmap ff0000, want ffffff"},
		{"4-byte bitmap", testQuoteMessage(pcrs, nil, func(a *tpm2.TPMSAttest, q *tpm2.TPMSQuoteInfo) {
			q.PCRSelect.PCRSelections[0].PCRSelect = []byte{0xff, 0xff, 0xff, 0}
		}), "bitmap ffffff00"},
		{"short PCR digest", testQuoteMessage(pcrs, nil, func(a *tpm2.TPMSAttest, q *tpm2.TPMSQuoteInfo) {
			q.PCRDigest.Buffer = q.PCRDigest.Buffer[:20]
		}), "PCR digest of 20 bytes"},
		{"too large", make([]byte, azsnp.MaxQuoteMessageSize+1), "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := azsnp.ParseQuoteMessage(tc.input)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "quote message: ") {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestPCRDigestBad(t *testing.T) {
	pcrs := zeroPCRs()
	if _, err := azsnp.PCRDigest(pcrs[:23]); err == nil || !strings.Contains(err.Error(), "23 values, want 24") {
		t.Errorf("23 PCRs: %v", err)
	}
	pcrs[5] = pcrs[5][:31]
	if _, err := azsnp.PCRDigest(pcrs); err == nil || !strings.Contains(err.Error(), "pcrs[5]: 31 bytes") {
		t.Errorf("short PCR: %v", err)
	}
}

// synthEvidence is az-snp evidence signed by key over zero PCRs, around a
// TEST-ONLY SEV-SNP report.
func synthEvidence(t testing.TB, key *rsa.PrivateKey) *azsnp.Evidence {
	t.Helper()
	s, err := sim.NewSNPSigner()
	if err != nil {
		t.Fatal(err)
	}
	msg := testQuoteMessage(zeroPCRs(), []byte("bound"), nil)
	sum := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, 5 /* crypto.SHA256 */, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return &azsnp.Evidence{Version: 1, HCLReport: testHCL(t, testClaims(t, &key.PublicKey), 0), VCEK: s.Chain().VCEK,
		Quote: azsnp.Quote{Signature: sig, Message: msg, PCRs: zeroPCRs()}}
}

func TestDecodeEvidenceBad(t *testing.T) {
	key := testKey(t)
	ev := synthEvidence(t, key)
	good, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := azsnp.DecodeEvidence(good); err != nil {
		t.Fatalf("good evidence: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(good, &doc); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(top, body, quote map[string]any)) []byte {
		var d map[string]any
		_ = json.Unmarshal(good, &d)
		body := d["evidence"].(map[string]any)
		f(d, body, body["tpm_quote"].(map[string]any))
		b, _ := json.Marshal(d)
		return b
	}
	for _, tc := range []struct {
		name  string
		input []byte
		want  string
	}{
		{"not JSON", []byte("HCLA"), "not JSON: invalid character 'H'"},
		{"trailing", append(append([]byte(nil), good...), "{}"...), "trailing data"},
		{"platform sev-snp", edit(func(top, _, _ map[string]any) { top["platform"] = "sev-snp" }), `platform: "sev-snp", want "az-snp"`},
		{"no platform", edit(func(top, _, _ map[string]any) { delete(top, "platform") }), "platform: missing"},
		{"version 2", edit(func(top, _, _ map[string]any) { top["version"] = 2 }), "version: 2"},
		{"unknown top field", edit(func(top, _, _ map[string]any) { top["report"] = "x" }), `unknown field "report"`},
		{"no body", edit(func(top, _, _ map[string]any) { delete(top, "evidence") }), "evidence: missing"},
		{"body version 2", edit(func(_, b, _ map[string]any) { b["version"] = 2 }), "evidence.version: 2"},
		{"no quote", edit(func(_, b, _ map[string]any) { delete(b, "tpm_quote") }), "evidence.tpm_quote: missing"},
		{"no hcl", edit(func(_, b, _ map[string]any) { delete(b, "hcl_report") }), "evidence.hcl_report: missing"},
		{"no vcek", edit(func(_, b, _ map[string]any) { delete(b, "vcek") }), "evidence.vcek: missing"},
		{"unknown body field", edit(func(_, b, _ map[string]any) { b["ask"] = "x" }), `unknown field "ask"`},
		{"no signature", edit(func(_, _, q map[string]any) { delete(q, "signature") }), "signature: missing"},
		{"no message", edit(func(_, _, q map[string]any) { delete(q, "message") }), "message: missing"},
		{"no pcrs", edit(func(_, _, q map[string]any) { delete(q, "pcrs") }), "pcrs: missing"},
		{"upper-case hex", edit(func(_, _, q map[string]any) { q["message"] = strings.ToUpper(q["message"].(string)) }), "message: not lower-case hex"},
		{"odd hex", edit(func(_, _, q map[string]any) { q["signature"] = "abc" }), "signature: not hex"},
		{"23 PCRs", edit(func(_, _, q map[string]any) { q["pcrs"] = q["pcrs"].([]any)[:23] }), "pcrs: 23 values, want 24"},
		{"short PCR", edit(func(_, _, q map[string]any) { q["pcrs"].([]any)[3] = "00" }), "pcrs[3]: 1 bytes, want 32"},
		{"padded base64", edit(func(_, b, _ map[string]any) { b["hcl_report"] = b["hcl_report"].(string) + "==" }), "hcl_report: not unpadded base64url"},
		{"standard base64", edit(func(_, b, _ map[string]any) {
			b["vcek"] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 30))
		}), "vcek: not unpadded base64url"},
		{"vcek not a certificate", edit(func(_, b, _ map[string]any) { b["vcek"] = "AAAA" }), "vcek: not a DER X.509 certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := azsnp.DecodeEvidence(tc.input)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestVerifySynthetic runs Verify on synthetic evidence: it holds, and each
// inconsistency is refused at its step, without the fixture.
func TestVerifySynthetic(t *testing.T) {
	key := testKey(t)
	opts := azsnp.Options{VerifySNP: snpVerifier(simNow, true)}
	claims, err := azsnp.Verify(context.Background(), synthEvidence(t, key), opts)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !claims.Simulated || string(claims.ExtraData) != "bound" {
		t.Errorf("claims: simulated %v, extraData %q", claims.Simulated, claims.ExtraData)
	}
	other := testKey(t)
	for _, tc := range []struct {
		name string
		edit func(ev *azsnp.Evidence)
		step azsnp.Step
		want string
	}{
		{"wrong magic", func(ev *azsnp.Evidence) { ev.HCLReport[0] = 'h' }, azsnp.StepHCLReport, "signature"},
		{"claims not JSON", func(ev *azsnp.Evidence) {
			ev.HCLReport = testHCL(t, []byte("not json"), 0)
		}, azsnp.StepRuntimeClaims, "not JSON"},
		{"claims without keys", func(ev *azsnp.Evidence) {
			ev.HCLReport = testHCL(t, []byte(`{"user-data":""}`), 0)
		}, azsnp.StepRuntimeClaims, `keys: missing`},
		{"claims without the AK", func(ev *azsnp.Evidence) {
			ev.HCLReport = testHCL(t, []byte(`{"keys":[]}`), 0)
		}, azsnp.StepAK, "HCLAkPub"},
		{"quote signed by another key", func(ev *azsnp.Evidence) {
			ev.HCLReport = testHCL(t, testClaims(t, &other.PublicKey), 0)
		}, azsnp.StepQuote, "does not verify"},
		{"quote of the wrong type", func(ev *azsnp.Evidence) {
			ev.Quote.Message[5] = 0x17 // TPM_ST_ATTEST_CERTIFY
		}, azsnp.StepQuote, "quote message"},
		{"quote of the SHA-1 bank", func(ev *azsnp.Evidence) {
			ev.Quote.Message = testQuoteMessage(zeroPCRs(), nil, func(a *tpm2.TPMSAttest, q *tpm2.TPMSQuoteInfo) {
				q.PCRSelect.PCRSelections[0].Hash = tpm2.TPMAlgSHA1
			})
		}, azsnp.StepQuote, "hash algorithm"},
		{"PCR list of 23", func(ev *azsnp.Evidence) { ev.Quote.PCRs = ev.Quote.PCRs[:23] }, azsnp.StepPCRs, "23 values"},
		{"PCR changed", func(ev *azsnp.Evidence) { ev.Quote.PCRs[7] = bytes.Repeat([]byte{1}, 32) }, azsnp.StepPCRs, "PCR digest"},
		{"version", func(ev *azsnp.Evidence) { ev.Version = 2 }, azsnp.StepEvidence, "version 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := synthEvidence(t, key)
			tc.edit(ev)
			_, err := azsnp.Verify(context.Background(), ev, opts)
			wantStep(t, err, tc.step, tc.want)
		})
	}
	if _, err := azsnp.Verify(context.Background(), nil, opts); err == nil {
		t.Error("nil evidence accepted")
	}
	if _, err := azsnp.Verify(context.Background(), synthEvidence(t, key), azsnp.Options{}); err == nil {
		t.Error("no SEV-SNP verifier accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := azsnp.Verify(ctx, synthEvidence(t, key), opts); err != context.Canceled {
		t.Errorf("cancelled: %v", err)
	}
}

func TestPCRPolicyNamesBadIndex(t *testing.T) {
	if err := (azsnp.PCRPolicy{24: {make([]byte, 32)}}).Check(zeroPCRs()); err == nil || !strings.Contains(err.Error(), "PCR 24") {
		t.Errorf("policy on PCR 24: %v", err)
	}
}

func TestCompactJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{ "b" : 1, "a" : [ true, false, null ] }`, `{"b":1,"a":[true,false,null]}`},
		{`"<&>"`, `"<&>"`},
		{`"\u00e9\u2028\/"`, "\"\u00e9\u2028/\""},
		{`"\u0001\t\n\"\\"`, `"\u0001\t\n\"\\"`},
		{`{"n": -1.50e+3}`, `{"n":-1.50e+3}`},
		{"\n[ ]\n", `[]`},
	} {
		got, err := azsnp.CompactJSON([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("CompactJSON(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{``, "empty"},
		{`{"a":1,"a":2}`, `a: duplicate key`},
		{`[1e400]`, "[0]: number 1e400 is out of the range"},
		{`1e400`, "top level: number 1e400"},
		{`{} {}`, "trailing data"},
		{"\"\xff\"", "not valid UTF-8"},
		{strings.Repeat("[", azsnp.MaxJSONDepth+2), "nested deeper"},
		{`{"a":}`, "JSON"},
	} {
		if _, err := azsnp.CompactJSON([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CompactJSON(%q): %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestFetchVCEK(t *testing.T) {
	vcek := synthEvidence(t, testKey(t)).VCEK
	pemText := "-----BEGIN CERTIFICATE-----\n" + base64.StdEncoding.EncodeToString(vcek) + "\n-----END CERTIFICATE-----\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata") != "true" {
			http.Error(w, "no Metadata header", http.StatusBadRequest)
			return
		}
		switch r.URL.Path {
		case "/good":
			_ = json.NewEncoder(w).Encode(map[string]string{"vcekCert": pemText, "tcbm": "DB18000000000004"})
		case "/garbage":
			_, _ = w.Write([]byte(`{"vcekCert":"nope"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	got, err := azsnp.FetchVCEK(context.Background(), srv.Client(), srv.URL+"/good")
	if err != nil || !bytes.Equal(got, vcek) {
		t.Fatalf("FetchVCEK: %v", err)
	}
	for path, want := range map[string]string{"/garbage": "not a PEM certificate", "/missing": "404"} {
		if _, err := azsnp.FetchVCEK(context.Background(), srv.Client(), srv.URL+path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
}
