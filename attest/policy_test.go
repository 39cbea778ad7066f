package attest

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

var (
	hex48a = strings.Repeat("ab", 48)
	hex48b = strings.Repeat("cd", 48)
	hex32  = strings.Repeat("11", 32)
	hex16  = "03000400000000000000000000000000"
)

const examplePolicyYAML = `# Kettle verification policy
version: 1
platforms: [sev-snp, tdx]
snp:
  measurements:
    - "` + "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB" + `"
  hostData: "` + "1111111111111111111111111111111111111111111111111111111111111111" + `"
  vmpl: 0
  minTCB: {bootloader: 3, tee: 0, snp: 20, microcode: 209}
  minGuestSVN: 1
  allowDebug: false
  allowMigrationAgent: false
tdx:
  measurements:
    - mrtd: "` + "abababababababababababababababababababababababababababababababababababababababababababababababab" + `"
      rtmr2: "` + "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd" + `"
  mrConfigID: "` + "abababababababababababababababababababababababababababababababababababababababababababababababab" + `"
  minTEETCBSVN: "03000400000000000000000000000000"
  minQESVN: 0
  minPCESVN: 0
  requireCollateral: true
  allowDebug: false
`

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b := make([]byte, len(s)/2)
	for i := range b {
		var v byte
		for _, c := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= byte(c - '0')
			case c >= 'a' && c <= 'f':
				v |= byte(c - 'a' + 10)
			}
		}
		b[i] = v
	}
	return b
}

func TestParsePolicyExample(t *testing.T) {
	p, err := ParsePolicy([]byte(examplePolicyYAML))
	if err != nil {
		t.Fatal(err)
	}
	zero := 0
	var rtmr2 [4][]byte
	rtmr2[2] = mustHex(t, hex48b)
	want := &Policy{
		Version:   1,
		Platforms: []Platform{PlatformSEVSNP, PlatformTDX},
		SNP: &SNPPolicy{Measurements: [][]byte{mustHex(t, hex48a)}, HostData: mustHex(t, hex32), VMPL: &zero,
			MinTCB: &SNPTCB{BootLoader: 3, TEE: 0, SNP: 20, Microcode: 209}, MinGuestSVN: 1},
		TDX: &TDXPolicy{Measurements: []TDXMeasurement{{MRTD: mustHex(t, hex48a), RTMRs: rtmr2}}, MRConfigID: mustHex(t, hex48a),
			MinTEETCBSVN: mustHex(t, hex16), RequireCollateral: true},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("ParsePolicy =\n%+v\nwant\n%+v", p, want)
	}
	// The same policy as JSON, and Marshal's output, read back the same.
	js, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePolicy(js)
	if err != nil {
		t.Fatalf("ParsePolicy(Marshal): %v\n%s", err, js)
	}
	if !reflect.DeepEqual(back, want) {
		t.Errorf("JSON round trip =\n%+v\nwant\n%+v", back, want)
	}
	if _, err := ParsePolicy([]byte(`{"version": 1}`)); err != nil {
		t.Errorf("minimal JSON policy: %v", err)
	}
}

