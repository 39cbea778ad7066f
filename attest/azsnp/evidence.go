package azsnp

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/kettle-build/kettle/internal/strictjson"
)

// Platform is the evidence.json platform name of az-snp evidence.
const Platform = "az-snp"

// EvidenceVersion is the version of the evidence body this package reads
// and writes.
const EvidenceVersion = 1

// MaxEvidenceSize bounds the evidence.json DecodeEvidence reads.
const MaxEvidenceSize = 1 << 20

// Evidence is the body of az-snp evidence, as the foreign attested-build
// tool writes it and Kettle writes it too:
//
//	{
//	  "version": 1,
//	  "tpm_quote": {
//	    "signature": "<hex: RSASSA-PKCS1-v1_5 signature>",
//	    "message": "<hex: TPMS_ATTEST>",
//	    "pcrs": ["<hex: PCR 0, SHA-256 bank>", …, "<hex: PCR 23>"]
//	  },
//	  "hcl_report": "<unpadded base64url: the HCL report as read from NV index 0x01400001>",
//	  "vcek": "<unpadded base64url: the VCEK certificate, DER>"
//	}
//
// Hex is lower case. The ASK and ARK are not carried: the verifier pins
// them.
type Evidence struct {
	Version   int
	Quote     Quote
	HCLReport []byte
	VCEK      []byte
}

type evidenceJSON struct {
	Version   *int       `json:"version"`
	TPMQuote  *quoteJSON `json:"tpm_quote"`
	HCLReport *string    `json:"hcl_report"`
	VCEK      *string    `json:"vcek"`
}

type quoteJSON struct {
	Signature *string  `json:"signature"`
	Message   *string  `json:"message"`
	PCRs      []string `json:"pcrs"`
}

// DecodeEvidence reads a whole az-snp evidence.json: {"platform":"az-snp",
// "evidence":{…}}, as the foreign tool writes it, or with "version":1
// first, as Kettle writes it.
func DecodeEvidence(data []byte) (*Evidence, error) {
	if len(data) > MaxEvidenceSize {
		return nil, fmt.Errorf("%d bytes, more than the %d this reader accepts", len(data), MaxEvidenceSize)
	}
	var doc struct {
		Version  *int            `json:"version"`
		Platform *string         `json:"platform"`
		Evidence json.RawMessage `json:"evidence"`
	}
	if err := strictjson.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Version != nil && *doc.Version != EvidenceVersion {
		return nil, fmt.Errorf("version: %d is not supported (want %d)", *doc.Version, EvidenceVersion)
	}
	if doc.Platform == nil {
		return nil, errors.New("platform: missing")
	}
	if *doc.Platform != Platform {
		return nil, fmt.Errorf("platform: %q, want %q", *doc.Platform, Platform)
	}
	if doc.Evidence == nil {
		return nil, errors.New("evidence: missing")
	}
	return ParseEvidenceBody(doc.Evidence)
}

// ParseEvidenceBody reads the body of az-snp evidence (the object under
// "evidence"). Every field is required; no other field is allowed; the
// encodings are checked, and the VCEK must parse as a certificate. Errors
// name the field.
func ParseEvidenceBody(data []byte) (*Evidence, error) {
	var j evidenceJSON
	if err := strictjson.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	if err := checkVTPMFields(j.Version, j.TPMQuote, j.HCLReport); err != nil {
		return nil, err
	}
	if j.VCEK == nil {
		return nil, errors.New("evidence.vcek: missing")
	}
	quote, hcl, err := decodeVTPMFields(j.TPMQuote, j.HCLReport)
	if err != nil {
		return nil, err
	}
	ev := &Evidence{Version: *j.Version, Quote: quote, HCLReport: hcl}
	if ev.VCEK, err = decodeBase64URL(*j.VCEK); err != nil {
		return nil, fmt.Errorf("evidence.vcek: %w", err)
	}
	if _, err := x509.ParseCertificate(ev.VCEK); err != nil {
		return nil, fmt.Errorf("evidence.vcek: not a DER X.509 certificate: %w", err)
	}
	return ev, nil
}

// MarshalBody returns the compact JSON of the evidence body, in the field
// order of the type's documentation.
func (e *Evidence) MarshalBody() ([]byte, error) {
	return json.Marshal(struct {
		Version   int          `json:"version"`
		TPMQuote  quoteJSONOut `json:"tpm_quote"`
		HCLReport string       `json:"hcl_report"`
		VCEK      string       `json:"vcek"`
	}{e.Version, newQuoteJSONOut(e.Quote), base64.RawURLEncoding.EncodeToString(e.HCLReport), base64.RawURLEncoding.EncodeToString(e.VCEK)})
}

// quoteJSONOut is the vTPM quote as both evidence flavours write it.
type quoteJSONOut struct {
	Signature string   `json:"signature"`
	Message   string   `json:"message"`
	PCRs      []string `json:"pcrs"`
}

