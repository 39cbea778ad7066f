package attest

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/google/go-sev-guest/kds"
	"github.com/kettle-build/kettle/attest/azsnp"
)

// PolicyError is a claim the policy does not allow. Key is the policy key
// at fault ("snp.minTCB", "tdx.measurements").
type PolicyError struct {
	Key string
	Msg string
}

func (e *PolicyError) Error() string { return "policy " + e.Key + ": " + e.Msg }

// Report is what one policy check looked at.
type Report struct {
	// Checked lists the requirements met, in words.
	Checked []string
	// NotChecked lists the requirements the policy does not make for this
	// platform, in words.
	NotChecked []string
}

func (r *Report) did(format string, args ...any) {
	r.Checked = append(r.Checked, fmt.Sprintf(format, args...))
}
func (r *Report) skip(s string) { r.NotChecked = append(r.NotChecked, s) }

// CheckTCB checks everything in p but the launch measurements against c:
// the platform, the TCB and versions, HOST_DATA / MRCONFIGID, VMPL, and
// whether TDX collateral was used. It returns what it checked and did not,
// and the first requirement not met as a *PolicyError.
func (p *Policy) CheckTCB(c *Claims) (*Report, error) {
	r := &Report{}
	if p.Platforms != nil { // a list, even an empty one, allows only what it names
		ok := false
		for _, pl := range p.Platforms {
			ok = ok || pl == c.Platform
		}
		if !ok {
			return r, &PolicyError{"platforms", fmt.Sprintf("evidence of platform %s is not among the allowed %v", c.Platform, p.Platforms)}
		}
		r.did("platform %s allowed", c.Platform)
	}
	switch {
	case c.Platform == PlatformAzSNP:
		if err := p.checkSNP(c, r); err != nil {
			return r, err
		}
		return r, p.checkAzSNP(c, r)
	case c.Platform.snpClaims():
		return r, p.checkSNP(c, r)
	case c.Platform.tdxClaims():
		return r, p.checkTDX(c, r)
	}
	return r, &PolicyError{"platforms", fmt.Sprintf("no requirements apply to platform %s", c.Platform)}
}

