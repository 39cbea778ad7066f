package attest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kettle-build/kettle/attest/internal/step"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// AllowSimulated trusts Kettle's TEST-ONLY root for sim-* evidence.
	// Without it, simulated evidence fails at the chain step. It never makes
	// the test root acceptable for hardware platforms.
	AllowSimulated bool
	// Now is the time at which certificates must be valid; zero means
	// time.Now().
	Now time.Time
	// Collateral, when set, replaces the evidence's own collateral (see
	// Evidence.Collateral): a fresher AMD CRL, or Intel's TCB info and QE
	// identity supplied at verification time.
	Collateral map[string][]byte
}

// Claims is what verified evidence says about the guest that produced it.
type Claims struct {
	Platform Platform
	// Simulated is true for evidence signed by a TEST-ONLY chain, which says
	// nothing about hardware.
	Simulated bool
	// Measurement is the launch measurement (SEV-SNP MEASUREMENT, 48 bytes).
	Measurement []byte
	// ReportData is the data the guest bound into the report (see ReportData).
	ReportData [64]byte
	// HostData is what the launcher committed at launch (SEV-SNP HOST_DATA,
	// 32 bytes).
	HostData []byte
	// Debug is the guest policy's DEBUG bit. The baseline policy refuses it,
	// so it is false in claims returned without error.
	Debug bool
	// VMPL is the privilege level of the guest code that requested the report.
	VMPL int
	// TCB is the reported firmware TCB in human form, e.g.
	// "bl=4 tee=0 snp=22 ucode=213 (0xd516000000000004)".
	TCB string
	// ChipID is the reporting chip's CHIP_ID (64 bytes; zero when masked).
	ChipID []byte
	// Product names the hardware, e.g. "Milan-B0", or "Kettle simulated
	// Milan-B1" for sim-snp.
	Product string
	// Device is the guest interface the evidence says produced it.
	Device string

	// SEV-SNP only.
	ReportedTCB uint64 // REPORTED_TCB
	GuestSVN    uint32 // GUEST_SVN

	// TDX only. Measurement is MRTD and HostData is MRCONFIGID.
	RTMRs     [4][]byte
	TEETCBSVN []byte // TEE_TCB_SVN, 16 bytes
	QESVN     uint16
	PCESVN    uint16
	// CollateralChecked says the TCB was judged with Intel's TCB info and QE
	// identity.
	CollateralChecked bool

	// az-snp only. The SEV-SNP report's ReportData commits to the HCL
	// runtime claims (the vTPM's key); the build is bound by the vTPM
	// quote's qualifying data (extraData), and the quote covers PCRs.
	QualifyingData []byte
	PCRs           [][]byte

	// NotChecked lists the checks verification did not make, for want of
	// collateral, in words (e.g. "revocation (no AMD CRL)").
	NotChecked []string
}

// MarshalJSON encodes the claims with byte strings in lower-case hex.
func (c Claims) MarshalJSON() ([]byte, error) {
	var rtmrs, pcrs []string
	if c.Platform.tdxClaims() {
		for _, r := range c.RTMRs {
			rtmrs = append(rtmrs, hex.EncodeToString(r))
		}
	}
	for _, p := range c.PCRs {
		pcrs = append(pcrs, hex.EncodeToString(p))
	}
	return json.Marshal(struct {
		Platform    Platform `json:"platform"`
		Simulated   bool     `json:"simulated"`
		Product     string   `json:"product"`
		Device      string   `json:"device,omitempty"`
		Measurement string   `json:"measurement"`
		RTMRs       []string `json:"rtmrs,omitempty"`
		ReportData  string   `json:"reportData"`
		HostData    string   `json:"hostData"`
		Debug       bool     `json:"debug"`
		VMPL        int      `json:"vmpl"`
		TCB         string   `json:"tcb"`
		ChipID      string   `json:"chipId,omitempty"`
		Qualifying  string   `json:"qualifyingData,omitempty"`
		PCRs        []string `json:"pcrs,omitempty"`
		NotChecked  []string `json:"notChecked,omitempty"`
	}{c.Platform, c.Simulated, c.Product, c.Device, hex.EncodeToString(c.Measurement), rtmrs, hex.EncodeToString(c.ReportData[:]),
		hex.EncodeToString(c.HostData), c.Debug, c.VMPL, c.TCB, hex.EncodeToString(c.ChipID), hex.EncodeToString(c.QualifyingData), pcrs, c.NotChecked})
}

