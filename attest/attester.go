package attest

import (
	"context"
	"crypto/sha512"
	"fmt"
)

// Attester obtains evidence from one TEE backend.
type Attester interface {
	// Platform names the evidence this backend produces.
	Platform() Platform
	// Measurement returns the launch measurement its reports carry (SEV-SNP:
	// the 48-byte MEASUREMENT).
	Measurement() []byte
	// Attest returns evidence whose report binds reportData (see ReportData).
	Attest(ctx context.Context, reportData [64]byte) (*Evidence, error)
}

// AttesterOptions configure NewAttester.
type AttesterOptions struct {
	// Measurement is the launch measurement a simulated backend puts in its
	// reports (sim-snp: 48 bytes). Nil means DefaultSimMeasurement. Hardware
	// backends report the measurement the hardware took; setting it for them
	// is an error.
	Measurement []byte
	// HostData is what a simulated backend reports as HOST_DATA (for a
	// pre-attested build, the requester's nonce, which the launcher commits to
	// at launch). Hardware backends report what their launcher set.
	HostData [32]byte
}

// SimMeasurementLabel is hashed into the default sim-snp launch measurement.
const SimMeasurementLabel = "kettle-sim-snp-v1"

// DefaultSimMeasurement returns the launch measurement simulated backends
// report when none is given: SHA-384("kettle-sim-snp-v1").
func DefaultSimMeasurement() []byte {
	sum := sha512.Sum384([]byte(SimMeasurementLabel))
	return sum[:]
}

// NewAttester returns the backend for p. This build implements sim-snp;
// sev-snp, tdx, az-snp and sim-tdx are named but return an error saying they
// are not supported yet, and none has no attester.
func NewAttester(p Platform, opts AttesterOptions) (Attester, error) {
	switch p {
	case PlatformSimSNP:
		return newSimSNP(opts)
	case PlatformSimTDX:
		return newSimTDX(opts)
	case PlatformSEVSNP, PlatformTDX, PlatformAzSNP:
		return nil, fmt.Errorf("attestation platform %s is not supported in this build yet", p)
	case PlatformNone:
		return nil, fmt.Errorf("attestation platform none has no attester: the build is not attested")
	}
	return nil, fmt.Errorf("unknown attestation platform %q", string(p))
}
