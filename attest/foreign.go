package attest

// Evidence in the foreign attested-build tool's shapes. That tool
// (github.com/confidential-dot-ai/kettle, formerly lunal-dev/kettle) writes
// evidence.json with the attestation library
// github.com/confidential-dot-ai/attestation-rs (commit 026cbda, the one
// its Cargo.lock pins at its commit e6e991c): src/types.rs
// AttestationEvidence is the envelope {"platform": …, "evidence": {…}};
// src/platforms/{snp,tdx,az_snp,az_tdx}/evidence.rs and attest.rs the
// bodies. Its src/commands/attest.rs (embed_snp_vcek) embeds the VCEK in
// bare SEV-SNP evidence that lacks it. The layouts are restated here, not
// copied.

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-sev-guest/abi"
	tabi "github.com/google/go-tdx-guest/abi"
	"github.com/kettle-build/kettle/attest/azsnp"
	"github.com/kettle-build/kettle/internal/strictjson"
)

// MaxEventLogSize bounds the CC event log of foreign tdx evidence (the
// guest's CCEL table, 64 KiB on the machines the tool's tests show, at
// most 1 MiB of evidence in all).
const MaxEventLogSize = MaxEvidenceSize

// foreignEnvelope reports whether members are the foreign tool's envelope:
// exactly "platform" and "evidence", no version.
func foreignEnvelope(members map[string]json.RawMessage) bool {
	_, p := members["platform"]
	_, body := members["evidence"]
	return p && body && len(members) == 2
}

// decodeForeignEvidence reads the foreign tool's evidence: the platform as
// its envelope names it, and the body of that platform, strictly (the
// library refuses unknown fields in the bare platforms' bodies; this
// reader refuses them in all).
func decodeForeignEvidence(members map[string]json.RawMessage) (*Evidence, error) {
	name, err := decodeString(members["platform"])
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	body := members["evidence"]
	ev := &Evidence{Version: EvidenceVersion, Foreign: true, ForeignPlatform: name}
	switch name {
	case "az-snp":
		ev.Platform = PlatformAzSNP
		if ev.AzSNP, err = azsnp.ParseEvidenceBody(body); err != nil {
			return nil, err
		}
	case "snp", "gcp-snp":
		ev.Platform = PlatformSEVSNP
		if err := ev.decodeForeignSNP(body); err != nil {
			return nil, err
		}
	case "tdx", "gcp-tdx":
		ev.Platform = PlatformTDX
		if err := ev.decodeForeignTDX(body); err != nil {
			return nil, err
		}
	case azsnp.TDXPlatform:
		ev.Platform = PlatformAzTDX
		if ev.AzTDX, err = azsnp.ParseTDXEvidenceBody(body); err != nil {
			return nil, err
		}
	case "dstack":
		return nil, errors.New("platform: dstack evidence of the foreign tool is not read by this build")
	default:
		return nil, fmt.Errorf("platform: unknown platform %q in the foreign tool's envelope (want snp, gcp-snp, tdx, gcp-tdx, az-snp or az-tdx)", name)
	}
	if err := ev.validate(); err != nil {
		return nil, err
	}
	return ev, nil
}

// decodeForeignSNP reads {"attestation_report": std base64, "cert_chain":
// null | {"vcek": std base64, "ask": …|null, "ark": …|null}}. The ASK and
// ARK, when present, are read but not kept: the verifier pins its own, as
// the library does.
func (e *Evidence) decodeForeignSNP(body []byte) error {
	var j struct {
		Report *string `json:"attestation_report"`
		Chain  *struct {
			VCEK *string `json:"vcek"`
			ASK  *string `json:"ask"`
			ARK  *string `json:"ark"`
		} `json:"cert_chain"`
	}
	if err := strictjson.Unmarshal(body, &j); err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	if j.Report == nil {
		return errors.New("evidence.attestation_report: missing")
	}
	var err error
	if e.Report, err = decodeStdBase64(*j.Report); err != nil {
		return fmt.Errorf("evidence.attestation_report: %w", err)
	}
	if j.Chain == nil {
		return nil
	}
	if j.Chain.VCEK == nil {
		return errors.New("evidence.cert_chain.vcek: missing")
	}
	vcek, err := decodeStdBase64(*j.Chain.VCEK)
	if err != nil {
		return fmt.Errorf("evidence.cert_chain.vcek: %w", err)
	}
	for _, c := range []struct {
		name string
		v    *string
	}{{"ask", j.Chain.ASK}, {"ark", j.Chain.ARK}} {
		if c.v == nil {
			continue
		}
		der, err := decodeStdBase64(*c.v)
		if err != nil {
			return fmt.Errorf("evidence.cert_chain.%s: %w", c.name, err)
		}
		if _, err := x509.ParseCertificate(der); err != nil {
			return fmt.Errorf("evidence.cert_chain.%s: not a DER X.509 certificate: %w", c.name, err)
		}
	}
	e.Certificates = map[string][]byte{CertVCEK: vcek}
	return nil
}

