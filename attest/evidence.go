package attest

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-sev-guest/abi"
	tabi "github.com/google/go-tdx-guest/abi"
	"github.com/kettle-build/kettle/attest/azsnp"
	"github.com/kettle-build/kettle/internal/strictjson"
)

// EvidenceVersion is the version of evidence.json this package writes and
// reads.
const EvidenceVersion = 1

// MaxEvidenceSize is the largest evidence.json DecodeEvidence reads. An
// SEV-SNP report with its three certificates takes about 8 KiB.
const MaxEvidenceSize = 1 << 20

// Names of the certificates in Evidence.Certificates (SEV-SNP).
const (
	CertARK  = "ark"  // AMD Root Key: self-signed; must equal a root the verifier pins
	CertASK  = "ask"  // AMD SEV Key: certifies VCEKs, certified by the ARK
	CertASVK = "asvk" // AMD SEV VLEK Key: certifies VLEKs, certified by the ARK
	CertVCEK = "vcek" // Versioned Chip Endorsement Key: signed the report
	CertVLEK = "vlek" // Versioned Loaded Endorsement Key (a cloud provider's): signed the report
)

// Evidence is what a TEE produced for one build, as stored in evidence.json:
//
//	{
//	  "version": 1,
//	  "platform": "sev-snp",
//	  "device": "configfs-tsm",
//	  "report": "<base64: the 1184-byte ATTESTATION_REPORT>",
//	  "certificates": {
//	    "ark": "<base64 DER>",
//	    "ask": "<base64 DER>",
//	    "vcek": "<base64 DER>"
//	  },
//	  "collateral": {
//	    "crl": "<base64 DER>"
//	  }
//	}
//
// For sev-snp and sim-snp, Report is the raw SEV-SNP attestation report
// exactly as the secure processor returned it, and Certificates holds the
// whole chain in DER, so that verification needs no network: "ark", and
// either "vcek" with its issuer "ask", or "vlek" with its issuer "asvk".
// Collateral may hold "crl", AMD's certificate revocation list for the
// product line (DER, signed by the ARK).
//
// For tdx and sim-tdx, Report is the raw TD quote (version 4), which carries
// its own PCK certificate chain; Certificates is absent. Collateral may hold
// what judges the TCB offline, as Intel's PCS serves it: "tcbInfo" and
// "qeIdentity" (the JSON bodies), "tcbInfoIssuerChain" and
// "qeIdentityIssuerChain" (PEM), and for revocation "pckCrl" (DER),
// "pckCrlIssuerChain" (PEM) and "rootCaCrl" (DER).
//
// For az-snp, Report and Certificates are absent; the body under
// "evidence" holds the HCL report read from the vTPM, the TPM quote with its
// PCR values, and the VCEK, as package azsnp encodes them (the ASK and ARK
// are pinned by the verifier). Evidence in the foreign attested-build
// tool's shape, {"platform":"az-snp","evidence":{…}} with no version, is
// read as it is and marked Foreign.
//
// For none, only version and platform are present: the build is not
// attested.
//
// Device names the guest interface that produced the report
// ("configfs-tsm", "/dev/sev-guest", "simulated"); it is informational.
// Nothing in the evidence is trusted for being there: the verifier checks the
// root against roots it pins and every signature below it.
//
// Base64 is the standard alphabet with padding (RFC 4648 §4). Marshal writes
// the fields in the order above, map entries sorted by name.
type Evidence struct {
	Version      int               `json:"version"`
	Platform     Platform          `json:"platform"`
	Device       string            `json:"device,omitempty"`
	Report       []byte            `json:"report,omitempty"`
	Certificates map[string][]byte `json:"certificates,omitempty"`
	Collateral   map[string][]byte `json:"collateral,omitempty"`
	// AzSNP is the body of az-snp evidence: the HCL report, the TPM quote
	// and its PCR values, and the VCEK (see package azsnp).
	AzSNP *azsnp.Evidence `json:"evidence,omitempty"`
	// Foreign marks az-snp evidence read in the foreign attested-build
	// tool's shape, {"platform":"az-snp","evidence":{…}} without a version;
	// its quote binds the provenance differently (azsnp.BindingCompactJSON).
	// Marshal writes such evidence in Kettle's shape.
	Foreign bool `json:"-"`
	// ForeignPlatform is the platform as the foreign tool's envelope names
	// it ("snp", "gcp-snp", "tdx", "gcp-tdx", "az-snp", "az-tdx"); "" for
	// Kettle's evidence.
	ForeignPlatform string `json:"-"`
	// EventLog is the CC event log (CCEL) of foreign tdx evidence, as the
	// guest read it; no signature covers it.
	EventLog []byte `json:"-"`
	// AzTDX is the body of foreign az-tdx evidence.
	AzTDX *azsnp.TDXEvidence `json:"-"`
}