// checkAzSNP checks the vTPM PCR values of az-snp claims.
func (p *Policy) checkAzSNP(c *Claims, r *Report) error {
	if p.AzSNP == nil || len(p.AzSNP.PCRs) == 0 {
		r.skip("vTPM PCR values (the policy has no azsnp.pcrs)")
		return nil
	}
	if err := azsnp.PCRPolicy(p.AzSNP.PCRs).Check(c.PCRs); err != nil {
		return &PolicyError{"azsnp.pcrs", err.Error()}
	}
	idx := make([]int, 0, len(p.AzSNP.PCRs))
	for i := range p.AzSNP.PCRs {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	r.did("vTPM PCRs %v hold allowed values", idx)
	return nil
}

func (p *Policy) checkSNP(c *Claims, r *Report) error {
	sp := p.SNP
	if sp == nil {
		r.skip("SEV-SNP TCB, GUEST_SVN, HOST_DATA and VMPL (the policy has no snp section)")
		return nil
	}
	if sp.MinTCB != nil {
		got := kds.DecomposeTCBVersion(kds.TCBVersion(c.ReportedTCB))
		min := sp.MinTCB
		for _, f := range []struct {
			name     string
			got, min uint8
		}{{"bootloader", got.BlSpl, min.BootLoader}, {"tee", got.TeeSpl, min.TEE}, {"snp", got.SnpSpl, min.SNP}, {"microcode", got.UcodeSpl, min.Microcode}} {
			if f.got < f.min {
				return &PolicyError{"snp.minTCB." + f.name, fmt.Sprintf("REPORTED_TCB %s SVN is %d, below the minimum %d", f.name, f.got, f.min)}
			}
		}
		r.did("REPORTED_TCB at least %s", min)
	} else {
		r.skip("minimum TCB (no snp.minTCB)")
	}
	if c.GuestSVN < sp.MinGuestSVN {
		return &PolicyError{"snp.minGuestSVN", fmt.Sprintf("GUEST_SVN is %d, below the minimum %d", c.GuestSVN, sp.MinGuestSVN)}
	}
	if sp.MinGuestSVN > 0 {
		r.did("GUEST_SVN at least %d", sp.MinGuestSVN)
	}
	if sp.HostData != nil {
		if !bytes.Equal(c.HostData, sp.HostData) {
			return &PolicyError{"snp.hostData", fmt.Sprintf("HOST_DATA is %x, want %x", c.HostData, sp.HostData)}
		}
		r.did("HOST_DATA %x", sp.HostData)
	} else {
		r.skip("HOST_DATA (no snp.hostData)")
	}
	if sp.VMPL != nil {
		if c.VMPL != *sp.VMPL {
			return &PolicyError{"snp.vmpl", fmt.Sprintf("VMPL is %d, want %d", c.VMPL, *sp.VMPL)}
		}
		r.did("VMPL %d", *sp.VMPL)
	} else {
		r.skip("VMPL (no snp.vmpl)")
	}
	return nil
}

func (p *Policy) checkTDX(c *Claims, r *Report) error {
	tp := p.TDX
	if tp == nil {
		r.skip("TDX TEE_TCB_SVN, QE and PCE SVNs, MRCONFIGID and collateral (the policy has no tdx section)")
		return nil
	}
	if tp.MinTEETCBSVN != nil {
		for i := range tp.MinTEETCBSVN {
			if i >= len(c.TEETCBSVN) || c.TEETCBSVN[i] < tp.MinTEETCBSVN[i] {
				return &PolicyError{"tdx.minTEETCBSVN", fmt.Sprintf("TEE_TCB_SVN %x is below the minimum %x at component %d", c.TEETCBSVN, tp.MinTEETCBSVN, i)}
			}
		}
		r.did("TEE_TCB_SVN at least %x", tp.MinTEETCBSVN)
	} else {
		r.skip("minimum TEE_TCB_SVN (no tdx.minTEETCBSVN)")
	}
	if c.QESVN < tp.MinQESVN {
		return &PolicyError{"tdx.minQESVN", fmt.Sprintf("QE_SVN is %d, below the minimum %d", c.QESVN, tp.MinQESVN)}
	}
	if c.PCESVN < tp.MinPCESVN {
		return &PolicyError{"tdx.minPCESVN", fmt.Sprintf("PCE_SVN is %d, below the minimum %d", c.PCESVN, tp.MinPCESVN)}
	}
	r.did("QE_SVN ≥ %d, PCE_SVN ≥ %d", tp.MinQESVN, tp.MinPCESVN)
	if tp.MRConfigID != nil {
		if !bytes.Equal(c.HostData, tp.MRConfigID) {
			return &PolicyError{"tdx.mrConfigID", fmt.Sprintf("MRCONFIGID is %x, want %x", c.HostData, tp.MRConfigID)}
		}
		r.did("MRCONFIGID %x", tp.MRConfigID)
	} else {
		r.skip("MRCONFIGID (no tdx.mrConfigID)")
	}
	if tp.RequireCollateral {
		if !c.CollateralChecked {
			return &PolicyError{"tdx.requireCollateral", "the TCB was not judged against Intel's TCB info and QE identity (supply them with --collateral)"}
		}
		r.did("TCB judged against Intel's TCB info and QE identity")
	}
	return nil
}

// CheckMeasurement checks c's launch measurement against the policy's
// allowed ones: SEV-SNP MEASUREMENT, or TDX MRTD and the RTMRs an entry
// names. ok is false when the policy lists none for c's platform.
func (p *Policy) CheckMeasurement(c *Claims) (ok bool, detail string, err error) {
	switch {
	case c.Platform.snpClaims():
		if p.SNP == nil || p.SNP.Measurements == nil {
			return false, "", nil
		}
		for _, m := range p.SNP.Measurements {
			if bytes.Equal(m, c.Measurement) {
				return true, fmt.Sprintf("MEASUREMENT %x is allowed by the policy", c.Measurement), nil
			}
		}
		return false, "", &PolicyError{"snp.measurements", fmt.Sprintf("MEASUREMENT %x is not among the %d allowed", c.Measurement, len(p.SNP.Measurements))}
	case c.Platform.tdxClaims():
		if p.TDX == nil || p.TDX.Measurements == nil {
			return false, "", nil
		}
		mrtdSeen := false
		for _, m := range p.TDX.Measurements {
			if !bytes.Equal(m.MRTD, c.Measurement) {
				continue
			}
			mrtdSeen = true
			match := true
			for i, want := range m.RTMRs {
				match = match && (want == nil || bytes.Equal(want, c.RTMRs[i]))
			}
			if match {
				return true, fmt.Sprintf("MRTD %x and the listed RTMRs are allowed by the policy", c.Measurement), nil
			}
		}
		if mrtdSeen {
			return false, "", &PolicyError{"tdx.measurements", fmt.Sprintf("MRTD %x is allowed but RTMRs %s differ from every entry for it", c.Measurement, rtmrList(c.RTMRs))}
		}
		return false, "", &PolicyError{"tdx.measurements", fmt.Sprintf("MRTD %x is not among the %d allowed", c.Measurement, len(p.TDX.Measurements))}
	}
	return false, "", nil
}

func rtmrList(r [4][]byte) string {
	s := ""
	for i, v := range r {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("rtmr%d=%s", i, hex.EncodeToString(v))
	}
	return s
}
