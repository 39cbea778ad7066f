package attest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Guest interfaces through which a confidential VM obtains its evidence.
const (
	ConfigfsTSMReport = "/sys/kernel/config/tsm/report" // Linux ≥ 6.7, SEV-SNP and TDX
	DevSEVGuest       = "/dev/sev-guest"
	DevTDXGuest       = "/dev/tdx_guest"
)

// ErrNoTEE is returned by Detect on a machine that is not a confidential VM.
var ErrNoTEE = errors.New("no TEE found")

// Detect picks the hardware platform of the machine it runs on, looking for
// the guest devices under root ("" or "/" for the real machine; tests pass a
// fake tree). It never picks a simulated platform: on a machine without a
// TEE it fails, saying what it looked for.
func Detect(root string) (Platform, error) {
	if root == "" {
		root = "/"
	}
	exists := func(p string) bool {
		_, err := os.Stat(filepath.Join(root, p))
		return err == nil
	}
	switch {
	case exists(DevSEVGuest):
		return PlatformSEVSNP, nil
	case exists(DevTDXGuest):
		return PlatformTDX, nil
	case exists(ConfigfsTSMReport):
		// configfs-tsm serves both; the CPU vendor tells which.
		cpu, err := os.ReadFile(filepath.Join(root, "proc/cpuinfo"))
		if err != nil {
			return "", fmt.Errorf("%s exists but the CPU vendor is unknown: %w", ConfigfsTSMReport, err)
		}
		switch {
		case strings.Contains(string(cpu), "AuthenticAMD"):
			return PlatformSEVSNP, nil
		case strings.Contains(string(cpu), "GenuineIntel"):
			return PlatformTDX, nil
		}
		return "", fmt.Errorf("%s exists but the CPU is neither AMD nor Intel", ConfigfsTSMReport)
	}
	return "", fmt.Errorf("%w: none of %s, %s or %s exists (this is not a confidential VM); "+
		"use --attest sim-snp or sim-tdx for a simulated attestation signed by Kettle's TEST-ONLY key chains, or --attest none for an unattested bundle",
		ErrNoTEE, DevSEVGuest, DevTDXGuest, ConfigfsTSMReport)
}
