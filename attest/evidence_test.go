package attest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	tdxdata "github.com/google/go-tdx-guest/testing/testdata"
)

// evidenceJSON renders evidence.json from parts, so that each bad-input case
// changes one thing.
type evidenceJSON struct {
	version, platform, report, certificates string
	extra                                   string // appended members, with leading comma
	trailer                                 string // after the object
}

func (e evidenceJSON) String() string {
	var members []string
	add := func(name, value string) {
		if value != "" {
			members = append(members, fmt.Sprintf("%q: %s", name, value))
		}
	}
	add("version", e.version)
	add("platform", e.platform)
	add("report", e.report)
	add("certificates", e.certificates)
	return "{" + strings.Join(members, ", ") + e.extra + "}" + e.trailer
}

func b64(b []byte) string { return `"` + base64.StdEncoding.EncodeToString(b) + `"` }

// goodEvidenceJSON returns the parts of valid sim-snp evidence.
func goodEvidenceJSON(t testing.TB) (evidenceJSON, *Evidence) {
	ev := newSimEvidence(t, AttesterOptions{}, [64]byte{1, 2, 3})
	ev.Device = "" // optional; the decoder's tests add it where they need it
	certs := fmt.Sprintf(`{"ark": %s, "ask": %s, "vcek": %s}`, b64(ev.Certificates[CertARK]), b64(ev.Certificates[CertASK]), b64(ev.Certificates[CertVCEK]))
	return evidenceJSON{version: "1", platform: `"sim-snp"`, report: b64(ev.Report), certificates: certs}, ev
}

func TestDecodeEvidenceGood(t *testing.T) {
	good, want := goodEvidenceJSON(t)
	ev, err := DecodeEvidence([]byte(good.String()))
	if err != nil {
		t.Fatalf("DecodeEvidence: %v", err)
	}
	if !reflect.DeepEqual(ev, want) {
		t.Errorf("decoded %+v, want %+v", ev, want)
	}
	// White space around and inside, and any member order, are fine.
	reordered := "\n\t {" + `"certificates": ` + good.certificates + `, "report": ` + good.report +
		`, "platform": "sim-snp", "version": 1}` + " \r\n\n"
	if ev, err = DecodeEvidence([]byte(reordered)); err != nil || !reflect.DeepEqual(ev, want) {
		t.Errorf("reordered: %v", err)
	}
	var viaJSON Evidence
	if err := json.Unmarshal([]byte(good.String()), &viaJSON); err != nil || !reflect.DeepEqual(&viaJSON, want) {
		t.Errorf("json.Unmarshal: %v", err)
	}
}

