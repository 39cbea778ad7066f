package azsnp

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/google/go-sev-guest/abi"
	"github.com/kettle-build/kettle/attest/internal/step"
)

// Step names a verification step.
type Step string

// The steps of Verify, in order, then the binding step of CheckBinding.
const (
	StepEvidence      Step = "evidence"
	StepHCLReport     Step = "hcl-report"
	StepSNPReport     Step = "snp-report"
	StepRuntimeClaims Step = "runtime-claims"
	StepAK            Step = "attestation-key"
	StepQuote         Step = "quote"
	StepPCRs          Step = "pcrs"
	StepPCRPolicy     Step = "pcr-policy"
	StepBinding       Step = "binding"
)

// Title returns the step's name as verification reports show it.
func (s Step) Title() string {
	switch s {
	case StepEvidence:
		return "az-snp evidence"
	case StepHCLReport:
		return "HCL report"
	case StepSNPReport:
		return "SEV-SNP report"
	case StepRuntimeClaims:
		return "HCL runtime claims"
	case StepAK:
		return "vTPM attestation key"
	case StepQuote:
		return "TPM quote"
	case StepPCRs:
		return "PCR values"
	case StepPCRPolicy:
		return "PCR policy"
	case StepBinding:
		return "quote qualifying data"
	}
	return string(s)
}

// StepError is a verification failure at one step: its Step and the
// underlying Err. Error returns the step's title, ": ", and Err's message;
// Unwrap returns Err.
type StepError = step.Error[Step]

func stepError(s Step, err error) *StepError { return &StepError{Step: s, Err: err} }

// SNPVerifier verifies an SEV-SNP attestation report signed by the VCEK
// whose DER certificate is given: the VCEK up to a pinned AMD root (or a
// TEST-ONLY root, for which it returns simulated), the report's signature,
// and whatever TCB policy the caller applies. Package attest provides one.
type SNPVerifier func(ctx context.Context, report, vcek []byte) (simulated bool, err error)

// PCRPolicy says which values PCRs may hold: for each PCR index listed, the
// PCR must equal one of the values (32 bytes each). PCRs not listed may hold
// anything.
type PCRPolicy map[int][][]byte

// Check checks pcrs (index order) against p.
func (p PCRPolicy) Check(pcrs [][]byte) error {
	for i := 0; i < NumPCRs; i++ {
		allowed, ok := p[i]
		if !ok {
			continue
		}
		found := false
		for _, v := range allowed {
			found = found || bytes.Equal(v, pcrs[i])
		}
		if !found {
			want := make([]string, len(allowed))
			for j, v := range allowed {
				want[j] = hex.EncodeToString(v)
			}
			return fmt.Errorf("PCR %d is %x, not an allowed value %v", i, pcrs[i], want)
		}
	}
	for i := range p {
		if i < 0 || i >= NumPCRs {
			return fmt.Errorf("policy names PCR %d; a quote covers PCRs 0 to 23", i)
		}
	}
	return nil
}

// Options configure Verify.
type Options struct {
	// VerifySNP checks the SEV-SNP report and its VCEK. Required.
	VerifySNP SNPVerifier
	// PCRs, when set, is the policy on the PCR values.
	PCRs PCRPolicy
}

// Claims is what verified az-snp evidence says.
type Claims struct {
	// Simulated is true when the SEV-SNP report was signed by a TEST-ONLY
	// chain: the evidence says nothing about hardware.
	Simulated bool
	// HCL is the decoded HCL report; HCL.SNPReport is the verified report.
	HCL *HCLReport
	// ReportData is the SEV-SNP report's REPORT_DATA.
	ReportData [64]byte
	VTPMClaims
}

// VTPMClaims is what the vTPM half of az-snp evidence says, the same for
// the SEV-SNP and the TDX flavour.
type VTPMClaims struct {
	// RuntimeClaims are the runtime claims the hardware report commits to.
	RuntimeClaims *RuntimeClaims
	// AK is the vTPM attestation key the runtime claims name.
	AK *rsa.PublicKey
	// Quote is the decoded quote the AK signed.
	Quote *QuoteInfo
	// PCRs are the 24 SHA-256 PCR values the quote commits to.
	PCRs [][]byte
	// ExtraData is the quote's qualifying data: the caller's binding (see
	// CheckBinding).
	ExtraData []byte
}

