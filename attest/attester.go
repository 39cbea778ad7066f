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
	// Collateral goes into the evidence as it is (see Evidence.Collateral),
	// so that verification can judge the TCB offline.
	Collateral map[string][]byte
}

// SimMeasurementLabel is hashed into the default sim-snp launch measurement.
const SimMeasurementLabel = "kettle-sim-snp-v1"

// DefaultSimMeasurement returns the launch measurement simulated backends
// report when none is given: SHA-384("kettle-sim-snp-v1").
func DefaultSimMeasurement() []byte {
	sum := sha512.Sum384([]byte(SimMeasurementLabel))
	return sum[:]
}

// NewAttester returns the backend for p: sim-snp and sim-tdx (simulated),
// none (evidence that says the build is not attested, which verification
// reports as UNATTESTED), az-snp (an Azure confidential VM's vTPM at
// /dev/tpmrm0, with the VCEK from Azure's instance metadata service; see
// NewAzSNPAttester), and sev-snp and tdx (the guest's configfs-tsm, or
// /dev/sev-guest, of the machine it runs on).
func NewAttester(p Platform, opts AttesterOptions) (Attester, error) {
	switch p {
	case PlatformSimSNP:
		return newSimSNP(opts)
	case PlatformSimTDX:
		return newSimTDX(opts)
	case PlatformSEVSNP, PlatformTDX:
		h, err := newHardware(context.Background(), p, "/", opts, nil)
		if err != nil {
			return nil, err
		}
		return h, nil
	case PlatformAzSNP:
		return newAzSNP(opts)
	case PlatformNone:
		return noneAttester{}, nil
	}
	return nil, fmt.Errorf("unknown attestation platform %q", string(p))
}

// noneAttester writes unattested evidence: {"version":1,"platform":"none"}.
type noneAttester struct{}

func (noneAttester) Platform() Platform  { return PlatformNone }
func (noneAttester) Measurement() []byte { return nil }
func (noneAttester) Attest(ctx context.Context, _ [64]byte) (*Evidence, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &Evidence{Version: EvidenceVersion, Platform: PlatformNone}, nil
}