func TestParsePolicyBad(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "policy: empty"},
		{"blank", " \n\t", "policy: empty"},
		{"not yaml", "{", "not valid JSON or YAML"},
		{"list", "[1]", "policy: want a mapping"},
		{"scalar", "hello", "policy: want a mapping"},
		{"two documents", "version: 1\n---\nversion: 1\n", "more than one YAML document"},
		{"no version", "platforms: [tdx]", "version: missing"},
		{"version 2", "version: 2", "version: 2 is not supported"},
		{"version string", `version: "1"`, "version: want an integer, got a string"},
		{"version float", `{"version": 1.0}`, "version: want an integer, got a number"},
		{"version negative", `version: -1`, "version: want a decimal integer"},
		{"version hex", `version: 0x1`, "version: want a decimal integer"},
		{"unknown top key", "version: 1\nmeasurement: x", "measurement: unknown key (want one of azsnp, image, platforms, snp, tdx, version)"},
		{"unknown key JSON", `{"version": 1, "Version": 1}`, "Version: unknown key"},
		{"duplicate key", `{"version": 1, "version": 1}`, "version"},
		{"non-string key", "version: 1\n1: x", "key \"1\" is an integer"},
		{"platforms not list", "version: 1\nplatforms: tdx", "platforms: want a list, got a string"},
		{"image empty", `{"version": 1, "image": ""}`, "image: empty"},
		{"image not a string", `{"version": 1, "image": 1}`, "image: want a string"},
		// An empty allow-list allows nothing: refused, not read as no list.
		{"platforms empty", `{"version": 1, "platforms": []}`, "platforms: empty list"},
		{"snp measurements empty", `{"version": 1, "snp": {"measurements": []}}`, "snp.measurements: empty list"},
		{"tdx measurements empty", `{"version": 1, "tdx": {"measurements": []}}`, "tdx.measurements: empty list"},
		{"platform unknown", "version: 1\nplatforms: [sgx]", `platforms[0]: unknown attestation platform "sgx"`},
		{"platform number", "version: 1\nplatforms: [1]", "platforms[0]: want a string, got an integer"},
		{"snp not map", "version: 1\nsnp: [1]", "snp: want a mapping (an object), got a list"},
		{"snp unknown", "version: 1\nsnp: {measurement: x}", "snp.measurement: unknown key"},
		{"snp measurement short", "version: 1\nsnp: {measurements: [\"abcd\"]}", "snp.measurements[0]: want 96 hex digits (48 bytes), got 4 characters"},
		{"snp measurement not hex", "version: 1\nsnp: {measurements: [\"" + strings.Repeat("zz", 48) + "\"]}", "snp.measurements[0]: not hex"},
		{"snp measurement number", "version: 1\nsnp: {measurements: [12]}", "snp.measurements[0]: want a string of 96 hex digits (quote it), got an integer"},
		{"snp measurements not list", "version: 1\nsnp: {measurements: \"" + hex48a + "\"}", "snp.measurements: want a list, got a string"},
		{"snp hostData long", "version: 1\nsnp: {hostData: \"" + hex48a + "\"}", "snp.hostData: want 64 hex digits"},
		{"snp vmpl 4", "version: 1\nsnp: {vmpl: 4}", "snp.vmpl: 4 is out of range (want 0 to 3)"},
		{"snp vmpl bool", "version: 1\nsnp: {vmpl: true}", "snp.vmpl: want an integer, got a boolean"},
		{"snp minTCB unknown", "version: 1\nsnp: {minTCB: {fw: 1}}", "snp.minTCB.fw: unknown key"},
		{"snp minTCB 256", "version: 1\nsnp: {minTCB: {microcode: 256}}", "snp.minTCB.microcode: 256 is out of range (want 0 to 255)"},
		{"snp minTCB string", "version: 1\nsnp: {minTCB: {snp: \"20\"}}", "snp.minTCB.snp: want an integer, got a string"},
		{"snp minTCB null", "version: 1\nsnp: {minTCB: }", "snp.minTCB: want a mapping (an object), got null"},
		{"snp guest svn big", "version: 1\nsnp: {minGuestSVN: 4294967296}", "snp.minGuestSVN: 4294967296 is out of range"},
		{"snp allowDebug true", "version: 1\nsnp: {allowDebug: true}", "snp.allowDebug: true is not accepted"},
		{"snp allowDebug yes", "version: 1\nsnp: {allowDebug: yes}", "snp.allowDebug: want true or false, got a string"},
		{"snp allowMigrationAgent true", "version: 1\nsnp: {allowMigrationAgent: true}", "snp.allowMigrationAgent: true is not accepted"},
		{"tdx unknown", "version: 1\ntdx: {mrtd: x}", "tdx.mrtd: unknown key"},
		{"tdx measurement no mrtd", "version: 1\ntdx: {measurements: [{rtmr0: \"" + hex48a + "\"}]}", "tdx.measurements[0].mrtd: missing"},
		{"tdx measurement bad rtmr", "version: 1\ntdx: {measurements: [{mrtd: \"" + hex48a + "\", rtmr3: \"00\"}]}", "tdx.measurements[0].rtmr3: want 96 hex digits"},
		{"tdx measurement unknown", "version: 1\ntdx: {measurements: [{mrtd: \"" + hex48a + "\", rtmr4: \"00\"}]}", "tdx.measurements[0].rtmr4: unknown key"},
		{"tdx measurement not map", "version: 1\ntdx: {measurements: [\"" + hex48a + "\"]}", "tdx.measurements[0]: want a mapping"},
		{"tdx mrConfigID short", "version: 1\ntdx: {mrConfigID: \"" + hex32 + "\"}", "tdx.mrConfigID: want 96 hex digits"},
		{"tdx minTEETCBSVN", "version: 1\ntdx: {minTEETCBSVN: \"03\"}", "tdx.minTEETCBSVN: want 32 hex digits"},
		{"tdx minQESVN big", "version: 1\ntdx: {minQESVN: 65536}", "tdx.minQESVN: 65536 is out of range"},
		{"tdx minPCESVN string", "version: 1\ntdx: {minPCESVN: \"1\"}", "tdx.minPCESVN: want an integer, got a string"},
		{"tdx requireCollateral string", "version: 1\ntdx: {requireCollateral: \"true\"}", "tdx.requireCollateral: want true or false, got a string"},
		{"tdx allowDebug true", "version: 1\ntdx: {allowDebug: true}", "tdx.allowDebug: true is not accepted"},
		{"alias", "version: 1\nsnp: &a {vmpl: 0}\ntdx: *a", "tdx: want a mapping (an object), got an alias"},
		{"oversized", "version: 1\n#" + strings.Repeat("x", MaxPolicySize), "more than the"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParsePolicy(%.60q) = %v, %v; want error containing %q", tc.in, p, err, tc.want)
			}
		})
	}
}

