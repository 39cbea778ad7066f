package attest

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kettle-build/kettle/internal/inputfile"
)

// CollateralFiles maps the file names ReadCollateralDir reads to the
// Evidence.Collateral entries they fill.
//
//	crl.der                     AMD's CRL for the product line (SEV-SNP)
//	tcb_info.json               Intel PCS TDX TCB info response body
//	tcb_info_issuer_chain.pem   its TCB-Info-Issuer-Chain header, URL-decoded
//	qe_identity.json            Intel PCS TDX QE identity response body
//	qe_identity_issuer_chain.pem its SGX-Enclave-Identity-Issuer-Chain header
//	pck_crl.der                 Intel PCS PCK CRL (DER)
//	pck_crl_issuer_chain.pem    its SGX-PCK-CRL-Issuer-Chain header
//	root_ca_crl.der             Intel SGX Root CA CRL (DER)
func CollateralFiles() map[string]string {
	return map[string]string{
		"crl.der":                      CollateralSNPCRL,
		"tcb_info.json":                CollateralTCBInfo,
		"tcb_info_issuer_chain.pem":    CollateralTCBInfoIssuerChain,
		"qe_identity.json":             CollateralQEIdentity,
		"qe_identity_issuer_chain.pem": CollateralQEIdentityIssuerChain,
		"pck_crl.der":                  CollateralPCKCRL,
		"pck_crl_issuer_chain.pem":     CollateralPCKCRLIssuerChain,
		"root_ca_crl.der":              CollateralRootCACRL,
	}
}

// maxCollateralFile bounds each collateral file.
const maxCollateralFile = 256 << 10

// ReadCollateralDir reads the collateral files in dir (see CollateralFiles).
// A file of another name, a subdirectory, an empty or oversized file, or a
// directory with none of the files is an error naming it. Which entries
// make sense together is checked when the collateral is used.
func ReadCollateralDir(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("collateral directory: %w", err)
	}
	names := CollateralFiles()
	col := map[string][]byte{}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		key, ok := names[e.Name()]
		if !ok || !e.Type().IsRegular() {
			known := slices.Sorted(maps.Keys(names))
			return nil, fmt.Errorf("collateral %s: not a collateral file (want regular files among %s)", p, strings.Join(known, ", "))
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("collateral %s: %w", p, err)
		}
		if info.Size() == 0 || info.Size() > maxCollateralFile {
			return nil, fmt.Errorf("collateral %s: %d bytes (want 1 to %d)", p, info.Size(), maxCollateralFile)
		}
		b, err := inputfile.Read(p, maxCollateralFile) // checked again on the open file
		if err != nil {
			return nil, fmt.Errorf("collateral: %w", err)
		}
		col[key] = b
	}
	if len(col) == 0 {
		return nil, fmt.Errorf("collateral directory %s: no collateral files in it", dir)
	}
	return col, nil
}