// decodeForeignTDX reads {"quote": std base64, "cc_eventlog": std base64 |
// null}.
func (e *Evidence) decodeForeignTDX(body []byte) error {
	var j struct {
		Quote    *string `json:"quote"`
		EventLog *string `json:"cc_eventlog"`
	}
	if err := strictjson.Unmarshal(body, &j); err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	if j.Quote == nil {
		return errors.New("evidence.quote: missing")
	}
	var err error
	if e.Report, err = decodeStdBase64(*j.Quote); err != nil {
		return fmt.Errorf("evidence.quote: %w", err)
	}
	if j.EventLog != nil {
		if e.EventLog, err = decodeStdBase64(*j.EventLog); err != nil {
			return fmt.Errorf("evidence.cc_eventlog: %w", err)
		}
		if len(e.EventLog) == 0 || len(e.EventLog) > MaxEventLogSize {
			return fmt.Errorf("evidence.cc_eventlog: %d bytes, want 1 to %d", len(e.EventLog), MaxEventLogSize)
		}
	}
	return nil
}

// decodeStdBase64 reads canonical standard base64 with padding, as the
// library's base64 engine STANDARD writes and reads it.
func decodeStdBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not canonical base64: %w", err)
	}
	return b, nil
}

// validateForeign checks foreign evidence beyond its JSON: what each
// platform's body must hold.
func (e *Evidence) validateForeign() error {
	if !e.Foreign {
		return fmt.Errorf("platform: %s evidence is read only in the foreign tool's shape", e.Platform)
	}
	if e.Device != "" || e.Collateral != nil {
		return errors.New("device, collateral: not part of the foreign tool's evidence")
	}
	if e.EventLog != nil && !e.Platform.tdx() {
		return errors.New("evidence.cc_eventlog: only tdx evidence carries an event log")
	}
	if e.AzTDX != nil && e.Platform != PlatformAzTDX {
		return fmt.Errorf("evidence: an az-tdx body in %s evidence", e.Platform)
	}
	switch {
	case e.Platform == PlatformAzSNP:
		if e.AzSNP == nil {
			return errors.New("evidence: missing")
		}
	case e.Platform == PlatformAzTDX:
		if e.AzTDX == nil {
			return errors.New("evidence: missing")
		}
	case e.Platform == PlatformSEVSNP:
		if len(e.Report) != abi.ReportSize {
			return fmt.Errorf("evidence.attestation_report: %d bytes, want %d (an SEV-SNP ATTESTATION_REPORT)", len(e.Report), abi.ReportSize)
		}
		for name, der := range e.Certificates {
			if name != CertVCEK {
				return fmt.Errorf("certificates.%s: foreign SEV-SNP evidence carries only the VCEK", name)
			}
			if _, err := x509.ParseCertificate(der); err != nil {
				return fmt.Errorf("evidence.cert_chain.vcek: not a DER X.509 certificate: %w", err)
			}
		}
	case e.Platform == PlatformTDX:
		if len(e.Report) < tabi.QuoteMinSize || len(e.Report) > MaxQuoteSize {
			return fmt.Errorf("evidence.quote: %d bytes, want a TD quote of %d to %d bytes", len(e.Report), tabi.QuoteMinSize, MaxQuoteSize)
		}
	default:
		return fmt.Errorf("platform: %s evidence is not read in the foreign tool's shape", e.Platform)
	}
	return nil
}

