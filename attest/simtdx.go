package attest

import (
	"context"
	"crypto/sha512"
	"fmt"

	"github.com/kettle-build/kettle/attest/sim"
)

// SimTDXMeasurementLabel is hashed into the default sim-tdx MRTD.
const SimTDXMeasurementLabel = "kettle-sim-tdx-v1"

// DefaultSimTDXMeasurement returns the MRTD sim-tdx reports when none is
// given: SHA-384("kettle-sim-tdx-v1").
func DefaultSimTDXMeasurement() []byte {
	sum := sha512.Sum384([]byte(SimTDXMeasurementLabel))
	return sum[:]
}

// simTDX is the sim-tdx backend: one TD on the simulated platform of package
// sim, whose quoting enclave signs with the TEST-ONLY PCK key.
type simTDX struct {
	signer     *sim.TDXSigner
	fields     sim.TDXFields
	collateral map[string][]byte
}

func newSimTDX(opts AttesterOptions) (*simTDX, error) {
	a := &simTDX{collateral: opts.Collateral}
	m := opts.Measurement
	if m == nil {
		m = DefaultSimTDXMeasurement()
	}
	if len(m) != len(a.fields.MRTD) {
		return nil, fmt.Errorf("sim-tdx measurement (MRTD) is %d bytes, want %d (SHA-384)", len(m), len(a.fields.MRTD))
	}
	copy(a.fields.MRTD[:], m)
	// MRCONFIGID = nonce ‖ 16 zero bytes, as the launcher of a pre-attested
	// build sets it.
	copy(a.fields.MRConfigID[:], opts.HostData[:])
	s, err := sim.NewTDXSigner()
	if err != nil {
		return nil, err
	}
	a.signer = s
	return a, nil
}

func (a *simTDX) Platform() Platform { return PlatformSimTDX }

func (a *simTDX) Measurement() []byte { return append([]byte(nil), a.fields.MRTD[:]...) }

func (a *simTDX) Attest(ctx context.Context, reportData [64]byte) (*Evidence, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f := a.fields
	f.ReportData = reportData
	raw, err := a.signer.Sign(a.signer.NewTDXQuote(f))
	if err != nil {
		return nil, fmt.Errorf("sim-tdx: %w", err)
	}
	return &Evidence{Version: EvidenceVersion, Platform: PlatformSimTDX, Device: DeviceSimulated, Report: raw, Collateral: a.collateral}, nil
}
