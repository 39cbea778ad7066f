package azsnp

import (
	"bytes"
	"context"
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
)

// Where an Azure confidential VM's vTPM keeps what az-snp evidence needs.
const (
	// DefaultDevice is the kernel's TPM resource manager.
	DefaultDevice = "/dev/tpmrm0"
	// HCLReportNVIndex holds the HCL report.
	HCLReportNVIndex = 0x01400001
	// AKHandle is the persistent handle of the vTPM attestation key.
	AKHandle = 0x81000003
	// MaxExtraData is the most qualifying data a quote carries (the size
	// of a SHA-512 digest, TPM2B_DATA's bound).
	MaxExtraData = 64
	// pcrReadTries bounds the quote-then-read loop when PCRs move between
	// the two.
	pcrReadTries = 3
)

// OpenDevice opens a TPM character device, DefaultDevice on an Azure CVM.
func OpenDevice(path string) (transport.TPMCloser, error) {
	t, err := linuxtpm.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening the vTPM %s: %w", path, err)
	}
	return t, nil
}

// Attester produces az-snp evidence from a vTPM.
type Attester struct {
	// TPM is the connection to the vTPM.
	TPM transport.TPM
	// VCEK is the DER VCEK certificate of the chip, which the HCL report's
	// SEV-SNP report is signed by (on Azure, FetchVCEK gets it).
	VCEK []byte
	// NVIndex and AKHandle default to HCLReportNVIndex and AKHandle.
	NVIndex  uint32
	AKHandle uint32
}

// Attest reads the HCL report, checks that it names the vTPM's attestation
// key, and quotes the 24 SHA-256 PCRs with that key over extraData (at most
// MaxExtraData bytes; Kettle's own bundles use KettleBinding).
func (a *Attester) Attest(ctx context.Context, extraData []byte) (*Evidence, error) {
	if len(extraData) > MaxExtraData {
		return nil, fmt.Errorf("az-snp: qualifying data of %d bytes, at most %d fit in a quote", len(extraData), MaxExtraData)
	}
	if len(a.VCEK) == 0 {
		return nil, errors.New("az-snp: no VCEK certificate")
	}
	nvIndex, akHandle := a.NVIndex, a.AKHandle
	if nvIndex == 0 {
		nvIndex = HCLReportNVIndex
	}
	if akHandle == 0 {
		akHandle = AKHandle
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	hcl, err := ReadHCLReport(a.TPM, nvIndex)
	if err != nil {
		return nil, err
	}
	report, err := ParseHCLReport(hcl)
	if err != nil {
		return nil, fmt.Errorf("az-snp: the vTPM's HCL report: %w", err)
	}
	claims, err := ParseRuntimeClaims(report.RuntimeClaims)
	if err != nil {
		return nil, fmt.Errorf("az-snp: the vTPM's HCL report: runtime claims: %w", err)
	}
	want, err := claims.AK()
	if err != nil {
		return nil, fmt.Errorf("az-snp: the vTPM's HCL report: %w", err)
	}
	name, ak, err := readAK(a.TPM, akHandle)
	if err != nil {
		return nil, err
	}
	if !ak.Equal(want) {
		return nil, fmt.Errorf("az-snp: the key at handle 0x%08x is not the attestation key the HCL report names (%s)", akHandle, AKKeyID)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q, err := quotePCRs(a.TPM, akHandle, name, extraData)
	if err != nil {
		return nil, err
	}
	return &Evidence{Version: EvidenceVersion, Quote: *q, HCLReport: hcl,
		VCEK: append([]byte(nil), a.VCEK...)}, nil
}

// ReadHCLReport reads the whole NV index, with the owner's (empty)
// authorisation, in pieces no larger than the TPM's NV buffer.
func ReadHCLReport(t transport.TPM, index uint32) ([]byte, error) {
	pub, err := tpm2.NVReadPublic{NVIndex: tpm2.TPMHandle(index)}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("az-snp: reading the public area of NV index 0x%08x: %w", index, err)
	}
	contents, err := pub.NVPublic.Contents()
	if err != nil {
		return nil, fmt.Errorf("az-snp: NV index 0x%08x: public area: %w", index, err)
	}
	chunk := uint16(512)
	caps, err := tpm2.GetCapability{Capability: tpm2.TPMCapTPMProperties, Property: uint32(tpm2.TPMPTNVBufferMax), PropertyCount: 1}.Execute(t)
	if err == nil {
		if props, err := caps.CapabilityData.Data.TPMProperties(); err == nil && len(props.TPMProperty) == 1 &&
			props.TPMProperty[0].Property == tpm2.TPMPTNVBufferMax && props.TPMProperty[0].Value > 0 && props.TPMProperty[0].Value < 1<<16 {
			chunk = uint16(props.TPMProperty[0].Value)
		}
	}
	out := make([]byte, 0, contents.DataSize)
	for off := uint16(0); off < contents.DataSize; {
		n := min(chunk, contents.DataSize-off)
		rsp, err := tpm2.NVRead{
			AuthHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
			NVIndex:    tpm2.NamedHandle{Handle: tpm2.TPMHandle(index), Name: pub.NVName},
			Size:       n,
			Offset:     off,
		}.Execute(t)
		if err != nil {
			return nil, fmt.Errorf("az-snp: reading NV index 0x%08x at offset %d: %w", index, off, err)
		}
		if len(rsp.Data.Buffer) != int(n) {
			return nil, fmt.Errorf("az-snp: reading NV index 0x%08x at offset %d: %d bytes, asked %d", index, off, len(rsp.Data.Buffer), n)
		}
		out = append(out, rsp.Data.Buffer...)
		off += n
	}
	return out, nil
}

// readAK returns the name and RSA public key of the key at handle.
func readAK(t transport.TPM, handle uint32) (tpm2.TPM2BName, *rsa.PublicKey, error) {
	rsp, err := tpm2.ReadPublic{ObjectHandle: tpm2.TPMHandle(handle)}.Execute(t)
	if err != nil {
		return tpm2.TPM2BName{}, nil, fmt.Errorf("az-snp: reading the attestation key at handle 0x%08x: %w", handle, err)
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		return tpm2.TPM2BName{}, nil, fmt.Errorf("az-snp: attestation key at handle 0x%08x: %w", handle, err)
	}
	if pub.Type != tpm2.TPMAlgRSA {
		return tpm2.TPM2BName{}, nil, fmt.Errorf("az-snp: attestation key at handle 0x%08x: type 0x%04x, want RSA", handle, uint16(pub.Type))
	}
	key, err := tpm2.Pub(*pub)
	if err != nil {
		return tpm2.TPM2BName{}, nil, fmt.Errorf("az-snp: attestation key at handle 0x%08x: %w", handle, err)
	}
	return rsp.Name, key.(*rsa.PublicKey), nil
}

// AllPCRs selects PCRs 0 to 23 of the SHA-256 bank.
func AllPCRs() tpm2.TPMLPCRSelection {
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{
		{Hash: tpm2.TPMAlgSHA256, PCRSelect: []byte{0xff, 0xff, 0xff}},
	}}
}

