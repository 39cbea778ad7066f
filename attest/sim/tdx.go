package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	_ "embed" // the test-only TDX chain
	"encoding/pem"
	"fmt"
	"math/big"

	tabi "github.com/google/go-tdx-guest/abi"
	tpb "github.com/google/go-tdx-guest/proto/tdx"
)

// The simulated TDX platform: one fixed machine whose PCK certificate the
// TEST-ONLY chain below certifies.
var (
	// TDXCPUSVN is the platform's CPUSVN, certified by the PCK certificate.
	TDXCPUSVN = [16]byte{3, 3, 2, 2, 2, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0}
	// TDXFMSPC is the platform's family-model-stepping-platform-custom SKU.
	TDXFMSPC = [6]byte{0x4b, 0x45, 0x54, 0x54, 0x4c, 0x45} // "KETTLE"
)

// Simulated TDX versions.
const (
	// TDXPCESVN is the PCE's SVN, certified by the PCK certificate.
	TDXPCESVN uint16 = 11
	// TDXQESVN is the quoting enclave's SVN (its QE report's ISVSVN).
	TDXQESVN uint16 = 8
	// TDXTDAttributes is the default TD_ATTRIBUTES: SEPT_VE_DISABLE (bit
	// 28) set, DEBUG (bit 0) clear.
	TDXTDAttributes uint64 = 1 << 28
	// TDXXFAM is the default XFAM (x87, SSE, AVX, AVX-512 state).
	TDXXFAM uint64 = 0x00000000000000e7
)

// TDXTEETCBSVN returns the simulated TDX module's TEE_TCB_SVN.
func TDXTEETCBSVN() [16]byte { return [16]byte{3, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} }

// intelQEVendorID is the QE_VENDOR_ID of Intel's quoting enclave.
var intelQEVendorID = [16]byte{0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07}

var (
	//go:embed testroot/tdx-root.pem
	tdxRootPEM string
	//go:embed testroot/tdx-pckca.pem
	tdxCAPEM string
	//go:embed testroot/tdx-pck.pem
	tdxPCKPEM string
	//go:embed testroot/tdx-pck.key.pem
	tdxPCKKeyPEM string
)

// TDXRoot parses and returns the TEST-ONLY TDX root certificate (its
// subject says "Intel SGX Root CA" because go-tdx-guest checks the name; its
// serialNumber attribute says "KETTLE TEST ONLY - NOT INTEL").
func TDXRoot() (*x509.Certificate, error) { return parseCert("tdx-root.pem", tdxRootPEM) }

// TDXFields are the parts of a TD quote that the guest and its launcher
// choose; the rest describes the simulated platform.
type TDXFields struct {
	ReportData [64]byte
	MRTD       [48]byte
	RTMRs      [4][48]byte
	MRConfigID [48]byte
}

// TDXSigner produces TD quotes as the simulated platform's quoting enclave
// would: the quote signed by an attestation key, the attestation key bound
// into a QE report signed by the PCK key, and the PCK chain in the quote.
type TDXSigner struct {
	pck      *ecdsa.PrivateKey
	attest   *ecdsa.PrivateKey
	chainPEM []byte
}