// Devices that Evidence.Device names.
const (
	DeviceConfigfsTSM = "configfs-tsm"
	DeviceSEVGuest    = "/dev/sev-guest"
	DeviceSimulated   = "simulated"
	DeviceTPM         = "/dev/tpmrm0" // az-snp: the vTPM, through the kernel's resource manager
)

// Names of the entries of Evidence.Collateral.
const (
	CollateralSNPCRL                = "crl"
	CollateralTCBInfo               = "tcbInfo"
	CollateralTCBInfoIssuerChain    = "tcbInfoIssuerChain"
	CollateralQEIdentity            = "qeIdentity"
	CollateralQEIdentityIssuerChain = "qeIdentityIssuerChain"
	CollateralPCKCRL                = "pckCrl"
	CollateralPCKCRLIssuerChain     = "pckCrlIssuerChain"
	CollateralRootCACRL             = "rootCaCrl"
)

// MaxQuoteSize is the largest TD quote DecodeEvidence accepts.
const MaxQuoteSize = 64 << 10

// Marshal returns the deterministic evidence.json encoding of e (indented,
// ending in a newline). It refuses evidence that DecodeEvidence would refuse.
func (e *Evidence) Marshal() ([]byte, error) {
	if e == nil {
		return nil, errors.New("encoding evidence: no evidence")
	}
	if e.Foreign && e.Platform != PlatformAzSNP {
		return nil, fmt.Errorf("encoding evidence: %s evidence in the foreign tool's shape is read, not written", e.Platform)
	}
	if err := e.validate(); err != nil {
		return nil, fmt.Errorf("encoding evidence: %w", err)
	}
	out, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding evidence: %w", err)
	}
	return append(out, '\n'), nil
}

// UnmarshalJSON decodes e as strictly as DecodeEvidence.
func (e *Evidence) UnmarshalJSON(data []byte) error {
	d, err := DecodeEvidence(data)
	if err != nil {
		return err
	}
	*e = *d
	return nil
}

// evidenceFields returns the known fields of evidence.json, in encoding order.
func evidenceFields() []string {
	return []string{"version", "platform", "device", "report", "certificates", "collateral", "evidence"}
}

