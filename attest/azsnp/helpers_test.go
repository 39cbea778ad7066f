package azsnp_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	"github.com/google/go-sev-guest/verify/trust"
	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/attest/azsnp"
	"github.com/kettle-build/kettle/attest/sim"
)

// fixtureDir is the bundle made on an Azure SEV-SNP CVM by the foreign
// attested-build tool, shared with the project, never copied into it.
var fixtureDir = filepath.Join("..", "..", "..", "shared", "fixtures", "azure-snp-ripgrep")

// Known facts of the fixture (its README).
const (
	fixtureFileSHA256    = "df7c356f42f58e56bebc5a04ca67bd7f15c0f8401598e25ab252581a318fa282"
	fixtureCompactSHA256 = "0672eef25d413c0c0326447e3a0a0635d4b2052c0e3a6abd46e042a9b1aed296"
)

// fixtureNow is inside the validity of the fixture's VCEK (2025-01-28 to
// 2032-01-28) and of AMD's Milan ASK and ARK.
var fixtureNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// readFixture returns a file of the fixture, skipping the test when the
// fixture is absent.
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s is not present: skipping the test on the Azure SEV-SNP fixture", filepath.Join(fixtureDir, name))
	}
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func fixtureEvidence(t testing.TB) *azsnp.Evidence {
	t.Helper()
	ev, err := azsnp.DecodeEvidence(readFixture(t, "evidence.json"))
	if err != nil {
		t.Fatalf("DecodeEvidence(fixture): %v", err)
	}
	return ev
}

// snpVerifier verifies the embedded SEV-SNP report with package attest: as
// sev-snp evidence with AMD's ASK and ARK for the report's product line, or,
// when allowSimulated is set and that fails, as sim-snp evidence with
// Kettle's TEST-ONLY chain.
func snpVerifier(now time.Time, allowSimulated bool) azsnp.SNPVerifier {
	return func(ctx context.Context, report, vcek []byte) (bool, error) {
		line := "Milan"
		if p, err := abi.ReportToProto(report); err == nil && p.GetCpuid1EaxFms() != 0 {
			line = kds.ProductLine(abi.SevProductFromCpuid1Eax(p.GetCpuid1EaxFms()))
		}
		chains := map[string][]byte{"Milan": trust.AskArkMilanVcekBytes, "Genoa": trust.AskArkGenoaVcekBytes, "Turin": trust.AskArkTurinVcekBytes}
		pems, ok := chains[line]
		if !ok {
			return false, fmt.Errorf("product line %q has no AMD root", line)
		}
		ask, ark, err := kds.ParseProductCertChain([]byte(strings.TrimSpace(string(pems))))
		if err != nil {
			return false, err
		}
		ev := &attest.Evidence{Version: 1, Platform: attest.PlatformSEVSNP, Report: report,
			Certificates: map[string][]byte{attest.CertVCEK: vcek, attest.CertASK: ask, attest.CertARK: ark}}
		_, err = attest.Verify(ctx, ev, attest.VerifyOptions{Now: now})
		if err == nil || !allowSimulated {
			return false, err
		}
		s, serr := sim.NewSNPSigner()
		if serr != nil {
			return false, serr
		}
		chain := s.Chain()
		ev.Platform = attest.PlatformSimSNP
		ev.Certificates[attest.CertASK], ev.Certificates[attest.CertARK] = chain.ASK, chain.ARK
		claims, serr := attest.Verify(ctx, ev, attest.VerifyOptions{Now: now, AllowSimulated: true})
		if serr != nil {
			return false, fmt.Errorf("%w; as simulated evidence: %v", err, serr)
		}
		return claims.Simulated, nil
	}
}

func fixtureOptions() azsnp.Options {
	return azsnp.Options{VerifySNP: snpVerifier(fixtureNow, false)}
}

// wantStep fails the test unless err is a *azsnp.StepError of step whose
// message contains substr.
func wantStep(t testing.TB, err error, step azsnp.Step, substr string) {
	t.Helper()
	var se *azsnp.StepError
	if !errors.As(err, &se) {
		t.Fatalf("error %v, want a %s step error", err, step)
	}
	if se.Step != step {
		t.Fatalf("step %s (%v), want %s", se.Step, err, step)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %q does not contain %q", err, substr)
	}
}

func cloneEvidence(ev *azsnp.Evidence) *azsnp.Evidence {
	c := *ev
	clone := func(b []byte) []byte { return append([]byte(nil), b...) }
	c.HCLReport, c.VCEK = clone(ev.HCLReport), clone(ev.VCEK)
	c.Quote.Signature, c.Quote.Message = clone(ev.Quote.Signature), clone(ev.Quote.Message)
	c.Quote.PCRs = make([][]byte, len(ev.Quote.PCRs))
	for i, p := range ev.Quote.PCRs {
		c.Quote.PCRs[i] = clone(p)
	}
	return &c
}

func asStep(err error, se **azsnp.StepError) bool { return errors.As(err, se) }
