package attest

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"

	"github.com/google/go-sev-guest/kds"
	"github.com/google/go-sev-guest/verify/trust"
	"github.com/kettle-build/kettle/attest/sim"
)

// SimSNPRootSHA256 is the SHA-256 of the DER certificate of Kettle's
// TEST-ONLY SEV-SNP root (attest/sim/testroot/ark.pem), pinned here so that
// the verifier trusts that one certificate and no other for sim-snp evidence.
const SimSNPRootSHA256 = "95f5ea61c348c3024ad5a9e09a43595f4d0cfa42352bf40981c6225df05f51f5"

// snpRoot is the trust anchor of one product line.
type snpRoot struct {
	ark  *x509.Certificate // self-signed root
	ask  *x509.Certificate // issues VCEKs; nil if unknown
	asvk *x509.Certificate // issues VLEKs; nil if unknown
}

// snpTrust is a set of pinned roots.
type snpTrust struct {
	// name says whose roots these are, in error messages.
	name string
	// simulated marks Kettle's TEST-ONLY roots.
	simulated bool
	// root returns the root of an AMD product line ("Milan", "Genoa",
	// "Turin"), nil if there is none.
	root func(line string) (*snpRoot, error)
}

// amdTrust returns AMD's roots as go-sev-guest embeds them (the certificate
// chains AMD's Key Distribution Service publishes at
// https://kdsintf.amd.com/{vcek,vlek}/v1/{Milan,Genoa,Turin}/cert_chain).
func amdTrust() snpTrust {
	return snpTrust{name: "AMD", root: amdRoot}
}

func amdRoot(line string) (*snpRoot, error) {
	var vcek, vlek []byte
	switch line {
	case "Milan":
		vcek, vlek = trust.AskArkMilanVcekBytes, trust.AskArkMilanVlekBytes
	case "Genoa":
		vcek, vlek = trust.AskArkGenoaVcekBytes, trust.AskArkGenoaVlekBytes
	case "Turin":
		vcek, vlek = trust.AskArkTurinVcekBytes, trust.AskArkTurinVlekBytes
	default:
		return nil, nil
	}
	ask, ark, err := parseKDSChain(vcek)
	if err != nil {
		return nil, fmt.Errorf("AMD %s VCEK root: %w", line, err)
	}
	asvk, ark2, err := parseKDSChain(vlek)
	if err != nil {
		return nil, fmt.Errorf("AMD %s VLEK root: %w", line, err)
	}
	if !ark.Equal(ark2) {
		return nil, fmt.Errorf("AMD %s roots: the VCEK and VLEK chains end in different ARKs", line)
	}
	return &snpRoot{ark: ark, ask: ask, asvk: asvk}, nil
}

// parseKDSChain parses a KDS cert_chain: the intermediate, then the ARK, PEM.
func parseKDSChain(pems []byte) (ica, ark *x509.Certificate, err error) {
	// Some of the embedded files end in blank lines, which the parser refuses.
	icaDER, arkDER, err := kds.ParseProductCertChain(bytes.TrimSpace(pems))
	if err != nil {
		return nil, nil, err
	}
	if ica, err = x509.ParseCertificate(icaDER); err != nil {
		return nil, nil, err
	}
	if ark, err = x509.ParseCertificate(arkDER); err != nil {
		return nil, nil, err
	}
	return ica, ark, nil
}

// simTrust returns Kettle's TEST-ONLY root.
func simTrust() snpTrust {
	return snpTrust{name: "Kettle TEST-ONLY", simulated: true, root: simRoot}
}

// simRoot returns the TEST-ONLY root of sim.ProductLine, after checking that
// the certificate compiled in is the one pinned by SimSNPRootSHA256.
func simRoot(line string) (*snpRoot, error) {
	if line != sim.ProductLine {
		return nil, nil
	}
	root, err := sim.TrustedRoot()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(root.ARK.Raw)
	want, err := hex.DecodeString(SimSNPRootSHA256)
	if err != nil || !bytes.Equal(sum[:], want) {
		return nil, fmt.Errorf("the compiled-in Kettle test ARK has SHA-256 %x, not the pinned %s", sum, SimSNPRootSHA256)
	}
	return &snpRoot{ark: root.ARK, ask: root.ASK}, nil
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}
