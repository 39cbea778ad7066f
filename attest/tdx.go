package attest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	_ "embed" // Intel's root
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"

	tabi "github.com/google/go-tdx-guest/abi"
	"github.com/google/go-tdx-guest/pcs"
	tpb "github.com/google/go-tdx-guest/proto/tdx"
	tvalidate "github.com/google/go-tdx-guest/validate"
	tverify "github.com/google/go-tdx-guest/verify"
	"github.com/kettle-build/kettle/attest/sim"
)

// IntelSGXRootSHA256 is the SHA-256 of the DER certificate of Intel's SGX
// Root CA (intel_sgx_root_ca.pem, as go-tdx-guest embeds it and Intel
// publishes it at https://certificates.trustedservices.intel.com/), the one
// root TDX evidence is verified to.
const IntelSGXRootSHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

// SimTDXRootSHA256 pins Kettle's TEST-ONLY TDX root
// (attest/sim/testroot/tdx-root.pem), trusted for sim-tdx evidence only.
const SimTDXRootSHA256 = "bab833cd3d79c52809fc3467575a5f607d70ae9539056a94d62914c8413e1244"

//go:embed intel_sgx_root_ca.pem
var intelRootPEM []byte

// TD_ATTRIBUTES bits the baseline looks at (Intel TDX module ABI).
const (
	tdAttrDebug      = 1 << 0
	tdAttrMigratable = 1 << 29
)

// tdxTrust is the pinned root for one kind of TDX evidence.
type tdxTrust struct {
	name      string
	simulated bool
	root      func() (*x509.Certificate, error)
	pin       string
}

func intelTrust() tdxTrust {
	return tdxTrust{name: "Intel SGX", pin: IntelSGXRootSHA256, root: func() (*x509.Certificate, error) {
		block, _ := pem.Decode(intelRootPEM)
		if block == nil {
			return nil, errors.New("the compiled-in Intel SGX root is not PEM")
		}
		return x509.ParseCertificate(block.Bytes)
	}}
}

func simTDXTrust() tdxTrust {
	return tdxTrust{name: "Kettle TEST-ONLY", simulated: true, pin: SimTDXRootSHA256, root: sim.TDXRoot}
}

// pinned returns the root after checking it against the pin.
func (t tdxTrust) pinned() (*x509.Certificate, error) {
	root, err := t.root()
	if err != nil {
		return nil, err
	}
	if fingerprint(root) != t.pin {
		return nil, fmt.Errorf("the compiled-in %s root has SHA-256 %s, not the pinned %s", t.name, fingerprint(root), t.pin)
	}
	return root, nil
}

// tdxChain is a quote's PCK certificate chain.
type tdxChain struct {
	pck, ca, root *x509.Certificate
	exts          *pcs.PckExtensions
}

// verifyTDX runs the chain and TCB steps for TDX evidence (already
// validated).
func verifyTDX(ctx context.Context, ev *Evidence, t tdxTrust, opts VerifyOptions, now time.Time) (*Claims, error) {
	quote, chain, err := checkTDXChain(ev, t, now)
	if err != nil {
		return nil, err
	}
	claims := tdxClaims(ev, quote, chain, t)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkTDXBaseline(quote); err != nil {
		return claims, err
	}
	collateral := ev.Collateral
	if opts.Collateral != nil {
		collateral = opts.Collateral
		if err := checkTDXCollateral(collateral); err != nil {
			return claims, tcbError("supplied collateral: %w", err)
		}
	}
	if err := checkTDXCollateralTCB(quote, chain, collateral, t, now, claims); err != nil {
		return claims, err
	}
	return claims, nil
}