// NewTDXSigner loads the TEST-ONLY PCK key and chain and draws an attestation
// key, as a quoting enclave does when it starts.
func NewTDXSigner() (*TDXSigner, error) {
	pckCert, err := parseCert("tdx-pck.pem", tdxPCKPEM)
	if err != nil {
		return nil, err
	}
	der, err := decodePEM("tdx-pck.key.pem", tdxPCKKeyPEM, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("sim test root tdx-pck.key.pem: %w", err)
	}
	pck, ok := key.(*ecdsa.PrivateKey)
	if !ok || !pck.PublicKey.Equal(pckCert.PublicKey) {
		return nil, fmt.Errorf("sim test root tdx-pck.key.pem: not the private key of tdx-pck.pem")
	}
	ak, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sim-tdx attestation key: %w", err)
	}
	s := &TDXSigner{pck: pck, attest: ak}
	for _, c := range []struct{ name, text string }{{"tdx-pck.pem", tdxPCKPEM}, {"tdx-pckca.pem", tdxCAPEM}, {"tdx-root.pem", tdxRootPEM}} {
		der, err := decodePEM(c.name, c.text, "CERTIFICATE")
		if err != nil {
			return nil, err
		}
		s.chainPEM = append(s.chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return s, nil
}

// NewTDXQuote returns an unsigned TD quote (version 4) of the simulated
// platform for f. Callers may change any field before Sign.
func (s *TDXSigner) NewTDXQuote(f TDXFields) *tpb.QuoteV4 {
	le64 := func(v uint64) []byte {
		b := make([]byte, 8)
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		return b
	}
	tcb := TDXTEETCBSVN()
	rtmrs := make([][]byte, 4)
	for i := range rtmrs {
		rtmrs[i] = append([]byte(nil), f.RTMRs[i][:]...)
	}
	mrSeam := sha512sum384("kettle-sim-tdx-module")
	cpusvn := TDXCPUSVN
	chain := append([]byte(nil), s.chainPEM...)
	authData := make([]byte, 32)
	copy(authData, "kettle sim-tdx QE auth data")
	return &tpb.QuoteV4{
		Header: &tpb.Header{
			Version:            tabi.QuoteVersion,
			AttestationKeyType: tabi.AttestationKeyType,
			TeeType:            tabi.TeeTDX,
			// Reserved in version 4 (QE_SVN and PCE_SVN in version 3):
			// zero, as on hardware.
			QeSvn:      make([]byte, 2),
			PceSvn:     make([]byte, 2),
			QeVendorId: append([]byte(nil), intelQEVendorID[:]...),
			UserData:   make([]byte, 20),
		},
		TdQuoteBody: &tpb.TDQuoteBody{
			TeeTcbSvn:      tcb[:],
			MrSeam:         mrSeam,
			MrSignerSeam:   make([]byte, 48),
			SeamAttributes: make([]byte, 8),
			TdAttributes:   le64(TDXTDAttributes),
			Xfam:           le64(TDXXFAM),
			MrTd:           append([]byte(nil), f.MRTD[:]...),
			MrConfigId:     append([]byte(nil), f.MRConfigID[:]...),
			MrOwner:        make([]byte, 48),
			MrOwnerConfig:  make([]byte, 48),
			Rtmrs:          rtmrs,
			ReportData:     append([]byte(nil), f.ReportData[:]...),
		},
		SignedData: &tpb.Ecdsa256BitQuoteV4AuthData{
			Signature:           make([]byte, 64),
			EcdsaAttestationKey: make([]byte, 64),
			CertificationData: &tpb.CertificationData{
				CertificateDataType: 6,
				QeReportCertificationData: &tpb.QEReportCertificationData{
					QeReport: &tpb.EnclaveReport{
						CpuSvn:     cpusvn[:],
						MiscSelect: 0,
						Reserved1:  make([]byte, 28),
						Attributes: []byte{0x11, 0, 0, 0, 0, 0, 0, 0, 0xe7, 0, 0, 0, 0, 0, 0, 0},
						MrEnclave:  sha256sum("kettle-sim-tdx-qe"),
						Reserved2:  make([]byte, 32),
						MrSigner:   sha256sum("kettle-sim-tdx-qe-signer"),
						Reserved3:  make([]byte, 96),
						IsvProdId:  2,
						IsvSvn:     uint32(TDXQESVN),
						Reserved4:  make([]byte, 60),
						ReportData: make([]byte, 64),
					},
					QeReportSignature:       make([]byte, 64),
					QeAuthData:              &tpb.QeAuthData{ParsedDataSize: uint32(len(authData)), Data: authData},
					PckCertificateChainData: &tpb.PCKCertificateChainData{CertificateDataType: 5, Size: uint32(len(chain)), PckCertChain: chain},
				},
			},
		},
	}
}

// Sign fills in q's sizes, attestation key, QE report data and both
// signatures, and returns the quote's bytes. The QE report binds the
// attestation key (REPORT_DATA = SHA-256(key ‖ QE auth data)) and is signed
// by the PCK key; the header and TD quote body are signed by the attestation
// key. Fields the caller changed are kept.
func (s *TDXSigner) Sign(q *tpb.QuoteV4) ([]byte, error) {
	if q == nil || q.GetSignedData().GetCertificationData().GetQeReportCertificationData().GetQeReport() == nil {
		return nil, fmt.Errorf("sign simulated quote: incomplete quote")
	}
	sd := q.SignedData
	qrc := sd.CertificationData.QeReportCertificationData
	ak := s.attest.PublicKey
	sd.EcdsaAttestationKey = append(fixed32(ak.X), fixed32(ak.Y)...)
	rd := sha256.Sum256(append(append([]byte(nil), sd.EcdsaAttestationKey...), qrc.GetQeAuthData().GetData()...))
	qrc.QeReport.ReportData = append(rd[:], make([]byte, 32)...)
	qeRaw, err := tabi.EnclaveReportToAbiBytes(qrc.QeReport)
	if err != nil {
		return nil, fmt.Errorf("sign simulated quote: QE report: %w", err)
	}
	if qrc.QeReportSignature, err = signP256(s.pck, qeRaw); err != nil {
		return nil, err
	}
	chainLen := len(qrc.GetPckCertificateChainData().GetPckCertChain())
	authLen := len(qrc.GetQeAuthData().GetData())
	sd.CertificationData.Size = uint32(384 + 64 + 2 + authLen + 2 + 4 + chainLen)
	q.SignedDataSize = 64 + 64 + 2 + 4 + sd.CertificationData.Size
	header, err := tabi.HeaderToAbiBytes(q.Header)
	if err != nil {
		return nil, fmt.Errorf("sign simulated quote: header: %w", err)
	}
	body, err := tabi.TdQuoteBodyToAbiBytes(q.TdQuoteBody)
	if err != nil {
		return nil, fmt.Errorf("sign simulated quote: TD quote body: %w", err)
	}
	if sd.Signature, err = signP256(s.attest, append(header, body...)); err != nil {
		return nil, err
	}
	raw, err := tabi.QuoteToAbiBytes(q)
	if err != nil {
		return nil, fmt.Errorf("sign simulated quote: %w", err)
	}
	return raw, nil
}

// signP256 signs SHA-256(msg) and returns r ‖ s, 32 bytes each.
func signP256(key *ecdsa.PrivateKey, msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		return nil, fmt.Errorf("sign simulated quote: %w", err)
	}
	return append(fixed32(r), fixed32(s)...), nil
}

func fixed32(v *big.Int) []byte {
	b := make([]byte, 32)
	return v.FillBytes(b)
}

func sha256sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func sha512sum384(s string) []byte {
	h := sha512.Sum384([]byte(s))
	return h[:]
}
