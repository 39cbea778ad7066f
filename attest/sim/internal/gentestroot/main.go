// Command gentestroot writes Kettle's TEST-ONLY SEV-SNP key chain into
// attest/sim/testroot: an ARK and an ASK (RSA-4096) and a VCEK (ECDSA P-384),
// with certificates in the layout AMD's Key Distribution Service uses, so that
// go-sev-guest's verify package accepts reports signed by the VCEK when — and
// only when — the verifier is told to trust this ARK.
//
// The keys are published on purpose: anything they sign proves nothing.
// Existing keys are reused, so rerunning the command re-issues the certificates
// without moving the trust anchor's key; verifiers pin the ARK certificate's
// SHA-256 (attest.SimSNPRootSHA256), which a re-issue does change.
//
// Usage (from the repository root):
//
//	go run ./attest/sim/internal/gentestroot -dir attest/sim/testroot
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-sev-guest/kds"
	"github.com/kettle-build/kettle/attest/sim"
)

func main() {
	dir := flag.String("dir", "attest/sim/testroot", "directory of the test root")
	tdx := flag.Bool("tdx", false, "write only the TDX chain (tdx-*.pem), leaving the SEV-SNP chain as it is")
	flag.Parse()
	gen := run
	if *tdx {
		gen = runTDX
	}
	if err := gen(*dir); err != nil {
		log.Fatal(err)
	}
}

// amdName is the distinguished name AMD's KDS puts on every certificate of the
// chain; go-sev-guest checks each attribute of it. The SERIALNUMBER attribute,
// which nothing checks, says what this chain is.
func amdName(cn string) pkix.Name {
	return pkix.Name{
		Organization:       []string{"Advanced Micro Devices"},
		Country:            []string{"US"},
		OrganizationalUnit: []string{"Engineering"},
		Locality:           []string{"Santa Clara"},
		Province:           []string{"CA"},
		SerialNumber:       "KETTLE TEST ONLY - NOT AMD",
		CommonName:         cn,
	}
}

// Validity of every certificate in the chain: long, so that simulated
// evidence keeps verifying; it is a test root, there is nothing to expire.
var (
	notBefore = time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC)
	notAfter  = time.Date(2075, time.January, 1, 0, 0, 0, 0, time.UTC)
)