// checkTDXChain is the chain step: the quote's layout, its PCK chain up to
// the pinned root, the QE report's signature by the PCK key, the attestation
// key's binding into the QE report, and the quote's signature by that key;
// then go-tdx-guest's verify has the last word.
func checkTDXChain(ev *Evidence, t tdxTrust, now time.Time) (*tpb.QuoteV4, *tdxChain, error) {
	root, err := t.pinned()
	if err != nil {
		return nil, nil, chainError("%w", err)
	}
	quote, err := parseQuote(ev.Report)
	if err != nil {
		return nil, nil, chainError("report: %w", err)
	}
	if err := tabi.CheckQuoteV4(quote); err != nil {
		return nil, nil, chainError("report: %w", err)
	}
	if tee := quote.GetHeader().GetTeeType(); tee != tabi.TeeTDX {
		return nil, nil, chainError("report: header TEE_TYPE is 0x%x, want 0x%x (TDX)", tee, tabi.TeeTDX)
	}
	if typ := quote.GetSignedData().GetCertificationData().GetCertificateDataType(); typ != 6 {
		return nil, nil, chainError("report: certification data type %d, want 6 (QE report certification data)", typ)
	}
	qrc := quote.GetSignedData().GetCertificationData().GetQeReportCertificationData()
	if typ := qrc.GetPckCertificateChainData().GetCertificateDataType(); typ != 5 {
		return nil, nil, chainError("report: PCK certification data type %d, want 5 (PCK certificate chain)", typ)
	}
	c, err := parsePCKChain(qrc.GetPckCertificateChainData().GetPckCertChain())
	if err != nil {
		return nil, nil, err
	}
	if !c.root.Equal(root) {
		return nil, nil, chainError("report: PCK chain root: not the %s root (SHA-256 %s, want %s)", t.name, fingerprint(c.root), t.pin)
	}
	if err := c.ca.CheckSignatureFrom(root); err != nil {
		return nil, nil, chainError("report: PCK chain CA certificate: not certified by the %s root: %w", t.name, err)
	}
	if err := c.pck.CheckSignatureFrom(c.ca); err != nil {
		return nil, nil, chainError("report: PCK certificate: not certified by the PCK CA certificate: %w", err)
	}
	for _, cert := range []struct {
		name string
		c    *x509.Certificate
	}{{"PCK chain root", c.root}, {"PCK chain CA certificate", c.ca}, {"PCK certificate", c.pck}} {
		if now.Before(cert.c.NotBefore) || now.After(cert.c.NotAfter) {
			return nil, nil, chainError("report: %s: valid from %s to %s, not at %s", cert.name,
				cert.c.NotBefore.Format(time.RFC3339), cert.c.NotAfter.Format(time.RFC3339), now.Format(time.RFC3339))
		}
	}
	if c.exts, err = pcs.PckCertificateExtensions(c.pck); err != nil {
		return nil, nil, chainError("report: PCK certificate: SGX extensions: %w", err)
	}
	qeRaw, err := tabi.EnclaveReportToAbiBytes(qrc.GetQeReport())
	if err != nil {
		return nil, nil, chainError("report: QE report: %w", err)
	}
	pckKey, ok := c.pck.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, nil, chainError("report: PCK certificate: key is %T, want ECDSA P-256", c.pck.PublicKey)
	}
	if !verifyP256(pckKey, qeRaw, qrc.GetQeReportSignature()) {
		return nil, nil, chainError("report: QE report signature (QE_REPORT_SIGNATURE) does not verify with the PCK certificate")
	}
	ak := quote.GetSignedData().GetEcdsaAttestationKey()
	want := sha256.Sum256(append(append([]byte(nil), ak...), qrc.GetQeAuthData().GetData()...))
	if rd := qrc.GetQeReport().GetReportData(); !bytes.Equal(rd[:32], want[:]) || !isZero(rd[32:]) {
		return nil, nil, chainError("report: QE report REPORT_DATA does not bind the attestation key (want SHA-256(ATTESTATION_KEY ‖ QE_AUTH_DATA) ‖ zeros)")
	}
	akKey, err := p256Key(ak)
	if err != nil {
		return nil, nil, chainError("report: ATTESTATION_KEY: %w", err)
	}
	header, err := tabi.HeaderToAbiBytes(quote.GetHeader())
	if err != nil {
		return nil, nil, chainError("report: header: %w", err)
	}
	body, err := tabi.TdQuoteBodyToAbiBytes(quote.GetTdQuoteBody())
	if err != nil {
		return nil, nil, chainError("report: TD quote body: %w", err)
	}
	if !verifyP256(akKey, append(header, body...), quote.GetSignedData().GetSignature()) {
		return nil, nil, chainError("report: quote SIGNATURE over the header and TD quote body does not verify with the ATTESTATION_KEY")
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	if err := tverify.TdxQuote(quote, &tverify.Options{TrustedRoots: pool, Now: now}); err != nil {
		return nil, nil, chainError("go-tdx-guest verify: %w", err)
	}
	return quote, c, nil
}