// verifyVTPM checks the vTPM half, once the hardware report has been
// found to commit to the runtime claims: the attestation key they name,
// its signature of the quote, and that the quote commits to the PCR values
// shipped.
func (c *VTPMClaims) verifyVTPM(runtimeClaims []byte, q Quote) error {
	var err error
	if c.RuntimeClaims, err = ParseRuntimeClaims(runtimeClaims); err != nil {
		return stepError(StepRuntimeClaims, err)
	}
	if c.AK, err = c.RuntimeClaims.AK(); err != nil {
		return stepError(StepAK, err)
	}
	if c.Quote, err = ParseQuoteMessage(q.Message); err != nil {
		return stepError(StepQuote, err)
	}
	if err := q.CheckSignature(c.AK); err != nil {
		return stepError(StepQuote, err)
	}
	c.ExtraData = c.Quote.ExtraData
	digest, err := PCRDigest(q.PCRs)
	if err != nil {
		return stepError(StepPCRs, err)
	}
	if !bytes.Equal(digest, c.Quote.PCRDigest) {
		return stepError(StepPCRs, fmt.Errorf("SHA-256 of the 24 PCR values is %x, but the quote's PCR digest is %x", digest, c.Quote.PCRDigest))
	}
	c.PCRs = q.PCRs
	return nil
}

// Verify checks az-snp evidence in the order of the package documentation
// and returns its claims. A failure is a *StepError naming the step and the
// field; an error of opts.VerifySNP is wrapped unchanged in a StepSNPReport
// error, so that errors.As finds the verifier's own error type. A cancelled
// ctx returns ctx's error.
func Verify(ctx context.Context, ev *Evidence, opts Options) (*Claims, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.VerifySNP == nil {
		return nil, errors.New("azsnp.Verify: no SEV-SNP verifier given")
	}
	if ev == nil {
		return nil, stepError(StepEvidence, errors.New("no evidence"))
	}
	if ev.Version != EvidenceVersion {
		return nil, stepError(StepEvidence, fmt.Errorf("version %d is not supported (want %d)", ev.Version, EvidenceVersion))
	}
	hcl, err := ParseHCLReport(ev.HCLReport)
	if err != nil {
		return nil, stepError(StepHCLReport, err)
	}
	c := &Claims{HCL: hcl}
	if len(ev.VCEK) == 0 {
		return nil, stepError(StepSNPReport, errors.New("vcek: missing"))
	}
	if c.Simulated, err = opts.VerifySNP(ctx, hcl.SNPReport, ev.VCEK); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, stepError(StepSNPReport, err)
	}
	report, err := abi.ReportToProto(hcl.SNPReport)
	if err != nil { // the verifier accepted it, so this does not happen
		return nil, stepError(StepSNPReport, err)
	}
	copy(c.ReportData[:], report.GetReportData())

	// The report commits to the runtime claims.
	sum, err := hcl.RuntimeClaimsDigest()
	if err != nil {
		return nil, stepError(StepRuntimeClaims, err)
	}
	want := make([]byte, 64)
	copy(want, sum)
	if !bytes.Equal(c.ReportData[:], want) {
		return nil, stepError(StepRuntimeClaims, fmt.Errorf("SEV-SNP REPORT_DATA is %x, want the hash of the runtime claims %x followed by zeros", c.ReportData, sum))
	}
	// The AK they name signed the quote, which commits to the PCRs shipped.
	if err := c.verifyVTPM(hcl.RuntimeClaims, ev.Quote); err != nil {
		return nil, err
	}
	if opts.PCRs != nil {
		if err := opts.PCRs.Check(c.PCRs); err != nil {
			return c, stepError(StepPCRPolicy, err)
		}
	}
	return c, nil
}