func newQuoteJSONOut(q Quote) quoteJSONOut {
	pcrs := make([]string, len(q.PCRs))
	for i, p := range q.PCRs {
		pcrs[i] = hex.EncodeToString(p)
	}
	return quoteJSONOut{hex.EncodeToString(q.Signature), hex.EncodeToString(q.Message), pcrs}
}

// Marshal returns the whole evidence.json, indented, ending in a newline:
// {"version":1,"platform":"az-snp","evidence":{…}}. DecodeEvidence reads it
// back.
func (e *Evidence) Marshal() ([]byte, error) {
	body, err := e.MarshalBody()
	if err != nil {
		return nil, fmt.Errorf("encoding az-snp evidence: %w", err)
	}
	if _, err := ParseEvidenceBody(body); err != nil {
		return nil, fmt.Errorf("encoding az-snp evidence: %w", err)
	}
	out, err := json.MarshalIndent(struct {
		Version  int             `json:"version"`
		Platform string          `json:"platform"`
		Evidence json.RawMessage `json:"evidence"`
	}{EvidenceVersion, Platform, body}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding az-snp evidence: %w", err)
	}
	return append(out, '\n'), nil
}

// decodeQuote decodes evidence.tpm_quote, whose fields are present.
// checkVTPMFields checks that what the SEV-SNP and TDX flavours of az-snp
// evidence share is there: the version, the vTPM quote and the HCL report.
func checkVTPMFields(version *int, q *quoteJSON, hcl *string) error {
	switch {
	case version == nil:
		return errors.New("evidence.version: missing")
	case *version != EvidenceVersion:
		return fmt.Errorf("evidence.version: %d is not supported (want %d)", *version, EvidenceVersion)
	case q == nil:
		return errors.New("evidence.tpm_quote: missing")
	case q.Signature == nil:
		return errors.New("evidence.tpm_quote.signature: missing")
	case q.Message == nil:
		return errors.New("evidence.tpm_quote.message: missing")
	case q.PCRs == nil:
		return errors.New("evidence.tpm_quote.pcrs: missing")
	case hcl == nil:
		return errors.New("evidence.hcl_report: missing")
	}
	return nil
}

// decodeVTPMFields decodes the vTPM quote and the HCL report that
// checkVTPMFields found.
func decodeVTPMFields(q *quoteJSON, hcl *string) (Quote, []byte, error) {
	quote, err := decodeQuote(q)
	if err != nil {
		return Quote{}, nil, err
	}
	report, err := decodeBase64URL(*hcl)
	if err != nil {
		return Quote{}, nil, fmt.Errorf("evidence.hcl_report: %w", err)
	}
	return quote, report, nil
}

func decodeQuote(j *quoteJSON) (Quote, error) {
	var q Quote
	var err error
	if q.Signature, err = decodeHex(*j.Signature); err != nil {
		return q, fmt.Errorf("evidence.tpm_quote.signature: %w", err)
	}
	if q.Message, err = decodeHex(*j.Message); err != nil {
		return q, fmt.Errorf("evidence.tpm_quote.message: %w", err)
	}
	if len(j.PCRs) != NumPCRs {
		return q, fmt.Errorf("evidence.tpm_quote.pcrs: %d values, want %d (PCRs 0 to 23 of the SHA-256 bank)", len(j.PCRs), NumPCRs)
	}
	for i, s := range j.PCRs {
		v, err := decodeHex(s)
		if err != nil {
			return q, fmt.Errorf("evidence.tpm_quote.pcrs[%d]: %w", i, err)
		}
		if len(v) != 32 {
			return q, fmt.Errorf("evidence.tpm_quote.pcrs[%d]: %d bytes, want 32 (SHA-256)", i, len(v))
		}
		q.PCRs = append(q.PCRs, v)
	}
	return q, nil
}

// decodeHex reads lower-case hex.
func decodeHex(s string) ([]byte, error) {
	if s != strings.ToLower(s) {
		return nil, errors.New("not lower-case hex")
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not hex: %w", err)
	}
	return b, nil
}

// decodeBase64URL reads unpadded base64url (RFC 4648 §5) with no non-zero
// padding bits.
func decodeBase64URL(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not unpadded base64url: %w", err)
	}
	return b, nil
}

// MarshalJSON encodes the evidence body (MarshalBody), so that the body can
// sit inside another document, as it does in package attest's Evidence.
func (e *Evidence) MarshalJSON() ([]byte, error) { return e.MarshalBody() }

// UnmarshalJSON decodes the evidence body as strictly as ParseEvidenceBody.
func (e *Evidence) UnmarshalJSON(data []byte) error {
	d, err := ParseEvidenceBody(data)
	if err != nil {
		return err
	}
	*e = *d
	return nil
}
