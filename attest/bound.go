package attest

import (
	"errors"
	"fmt"

	"github.com/google/go-sev-guest/abi"
	"github.com/kettle-build/kettle/attest/azsnp"
)

// UnverifiedBoundData returns the bytes by which the evidence binds the
// build, read from the evidence without checking any signature: the
// report's REPORT_DATA (sev-snp, sim-snp, tdx, sim-tdx), or the vTPM quote's
// qualifying data (az-snp). It serves only to recognise which binding rule a
// bundle follows; Verify's claims carry the same bytes once authenticated.
func (e *Evidence) UnverifiedBoundData() ([]byte, error) {
	switch {
	case e == nil:
		return nil, errors.New("no evidence")
	case e.Platform == PlatformAzSNP:
		if e.AzSNP == nil {
			return nil, errors.New("evidence: missing")
		}
		q, err := azsnp.ParseQuoteMessage(e.AzSNP.Quote.Message)
		if err != nil {
			return nil, fmt.Errorf("evidence.tpm_quote.message: %w", err)
		}
		return q.ExtraData, nil
	case e.Platform == PlatformAzTDX:
		if e.AzTDX == nil {
			return nil, errors.New("evidence: missing")
		}
		q, err := azsnp.ParseQuoteMessage(e.AzTDX.Quote.Message)
		if err != nil {
			return nil, fmt.Errorf("evidence.tpm_quote.message: %w", err)
		}
		return q.ExtraData, nil
	case e.Platform.snp():
		r, err := abi.ReportToProto(e.Report)
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		return r.GetReportData(), nil
	case e.Platform.tdx():
		q, err := parseQuote(e.Report)
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		return q.GetTdQuoteBody().GetReportData(), nil
	}
	return nil, fmt.Errorf("platform %s: no report binds the build", e.Platform)
}