func TestPolicyCheckSimSNP(t *testing.T) {
	var hostData [32]byte
	copy(hostData[:], "host")
	ev := newSimEvidence(t, AttesterOptions{HostData: hostData}, [64]byte{1})
	claims, err := Verify(context.Background(), ev, simOptions())
	if err != nil {
		t.Fatal(err)
	}
	base := func() *Policy {
		vmpl := 0
		return &Policy{Version: 1, Platforms: []Platform{PlatformSimSNP}, SNP: &SNPPolicy{
			Measurements: [][]byte{DefaultSimMeasurement()}, HostData: hostData[:], VMPL: &vmpl,
			MinTCB: &SNPTCB{BootLoader: 4, SNP: 22, Microcode: 213}}}
	}
	rep, err := base().CheckTCB(claims)
	if err != nil {
		t.Fatalf("CheckTCB: %v", err)
	}
	if len(rep.Checked) != 4 || len(rep.NotChecked) != 0 {
		t.Errorf("report %+v, want 4 checks made and none skipped", rep)
	}
	if ok, _, err := base().CheckMeasurement(claims); !ok || err != nil {
		t.Errorf("CheckMeasurement = %v, %v", ok, err)
	}
	for _, tc := range []struct {
		name, key string
		edit      func(p *Policy)
	}{
		{"platform", "platforms", func(p *Policy) { p.Platforms = []Platform{PlatformSEVSNP} }},
		{"bootloader", "snp.minTCB.bootloader", func(p *Policy) { p.SNP.MinTCB.BootLoader = 5 }},
		{"snp", "snp.minTCB.snp", func(p *Policy) { p.SNP.MinTCB.SNP = 23 }},
		{"microcode", "snp.minTCB.microcode", func(p *Policy) { p.SNP.MinTCB.Microcode = 214 }},
		{"tee", "snp.minTCB.tee", func(p *Policy) { p.SNP.MinTCB.TEE = 1 }},
		{"guest svn", "snp.minGuestSVN", func(p *Policy) { p.SNP.MinGuestSVN = 1 }},
		{"host data", "snp.hostData", func(p *Policy) { p.SNP.HostData = make([]byte, 32) }},
		{"vmpl", "snp.vmpl", func(p *Policy) { v := 1; p.SNP.VMPL = &v }},
	} {
		p := base()
		tc.edit(p)
		_, err := p.CheckTCB(claims)
		var pe *PolicyError
		if !errors.As(err, &pe) || pe.Key != tc.key {
			t.Errorf("%s: CheckTCB = %v, want a PolicyError at %s", tc.name, err, tc.key)
		}
	}
	p := base()
	p.SNP.Measurements = [][]byte{bytes.Repeat([]byte{1}, 48)}
	if _, _, err := p.CheckMeasurement(claims); err == nil || !strings.Contains(err.Error(), "policy snp.measurements: MEASUREMENT") {
		t.Errorf("CheckMeasurement with another measurement = %v", err)
	}
	empty := &Policy{Version: 1}
	rep, err = empty.CheckTCB(claims)
	if err != nil || len(rep.NotChecked) == 0 {
		t.Errorf("empty policy: %+v, %v; want the skipped checks listed", rep, err)
	}
	if ok, _, err := empty.CheckMeasurement(claims); ok || err != nil {
		t.Errorf("empty policy CheckMeasurement = %v, %v; want not checked", ok, err)
	}
}