// DecodeEvidence parses evidence.json strictly: one JSON object in valid
// UTF-8, with no key twice at any depth and nothing after it but white
// space, holding exactly the known fields (case-sensitive); version 1, a
// platform this build reads, a report of the platform's size, canonical
// base64, and a complete certificate chain of parseable X.509 certificates.
// Errors name the field at fault.
func DecodeEvidence(data []byte) (*Evidence, error) {
	if len(data) > MaxEvidenceSize {
		return nil, fmt.Errorf("%d bytes, more than the %d this reader accepts", len(data), MaxEvidenceSize)
	}
	if err := strictjson.Check(data); err != nil {
		return nil, err
	}
	members, err := decodeObject(data, "")
	if err != nil {
		return nil, err
	}
	// The version decides what the other fields mean, so it is read first.
	var ev Evidence
	raw, ok := members["version"]
	switch {
	case ok:
		if ev.Version, err = decodeInt(raw); err != nil {
			return nil, fmt.Errorf("version: %w", err)
		}
	case foreignEnvelope(members):
		// The foreign tool's evidence has no version.
		return decodeForeignEvidence(members)
	default:
		return nil, errors.New("version: missing")
	}
	if ev.Version != EvidenceVersion {
		return nil, fmt.Errorf("version: %d is not supported (this build reads version %d)", ev.Version, EvidenceVersion)
	}
	if err := unknownField(members, evidenceFields()); err != nil {
		return nil, err
	}
	raw, ok = members["platform"]
	if !ok {
		return nil, errors.New("platform: missing")
	}
	s, err := decodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	ev.Platform = Platform(s)
	if err := checkPlatform(ev.Platform); err != nil {
		return nil, err
	}
	if raw, ok := members["device"]; ok {
		if ev.Device, err = decodeString(raw); err != nil {
			return nil, fmt.Errorf("device: %w", err)
		}
	}
	if raw, ok := members["report"]; ok {
		if ev.Report, err = decodeBase64(raw); err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
	} else if ev.Platform != PlatformNone && ev.Platform != PlatformAzSNP {
		return nil, errors.New("report: missing")
	}
	for _, f := range []struct {
		name string
		dst  *map[string][]byte
	}{{"certificates", &ev.Certificates}, {"collateral", &ev.Collateral}} {
		raw, ok := members[f.name]
		if !ok {
			continue
		}
		entries, err := decodeObject(raw, f.name)
		if err != nil {
			return nil, err
		}
		if len(entries) == 0 {
			continue // an empty object is an absent one, as Marshal writes it
		}
		*f.dst = make(map[string][]byte, len(entries))
		for _, name := range slices.Sorted(maps.Keys(entries)) {
			b, err := decodeBase64(entries[name])
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", f.name, name, err)
			}
			(*f.dst)[name] = b
		}
	}
	if raw, ok := members["evidence"]; ok {
		if ev.AzSNP, err = azsnp.ParseEvidenceBody(raw); err != nil {
			return nil, err
		}
	}
	if err := ev.validate(); err != nil {
		return nil, err
	}
	return &ev, nil
}

// validate checks what DecodeEvidence checks beyond JSON syntax.
func (e *Evidence) validate() error {
	if e.Version != EvidenceVersion {
		return fmt.Errorf("version: %d is not supported (want %d)", e.Version, EvidenceVersion)
	}
	if err := checkPlatform(e.Platform); err != nil {
		return err
	}
	switch e.Device {
	case "", DeviceConfigfsTSM, DeviceSEVGuest, DeviceSimulated, DeviceTPM:
	default:
		return fmt.Errorf("device: unknown device %q (want %s, %s, %s or %s)", e.Device, DeviceConfigfsTSM, DeviceSEVGuest, DeviceTPM, DeviceSimulated)
	}
	if e.AzSNP != nil && e.Platform != PlatformAzSNP {
		return fmt.Errorf("evidence: only az-snp evidence has an evidence body, not %s", e.Platform)
	}
	if e.Foreign || e.Platform == PlatformAzTDX {
		return e.validateForeign()
	}
	switch {
	case e.Platform == PlatformNone:
		for _, f := range []struct {
			name    string
			present bool
		}{{"device", e.Device != ""}, {"report", e.Report != nil}, {"certificates", e.Certificates != nil}, {"collateral", e.Collateral != nil}, {"evidence", e.AzSNP != nil}} {
			if f.present {
				return fmt.Errorf("%s: unattested evidence (platform none) carries none", f.name)
			}
		}
		return nil
	case e.Platform == PlatformAzSNP:
		if e.AzSNP == nil {
			return errors.New("evidence: missing (az-snp evidence carries the HCL report, the TPM quote and the VCEK there)")
		}
		if e.Report != nil || e.Certificates != nil {
			return errors.New("report, certificates: not used by az-snp evidence (the HCL report and the VCEK are in evidence)")
		}
		return checkCollateral(e.Collateral, CollateralSNPCRL)
	case e.Platform.snp():
		if len(e.Report) != abi.ReportSize {
			return fmt.Errorf("report: %d bytes, want %d (an SEV-SNP ATTESTATION_REPORT)", len(e.Report), abi.ReportSize)
		}
		if err := checkCollateral(e.Collateral, CollateralSNPCRL); err != nil {
			return err
		}
		return checkSNPCertificates(e.Certificates)
	default: // tdx, sim-tdx
		if len(e.Report) < tabi.QuoteMinSize || len(e.Report) > MaxQuoteSize {
			return fmt.Errorf("report: %d bytes, want a TD quote of %d to %d bytes", len(e.Report), tabi.QuoteMinSize, MaxQuoteSize)
		}
		if e.Certificates != nil {
			return errors.New("certificates: not used by TDX evidence (the quote carries its PCK certificate chain)")
		}
		return checkTDXCollateral(e.Collateral)
	}
}