// verifyForeign verifies the foreign tool's evidence of the platforms it
// has beyond az-snp, to the same claims as Kettle's own: bare SEV-SNP with
// the VCEK embedded (the ASK and ARK pinned here, as for az-snp), TDX with
// the quote's own PCK chain, Azure TDX through its vTPM. With
// AllowSimulated, evidence signed by Kettle's TEST-ONLY roots verifies as
// SIMULATED.
func verifyForeign(ctx context.Context, ev *Evidence, opts VerifyOptions, now time.Time) (*Claims, error) {
	switch ev.Platform {
	case PlatformSEVSNP:
		vcek := ev.Certificates[CertVCEK]
		if vcek == nil {
			return nil, chainError("evidence.cert_chain: no VCEK embedded; the evidence is not self-contained (the foreign tool fetches the VCEK from AMD KDS and embeds it since its commit fbaef04), so its chain cannot be checked offline")
		}
		claims, err := verifyAzSNPReport(ctx, ev, ev.Report, vcek, opts, now)
		if claims != nil {
			claims.NotChecked = append(claims.NotChecked, "the evidence's own ASK and ARK, if any: ignored, the pinned ones are used")
		}
		return claims, err
	case PlatformTDX:
		claims, err := verifyForeignTDQuote(ctx, ev, ev.Report, opts, now)
		if claims != nil && ev.EventLog != nil {
			claims.NotChecked = append(claims.NotChecked, fmt.Sprintf("CC event log (%d bytes): carried, not replayed against the RTMRs", len(ev.EventLog)))
		}
		return claims, err
	case PlatformAzTDX:
		return verifyAzTDX(ctx, ev, opts, now)
	}
	return nil, chainError("platform %s: foreign evidence of it cannot be verified by this build", ev.Platform)
}

// verifyForeignTDQuote verifies a TD quote to Intel's root or, with
// AllowSimulated and when Intel's does not hold, to Kettle's TEST-ONLY
// root.
func verifyForeignTDQuote(ctx context.Context, ev *Evidence, quote []byte, opts VerifyOptions, now time.Time) (*Claims, error) {
	tdx := &Evidence{Version: EvidenceVersion, Platform: PlatformTDX, Report: quote}
	claims, err := verifyTDX(ctx, tdx, intelTrust(), opts, now)
	var se *StepError
	if err != nil && opts.AllowSimulated && errors.As(err, &se) && se.Step == StepChain {
		sim := &Evidence{Version: EvidenceVersion, Platform: PlatformSimTDX, Report: quote}
		if sc, serr := verifyTDX(ctx, sim, simTDXTrust(), opts, now); serr == nil || sc != nil {
			return sc, serr
		}
	}
	return claims, err
}

// verifyAzTDX verifies Azure TDX evidence: the vTPM half with package
// azsnp, the TD quote inside it as tdx evidence.
func verifyAzTDX(ctx context.Context, ev *Evidence, opts VerifyOptions, now time.Time) (*Claims, error) {
	var (
		claims *Claims
		tcbErr error
	)
	verifier := func(ctx context.Context, quote []byte) ([64]byte, bool, error) {
		c, err := verifyForeignTDQuote(ctx, ev, quote, opts, now)
		var se *StepError
		if errors.As(err, &se) && se.Step == StepTCB && c != nil {
			claims, tcbErr = c, err
			return c.ReportData, c.Simulated, nil
		}
		if err != nil {
			return [64]byte{}, false, err
		}
		claims = c
		return c.ReportData, c.Simulated, nil
	}
	az, err := azsnp.VerifyTDX(ctx, ev.AzTDX, verifier)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		var se *StepError
		if errors.As(err, &se) {
			return nil, &StepError{Step: se.Step, Err: fmt.Errorf("TD quote in the az-tdx evidence: %w", se.Err)}
		}
		return nil, &StepError{Step: StepChain, Err: fmt.Errorf("az-tdx: %w", err)}
	}
	claims.Platform = PlatformAzTDX
	claims.QualifyingData = append([]byte(nil), az.ExtraData...)
	claims.PCRs = make([][]byte, len(az.PCRs))
	for i, p := range az.PCRs {
		claims.PCRs[i] = append([]byte(nil), p...)
	}
	claims.NotChecked = append(claims.NotChecked, "the TDREPORT in the HCL report: no signature a verifier can check; the TD quote is checked instead")
	if tcbErr != nil {
		return claims, tcbErr
	}
	return claims, nil
}
