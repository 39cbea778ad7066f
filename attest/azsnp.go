package attest

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/kettle-build/kettle/attest/azsnp"
)

// thimTimeout bounds the request for the VCEK to Azure's instance metadata
// service.
const thimTimeout = 30 * time.Second

// azSNPAttester is the az-snp backend: the vTPM of an Azure confidential
// VM, whose quote's qualifying data carries the 64 bytes of ReportData.
type azSNPAttester struct {
	a           *azsnp.Attester
	measurement []byte
	device      string
	collateral  map[string][]byte
}

// newAzSNP opens the vTPM at azsnp.DefaultDevice and gets the chip's VCEK
// from Azure's instance metadata service (THIM).
func newAzSNP(opts AttesterOptions) (Attester, error) {
	tpm, err := azsnp.OpenDevice(azsnp.DefaultDevice)
	if err != nil {
		return nil, fmt.Errorf("az-snp: %w (is this an Azure confidential VM?)", err)
	}
	// The HCL report first: off Azure this fails without asking the network.
	if _, err := azsnp.ReadHCLReport(tpm, azsnp.HCLReportNVIndex); err != nil {
		tpm.Close()
		return nil, fmt.Errorf("%w (is this an Azure confidential VM?)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), thimTimeout)
	defer cancel()
	// The instance metadata service is link-local: never through a proxy.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	vcek, err := azsnp.FetchVCEK(ctx, client, azsnp.THIMURL)
	if err != nil {
		tpm.Close()
		return nil, fmt.Errorf("az-snp: %w", err)
	}
	a, err := NewAzSNPAttester(tpm, vcek, opts)
	if err != nil {
		tpm.Close()
		return nil, err
	}
	a.(*azSNPAttester).device = DeviceTPM
	return a, nil
}

// NewAzSNPAttester returns the az-snp backend over a vTPM connection and
// the DER VCEK of the chip: it reads the HCL report once for the launch
// measurement, and on each Attest quotes the PCRs over the report data
// (see azsnp.Attester). The measurement is the hardware's: setting
// opts.Measurement is an error.
func NewAzSNPAttester(tpm transport.TPM, vcek []byte, opts AttesterOptions) (Attester, error) {
	if opts.Measurement != nil {
		return nil, errors.New("az-snp: the launch measurement is the one the hardware took; it cannot be set")
	}
	hcl, err := azsnp.ReadHCLReport(tpm, azsnp.HCLReportNVIndex)
	if err != nil {
		return nil, err
	}
	r, err := azsnp.ParseHCLReport(hcl)
	if err != nil {
		return nil, fmt.Errorf("az-snp: the vTPM's HCL report: %w", err)
	}
	report, err := abi.ReportToProto(r.SNPReport)
	if err != nil {
		return nil, fmt.Errorf("az-snp: the vTPM's HCL report: SEV-SNP report: %w", err)
	}
	return &azSNPAttester{
		a:           &azsnp.Attester{TPM: tpm, VCEK: append([]byte(nil), vcek...)},
		measurement: report.GetMeasurement(),
		collateral:  opts.Collateral,
	}, nil
}

func (z *azSNPAttester) Platform() Platform { return PlatformAzSNP }

func (z *azSNPAttester) Measurement() []byte { return append([]byte(nil), z.measurement...) }

func (z *azSNPAttester) Attest(ctx context.Context, reportData [64]byte) (*Evidence, error) {
	ev, err := z.a.Attest(ctx, reportData[:])
	if err != nil {
		return nil, err
	}
	return &Evidence{Version: EvidenceVersion, Platform: PlatformAzSNP, Device: z.device, AzSNP: ev, Collateral: z.collateral}, nil
}

// verifyAzSNP verifies az-snp evidence (already validated) with package
// azsnp, which delegates the SEV-SNP report inside the HCL report to
// verifySNP: to AMD's roots, or with AllowSimulated, to Kettle's TEST-ONLY
// root when AMD's do not hold. A failure of the vTPM half (HCL report,
// runtime claims, attestation key, quote, PCR values) is a chain-step
// error; the SEV-SNP report's own chain and TCB failures keep their steps.
// As for sev-snp, when only the TCB step fails the claims come with the
// error.
func verifyAzSNP(ctx context.Context, ev *Evidence, opts VerifyOptions, now time.Time) (*Claims, error) {
	var (
		claims *Claims
		tcbErr error
	)
	verifier := func(ctx context.Context, report, vcek []byte) (bool, error) {
		c, err := verifyAzSNPReport(ctx, ev, report, vcek, opts, now)
		var se *StepError
		if errors.As(err, &se) && se.Step == StepTCB && c != nil {
			// The chain holds: go on with the vTPM half, report the TCB
			// failure at the end.
			claims, tcbErr = c, err
			return c.Simulated, nil
		}
		if err != nil {
			return false, err
		}
		claims = c
		return c.Simulated, nil
	}
	az, err := azsnp.Verify(ctx, ev.AzSNP, azsnp.Options{VerifySNP: verifier})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		var se *StepError
		if errors.As(err, &se) {
			return nil, &StepError{Step: se.Step, Err: fmt.Errorf("SEV-SNP report in the HCL report: %w", se.Err)}
		}
		return nil, &StepError{Step: StepChain, Err: fmt.Errorf("az-snp: %w", err)}
	}
	claims.Platform = PlatformAzSNP
	claims.Device = ev.Device
	claims.QualifyingData = append([]byte(nil), az.ExtraData...)
	claims.PCRs = make([][]byte, len(az.PCRs))
	for i, p := range az.PCRs {
		claims.PCRs[i] = append([]byte(nil), p...)
	}
	if tcbErr != nil {
		return claims, tcbErr
	}
	return claims, nil
}

// verifyAzSNPReport verifies the SEV-SNP report of an HCL report as sev-snp
// evidence, with the ASK and ARK this package pins for its product line.
func verifyAzSNPReport(ctx context.Context, ev *Evidence, report, vcek []byte, opts VerifyOptions, now time.Time) (*Claims, error) {
	line, err := azSNPProductLine(report, vcek)
	if err != nil {
		return nil, chainError("%w", err)
	}
	try := func(t snpTrust, p Platform) (*Claims, error) {
		root, err := t.root(line)
		if err != nil {
			return nil, chainError("%w", err)
		}
		if root == nil || root.ask == nil {
			return nil, chainError("report: product line %s has no trusted %s root", line, t.name)
		}
		snp := &Evidence{Version: EvidenceVersion, Platform: p, Report: report, Collateral: ev.Collateral,
			Certificates: map[string][]byte{CertVCEK: vcek, CertASK: root.ask.Raw, CertARK: root.ark.Raw}}
		if err := snp.validate(); err != nil {
			return nil, chainError("%w", err)
		}
		return verifySNP(ctx, snp, t, opts, now)
	}
	claims, err := try(amdTrust(), PlatformSEVSNP)
	var se *StepError
	if err != nil && opts.AllowSimulated && errors.As(err, &se) && se.Step == StepChain {
		if sc, serr := try(simTrust(), PlatformSimSNP); serr == nil || sc != nil {
			return sc, serr
		}
	}
	return claims, err
}

// azSNPProductLine returns the AMD product line of the chip that signed
// report: from its CPUID (report version 3 and later), else from the VCEK.
func azSNPProductLine(report, vcek []byte) (string, error) {
	r, err := abi.ReportToProto(report)
	if err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	if fms := r.GetCpuid1EaxFms(); fms != 0 {
		return kds.ProductLine(abi.SevProductFromCpuid1Eax(fms)), nil
	}
	cert, err := x509.ParseCertificate(vcek)
	if err != nil {
		return "", fmt.Errorf("vcek: %w", err)
	}
	ext, err := kds.CertificateExtensions(cert, abi.VcekReportSigner)
	if err != nil {
		return "", fmt.Errorf("vcek: AMD KDS extensions: %w", err)
	}
	product, err := kds.ParseProductName(ext.ProductName, abi.VcekReportSigner)
	if err != nil {
		return "", fmt.Errorf("vcek: product name: %w", err)
	}
	return kds.ProductLine(product), nil
}
