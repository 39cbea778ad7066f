package attest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/kettle-build/kettle/attest/sim"
)

// testNow is inside the validity of every certificate the tests use.
var testNow = time.Date(2026, time.March, 1, 0, 0, 0, 0, time.UTC)

func simOptions() VerifyOptions { return VerifyOptions{AllowSimulated: true, Now: testNow} }

// newSimEvidence attests reportData with a fresh sim-snp attester.
func newSimEvidence(t testing.TB, opts AttesterOptions, reportData [64]byte) *Evidence {
	t.Helper()
	a, err := NewAttester(PlatformSimSNP, opts)
	if err != nil {
		t.Fatalf("NewAttester: %v", err)
	}
	ev, err := a.Attest(context.Background(), reportData)
	if err != nil {
		t.Fatalf("Attest: %v", err)
	}
	return ev
}

// signedSimEvidence signs a report of the simulated chip after edit changed
// it, and wraps it with the TEST-ONLY chain: evidence whose chain holds.
func signedSimEvidence(t testing.TB, edit func(r *spb.Report)) *Evidence {
	t.Helper()
	s, err := sim.NewSNPSigner()
	if err != nil {
		t.Fatal(err)
	}
	var f sim.ReportFields
	copy(f.ReportData[:], "signedSimEvidence report data")
	copy(f.Measurement[:], DefaultSimMeasurement())
	r := sim.NewSNPReport(f)
	if edit != nil {
		edit(r)
	}
	raw, err := s.Sign(r)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	chain := s.Chain()
	return &Evidence{Version: 1, Platform: PlatformSimSNP, Report: raw,
		Certificates: map[string][]byte{CertARK: chain.ARK, CertASK: chain.ASK, CertVCEK: chain.VCEK}}
}

func cloneEvidence(ev *Evidence) *Evidence {
	c := *ev
	c.Report = append([]byte(nil), ev.Report...)
	c.Certificates = nil
	if ev.Certificates != nil {
		c.Certificates = map[string][]byte{}
		for k, v := range ev.Certificates {
			c.Certificates[k] = append([]byte(nil), v...)
		}
	}
	return &c
}

// wantStepError checks that err is a *StepError at step whose message
// contains every one of substrs.
func wantStepError(t testing.TB, err error, step Step, substrs ...string) *StepError {
	t.Helper()
	var se *StepError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *StepError", err, err)
	}
	if se.Step != step {
		t.Errorf("error at step %q, want %q: %v", se.Step, step, err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, step.Title()+": ") {
		t.Errorf("error %q does not start with %q", msg, step.Title())
	}
	for _, s := range substrs {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not mention %q", msg, s)
		}
	}
	return se
}
