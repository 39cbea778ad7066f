package attest

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/google/go-sev-guest/abi"
	"github.com/kettle-build/kettle/attest/sim"
)

// simSNP is the sim-snp backend: one simulated guest on the simulated chip of
// package sim. Its REPORT_ID is drawn at construction, as the secure
// processor assigns one per guest at launch.
type simSNP struct {
	signer      *sim.SNPSigner
	measurement [abi.MeasurementSize]byte
	hostData    [abi.HostDataSize]byte
	reportID    [abi.ReportIDSize]byte
	collateral  map[string][]byte
}

func newSimSNP(opts AttesterOptions) (*simSNP, error) {
	a := &simSNP{hostData: opts.HostData, collateral: opts.Collateral}
	m := opts.Measurement
	if m == nil {
		m = DefaultSimMeasurement()
	}
	if len(m) != abi.MeasurementSize {
		return nil, fmt.Errorf("sim-snp measurement is %d bytes, want %d (SHA-384)", len(m), abi.MeasurementSize)
	}
	copy(a.measurement[:], m)
	if _, err := rand.Read(a.reportID[:]); err != nil {
		return nil, fmt.Errorf("sim-snp report ID: %w", err)
	}
	s, err := sim.NewSNPSigner()
	if err != nil {
		return nil, err
	}
	a.signer = s
	return a, nil
}

func (a *simSNP) Platform() Platform { return PlatformSimSNP }

func (a *simSNP) Measurement() []byte { return append([]byte(nil), a.measurement[:]...) }

func (a *simSNP) Attest(ctx context.Context, reportData [64]byte) (*Evidence, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	report, err := a.signer.Sign(sim.NewSNPReport(sim.ReportFields{
		ReportData:  reportData,
		Measurement: a.measurement,
		HostData:    a.hostData,
		ReportID:    a.reportID,
	}))
	if err != nil {
		return nil, fmt.Errorf("sim-snp: %w", err)
	}
	chain := a.signer.Chain()
	return &Evidence{
		Collateral: a.collateral,
		Version:    EvidenceVersion,
		Platform:   PlatformSimSNP,
		Device:     DeviceSimulated,
		Report:     report,
		Certificates: map[string][]byte{
			CertARK:  chain.ARK,
			CertASK:  chain.ASK,
			CertVCEK: chain.VCEK,
		},
	}, nil
}
