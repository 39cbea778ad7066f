package verify

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/attest"
)

func stepOf(r *Report, name Step) StepResult {
	for _, s := range r.Steps {
		if s.Step == name {
			return s
		}
	}
	return StepResult{}
}

// TestVerifyPolicy: a policy is applied at the tcb and measurement steps, a
// failure names the policy key, and without one the report lists the checks
// not made.
func TestVerifyPolicy(t *testing.T) {
	measurement := func() []byte { h := sha512.Sum384([]byte("image")); return h[:] }()
	nonce := sha256.Sum256([]byte("nonce"))
	bundle := writeTestBundle(t, nonce, measurement)

	rep := Verify(context.Background(), Options{Bundle: bundle, AllowSimulated: true})
	if !rep.OK {
		t.Fatalf("no policy: failed at %s: %+v", rep.Failed, rep.Steps)
	}
	notChecked := strings.Join(rep.NotChecked, "\n")
	for _, want := range []string{"policy:", "launch measurement", "nonce", "revocation"} {
		if !strings.Contains(notChecked, want) {
			t.Errorf("NotChecked does not mention %q:\n%s", want, notChecked)
		}
	}
	if !strings.Contains(rep.Verdict(), "check(s) not made") {
		t.Errorf("verdict %q does not say checks were not made", rep.Verdict())
	}

	vmpl := 0
	good := &attest.Policy{Version: 1, Platforms: []attest.Platform{attest.PlatformSimSNP},
		SNP: &attest.SNPPolicy{Measurements: [][]byte{measurement}, HostData: nonce[:], VMPL: &vmpl}}
	rep = Verify(context.Background(), Options{Bundle: bundle, AllowSimulated: true, Policy: good})
	if !rep.OK {
		t.Fatalf("good policy: failed at %s: %+v", rep.Failed, rep.Steps)
	}
	if d := stepOf(rep, StepMeasurement).Detail; !strings.Contains(d, "allowed by the policy") {
		t.Errorf("measurement detail %q", d)
	}
	if d := stepOf(rep, StepTCB).Detail; !strings.Contains(d, "HOST_DATA") || !strings.Contains(d, "VMPL 0") {
		t.Errorf("tcb detail %q does not list the policy's checks", d)
	}

	for _, tc := range []struct {
		name string
		step Step
		want string
		edit func(p *attest.Policy)
	}{
		{"measurement", StepMeasurement, "policy snp.measurements", func(p *attest.Policy) { p.SNP.Measurements = [][]byte{make([]byte, 48)} }},
		{"host data", StepTCB, "policy snp.hostData", func(p *attest.Policy) { p.SNP.HostData = make([]byte, 32) }},
		{"platform", StepTCB, "policy platforms", func(p *attest.Policy) { p.Platforms = []attest.Platform{attest.PlatformTDX} }},
		{"min TCB", StepTCB, "policy snp.minTCB.snp", func(p *attest.Policy) { p.SNP.MinTCB = &attest.SNPTCB{SNP: 99} }},
	} {
		p := *good
		sp := *good.SNP
		p.SNP = &sp
		tc.edit(&p)
		rep := Verify(context.Background(), Options{Bundle: bundle, AllowSimulated: true, Policy: &p})
		if rep.OK || rep.Failed != tc.step || !strings.Contains(stepOf(rep, tc.step).Detail, tc.want) {
			t.Errorf("%s: failed at %q: %+v; want %s naming %q", tc.name, rep.Failed, rep.Steps, tc.step, tc.want)
		}
	}
}

// TestVerifyUnattested: evidence of platform none fails at the chain step
// unless allowed, and then the hardware steps are skipped and the verdict
// says UNATTESTED.
func TestVerifyUnattested(t *testing.T) {
	bundle := writeTestBundle(t, [32]byte{}, nil)
	if err := os.WriteFile(filepath.Join(bundle, "evidence.json"), []byte(`{"version":1,"platform":"none"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := Verify(context.Background(), Options{Bundle: bundle})
	if rep.OK || rep.Failed != StepChain || !rep.Unattested || !strings.HasPrefix(rep.Verdict(), "UNATTESTED") {
		t.Fatalf("unattested: %+v, verdict %q", rep, rep.Verdict())
	}
	if d := stepOf(rep, StepChain).Detail; !strings.Contains(d, "--allow-unattested") {
		t.Errorf("chain detail %q", d)
	}
	rep = Verify(context.Background(), Options{Bundle: bundle, AllowUnattested: true, AllowSimulated: true})
	if !rep.OK || !strings.HasPrefix(rep.Verdict(), "UNATTESTED (accepted") {
		t.Fatalf("allowed: %+v, verdict %q", rep.Steps, rep.Verdict())
	}
	for _, s := range []Step{StepChain, StepTCB, StepMeasurement, StepBinding} {
		if st := stepOf(rep, s).Status; st != Skipped {
			t.Errorf("step %s: %s, want SKIP", s, st)
		}
	}
	for _, s := range []Step{StepProvenance, StepManifest, StepDependencies, StepSubjects} {
		if st := stepOf(rep, s).Status; st != Pass {
			t.Errorf("step %s: %s, want PASS", s, st)
		}
	}
}
