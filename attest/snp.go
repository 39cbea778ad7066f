package attest

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/go-sev-guest/validate"
	"github.com/google/go-sev-guest/verify"
	"github.com/google/go-sev-guest/verify/trust"
)

// snpChain is the certificate chain evidence carries for one report.
type snpChain struct {
	key        abi.ReportSigner
	ekName     string // "vcek" or "vlek"
	icaName    string // "ask" or "asvk"
	ek, ica    *x509.Certificate
	ark        *x509.Certificate
	ekExts     *kds.Extensions
	productTag string // e.g. "Milan-B1"
}

// verifySNP runs both steps for SEV-SNP evidence (already validated) against
// the roots in t.
func verifySNP(ctx context.Context, ev *Evidence, t snpTrust, opts VerifyOptions, now time.Time) (*Claims, error) {
	report, chain, err := checkSNPChain(ctx, ev, t, now)
	if err != nil {
		return nil, err
	}
	claims := snpClaims(ev.Platform, report, chain, t)
	claims.Device = ev.Device
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkSNPBaseline(report, chain); err != nil {
		return claims, err
	}
	col := ev.Collateral
	if opts.Collateral != nil {
		col = opts.Collateral
	}
	if crl := col[CollateralSNPCRL]; crl != nil {
		if err := checkSNPRevocation(crl, chain, now); err != nil {
			return claims, err
		}
	} else {
		claims.NotChecked = append(claims.NotChecked, "revocation of the ASK/VCEK (no AMD CRL: --collateral DIR with crl.der)")
	}
	return claims, nil
}

// checkSNPRevocation checks AMD's CRL for the product line: signed by the
// pinned ARK, current, and naming neither the ASK (ASVK) nor the VCEK (VLEK).
func checkSNPRevocation(der []byte, c *snpChain, now time.Time) error {
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return tcbError("collateral.crl: not a DER certificate revocation list: %w", err)
	}
	if err := crl.CheckSignatureFrom(c.ark); err != nil {
		return tcbError("collateral.crl: not signed by the ARK: %w", err)
	}
	if now.After(crl.NextUpdate) {
		return tcbError("collateral.crl: expired at %s (next update was due)", crl.NextUpdate.Format(time.RFC3339))
	}
	for _, r := range crl.RevokedCertificateEntries {
		for _, cert := range []struct {
			name string
			c    *x509.Certificate
		}{{c.icaName, c.ica}, {c.ekName, c.ek}} {
			if r.SerialNumber != nil && r.SerialNumber.Cmp(cert.c.SerialNumber) == 0 {
				return tcbError("certificates.%s: revoked by AMD at %s (serial %x)", cert.name, r.RevocationTime.Format(time.RFC3339), cert.c.SerialNumber)
			}
		}
	}
	return nil
}