// checkCollateral checks that c has no entries but the named ones, none
// empty.
func checkCollateral(c map[string][]byte, known ...string) error {
	for _, name := range slices.Sorted(maps.Keys(c)) {
		found := false
		for _, k := range known {
			found = found || k == name
		}
		if !found {
			return fmt.Errorf("collateral.%s: unknown entry (want %s)", name, strings.Join(known, ", "))
		}
		if len(c[name]) == 0 {
			return fmt.Errorf("collateral.%s: empty", name)
		}
	}
	return nil
}

// checkTDXCollateral checks that TDX collateral comes in complete sets: TCB
// info and QE identity each with its issuer chain, and the CRLs with theirs.
func checkTDXCollateral(c map[string][]byte) error {
	if err := checkCollateral(c, CollateralTCBInfo, CollateralTCBInfoIssuerChain, CollateralQEIdentity,
		CollateralQEIdentityIssuerChain, CollateralPCKCRL, CollateralPCKCRLIssuerChain, CollateralRootCACRL); err != nil {
		return err
	}
	if len(c) == 0 {
		return nil
	}
	has := func(name string) bool { _, ok := c[name]; return ok }
	for _, set := range [][]string{
		{CollateralTCBInfo, CollateralTCBInfoIssuerChain, CollateralQEIdentity, CollateralQEIdentityIssuerChain},
		{CollateralPCKCRL, CollateralPCKCRLIssuerChain, CollateralRootCACRL},
	} {
		n := 0
		for _, name := range set {
			if has(name) {
				n++
			}
		}
		if n > 0 && n < len(set) {
			for _, name := range set {
				if !has(name) {
					return fmt.Errorf("collateral.%s: missing (it comes with %s)", name, strings.Join(set, ", "))
				}
			}
		}
	}
	if has(CollateralPCKCRL) && !has(CollateralTCBInfo) {
		return fmt.Errorf("collateral.%s: missing (revocation lists are checked together with the TCB info)", CollateralTCBInfo)
	}
	return nil
}

func checkPlatform(p Platform) error {
	switch {
	case p.snp(), p.tdx(), p == PlatformAzSNP, p == PlatformAzTDX, p == PlatformNone:
		return nil
	case p.known():
		return fmt.Errorf("platform: %s evidence is not supported in this build yet", p)
	}
	return fmt.Errorf("platform: unknown platform %q (want sev-snp, tdx, az-snp, sim-snp, sim-tdx or none)", string(p))
}