// Step names a verification step.
type Step string

// The steps of Verify, in order.
const (
	// StepChain: the report's signature and its certificate chain up to a
	// pinned vendor (or, for simulated evidence, Kettle test) root; also any
	// evidence that cannot be read as the hardware's.
	StepChain Step = "chain"
	// StepTCB: the baseline policy on what the authenticated report says
	// (guest policy, firmware TCB and versions).
	StepTCB Step = "tcb"
)

// Title returns the step's name as verification reports show it.
func (s Step) Title() string {
	switch s {
	case StepChain:
		return "hardware signature chain"
	case StepTCB:
		return "TCB policy"
	}
	return string(s)
}

// StepError is a verification failure at one step: its Step and the
// underlying Err. Error returns the step's title, ": ", and Err's message;
// Unwrap returns Err.
type StepError = step.Error[Step]

// ErrSimulatedNotTrusted is wrapped by the chain-step error for simulated
// evidence verified without VerifyOptions.AllowSimulated.
var ErrSimulatedNotTrusted = errors.New("simulated evidence is signed by Kettle's TEST-ONLY key chain, which is trusted only when simulated evidence is allowed (--allow-simulated)")

// ErrUnattested is wrapped by the chain-step error for evidence of platform
// none: there is no report, nothing ties the bundle to hardware.
var ErrUnattested = errors.New("UNATTESTED: the bundle was built with --attest none and carries no hardware report")

func chainError(format string, args ...any) *StepError {
	return &StepError{Step: StepChain, Err: fmt.Errorf(format, args...)}
}

func tcbError(format string, args ...any) *StepError {
	return &StepError{Step: StepTCB, Err: fmt.Errorf(format, args...)}
}

// Verify checks evidence and returns what it attests. It checks, in order:
//
//  1. the hardware signature chain (StepChain): the evidence is well-formed;
//     its ARK equals a root pinned in this package (AMD's, embedded in
//     go-sev-guest, for sev-snp; Kettle's TEST-ONLY root, only with
//     AllowSimulated, for sim-snp); the ASK (ASVK) is signed by that ARK, the
//     VCEK (VLEK) by the ASK, the report by the VCEK; and go-sev-guest's
//     verify.SnpAttestation agrees;
//  2. the baseline TCB policy (StepTCB), with go-sev-guest's
//     validate.SnpAttestation: the guest policy allows neither debugging nor
//     a migration agent (SMT is allowed); the committed firmware TCB, build
//     and API version equal the current ones; the reported TCB equals the TCB
//     the VCEK certifies, which is not above the current TCB.
//
// A failure is a *StepError naming the step and the field at fault; a
// cancelled ctx returns ctx's error. When the chain holds but the TCB policy
// does not, Verify returns the claims together with the error, so that a
// report can show what the rejected evidence says.
func Verify(ctx context.Context, ev *Evidence, opts VerifyOptions) (*Claims, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if ev == nil {
		return nil, chainError("no evidence")
	}
	if err := ev.validate(); err != nil {
		return nil, &StepError{Step: StepChain, Err: err}
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	if ev.Platform.Simulated() && !opts.AllowSimulated {
		return nil, &StepError{Step: StepChain, Err: fmt.Errorf("platform %s: %w", ev.Platform, ErrSimulatedNotTrusted)}
	}
	if opts.Collateral != nil && (ev.Platform.snp() || ev.Platform == PlatformAzSNP) {
		if err := checkCollateral(opts.Collateral, CollateralSNPCRL); err != nil {
			return nil, tcbError("supplied collateral: %w", err)
		}
	}
	if ev.Foreign && ev.Platform != PlatformAzSNP {
		return verifyForeign(ctx, ev, opts, now)
	}
	switch ev.Platform {
	case PlatformSEVSNP:
		return verifySNP(ctx, ev, amdTrust(), opts, now)
	case PlatformSimSNP:
		return verifySNP(ctx, ev, simTrust(), opts, now)
	case PlatformTDX:
		return verifyTDX(ctx, ev, intelTrust(), opts, now)
	case PlatformSimTDX:
		return verifyTDX(ctx, ev, simTDXTrust(), opts, now)
	case PlatformAzSNP:
		return verifyAzSNP(ctx, ev, opts, now)
	case PlatformNone:
		return nil, &StepError{Step: StepChain, Err: ErrUnattested}
	}
	// validate admits no other platform
	return nil, chainError("platform %s: cannot be verified by this build", ev.Platform)
}