// checkSNPChain is the chain step. The first checks repeat, field by field,
// what go-sev-guest's verify.SnpAttestation checks as a whole, so that a
// failure names the certificate or the report at fault; then go-sev-guest
// has the last word.
func checkSNPChain(ctx context.Context, ev *Evidence, t snpTrust, now time.Time) (*spb.Report, *snpChain, error) {
	raw := ev.Report
	if err := abi.ValidateReportFormat(raw); err != nil {
		return nil, nil, chainError("report: %w", err)
	}
	report, err := abi.ReportToProto(raw)
	if err != nil {
		return nil, nil, chainError("report: %w", err)
	}
	info, err := abi.ParseSignerInfo(report.GetSignerInfo())
	if err != nil {
		return nil, nil, chainError("report: SIGNER_INFO: %w", err)
	}
	c := &snpChain{key: info.SigningKey}
	switch info.SigningKey {
	case abi.VcekReportSigner:
		c.ekName, c.icaName = CertVCEK, CertASK
	case abi.VlekReportSigner:
		c.ekName, c.icaName = CertVLEK, CertASVK
	default:
		return nil, nil, chainError("report: SIGNING_KEY is %v; only a report signed by a VCEK or VLEK can be verified", info.SigningKey)
	}
	parse := func(name string) (*x509.Certificate, error) {
		der, ok := ev.Certificates[name]
		if !ok {
			return nil, chainError("certificates.%s: missing, but the report's SIGNING_KEY says the %v signed it", name, info.SigningKey)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, chainError("certificates.%s: %w", name, err)
		}
		return cert, nil
	}
	if c.ek, err = parse(c.ekName); err != nil {
		return nil, nil, err
	}
	if c.ica, err = parse(c.icaName); err != nil {
		return nil, nil, err
	}
	if c.ark, err = parse(CertARK); err != nil {
		return nil, nil, err
	}
	if c.ekExts, err = kds.CertificateExtensions(c.ek, c.key); err != nil {
		return nil, nil, chainError("certificates.%s: AMD KDS extensions: %w", c.ekName, err)
	}

	// The product line selects the root: from the report's CPUID (version 3
	// and later), else from the endorsement key certificate.
	line, product, err := snpProduct(report, c)
	if err != nil {
		return nil, nil, err
	}
	c.productTag = product
	root, err := t.root(line)
	if err != nil {
		return nil, nil, chainError("%w", err)
	}
	if root == nil {
		return nil, nil, chainError("report: product line %s has no trusted %s root", line, t.name)
	}

	// 1. The ARK is the pinned one: trust comes from the verifier, never
	// from the evidence.
	if !c.ark.Equal(root.ark) {
		return nil, nil, chainError("certificates.ark: not the %s ARK for %s (SHA-256 %s, want %s)", t.name, line, fingerprint(c.ark), fingerprint(root.ark))
	}
	// 2. The ASK (ASVK) is certified by it.
	rootICA := root.ask
	if c.key == abi.VlekReportSigner {
		rootICA = root.asvk
	}
	if rootICA == nil {
		return nil, nil, chainError("certificates.%s: %s roots for %s have no %s", c.icaName, t.name, line, c.icaName)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root.ark)
	if _, err := c.ica.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, nil, chainError("certificates.%s: not certified by the %s ARK for %s: %w", c.icaName, t.name, line, err)
	}
	// 3. The VCEK (VLEK) is certified by the ASK (ASVK).
	if err := c.ek.CheckSignatureFrom(c.ica); err != nil {
		return nil, nil, chainError("certificates.%s: not certified by certificates.%s: %w", c.ekName, c.icaName, err)
	}
	intermediates := x509.NewCertPool()
	intermediates.AddCert(c.ica)
	if _, err := c.ek.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, nil, chainError("certificates.%s: %w", c.ekName, err)
	}
	// 4. The report is signed by the VCEK (VLEK).
	if err := verify.SnpReportSignature(raw, c.ek); err != nil {
		return nil, nil, chainError("report: signature (SIGNATURE) does not verify with certificates.%s: %w", c.ekName, err)
	}
	// 5. go-sev-guest, end to end, with exactly these roots and no network.
	att := snpAttestation(report, c)
	trusted := &trust.AMDRootCerts{ProductLine: line, Product: line, ProductCerts: &trust.ProductCerts{Ark: root.ark}}
	if c.key == abi.VlekReportSigner {
		trusted.ProductCerts.Asvk = c.ica
	} else {
		trusted.ProductCerts.Ask = c.ica
	}
	opts := &verify.Options{
		DisableCertFetching: true,
		Now:                 now,
		TrustedRoots:        map[string][]*trust.AMDRootCerts{line: {trusted}},
	}
	if err := verify.SnpAttestationContext(ctx, att, opts); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, nil, cerr
		}
		return nil, nil, chainError("go-sev-guest verify: %w", err)
	}
	return report, c, nil
}