// parseQuote parses a TD quote (version 4). It checks the nested length
// fields before go-tdx-guest's abi.QuoteToProto reads them, because that
// parser (v0.3.1) slices by them unchecked and panics on a quote whose QE
// auth data or certification data sizes overrun it (found by
// FuzzVerifyQuote); a panic that still escapes it is turned into an error.
func parseQuote(raw []byte) (q *tpb.QuoteV4, err error) {
	const (
		signedDataSizeAt = 0x278 // after the 48-byte header and 584-byte TD quote body
		signedDataAt     = 0x27c
		certHeader       = 64 + 64 + 2 + 4 // signature, attestation key, type, size
		qeReportAndSig   = 384 + 64
	)
	le16 := func(b []byte) int { return int(b[0]) | int(b[1])<<8 }
	le32 := func(b []byte) uint64 { return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 }
	if len(raw) < signedDataAt {
		return nil, fmt.Errorf("not a TD quote: %d bytes, shorter than a header and TD quote body", len(raw))
	}
	if v := le16(raw); v != 4 {
		return nil, fmt.Errorf("not a TD quote: header VERSION is %d, want 4", v)
	}
	size := le32(raw[signedDataSizeAt:])
	signed := raw[signedDataAt:]
	if size > uint64(len(signed)) {
		return nil, fmt.Errorf("not a TD quote: signed data size 0x%x overruns the %d bytes that follow", size, len(signed))
	}
	signed = signed[:size]
	if len(signed) < certHeader {
		return nil, fmt.Errorf("not a TD quote: signed data size 0x%x leaves no room for the signature, attestation key and certification data header", size)
	}
	cd := signed[certHeader:]
	if cdSize := le32(signed[certHeader-4:]); cdSize != uint64(len(cd)) {
		return nil, fmt.Errorf("not a TD quote: certification data size 0x%x, but 0x%x bytes of signed data follow", cdSize, len(cd))
	}
	if len(cd) < qeReportAndSig+2 {
		return nil, fmt.Errorf("not a TD quote: certification data of %d bytes is shorter than a QE report, its signature and the QE auth data size", len(cd))
	}
	auth := le16(cd[qeReportAndSig:])
	if qeReportAndSig+2+auth+6 > len(cd) {
		return nil, fmt.Errorf("not a TD quote: QE auth data size %d overruns the certification data (%d bytes)", auth, len(cd))
	}
	defer func() {
		if r := recover(); r != nil {
			q, err = nil, fmt.Errorf("not a TD quote: go-tdx-guest abi: %v", r)
		}
	}()
	parsed, err := tabi.QuoteToProto(raw)
	if err != nil {
		return nil, fmt.Errorf("not a TD quote: %w", err)
	}
	v4, ok := parsed.(*tpb.QuoteV4)
	if !ok {
		return nil, fmt.Errorf("quote format %T is not supported (want version 4)", parsed)
	}
	return v4, nil
}

// parsePCKChain reads the PEM chain in a quote: PCK, CA, root, and at most
// a trailing NUL.
func parsePCKChain(data []byte) (*tdxChain, error) {
	names := []string{"PCK certificate", "PCK chain CA certificate", "PCK chain root"}
	var certs []*x509.Certificate
	rest := data
	for i := 0; i < 3; i++ {
		block, r := pem.Decode(rest)
		if block == nil || block.Type != "CERTIFICATE" {
			return nil, chainError("report: %s: missing from the quote's PCK chain (want 3 PEM certificates)", names[i])
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, chainError("report: %s: %w", names[i], err)
		}
		certs = append(certs, cert)
		rest = r
	}
	if len(bytes.Trim(rest, "\x00\n")) != 0 {
		return nil, chainError("report: PCK chain: %d unexpected bytes after the 3 certificates", len(rest))
	}
	return &tdxChain{pck: certs[0], ca: certs[1], root: certs[2]}, nil
}