// checkSNPCertificates checks that certs is a complete SEV-SNP chain of
// parseable certificates, with no certificate that has no role in it.
func checkSNPCertificates(certs map[string][]byte) error {
	if len(certs) == 0 {
		return errors.New("certificates: missing (want ark, ask and vcek, or ark, asvk and vlek)")
	}
	for _, name := range slices.Sorted(maps.Keys(certs)) {
		switch name {
		case CertARK, CertASK, CertASVK, CertVCEK, CertVLEK:
		default:
			return fmt.Errorf("certificates.%s: unknown certificate (want ark, ask, asvk, vcek or vlek)", name)
		}
		der := certs[name]
		if len(der) == 0 {
			return fmt.Errorf("certificates.%s: empty", name)
		}
		if _, err := x509.ParseCertificate(der); err != nil {
			return fmt.Errorf("certificates.%s: not a DER X.509 certificate: %w", name, err)
		}
	}
	has := func(name string) bool { _, ok := certs[name]; return ok }
	if !has(CertARK) {
		return errors.New("certificates.ark: missing (the AMD root key certificate)")
	}
	switch {
	case has(CertVCEK) && has(CertVLEK):
		return errors.New("certificates: both vcek and vlek given (want the one endorsement key that signed the report)")
	case has(CertVCEK):
		if !has(CertASK) {
			return errors.New("certificates.ask: missing (the AMD SEV key certificate that issued the vcek)")
		}
		if has(CertASVK) {
			return errors.New("certificates.asvk: not part of a vcek chain (want ask)")
		}
	case has(CertVLEK):
		if !has(CertASVK) {
			return errors.New("certificates.asvk: missing (the AMD SEV-VLEK key certificate that issued the vlek)")
		}
		if has(CertASK) {
			return errors.New("certificates.ask: not part of a vlek chain (want asvk)")
		}
	default:
		return errors.New("certificates.vcek: missing (the endorsement key certificate that signed the report; or vlek)")
	}
	return nil
}

// decodeObject returns the members of the JSON object raw, a part of a
// document strictjson.Check has accepted, so that no member is given twice;
// what names raw in errors, "" for the top level.
func decodeObject(raw []byte, what string) (map[string]json.RawMessage, error) {
	prefix := ""
	if what != "" {
		prefix = what + ": "
	}
	if k := describeRaw(raw); k != "an object" {
		return nil, fmt.Errorf("%swant a JSON object, got %s", prefix, k)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, fmt.Errorf("%snot JSON: %w", prefix, err)
	}
	return members, nil
}

func describeToken(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return strconv.Quote(t.String())
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

func describeRaw(raw json.RawMessage) string {
	tok, err := json.NewDecoder(bytes.NewReader(raw)).Token()
	if err != nil {
		return "invalid JSON"
	}
	return describeToken(tok)
}

func unknownField(members map[string]json.RawMessage, known []string) error {
	for _, name := range slices.Sorted(maps.Keys(members)) {
		found := false
		for _, k := range known {
			found = found || name == k
		}
		if !found {
			return fmt.Errorf("%s: unknown field (want %s)", strconv.Quote(name), strings.Join(known, ", "))
		}
	}
	return nil
}

// decodeInt reads a JSON integer written without fraction or exponent.
func decodeInt(raw json.RawMessage) (int, error) {
	s := string(raw)
	digits := strings.TrimPrefix(s, "-")
	ok := digits != "" && len(digits) <= 9 && (digits == "0" || digits[0] != '0')
	for _, c := range digits {
		ok = ok && c >= '0' && c <= '9'
	}
	if !ok {
		return 0, fmt.Errorf("want an integer, got %s", describeNumber(raw))
	}
	return strconv.Atoi(s)
}

func describeNumber(raw json.RawMessage) string {
	if d := describeRaw(raw); d != "a number" {
		return d
	}
	if len(raw) > 24 {
		return string(raw[:24]) + "…"
	}
	return string(raw)
}

func decodeString(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", fmt.Errorf("want a string, got %s", describeRaw(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}

// decodeBase64 reads a string of canonical standard base64: padded, no line
// breaks, no non-zero padding bits, so that every byte string has exactly one
// encoding.
func decodeBase64(raw json.RawMessage) ([]byte, error) {
	s, err := decodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("%w (base64)", err)
	}
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return nil, fmt.Errorf("not canonical base64: line break at offset %d", i)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not canonical base64: %w", err)
	}
	return b, nil
}