// quotePCRs quotes all PCRs and reads their values, again if they moved in
// between.
func quotePCRs(t transport.TPM, handle uint32, name tpm2.TPM2BName, extraData []byte) (*Quote, error) {
	for try := 0; try < pcrReadTries; try++ {
		rsp, err := tpm2.Quote{
			SignHandle:     tpm2.AuthHandle{Handle: tpm2.TPMHandle(handle), Name: name, Auth: tpm2.PasswordAuth(nil)},
			QualifyingData: tpm2.TPM2BData{Buffer: extraData},
			InScheme:       tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull},
			PCRSelect:      AllPCRs(),
		}.Execute(t)
		if err != nil {
			return nil, fmt.Errorf("az-snp: quoting the PCRs: %w", err)
		}
		if rsp.Signature.SigAlg != tpm2.TPMAlgRSASSA {
			return nil, fmt.Errorf("az-snp: the quote is signed with algorithm 0x%04x, want RSASSA", uint16(rsp.Signature.SigAlg))
		}
		sig, err := rsp.Signature.Signature.RSASSA()
		if err != nil {
			return nil, fmt.Errorf("az-snp: quote signature: %w", err)
		}
		if sig.Hash != tpm2.TPMAlgSHA256 {
			return nil, fmt.Errorf("az-snp: the quote is signed with hash 0x%04x, want SHA-256", uint16(sig.Hash))
		}
		msg := rsp.Quoted.Bytes()
		info, err := ParseQuoteMessage(msg)
		if err != nil {
			return nil, fmt.Errorf("az-snp: the TPM's %w", err)
		}
		pcrs, err := ReadPCRs(t)
		if err != nil {
			return nil, err
		}
		digest, err := PCRDigest(pcrs)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(digest, info.PCRDigest) {
			return &Quote{Signature: sig.Sig.Buffer, Message: msg, PCRs: pcrs}, nil
		}
	}
	return nil, fmt.Errorf("az-snp: the PCRs changed between the quote and reading them, %d times", pcrReadTries)
}

// ReadPCRs reads PCRs 0 to 23 of the SHA-256 bank (a TPM returns at most 8
// per TPM2_PCR_Read).
func ReadPCRs(t transport.TPM) ([][]byte, error) {
	pcrs := make([][]byte, NumPCRs)
	left := []byte{0xff, 0xff, 0xff}
	for n := 0; n < NumPCRs; {
		rsp, err := tpm2.PCRRead{PCRSelectionIn: tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{
			{Hash: tpm2.TPMAlgSHA256, PCRSelect: append([]byte(nil), left...)},
		}}}.Execute(t)
		if err != nil {
			return nil, fmt.Errorf("az-snp: reading the PCRs: %w", err)
		}
		digests := rsp.PCRValues.Digests
		var got []int
		for _, s := range rsp.PCRSelectionOut.PCRSelections {
			if s.Hash != tpm2.TPMAlgSHA256 {
				continue
			}
			for i, b := range s.PCRSelect {
				for bit := 0; bit < 8; bit++ {
					if b&(1<<bit) != 0 && i*8+bit < NumPCRs {
						got = append(got, i*8+bit)
					}
				}
			}
		}
		if len(got) == 0 || len(got) != len(digests) {
			return nil, fmt.Errorf("az-snp: reading the PCRs: the TPM returned %d values for %d PCRs", len(digests), len(got))
		}
		for k, i := range got {
			if pcrs[i] != nil || left[i/8]&(1<<(i%8)) == 0 {
				return nil, fmt.Errorf("az-snp: reading the PCRs: PCR %d returned unasked", i)
			}
			if len(digests[k].Buffer) != 32 {
				return nil, fmt.Errorf("az-snp: reading the PCRs: PCR %d has %d bytes, want 32", i, len(digests[k].Buffer))
			}
			pcrs[i] = digests[k].Buffer
			left[i/8] &^= 1 << (i % 8)
			n++
		}
	}
	return pcrs, nil
}