// parseIssuerChain reads an Intel PCS issuer chain: two PEM certificates,
// the signer then the root, and nothing else.
func parseIssuerChain(data []byte) (signer, root *x509.Certificate, err error) {
	var certs []*x509.Certificate
	rest := data
	for len(bytes.TrimSpace(rest)) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil || block.Type != "CERTIFICATE" {
			return nil, nil, errors.New("not a PEM certificate chain")
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("certificate %d: %w", len(certs), err)
		}
		certs = append(certs, cert)
	}
	if len(certs) != 2 {
		return nil, nil, fmt.Errorf("%d certificates, want 2 (the signer and the root)", len(certs))
	}
	return certs[0], certs[1], nil
}

func verifyP256(key *ecdsa.PublicKey, msg, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	h := sha256.Sum256(msg)
	return ecdsa.Verify(key, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

func p256Key(raw []byte) (*ecdsa.PublicKey, error) {
	if len(raw) != 64 {
		return nil, fmt.Errorf("%d bytes, want 64 (P-256 X ‖ Y)", len(raw))
	}
	x, y := new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])
	if !elliptic.P256().IsOnCurve(x, y) {
		return nil, errors.New("not a point on P-256")
	}
	return &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}, nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func tdxClaims(ev *Evidence, q *tpb.QuoteV4, c *tdxChain, t tdxTrust) *Claims {
	b := q.GetTdQuoteBody()
	attrs := binary.LittleEndian.Uint64(b.GetTdAttributes())
	claims := &Claims{
		Platform:    ev.Platform,
		Simulated:   t.simulated,
		Device:      ev.Device,
		Measurement: append([]byte(nil), b.GetMrTd()...),
		HostData:    append([]byte(nil), b.GetMrConfigId()...),
		Debug:       attrs&tdAttrDebug != 0,
		TEETCBSVN:   append([]byte(nil), b.GetTeeTcbSvn()...),
		// In a version 4 quote the header's former QE_SVN and PCE_SVN
		// fields are reserved (zero on hardware): the quoting enclave's SVN
		// is its report's ISVSVN, and the PCE SVN is the one the PCK
		// certificate certifies.
		QESVN:   uint16(q.GetSignedData().GetCertificationData().GetQeReportCertificationData().GetQeReport().GetIsvSvn()),
		PCESVN:  c.exts.TCB.PCESvn,
		Product: "Intel TDX, FMSPC " + c.exts.FMSPC,
	}
	for i, r := range b.GetRtmrs() {
		if i < len(claims.RTMRs) {
			claims.RTMRs[i] = append([]byte(nil), r...)
		}
	}
	copy(claims.ReportData[:], b.GetReportData())
	claims.TCB = fmt.Sprintf("tee_tcb_svn=%x qe_svn=%d pce_svn=%d", claims.TEETCBSVN, claims.QESVN, claims.PCESVN)
	if t.simulated {
		claims.Product = "Kettle simulated " + claims.Product
	}
	return claims
}

// checkTDXBaseline is the TCB step's baseline for TDX: no debug TD, no
// migratable TD, TD attributes and XFAM within what go-tdx-guest's validate
// allows.
func checkTDXBaseline(q *tpb.QuoteV4) error {
	attrs := binary.LittleEndian.Uint64(q.GetTdQuoteBody().GetTdAttributes())
	if attrs&tdAttrDebug != 0 {
		return tcbError("report: TD_ATTRIBUTES.DEBUG is set: the host can read and change the TD's memory")
	}
	if attrs&tdAttrMigratable != 0 {
		return tcbError("report: TD_ATTRIBUTES.MIGRATABLE is set: a migration TD can export the TD")
	}
	if err := tvalidate.TdxQuote(q, &tvalidate.Options{}); err != nil {
		return tcbError("go-tdx-guest validate: %w", err)
	}
	return nil
}

