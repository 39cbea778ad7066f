package attest

import (
	"fmt"
	"strings"
)

// Platform names a kind of TEE evidence, as evidence.json's "platform" and
// the --attest flag spell it.
type Platform string

// The platforms.
const (
	PlatformSEVSNP Platform = "sev-snp" // AMD SEV-SNP
	PlatformTDX    Platform = "tdx"     // Intel TDX
	PlatformAzSNP  Platform = "az-snp"  // AMD SEV-SNP behind Azure's vTPM (HCL report + TPM quote)
	PlatformSimSNP Platform = "sim-snp" // SEV-SNP report signed by Kettle's TEST-ONLY chain
	PlatformSimTDX Platform = "sim-tdx" // TDX quote signed by a TEST-ONLY chain
	PlatformNone   Platform = "none"    // no attestation
	// PlatformAzTDX is Intel TDX behind Azure's vTPM (HCL report, TPM
	// quote and TD quote). Kettle reads it in the foreign tool's bundles
	// and does not attest on it, so Platforms does not list it.
	PlatformAzTDX Platform = "az-tdx"
)

// Platforms lists every platform name, in the order help texts show them.
func Platforms() []Platform {
	return []Platform{PlatformSEVSNP, PlatformTDX, PlatformAzSNP, PlatformSimSNP, PlatformSimTDX, PlatformNone}
}

// ParsePlatform returns the platform named s. It accepts the names of
// Platforms and "snp" for sev-snp; anything else is an error listing them.
func ParsePlatform(s string) (Platform, error) {
	if s == "snp" {
		return PlatformSEVSNP, nil
	}
	p := Platform(s)
	if p.known() {
		return p, nil
	}
	names := make([]string, 0, 6)
	for _, q := range Platforms() {
		names = append(names, string(q))
	}
	return "", fmt.Errorf("unknown attestation platform %q (want one of %s)", s, strings.Join(names, ", "))
}

func (p Platform) known() bool {
	switch p {
	case PlatformSEVSNP, PlatformTDX, PlatformAzSNP, PlatformSimSNP, PlatformSimTDX, PlatformNone:
		return true
	}
	return false
}

// Simulated reports whether p is a simulated platform, whose evidence is
// signed by a TEST-ONLY key chain and proves nothing about hardware.
func (p Platform) Simulated() bool {
	return p == PlatformSimSNP || p == PlatformSimTDX
}

// String returns the platform's name.
func (p Platform) String() string { return string(p) }

// snp reports whether p's evidence is an SEV-SNP attestation report with its
// certificate chain.
func (p Platform) snp() bool {
	return p == PlatformSEVSNP || p == PlatformSimSNP
}

// snpClaims reports whether verified evidence of p yields SEV-SNP claims
// (az-snp wraps an SEV-SNP report), to which SEV-SNP policy applies.
func (p Platform) snpClaims() bool {
	return p.snp() || p == PlatformAzSNP
}

// tdxClaims reports whether verified evidence of p yields TDX claims
// (az-tdx wraps a TD quote), to which TDX policy applies.
func (p Platform) tdxClaims() bool {
	return p.tdx() || p == PlatformAzTDX
}

// tdx reports whether p's evidence is a TD quote.
func (p Platform) tdx() bool {
	return p == PlatformTDX || p == PlatformSimTDX
}
