package azsnp

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
)

// NumPCRs is the number of PCRs an az-snp quote covers: all 24 of the
// SHA-256 bank, in index order.
const NumPCRs = 24

// MaxQuoteMessageSize bounds the TPMS_ATTEST ParseQuoteMessage reads.
const MaxQuoteMessageSize = 4096

// Quote is a TPM2 quote as az-snp evidence carries it: the TPMS_ATTEST the
// TPM signed, its signature (the raw RSASSA-PKCS1-v1_5 signature, not a
// TPMT_SIGNATURE), and the values of the quoted PCRs.
type Quote struct {
	Signature []byte
	Message   []byte
	PCRs      [][]byte
}

// QuoteInfo is a decoded quote message (TPMS_ATTEST of type
// TPM_ST_ATTEST_QUOTE).
type QuoteInfo struct {
	// QualifiedSigner is the qualified name of the signing key (TPM2B_NAME
	// contents).
	QualifiedSigner []byte
	// ExtraData is the qualifying data the caller gave TPM2_Quote.
	ExtraData []byte
	// Clock, ResetCount, RestartCount and Safe are the TPMS_CLOCK_INFO.
	Clock        uint64
	ResetCount   uint32
	RestartCount uint32
	Safe         bool
	// FirmwareVersion is the TPM vendor's firmware version.
	FirmwareVersion uint64
	// PCRs lists the quoted PCR indices of the SHA-256 bank, ascending.
	PCRs []int
	// PCRDigest is the SHA-256 of the quoted PCR values, concatenated in
	// index order.
	PCRDigest []byte
}

// ParseQuoteMessage decodes a TPMS_ATTEST with go-tpm and checks that it is a
// quote (magic TPM_GENERATED_VALUE, type TPM_ST_ATTEST_QUOTE) of one bank,
// SHA-256, selecting all 24 PCRs (the 3-byte bitmap ffffff), with a 32-byte PCR digest, and that
// nothing follows it.
func ParseQuoteMessage(msg []byte) (*QuoteInfo, error) {
	if len(msg) > MaxQuoteMessageSize {
		return nil, fmt.Errorf("quote message: %d bytes, more than the %d this reader accepts", len(msg), MaxQuoteMessageSize)
	}
	att, err := tpm2.Unmarshal[tpm2.TPMSAttest](msg)
	if err != nil {
		return nil, fmt.Errorf("quote message: not a TPMS_ATTEST: %w", err)
	}
	if att.Magic != tpm2.TPMGeneratedValue {
		return nil, fmt.Errorf("quote message: magic is 0x%08x, want 0x%08x (TPM_GENERATED_VALUE)", uint32(att.Magic), uint32(tpm2.TPMGeneratedValue))
	}
	if att.Type != tpm2.TPMSTAttestQuote {
		return nil, fmt.Errorf("quote message: type is 0x%04x, want 0x%04x (TPM_ST_ATTEST_QUOTE)", uint16(att.Type), uint16(tpm2.TPMSTAttestQuote))
	}
	q, err := att.Attested.Quote()
	if err != nil {
		return nil, fmt.Errorf("quote message: attested: %w", err)
	}
	// go-tpm reads what it needs and ignores the rest; an encoding is
	// canonical only if re-encoding gives the input back.
	if again := tpm2.Marshal(att); !bytes.Equal(again, msg) {
		return nil, fmt.Errorf("quote message: %d bytes, of which the TPMS_ATTEST takes %d (trailing or non-canonical data)", len(msg), len(again))
	}
	sels := q.PCRSelect.PCRSelections
	if len(sels) != 1 {
		return nil, fmt.Errorf("quote message: PCR selection has %d banks, want 1 (SHA-256)", len(sels))
	}
	if sels[0].Hash != tpm2.TPMAlgSHA256 {
		return nil, fmt.Errorf("quote message: PCR selection hash algorithm is 0x%04x, want 0x%04x (SHA-256)", uint16(sels[0].Hash), uint16(tpm2.TPMAlgSHA256))
	}
	if sel := sels[0].PCRSelect; !bytes.Equal(sel, []byte{0xff, 0xff, 0xff}) {
		return nil, fmt.Errorf("quote message: PCR selection bitmap %x, want ffffff (PCRs 0 to 23)", sel)
	}
	pcrs := make([]int, NumPCRs)
	for i := range pcrs {
		pcrs[i] = i
	}
	if n := len(q.PCRDigest.Buffer); n != sha256.Size {
		return nil, fmt.Errorf("quote message: PCR digest of %d bytes, want %d (SHA-256)", n, sha256.Size)
	}
	return &QuoteInfo{
		QualifiedSigner: att.QualifiedSigner.Buffer,
		ExtraData:       att.ExtraData.Buffer,
		Clock:           att.ClockInfo.Clock,
		ResetCount:      att.ClockInfo.ResetCount,
		RestartCount:    att.ClockInfo.RestartCount,
		Safe:            bool(att.ClockInfo.Safe),
		FirmwareVersion: att.FirmwareVersion,
		PCRs:            pcrs,
		PCRDigest:       q.PCRDigest.Buffer,
	}, nil
}

// CheckSignature checks that sig is ak's RSASSA-PKCS1-v1_5 signature, with
// SHA-256, of the quote message.
func (q *Quote) CheckSignature(ak *rsa.PublicKey) error {
	if len(q.Signature) != ak.Size() {
		return fmt.Errorf("quote signature: %d bytes, want %d (the attestation key's modulus)", len(q.Signature), ak.Size())
	}
	sum := sha256.Sum256(q.Message)
	if err := rsa.VerifyPKCS1v15(ak, crypto.SHA256, sum[:], q.Signature); err != nil {
		return errors.New("quote signature: does not verify with the attestation key (RSASSA-PKCS1-v1_5, SHA-256)")
	}
	return nil
}

// PCRDigest returns the SHA-256 of the PCR values, concatenated in order:
// the digest a quote of all of them carries. Each value must be 32 bytes.
func PCRDigest(pcrs [][]byte) ([]byte, error) {
	if len(pcrs) != NumPCRs {
		return nil, fmt.Errorf("pcrs: %d values, want %d (PCRs 0 to 23 of the SHA-256 bank)", len(pcrs), NumPCRs)
	}
	h := sha256.New()
	for i, v := range pcrs {
		if len(v) != sha256.Size {
			return nil, fmt.Errorf("pcrs[%d]: %d bytes, want %d (SHA-256)", i, len(v), sha256.Size)
		}
		h.Write(v)
	}
	return h.Sum(nil), nil
}