// checkTDXCollateralTCB judges the TCB with Intel's TCB info and QE identity
// when the collateral is there, and otherwise records that it was not.
func checkTDXCollateralTCB(q *tpb.QuoteV4, c *tdxChain, col map[string][]byte, t tdxTrust, now time.Time, claims *Claims) error {
	if col[CollateralTCBInfo] == nil {
		claims.NotChecked = append(claims.NotChecked,
			"TCB status and QE identity (no Intel TCB info or QE identity collateral: --collateral)",
			"revocation of the PCK chain (no CRLs)")
		return nil
	}
	root, err := t.pinned()
	if err != nil {
		return tcbError("%w", err)
	}
	// Each issuer chain is a signing certificate and the pinned root.
	// go-tdx-guest checks the TCB info's and QE identity's signing
	// certificates against the root, and the PCK CRL against the quote's PCK
	// CA; Kettle also requires the PCK CRL's issuer chain to be exactly that
	// CA and the root, so that no part of the collateral goes unchecked.
	for _, name := range []string{CollateralTCBInfoIssuerChain, CollateralQEIdentityIssuerChain, CollateralPCKCRLIssuerChain} {
		pems, ok := col[name]
		if !ok {
			continue
		}
		signer, chainRoot, err := parseIssuerChain(pems)
		if err != nil {
			return tcbError("collateral.%s: %w", name, err)
		}
		if !chainRoot.Equal(root) {
			return tcbError("collateral.%s: the root is not the %s root (SHA-256 %s, want %s)", name, t.name, fingerprint(chainRoot), t.pin)
		}
		if name == CollateralPCKCRLIssuerChain && !signer.Equal(c.ca) {
			return tcbError("collateral.%s: the CRL issuer is not the quote's PCK CA certificate", name)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	revocation := col[CollateralPCKCRL] != nil
	getter := &collateralGetter{col: col}
	opts := &tverify.Options{TrustedRoots: pool, Now: now, GetCollateral: true, CheckRevocations: revocation, Getter: getter}
	if err := tverify.TdxQuote(q, opts); err != nil {
		return tcbError("%s: %w", collateralField(err), err)
	}
	claims.CollateralChecked = true
	if !revocation {
		claims.NotChecked = append(claims.NotChecked, "revocation of the PCK chain (no CRLs in the collateral)")
	}
	return nil
}

// collateralField names the collateral entry, or the quote field, that a
// go-tdx-guest collateral error is about.
func collateralField(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "tcbInfo"), strings.Contains(msg, "TCB info"), strings.Contains(msg, "FMSPC"), strings.Contains(msg, "PCEID"):
		if strings.Contains(msg, "TCB status") || strings.Contains(msg, "TCB level") {
			return "report: TEE_TCB_SVN judged by collateral.tcbInfo"
		}
		return "collateral." + CollateralTCBInfo
	case strings.Contains(msg, "QeIdentity"), strings.Contains(msg, "QE Identity"), strings.Contains(msg, "QE Report"):
		return "collateral." + CollateralQEIdentity
	case strings.Contains(msg, "PCK CRL"), strings.Contains(msg, "revoked"):
		return "collateral." + CollateralPCKCRL
	case strings.Contains(msg, "Root CA CRL"), strings.Contains(msg, "root CA CRL"):
		return "collateral." + CollateralRootCACRL
	case strings.Contains(msg, "MRSIGNERSEAM"), strings.Contains(msg, "AttributesMask"):
		return "report: TD quote body judged by collateral.tcbInfo"
	}
	return "collateral"
}

// collateralGetter serves Intel PCS responses from collateral, so that
// go-tdx-guest's collateral checks run offline. Any other URL fails.
type collateralGetter struct {
	col map[string][]byte
}

func (g *collateralGetter) Get(u string) (map[string][]string, []byte, error) {
	header := func(name, chain string) map[string][]string {
		return map[string][]string{name: {url.QueryEscape(string(g.col[chain]))}}
	}
	switch {
	case strings.Contains(u, "/tcb?"):
		return header("Tcb-Info-Issuer-Chain", CollateralTCBInfoIssuerChain), g.col[CollateralTCBInfo], nil
	case strings.HasSuffix(u, "/qe/identity"):
		return header("Sgx-Enclave-Identity-Issuer-Chain", CollateralQEIdentityIssuerChain), g.col[CollateralQEIdentity], nil
	case strings.Contains(u, "/pckcrl?"):
		if g.col[CollateralPCKCRL] == nil {
			return nil, nil, errors.New("no PCK CRL in the collateral")
		}
		return header("Sgx-Pck-Crl-Issuer-Chain", CollateralPCKCRLIssuerChain), g.col[CollateralPCKCRL], nil
	case g.col[CollateralRootCACRL] != nil && (strings.HasSuffix(u, ".der") || strings.Contains(u, "crl")):
		return nil, g.col[CollateralRootCACRL], nil
	}
	return nil, nil, fmt.Errorf("offline verification: no collateral for %s", u)
}
