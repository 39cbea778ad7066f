package azsnp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kettle-build/kettle/internal/strictjson"
)

// TDXPlatform is the platform name of Azure TDX evidence, as the foreign
// attested-build tool's attestation library writes it.
const TDXPlatform = "az-tdx"

// MaxTDQuoteSize bounds the TD quote of Azure TDX evidence.
const MaxTDQuoteSize = 64 << 10

// TDXEvidence is the body of Azure TDX evidence, as the foreign
// attested-build tool's attestation library writes it
// (github.com/confidential-dot-ai/attestation-rs, commit 026cbda,
// src/platforms/az_tdx/evidence.rs and attest.rs):
//
//	{
//	  "version": 1,
//	  "tpm_quote": {"signature": "<hex>", "message": "<hex>", "pcrs": ["<hex>", …]},
//	  "hcl_report": "<unpadded base64url: the HCL report, report type TDX>",
//	  "td_quote": "<unpadded base64url: the TD quote Azure's IMDS returned>"
//	}
//
// The quote's qualifying data is the caller's report data, unpadded; the
// TD quote's REPORTDATA begins with the SHA-256 of the HCL runtime claims,
// which name the vTPM attestation key.
type TDXEvidence struct {
	Version   int
	Quote     Quote
	HCLReport []byte
	TDQuote   []byte
}

// ParseTDXEvidenceBody reads the body of Azure TDX evidence as strictly as
// ParseEvidenceBody reads az-snp's: every field required, no other field.
func ParseTDXEvidenceBody(data []byte) (*TDXEvidence, error) {
	var j struct {
		Version   *int       `json:"version"`
		TPMQuote  *quoteJSON `json:"tpm_quote"`
		HCLReport *string    `json:"hcl_report"`
		TDQuote   *string    `json:"td_quote"`
	}
	if err := strictjson.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	if err := checkVTPMFields(j.Version, j.TPMQuote, j.HCLReport); err != nil {
		return nil, err
	}
	if j.TDQuote == nil {
		return nil, errors.New("evidence.td_quote: missing")
	}
	quote, hcl, err := decodeVTPMFields(j.TPMQuote, j.HCLReport)
	if err != nil {
		return nil, err
	}
	ev := &TDXEvidence{Version: *j.Version, Quote: quote, HCLReport: hcl}
	if ev.TDQuote, err = decodeBase64URL(*j.TDQuote); err != nil {
		return nil, fmt.Errorf("evidence.td_quote: %w", err)
	}
	if len(ev.TDQuote) == 0 || len(ev.TDQuote) > MaxTDQuoteSize {
		return nil, fmt.Errorf("evidence.td_quote: %d bytes, want 1 to %d", len(ev.TDQuote), MaxTDQuoteSize)
	}
	return ev, nil
}

// MarshalBody returns the compact JSON of the evidence body, in the field
// order of the type's documentation.
func (e *TDXEvidence) MarshalBody() ([]byte, error) {
	return json.Marshal(struct {
		Version   int          `json:"version"`
		TPMQuote  quoteJSONOut `json:"tpm_quote"`
		HCLReport string       `json:"hcl_report"`
		TDQuote   string       `json:"td_quote"`
	}{e.Version, newQuoteJSONOut(e.Quote), base64.RawURLEncoding.EncodeToString(e.HCLReport), base64.RawURLEncoding.EncodeToString(e.TDQuote)})
}

// TDQuoteVerifier verifies a TD quote up to a pinned Intel (or, for which
// it returns simulated, TEST-ONLY) root and returns its REPORTDATA.
// Package attest provides one.
type TDQuoteVerifier func(ctx context.Context, quote []byte) (reportData [64]byte, simulated bool, err error)

// TDXClaims is what verified Azure TDX evidence says of the vTPM half.
type TDXClaims struct {
	// Simulated is true when the TD quote was signed by a TEST-ONLY chain.
	Simulated bool
	// HCL is the decoded HCL report.
	HCL *HCLReport
	VTPMClaims
}

// VerifyTDX checks Azure TDX evidence: the HCL report (TDX type), the TD
// quote with verifyQuote, that the quote's REPORTDATA begins with the hash
// of the HCL runtime claims (the attestation library checks its first 32
// bytes against their SHA-256; so does this), the vTPM attestation key they
// name, its signature of the TPM quote, and the PCR values. Failures are
// *StepError; a verifyQuote error is wrapped in a StepSNPReport error
// (the hardware report's step).
func VerifyTDX(ctx context.Context, ev *TDXEvidence, verifyQuote TDQuoteVerifier) (*TDXClaims, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if verifyQuote == nil {
		return nil, errors.New("azsnp.VerifyTDX: no TD quote verifier given")
	}
	if ev == nil {
		return nil, stepError(StepEvidence, errors.New("no evidence"))
	}
	if ev.Version != EvidenceVersion {
		return nil, stepError(StepEvidence, fmt.Errorf("version %d is not supported (want %d)", ev.Version, EvidenceVersion))
	}
	hcl, err := ParseTDXHCLReport(ev.HCLReport)
	if err != nil {
		return nil, stepError(StepHCLReport, err)
	}
	c := &TDXClaims{HCL: hcl}
	rd, sim, err := verifyQuote(ctx, ev.TDQuote)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, stepError(StepSNPReport, err)
	}
	c.Simulated = sim
	sum, err := hcl.RuntimeClaimsDigest()
	if err != nil {
		return nil, stepError(StepRuntimeClaims, err)
	}
	if !bytes.Equal(rd[:len(sum)], sum) {
		return nil, stepError(StepRuntimeClaims, fmt.Errorf("TD quote REPORTDATA is %x, want it to begin with the hash of the runtime claims %x", rd, sum))
	}
	if err := c.verifyVTPM(hcl.RuntimeClaims, ev.Quote); err != nil {
		return nil, err
	}
	return c, nil
}