func run(dir string) error {
	arkKey, err := rsaKey(filepath.Join(dir, "ark.key.pem"))
	if err != nil {
		return err
	}
	askKey, err := rsaKey(filepath.Join(dir, "ask.key.pem"))
	if err != nil {
		return err
	}
	vcekKey, err := ecKey(filepath.Join(dir, "vcek.key.pem"))
	if err != nil {
		return err
	}

	line := sim.ProductLine
	ark := &x509.Certificate{
		Version:               3,
		SerialNumber:          big.NewInt(1),
		Subject:               amdName("ARK-" + line),
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		SignatureAlgorithm:    x509.SHA384WithRSAPSS,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	arkDER, err := x509.CreateCertificate(rand.Reader, ark, ark, arkKey.Public(), arkKey)
	if err != nil {
		return fmt.Errorf("ARK certificate: %w", err)
	}
	if ark, err = x509.ParseCertificate(arkDER); err != nil {
		return err
	}

	ask := &x509.Certificate{
		Version:               3,
		SerialNumber:          big.NewInt(2),
		Subject:               amdName("SEV-" + line),
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		SignatureAlgorithm:    x509.SHA384WithRSAPSS,
		KeyUsage:              x509.KeyUsageCertSign,
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
	}
	askDER, err := x509.CreateCertificate(rand.Reader, ask, ark, askKey.Public(), arkKey)
	if err != nil {
		return fmt.Errorf("ASK certificate: %w", err)
	}
	if ask, err = x509.ParseCertificate(askDER); err != nil {
		return err
	}

	exts, err := vcekExtensions()
	if err != nil {
		return err
	}
	// A VCEK carries no extension but AMD's (go-sev-guest rejects any other,
	// bar the authority key identifier): no key usage, no basic constraints.
	vcek := &x509.Certificate{
		Version:            3,
		SerialNumber:       big.NewInt(3),
		Subject:            amdName("SEV-VCEK"),
		NotBefore:          notBefore,
		NotAfter:           notAfter,
		SignatureAlgorithm: x509.SHA384WithRSAPSS,
		ExtraExtensions:    exts,
	}
	vcekDER, err := x509.CreateCertificate(rand.Reader, vcek, ask, vcekKey.Public(), askKey)
	if err != nil {
		return fmt.Errorf("VCEK certificate: %w", err)
	}

	for name, der := range map[string][]byte{"ark.pem": arkDER, "ask.pem": askDER, "vcek.pem": vcekDER} {
		if err := writePEM(filepath.Join(dir, name), "CERTIFICATE", der); err != nil {
			return err
		}
	}
	fmt.Printf("ARK SHA-256 %x\n", sha256.Sum256(arkDER))
	return nil
}

// vcekExtensions are the KDS extensions of a VCEK certificate (AMD document
// 57230, "Versioned Chip Endorsement Key (VCEK) Certificate and KDS Interface
// Specification"), for the simulated chip's ID, TCB and product.
func vcekExtensions() ([]pkix.Extension, error) {
	tcb := kds.DecomposeTCBVersion(kds.TCBVersion(sim.TCB))
	integer := func(v uint8) []byte {
		b, _ := asn1.Marshal(int(v))
		return b
	}
	structVersion, err := asn1.Marshal(1)
	if err != nil {
		return nil, err
	}
	product, err := asn1.MarshalWithParams(sim.ProductName, "ia5")
	if err != nil {
		return nil, err
	}
	chipID := sim.ChipID()
	return []pkix.Extension{
		{Id: kds.OidStructVersion, Value: structVersion},
		{Id: kds.OidProductName1, Value: product},
		{Id: kds.OidBlSpl, Value: integer(tcb.BlSpl)},
		{Id: kds.OidTeeSpl, Value: integer(tcb.TeeSpl)},
		{Id: kds.OidSpl4, Value: integer(tcb.Spl4)},
		{Id: kds.OidSpl5, Value: integer(tcb.Spl5)},
		{Id: kds.OidSpl6, Value: integer(tcb.Spl6)},
		{Id: kds.OidSpl7, Value: integer(tcb.Spl7)},
		{Id: kds.OidSnpSpl, Value: integer(tcb.SnpSpl)},
		{Id: kds.OidUcodeSpl, Value: integer(tcb.UcodeSpl)},
		// AMD puts the 64 raw HWID bytes here, without an ASN.1 tag.
		{Id: kds.OidHwid, Value: chipID[:]},
	}, nil
}

func rsaKey(path string) (*rsa.PrivateKey, error) {
	key, err := loadKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := rsa.GenerateKey(rand.Reader, 4096)
		if err != nil {
			return nil, err
		}
		return k, writeKey(path, k)
	}
	if err != nil {
		return nil, err
	}
	k, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an RSA key", path)
	}
	return k, nil
}

func ecKey(path string) (*ecdsa.PrivateKey, error) { return ecKeyOn(path, elliptic.P384()) }

func ecKeyOn(path string, curve elliptic.Curve) (*ecdsa.PrivateKey, error) {
	key, err := loadKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			return nil, err
		}
		return k, writeKey(path, k)
	}
	if err != nil {
		return nil, err
	}
	k, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ECDSA key", path)
	}
	return k, nil
}

func loadKey(path string) (crypto.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 { // a placeholder that lets the sim package compile
		return nil, fs.ErrNotExist
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: want a PEM \"PRIVATE KEY\" block", path)
	}
	return x509.ParsePKCS8PrivateKey(block.Bytes)
}

func writeKey(path string, key crypto.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "PRIVATE KEY", der)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644)
}