func snpAttestation(report *spb.Report, c *snpChain) *spb.Attestation {
	chain := &spb.CertificateChain{AskCert: c.ica.Raw, ArkCert: c.ark.Raw}
	if c.key == abi.VlekReportSigner {
		chain.VlekCert = c.ek.Raw
	} else {
		chain.VcekCert = c.ek.Raw
	}
	return &spb.Attestation{Report: report, CertificateChain: chain}
}

// snpProduct returns the product line ("Milan") and name ("Milan-B0") of the
// reporting chip.
func snpProduct(report *spb.Report, c *snpChain) (line, name string, err error) {
	if fms := report.GetCpuid1EaxFms(); fms != 0 {
		product := abi.SevProductFromCpuid1Eax(fms)
		if product.GetName() == spb.SevProduct_SEV_PRODUCT_UNKNOWN {
			return "", "", chainError("report: CPUID family/model/stepping 0x%08x is no known SEV-SNP product", fms)
		}
		return kds.ProductLine(product), kds.ProductName(product), nil
	}
	product, err := kds.ParseProductName(c.ekExts.ProductName, c.key)
	if err != nil {
		return "", "", chainError("certificates.%s: product name: %w", c.ekName, err)
	}
	return kds.ProductLine(product), c.ekExts.ProductName, nil
}

func snpClaims(p Platform, r *spb.Report, c *snpChain, t snpTrust) *Claims {
	claims := &Claims{
		Platform:    p,
		Simulated:   t.simulated,
		Measurement: append([]byte(nil), r.GetMeasurement()...),
		HostData:    append([]byte(nil), r.GetHostData()...),
		VMPL:        int(r.GetVmpl()),
		TCB:         tcbString(r.GetReportedTcb(), c.productTag),
		ChipID:      append([]byte(nil), r.GetChipId()...),
		Product:     c.productTag,
		ReportedTCB: r.GetReportedTcb(),
		GuestSVN:    r.GetGuestSvn(),
	}
	copy(claims.ReportData[:], r.GetReportData())
	if pol, err := abi.ParseSnpPolicy(r.GetPolicy()); err == nil {
		claims.Debug = pol.Debug
	}
	if t.simulated {
		claims.Product = "Kettle simulated " + c.productTag
	}
	return claims
}

// tcbString renders a TCB_VERSION. Milan and Genoa lay it out as go-sev-guest's
// kds.TCBParts does; later products differ, and are shown in hex only.
func tcbString(tcb uint64, product string) string {
	if len(product) >= 5 && (product[:5] == "Milan" || product[:5] == "Genoa") {
		p := kds.DecomposeTCBVersion(kds.TCBVersion(tcb))
		return fmt.Sprintf("bl=%d tee=%d snp=%d ucode=%d (0x%016x)", p.BlSpl, p.TeeSpl, p.SnpSpl, p.UcodeSpl, tcb)
	}
	return fmt.Sprintf("0x%016x", tcb)
}

// checkSNPBaseline is the TCB step: the baseline policy every Kettle
// verification applies, before any user policy.
func checkSNPBaseline(r *spb.Report, c *snpChain) error {
	pol, err := abi.ParseSnpPolicy(r.GetPolicy())
	if err != nil {
		return tcbError("report: POLICY: %w", err)
	}
	// The two bits that void confidentiality, named before go-sev-guest's
	// combined verdict.
	if pol.Debug {
		return tcbError("report: POLICY.DEBUG is set: the host can read and change the guest's memory")
	}
	if pol.MigrateMA {
		return tcbError("report: POLICY.MIGRATE_MA is set: a migration agent can export the guest")
	}
	opts := &validate.Options{
		// The most permissive guest policy accepted: SMT allowed; debug,
		// migration agent and CXL not allowed; no minimum ABI.
		GuestPolicy: abi.SnpPolicy{SMT: true},
		// Committed TCB, build and API version must equal the current ones.
		PermitProvisionalFirmware: false,
	}
	if err := validate.SnpAttestation(snpAttestation(r, c), opts); err != nil {
		return tcbError("go-sev-guest validate: %w", err)
	}
	return nil
}