func TestDecodeEvidenceBad(t *testing.T) {
	good, ev := goodEvidenceJSON(t)
	report := ev.Report
	ark, ask, vcek := b64(ev.Certificates[CertARK]), b64(ev.Certificates[CertASK]), b64(ev.Certificates[CertVCEK])
	with := func(f func(e *evidenceJSON)) string {
		e := good
		f(&e)
		return e.String()
	}
	std := base64.StdEncoding.EncodeToString(report)
	tests := []struct {
		name, input, want string
	}{
		{"empty", "", "empty, want a JSON value"},
		{"white space only", " \n", "empty, want a JSON value"},
		{"null", "null", "want a JSON object, got null"},
		{"array", "[]", "want a JSON object, got an array"},
		{"string", `"sim-snp"`, "want a JSON object, got a string"},
		{"truncated object", good.String()[:100], "not JSON: unexpected EOF"},
		{"unterminated", "{", "not JSON: unexpected EOF"},
		{"syntax error", `{"version": 1,,}`, "not JSON: invalid character"},
		{"empty object", "{}", "version: missing"},
		{"version missing", with(func(e *evidenceJSON) { e.version = "" }), "version: missing"},
		{"version 2", with(func(e *evidenceJSON) { e.version = "2" }), "version: 2 is not supported"},
		{"version 0", with(func(e *evidenceJSON) { e.version = "0" }), "version: 0 is not supported"},
		{"version -1", with(func(e *evidenceJSON) { e.version = "-1" }), "version: -1 is not supported"},
		{"version 2 with new fields", with(func(e *evidenceJSON) { e.version = "2"; e.extra = `, "quote": "x"` }), "version: 2 is not supported"},
		{"version as string", with(func(e *evidenceJSON) { e.version = `"1"` }), "version: want an integer, got a string"},
		{"version 1.0", with(func(e *evidenceJSON) { e.version = "1.0" }), "version: want an integer, got 1.0"},
		{"version 1e0", with(func(e *evidenceJSON) { e.version = "1e0" }), "version: want an integer, got 1e0"},
		{"version null", with(func(e *evidenceJSON) { e.version = "null" }), "version: want an integer, got null"},
		{"version huge", with(func(e *evidenceJSON) { e.version = "100000000000000000000" }), "version: want an integer"},
		{"platform missing", with(func(e *evidenceJSON) { e.platform = "" }), "platform: missing"},
		{"platform unknown", with(func(e *evidenceJSON) { e.platform = `"sgx"` }), `platform: unknown platform "sgx"`},
		{"platform upper case", with(func(e *evidenceJSON) { e.platform = `"SIM-SNP"` }), `platform: unknown platform "SIM-SNP"`},
		{"platform alias", with(func(e *evidenceJSON) { e.platform = `"snp"` }), `platform: unknown platform "snp"`},
		{"platform none", with(func(e *evidenceJSON) { e.platform = `"none"` }), "report: unattested evidence (platform none) carries none"},
		{"platform tdx", with(func(e *evidenceJSON) { e.platform = `"tdx"` }), "certificates: not used by TDX evidence"},
		{"platform az-snp without its body", with(func(e *evidenceJSON) { e.platform = `"az-snp"` }), "evidence: missing (az-snp evidence carries"},
		{"platform sim-tdx", with(func(e *evidenceJSON) { e.platform = `"sim-tdx"` }), "certificates: not used by TDX evidence"},
		{"platform number", with(func(e *evidenceJSON) { e.platform = "1" }), "platform: want a string, got a number"},
		{"report missing", with(func(e *evidenceJSON) { e.report = "" }), "report: missing"},
		{"report null", with(func(e *evidenceJSON) { e.report = "null" }), "report: want a string, got null"},
		{"report array", with(func(e *evidenceJSON) { e.report = "[1,2]" }), "report: want a string, got an array"},
		{"report bad base64", with(func(e *evidenceJSON) { e.report = `"!!!!"` }), "report: not canonical base64"},
		{"report URL alphabet", with(func(e *evidenceJSON) {
			e.report = `"` + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff}, 592)) + `"`
		}), "report: not canonical base64"},
		{"report unpadded", with(func(e *evidenceJSON) { e.report = `"` + base64.RawStdEncoding.EncodeToString(report[:1183]) + `"` }), "report: not canonical base64"},
		{"report line break", with(func(e *evidenceJSON) { e.report = `"` + std[:76] + `\n` + std[76:] + `"` }), "report: not canonical base64: line break at offset 76"},
		{"report non-zero padding bits", with(func(e *evidenceJSON) { e.report = `"AB=="` }), "report: not canonical base64"},
		{"report empty", with(func(e *evidenceJSON) { e.report = `""` }), "report: 0 bytes, want 1184"},
		{"report truncated", with(func(e *evidenceJSON) { e.report = b64(report[:1183]) }), "report: 1183 bytes, want 1184"},
		{"report oversized", with(func(e *evidenceJSON) { e.report = b64(append(append([]byte(nil), report...), 0)) }), "report: 1185 bytes, want 1184"},
		{"certificates missing", with(func(e *evidenceJSON) { e.certificates = "" }), "certificates: missing"},
		{"certificates empty", with(func(e *evidenceJSON) { e.certificates = "{}" }), "certificates: missing"},
		{"certificates null", with(func(e *evidenceJSON) { e.certificates = "null" }), "certificates: want a JSON object, got null"},
		{"certificates array", with(func(e *evidenceJSON) { e.certificates = "[]" }), "certificates: want a JSON object, got an array"},
		{"certificate unknown", with(func(e *evidenceJSON) {
			e.certificates = fmt.Sprintf(`{"ark": %s, "ask": %s, "vcek": %s, "crl": %s}`, ark, ask, vcek, ark)
		}), "certificates.crl: unknown certificate"},
		{"certificate upper case", with(func(e *evidenceJSON) {
			e.certificates = fmt.Sprintf(`{"ARK": %s, "ask": %s, "vcek": %s}`, ark, ask, vcek)
		}), "certificates.ARK: unknown certificate"},
		{"certificate twice", with(func(e *evidenceJSON) {
			e.certificates = fmt.Sprintf(`{"ark": %s, "ask": %s, "vcek": %s, "ark": %s}`, ark, ask, vcek, ark)
		}), "certificates.ark: duplicate key"},
		{"certificate null", with(func(e *evidenceJSON) { e.certificates = fmt.Sprintf(`{"ark": null, "ask": %s, "vcek": %s}`, ask, vcek) }), "certificates.ark: want a string, got null"},
		{"certificate empty", with(func(e *evidenceJSON) { e.certificates = fmt.Sprintf(`{"ark": "", "ask": %s, "vcek": %s}`, ask, vcek) }), "certificates.ark: empty"},
		{"certificate bad base64", with(func(e *evidenceJSON) {
			e.certificates = fmt.Sprintf(`{"ark": "%%%%", "ask": %s, "vcek": %s}`, ask, vcek)
		}), "certificates.ark: not canonical base64"},
		{"certificate not DER", with(func(e *evidenceJSON) {
			e.certificates = fmt.Sprintf(`{"ark": %s, "ask": %s, "vcek": %s}`, ark, ask, b64([]byte("not a certificate")))
		}), "certificates.vcek: not a DER X.509 certificate"},
		{"certificate with trailing bytes", with(func(e *evidenceJSON) {
			e.certificates = fmt.Sprintf(`{"ark": %s, "ask": %s, "vcek": %s}`, ark, b64(append(append([]byte(nil), ev.Certificates[CertASK]...), 0)), vcek)
		}), "certificates.ask: not a DER X.509 certificate"},
		{"ark missing", with(func(e *evidenceJSON) { e.certificates = fmt.Sprintf(`{"ask": %s, "vcek": %s}`, ask, vcek) }), "certificates.ark: missing"},
		{"ask missing", with(func(e *evidenceJSON) { e.certificates = fmt.Sprintf(`{"ark": %s, "vcek": %s}`, ark, vcek) }), "certificates.ask: missing"},
		{"vcek missing", with(func(e *evidenceJSON) { e.certificates = fmt.Sprintf(`{"ark": %s, "ask": %s}`, ark, ask) }), "certificates.vcek: missing"},
		{"vcek and vlek", with(func(e *evidenceJSON) {
			e.certificates = fmt.Sprintf(`{"ark": %s, "ask": %s, "vcek": %s, "vlek": %s}`, ark, ask, vcek, vcek)
		}), "certificates: both vcek and vlek"},
		{"vlek without asvk", with(func(e *evidenceJSON) { e.certificates = fmt.Sprintf(`{"ark": %s, "vlek": %s}`, ark, vcek) }), "certificates.asvk: missing"},
		{"vlek with ask", with(func(e *evidenceJSON) {
			e.certificates = fmt.Sprintf(`{"ark": %s, "asvk": %s, "ask": %s, "vlek": %s}`, ark, ask, ask, vcek)
		}), "certificates.ask: not part of a vlek chain"},
		{"vcek with asvk", with(func(e *evidenceJSON) {
			e.certificates = fmt.Sprintf(`{"ark": %s, "asvk": %s, "ask": %s, "vcek": %s}`, ark, ask, ask, vcek)
		}), "certificates.asvk: not part of a vcek chain"},
		{"unknown field", with(func(e *evidenceJSON) { e.extra = `, "nonce": "00"` }), `"nonce": unknown field (want version, platform, device, report, certificates, collateral, evidence)`},
		{"field in other case", with(func(e *evidenceJSON) { e.extra = `, "Version": 1` }), `"Version": unknown field`},
		{"field twice", with(func(e *evidenceJSON) { e.extra = `, "version": 1` }), "version: duplicate key"},
		{"trailing garbage", with(func(e *evidenceJSON) { e.trailer = "x" }), "trailing data after the JSON value"},
		{"trailing brace", with(func(e *evidenceJSON) { e.trailer = "}" }), "trailing data after the JSON value"},
		{"trailing second object", with(func(e *evidenceJSON) { e.trailer = "\n{}" }), "trailing data after the JSON value at byte"},
		{"trailing NUL", with(func(e *evidenceJSON) { e.trailer = "\x00" }), "trailing data after the JSON value"},
		{"invalid UTF-8", with(func(e *evidenceJSON) { e.extra = ", \"device\": \"\xff\"" }), "not valid UTF-8"},
		{"body key twice", with(func(e *evidenceJSON) { e.extra = `, "evidence": {"version": 1, "version": 1}` }), "evidence.version: duplicate key"},
		{"too large", good.String() + strings.Repeat(" ", MaxEvidenceSize), "more than the 1048576 this reader accepts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := DecodeEvidence([]byte(tc.input))
			if err == nil {
				t.Fatalf("DecodeEvidence succeeded: %+v", ev)
			}
			if ev != nil {
				t.Errorf("DecodeEvidence returned evidence with error %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
}

func TestMarshalEvidence(t *testing.T) {
	ev := newSimEvidence(t, AttesterOptions{}, [64]byte{9})
	out, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("{\n  \"version\": 1,\n  \"platform\": \"sim-snp\",\n  \"device\": \"simulated\",\n  \"report\": %s,\n  \"certificates\": {\n    \"ark\": %s,\n    \"ask\": %s,\n    \"vcek\": %s\n  }\n}\n",
		b64(ev.Report), b64(ev.Certificates[CertARK]), b64(ev.Certificates[CertASK]), b64(ev.Certificates[CertVCEK]))
	if string(out) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", out, want)
	}
	again, err := ev.Marshal()
	if err != nil || !bytes.Equal(out, again) {
		t.Error("Marshal is not deterministic")
	}
	back, err := DecodeEvidence(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, ev) {
		t.Error("DecodeEvidence(Marshal(ev)) != ev")
	}
	var nilEv *Evidence
	if _, err := nilEv.Marshal(); err == nil {
		t.Error("nil evidence marshalled")
	}
	for name, edit := range map[string]func(e *Evidence){
		"version 2":      func(e *Evidence) { e.Version = 2 },
		"short report":   func(e *Evidence) { e.Report = e.Report[:10] },
		"no certificate": func(e *Evidence) { e.Certificates = nil },
		"platform tdx":   func(e *Evidence) { e.Platform = PlatformTDX },
	} {
		bad := cloneEvidence(ev)
		edit(bad)
		if _, err := bad.Marshal(); err == nil {
			t.Errorf("%s: Marshal succeeded", name)
		}
	}
}

// FuzzDecodeEvidence checks that no input makes the decoder panic, and that
// whatever it accepts re-encodes to canonical evidence that decodes to the
// same value. Seeds: testdata/fuzz/FuzzDecodeEvidence and those added below.
// Inputs are ~8 KiB, so minimizing one takes long; for throughput run e.g.
//
//	go test -fuzz FuzzDecodeEvidence -fuzzminimizetime 200x ./attest
func FuzzDecodeEvidence(f *testing.F) {
	good, ev := goodEvidenceJSON(f)
	canonical, err := ev.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(canonical)
	f.Add([]byte(good.String()))
	if real, err := goSevGuestEvidence(f).Marshal(); err == nil {
		f.Add(real)
	}
	f.Add([]byte(""))
	f.Add([]byte("{}"))
	f.Add([]byte(`{"version":1,"platform":"sev-snp","report":"AAAA","certificates":{}}`))
	f.Add([]byte(`{"version":2}`))
	f.Add(append(append([]byte(nil), canonical...), "x"...))
	f.Add([]byte(`{"version":1,"platform":"none"}`))
	f.Add([]byte(`{"version":1,"platform":"none","report":""}`))
	if real, err := (&Evidence{Version: 1, Platform: PlatformTDX, Report: tdxdata.RawQuote, Collateral: tdxCollateral(f)}).Marshal(); err == nil {
		f.Add(real)
	}
	if a, err := NewAttester(PlatformSimTDX, AttesterOptions{}); err == nil {
		if ev, err := a.Attest(context.Background(), [64]byte{4}); err == nil {
			if b, err := ev.Marshal(); err == nil {
				f.Add(b)
			}
		}
	}
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
			return
		}
		okSize := false
		switch {
		case ev.Platform.snp():
			okSize = len(ev.Report) == 1184 && len(ev.Certificates) >= 3
		case ev.Platform.tdx():
			okSize = len(ev.Report) >= 1020 && len(ev.Report) <= MaxQuoteSize && ev.Certificates == nil
		case ev.Platform == PlatformNone:
			okSize = ev.Report == nil && ev.Certificates == nil && ev.Collateral == nil
		}
		if !okSize || ev.Version != 1 {
			t.Fatalf("accepted evidence %s/v%d with a %d-byte report and %d certificates", ev.Platform, ev.Version, len(ev.Report), len(ev.Certificates))
		}
		out, err := ev.Marshal()
		if err != nil {
			t.Fatalf("Marshal of decoded evidence: %v", err)
		}
		back, err := DecodeEvidence(out)
		if err != nil {
			t.Fatalf("DecodeEvidence(Marshal(ev)): %v", err)
		}
		if !reflect.DeepEqual(back, ev) {
			t.Fatal("DecodeEvidence(Marshal(ev)) != ev")
		}
		again, err := back.Marshal()
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("Marshal is not canonical: %v", err)
		}
	})
}
