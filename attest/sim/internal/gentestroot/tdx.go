package main

import (
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"path/filepath"

	"github.com/google/go-tdx-guest/pcs"
	"github.com/kettle-build/kettle/attest/sim"
)

// intelName is the distinguished name Intel's PCS puts on the certificates of
// a PCK chain; go-tdx-guest checks the common name and that each issuer
// equals its parent's subject. The SERIALNUMBER attribute, which nothing
// checks, says what this chain is.
func intelName(cn string) pkix.Name {
	return pkix.Name{
		CommonName:   cn,
		Organization: []string{"Intel Corporation"},
		Locality:     []string{"Santa Clara"},
		Province:     []string{"CA"},
		Country:      []string{"US"},
		SerialNumber: "KETTLE TEST ONLY - NOT INTEL",
	}
}

// runTDX writes the TEST-ONLY TDX chain: a root ("Intel SGX Root CA"), a PCK
// platform CA and a PCK certificate with the SGX extensions of the simulated
// platform, all ECDSA P-256 with SHA-256 as Intel's are.
func runTDX(dir string) error {
	rootKey, err := ecKeyOn(filepath.Join(dir, "tdx-root.key.pem"), elliptic.P256())
	if err != nil {
		return err
	}
	caKey, err := ecKeyOn(filepath.Join(dir, "tdx-pckca.key.pem"), elliptic.P256())
	if err != nil {
		return err
	}
	pckKey, err := ecKeyOn(filepath.Join(dir, "tdx-pck.key.pem"), elliptic.P256())
	if err != nil {
		return err
	}
	root := &x509.Certificate{
		Version:               3,
		SerialNumber:          big.NewInt(1),
		Subject:               intelName("Intel SGX Root CA"),
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		SignatureAlgorithm:    x509.ECDSAWithSHA256,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            1,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, rootKey.Public(), rootKey)
	if err != nil {
		return fmt.Errorf("TDX root certificate: %w", err)
	}
	if root, err = x509.ParseCertificate(rootDER); err != nil {
		return err
	}
	ca := &x509.Certificate{
		Version:               3,
		SerialNumber:          big.NewInt(2),
		Subject:               intelName("Intel SGX PCK Platform CA"),
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		SignatureAlgorithm:    x509.ECDSAWithSHA256,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, root, caKey.Public(), rootKey)
	if err != nil {
		return fmt.Errorf("TDX PCK CA certificate: %w", err)
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return err
	}
	sgx, err := sgxExtension()
	if err != nil {
		return err
	}
	// Six extensions, as go-tdx-guest requires of a PCK certificate:
	// authority and subject key IDs, CRL distribution point, key usage,
	// basic constraints and the SGX extension.
	pck := &x509.Certificate{
		Version:               3,
		SerialNumber:          big.NewInt(3),
		Subject:               intelName("Intel SGX PCK Certificate"),
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		SignatureAlgorithm:    x509.ECDSAWithSHA256,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
		SubjectKeyId:          []byte("kettle-test-pck"),
		CRLDistributionPoints: []string{"https://kettle.invalid/test-only/pckcrl"},
		ExtraExtensions:       []pkix.Extension{sgx},
	}
	pckDER, err := x509.CreateCertificate(rand.Reader, pck, ca, pckKey.Public(), caKey)
	if err != nil {
		return fmt.Errorf("TDX PCK certificate: %w", err)
	}
	if c, err := x509.ParseCertificate(pckDER); err != nil {
		return err
	} else if _, err := pcs.PckCertificateExtensions(c); err != nil {
		return fmt.Errorf("TDX PCK certificate: %w", err)
	}
	for name, der := range map[string][]byte{"tdx-root.pem": rootDER, "tdx-pckca.pem": caDER, "tdx-pck.pem": pckDER} {
		if err := writePEM(filepath.Join(dir, name), "CERTIFICATE", der); err != nil {
			return err
		}
	}
	fmt.Printf("TDX root SHA-256 %x\n", sha256.Sum256(rootDER))
	return nil
}

// sgxExtension is the SGX extension of a PCK certificate (Intel's "SGX PCK
// Certificate and Certificate Revocation List Profile Specification"):
// PPID, TCB (16 components, PCESVN, CPUSVN), PCE-ID and FMSPC.
func sgxExtension() (pkix.Extension, error) {
	type oidValue struct {
		ID    asn1.ObjectIdentifier
		Value any
	}
	var tcb []any
	for i := 1; i <= 16; i++ {
		tcb = append(tcb, oidValue{append(append(asn1.ObjectIdentifier{}, pcs.OidTCB...), i), int(sim.TDXCPUSVN[i-1])})
	}
	tcb = append(tcb, oidValue{pcs.OidPCESvn, int(sim.TDXPCESVN)})
	cpusvn := sim.TDXCPUSVN
	tcb = append(tcb, oidValue{pcs.OidCPUSvn, cpusvn[:]})
	ppid := make([]byte, 16)
	copy(ppid, "KETTLE TEST PPID")
	fmspc := sim.TDXFMSPC
	val, err := asn1.Marshal([]any{
		oidValue{pcs.OidPPID, ppid},
		struct {
			ID  asn1.ObjectIdentifier
			TCB []any
		}{pcs.OidTCB, tcb},
		oidValue{pcs.OidPCEID, []byte{0, 0}},
		oidValue{pcs.OidFMSPC, fmspc[:]},
	})
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("SGX extension: %w", err)
	}
	return pkix.Extension{Id: pcs.OidSgxExtension, Value: val}, nil
}