func TestPolicyCheckSimTDX(t *testing.T) {
	var nonce [32]byte
	copy(nonce[:], "nonce")
	a, err := NewAttester(PlatformSimTDX, AttesterOptions{HostData: nonce})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := a.Attest(context.Background(), [64]byte{2})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := Verify(context.Background(), ev, simOptions())
	if err != nil {
		t.Fatal(err)
	}
	mrConfig := append(nonce[:], make([]byte, 16)...)
	base := func() *Policy {
		return &Policy{Version: 1, TDX: &TDXPolicy{
			Measurements: []TDXMeasurement{{MRTD: DefaultSimTDXMeasurement(), RTMRs: [4][]byte{make([]byte, 48)}}},
			MRConfigID:   mrConfig, MinTEETCBSVN: mustHex(t, "03000500000000000000000000000000"), MinQESVN: 8, MinPCESVN: 11}}
	}
	if _, err := base().CheckTCB(claims); err != nil {
		t.Fatalf("CheckTCB: %v", err)
	}
	if ok, _, err := base().CheckMeasurement(claims); !ok || err != nil {
		t.Fatalf("CheckMeasurement = %v, %v", ok, err)
	}
	for _, tc := range []struct {
		key  string
		edit func(p *Policy)
	}{
		{"tdx.minTEETCBSVN", func(p *Policy) { p.TDX.MinTEETCBSVN[2] = 6 }},
		{"tdx.minQESVN", func(p *Policy) { p.TDX.MinQESVN = 9 }},
		{"tdx.minPCESVN", func(p *Policy) { p.TDX.MinPCESVN = 12 }},
		{"tdx.mrConfigID", func(p *Policy) { p.TDX.MRConfigID = make([]byte, 48) }},
		{"tdx.requireCollateral", func(p *Policy) { p.TDX.RequireCollateral = true }},
	} {
		p := base()
		tc.edit(p)
		_, err := p.CheckTCB(claims)
		var pe *PolicyError
		if !errors.As(err, &pe) || pe.Key != tc.key {
			t.Errorf("CheckTCB = %v, want a PolicyError at %s", err, tc.key)
		}
	}
	p := base()
	p.TDX.Measurements[0].RTMRs[0] = bytes.Repeat([]byte{1}, 48)
	if _, _, err := p.CheckMeasurement(claims); err == nil || !strings.Contains(err.Error(), "RTMRs") {
		t.Errorf("RTMR mismatch: %v", err)
	}
	p.TDX.Measurements[0].MRTD = bytes.Repeat([]byte{1}, 48)
	if _, _, err := p.CheckMeasurement(claims); err == nil || !strings.Contains(err.Error(), "tdx.measurements: MRTD") {
		t.Errorf("MRTD mismatch: %v", err)
	}
}

// FuzzParsePolicy: no input panics; every accepted policy is version 1 with
// fields of the sizes the schema fixes, and reads back equal from Marshal.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(examplePolicyYAML))
	f.Add([]byte(`{"version": 1, "platforms": ["sim-snp"], "snp": {"vmpl": 0, "minTCB": {"snp": 1}}}`))
	f.Add([]byte("version: 1\ntdx: {measurements: [{mrtd: \"" + hex48a + "\"}], requireCollateral: true}"))
	f.Add([]byte("version: 1\nsnp: &a {vmpl: 0}\ntdx: *a"))
	f.Add([]byte(`{"version": 1, "version": 2}`))
	f.Add([]byte(`{"version": 1, "platforms": ["az-snp"], "azsnp": {"pcrs": {"7": ["` + strings.Repeat("ab", 32) + `"]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			if p != nil {
				t.Fatal("policy returned with an error")
			}
			return
		}
		if p.Version != PolicyVersion {
			t.Fatalf("accepted version %d", p.Version)
		}
		if p.SNP != nil {
			for _, m := range p.SNP.Measurements {
				if len(m) != 48 {
					t.Fatalf("measurement of %d bytes", len(m))
				}
			}
			if p.SNP.HostData != nil && len(p.SNP.HostData) != 32 {
				t.Fatalf("hostData of %d bytes", len(p.SNP.HostData))
			}
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParsePolicy(out)
		if err != nil {
			t.Fatalf("Marshal output refused: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, p) {
			t.Fatalf("round trip changed the policy:\n%+v\n%+v", p, back)
		}
	})
}

// TestPolicyEmptyListAllowsNothing: a Policy built in code with an empty,
// non-nil allow-list allows no platform and no measurement.
func TestPolicyEmptyListAllowsNothing(t *testing.T) {
	c := &Claims{Platform: PlatformSimSNP, Measurement: make([]byte, 48)}
	p := &Policy{Version: 1, Platforms: []Platform{}}
	if _, err := p.CheckTCB(c); err == nil {
		t.Error("an empty platforms list allowed a platform")
	}
	p = &Policy{Version: 1, SNP: &SNPPolicy{Measurements: [][]byte{}}}
	if ok, _, err := p.CheckMeasurement(c); err == nil {
		t.Errorf("an empty measurements list allowed a measurement (ok=%t)", ok)
	}
}
