package attest

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	spb "github.com/google/go-sev-guest/proto/sevsnp"
	tpb "github.com/google/go-tdx-guest/proto/tdx"
	tdxtest "github.com/google/go-tdx-guest/testing"
	tdxdata "github.com/google/go-tdx-guest/testing/testdata"
	"github.com/kettle-build/kettle/attest/sim"
)

// field is a byte range of a report or quote.
type field struct {
	name      string
	off, size int
}

// snpFields is the SEV-SNP ATTESTATION_REPORT layout (AMD SEV-SNP ABI
// specification, table "ATTESTATION_REPORT structure"), reserved ranges
// included.
var snpFields = []field{
	{"VERSION", 0x00, 4}, {"GUEST_SVN", 0x04, 4}, {"POLICY", 0x08, 8}, {"FAMILY_ID", 0x10, 16},
	{"IMAGE_ID", 0x20, 16}, {"VMPL", 0x30, 4}, {"SIGNATURE_ALGO", 0x34, 4}, {"CURRENT_TCB", 0x38, 8},
	{"PLATFORM_INFO", 0x40, 8}, {"SIGNER_INFO", 0x48, 4}, {"reserved 0x4c", 0x4c, 4}, {"REPORT_DATA", 0x50, 64},
	{"MEASUREMENT", 0x90, 48}, {"HOST_DATA", 0xc0, 32}, {"ID_KEY_DIGEST", 0xe0, 48}, {"AUTHOR_KEY_DIGEST", 0x110, 48},
	{"REPORT_ID", 0x140, 32}, {"REPORT_ID_MA", 0x160, 32}, {"REPORTED_TCB", 0x180, 8}, {"CPUID_FAM_MOD_STEP", 0x188, 3},
	{"reserved 0x18b", 0x18b, 21}, {"CHIP_ID", 0x1a0, 64}, {"COMMITTED_TCB", 0x1e0, 8}, {"CURRENT_BUILD/MINOR/MAJOR", 0x1e8, 4},
	{"COMMITTED_BUILD/MINOR/MAJOR", 0x1ec, 4}, {"LAUNCH_TCB", 0x1f0, 8}, {"reserved 0x1f8", 0x1f8, 0xa8},
	{"SIGNATURE.R", 0x2a0, 72}, {"SIGNATURE.S", 0x2e8, 72}, {"SIGNATURE reserved", 0x330, 0x170},
}

// tdxFields is the TD quote v4 layout up to the signature data, then the
// parts of the signature data at fixed offsets (Intel TDX DCAP Quote
// Generation Library and Quote Verification Library, "Quote Format").
var tdxFields = []field{
	{"header VERSION", 0x00, 2}, {"header ATT_KEY_TYPE", 0x02, 2}, {"header TEE_TYPE", 0x04, 4}, {"header PCE_SVN", 0x08, 2},
	{"header QE_SVN", 0x0a, 2}, {"header QE_VENDOR_ID", 0x0c, 16}, {"header USER_DATA", 0x1c, 20},
	{"TEE_TCB_SVN", 0x30, 16}, {"MRSEAM", 0x40, 48}, {"MRSIGNERSEAM", 0x70, 48}, {"SEAMATTRIBUTES", 0xa0, 8},
	{"TDATTRIBUTES", 0xa8, 8}, {"XFAM", 0xb0, 8}, {"MRTD", 0xb8, 48}, {"MRCONFIGID", 0xe8, 48}, {"MROWNER", 0x118, 48},
	{"MROWNERCONFIG", 0x148, 48}, {"RTMR0", 0x178, 48}, {"RTMR1", 0x1a8, 48}, {"RTMR2", 0x1d8, 48}, {"RTMR3", 0x208, 48},
	{"REPORTDATA", 0x238, 64}, {"signed data size", 0x278, 4}, {"SIGNATURE", 0x27c, 64}, {"ATTESTATION_KEY", 0x2bc, 64},
	{"certification data type", 0x2fc, 2}, {"certification data size", 0x2fe, 4},
	{"QE report CPUSVN", 0x302, 16}, {"QE report MISCSELECT", 0x312, 4}, {"QE report ATTRIBUTES", 0x332, 16},
	{"QE report MRENCLAVE", 0x342, 32}, {"QE report MRSIGNER", 0x382, 32}, {"QE report ISVPRODID", 0x402, 2},
	{"QE report ISVSVN", 0x404, 2}, {"QE report REPORTDATA", 0x442, 64}, {"QE report signature", 0x482, 64},
	{"QE auth data size", 0x4c2, 2},
}

// mutation is one change to evidence, and what its failure must name.
type mutation struct {
	sample, name string
	names        []string // the error must contain one of these
	edit         func(ev *Evidence)
	// judge, when set, replaces plain Verify (for policy and binding).
	judge func(ev *Evidence) error
	// base is the error the unmodified sample already gets at Now (the
	// mutation must not get just that one).
	base string
	now  time.Time
	opts VerifyOptions
}

func flipAt(off int) func(ev *Evidence) { return func(ev *Evidence) { ev.Report[off] ^= 0x01 } }

// rawMutations flips the first and last byte of every field of a report.
func rawMutations(sample string, fields []field, size int) []mutation {
	var ms []mutation
	for _, f := range fields {
		if f.off+f.size > size {
			continue
		}
		for _, off := range []int{f.off, f.off + f.size - 1} {
			ms = append(ms, mutation{sample: sample, name: fmt.Sprintf("%s byte 0x%x", f.name, off),
				names: []string{"report"}, edit: flipAt(off)})
			if f.size == 1 {
				break
			}
		}
	}
	return ms
}

// certMutations flips bytes spread over each certificate of the chain.
func certMutations(sample string, ev *Evidence) []mutation {
	var ms []mutation
	for _, name := range slices.Sorted(maps.Keys(ev.Certificates)) {
		n := len(ev.Certificates[name])
		for _, frac := range []int{1, 15, 30, 50, 70, 85, 99} {
			off := n * frac / 100
			name := name
			ms = append(ms, mutation{sample: sample, name: fmt.Sprintf("certificates.%s byte %d", name, off),
				names: []string{"certificates." + name, "report"}, edit: func(ev *Evidence) { ev.Certificates[name][off] ^= 0x01 }})
		}
		ms = append(ms, mutation{sample: sample, name: "certificates." + name + " removed",
			names: []string{"certificates"}, edit: func(ev *Evidence) { delete(ev.Certificates, name) }})
	}
	ms = append(ms, mutation{sample: sample, name: "ask and ark swapped", names: []string{"certificates.ark", "certificates.ask"},
		edit: func(ev *Evidence) {
			ev.Certificates[CertASK], ev.Certificates[CertARK] = ev.Certificates[CertARK], ev.Certificates[CertASK]
		}})
	return ms
}

func tdxCollateral(t testing.TB) map[string][]byte {
	t.Helper()
	un := func(h map[string][]string, k string) []byte {
		s, err := url.QueryUnescape(h[k][0])
		if err != nil {
			t.Fatal(err)
		}
		return []byte(s)
	}
	return map[string][]byte{
		CollateralTCBInfo: tdxdata.TcbInfoBody, CollateralTCBInfoIssuerChain: un(tdxtest.TcbInfoHeader, "Tcb-Info-Issuer-Chain"),
		CollateralQEIdentity: tdxdata.QeIdentityBody, CollateralQEIdentityIssuerChain: un(tdxtest.QeIdentityHeader, "Sgx-Enclave-Identity-Issuer-Chain"),
		CollateralPCKCRL: tdxdata.PckCrlBody, CollateralPCKCRLIssuerChain: un(tdxtest.PckCrlHeader, "Sgx-Pck-Crl-Issuer-Chain"),
		CollateralRootCACRL: tdxdata.RootCrlBody,
	}
}

// tdxSampleNow is inside the validity of go-tdx-guest's sample quote's PCK
// chain and of its sample collateral.
var tdxSampleNow = time.Date(2023, time.July, 1, 1, 0, 0, 0, time.UTC)

// tdxBaseError is what go-tdx-guest's production quote gets with its own
// sample collateral: every signature holds (quote, QE report, PCK chain,
// TCB info, QE identity, both CRLs, all to Intel's root), but the sample
// TCB info lists only TCB levels newer than the quote's.
const tdxBaseError = "no matching TCB level found"

// TestRealTDXQuote verifies go-tdx-guest's production quote (an Intel
// Sapphire Rapids TD) to Intel's SGX root, and with its collateral.
func TestRealTDXQuote(t *testing.T) {
	ev := &Evidence{Version: 1, Platform: PlatformTDX, Report: tdxdata.RawQuote}
	data, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if ev, err = DecodeEvidence(data); err != nil {
		t.Fatal(err)
	}
	claims, err := Verify(context.Background(), ev, VerifyOptions{Now: tdxSampleNow})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if claims.Simulated || claims.Product != "Intel TDX, FMSPC 50806f000000" || claims.Debug {
		t.Errorf("claims %+v", claims)
	}
	if claims.TCB != "tee_tcb_svn=03000400000000000000000000000000 qe_svn=4 pce_svn=11" {
		t.Errorf("TCB %s (TEE_TCB_SVN, the QE report's ISVSVN, the PCK certificate's PCESVN)", claims.TCB)
	}
	if got := fmt.Sprintf("%x", claims.Measurement[:8]); got != "6363b8043668a3ad" {
		t.Errorf("MRTD starts %s", got)
	}
	if len(claims.NotChecked) != 2 || claims.CollateralChecked {
		t.Errorf("without collateral, NotChecked = %q", claims.NotChecked)
	}
	// As sim-tdx it is refused: the pinned test root is not Intel's.
	sim := *ev
	sim.Platform = PlatformSimTDX
	if _, err := Verify(context.Background(), &sim, VerifyOptions{Now: tdxSampleNow, AllowSimulated: true}); err == nil || !strings.Contains(err.Error(), "not the Kettle TEST-ONLY root") {
		t.Errorf("production quote as sim-tdx: %v", err)
	}
	// With its collateral, in the evidence or supplied at verification.
	withCol := *ev
	withCol.Collateral = tdxCollateral(t)
	_, err = Verify(context.Background(), &withCol, VerifyOptions{Now: tdxSampleNow})
	wantStepError(t, err, StepTCB, "report: TEE_TCB_SVN judged by collateral.tcbInfo", tdxBaseError)
	_, err = Verify(context.Background(), ev, VerifyOptions{Now: tdxSampleNow, Collateral: tdxCollateral(t)})
	wantStepError(t, err, StepTCB, tdxBaseError)
	// The collateral has expired since.
	_, err = Verify(context.Background(), &withCol, VerifyOptions{Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	wantStepError(t, err, StepTCB, "expired")
	// Incomplete collateral is refused before use.
	part := tdxCollateral(t)
	delete(part, CollateralQEIdentity)
	_, err = Verify(context.Background(), ev, VerifyOptions{Now: tdxSampleNow, Collateral: part})
	wantStepError(t, err, StepTCB, "collateral.qeIdentity: missing")
}

// simSNPJudge verifies sim-snp evidence as kettle verify does with a strict
// policy, --measurement and the expected REPORT_DATA.
func simSNPJudge(rd [64]byte, hostData []byte) func(ev *Evidence) error {
	vmpl := 0
	p := &Policy{Version: 1, Platforms: []Platform{PlatformSimSNP}, SNP: &SNPPolicy{
		Measurements: [][]byte{DefaultSimMeasurement()}, HostData: hostData, VMPL: &vmpl,
		MinTCB: &SNPTCB{BootLoader: 4, SNP: 22, Microcode: 213}}}
	return func(ev *Evidence) error { return judge(ev, p, rd, simOptions()) }
}

func judge(ev *Evidence, p *Policy, rd [64]byte, opts VerifyOptions) error {
	claims, err := Verify(context.Background(), ev, opts)
	if err != nil {
		return err
	}
	if _, err := p.CheckTCB(claims); err != nil {
		return err
	}
	if ok, _, err := p.CheckMeasurement(claims); err != nil || !ok {
		return fmt.Errorf("measurement: %v", err)
	}
	if claims.ReportData != rd {
		return fmt.Errorf("binding: REPORT_DATA %x, want %x", claims.ReportData, rd)
	}
	return nil
}

// TestTamperMatrix mutates every field of real hardware-signed samples
// (go-sev-guest's Milan report, the Azure SEV-SNP report, go-tdx-guest's
// production TD quote and its collateral) and of simulated evidence (raw
// flips, and re-signed changes that only the policy, the measurement and the
// binding can catch), and checks that no mutation is accepted and that
// every failure names the field at fault.
func TestTamperMatrix(t *testing.T) {
	var ms []mutation
	add := func(base *Evidence, now time.Time, opts VerifyOptions, baseErr string, list []mutation) {
		for _, m := range list {
			edit := m.edit
			m.edit = func(ev *Evidence) {
				*ev = *cloneEvidence(base)
				ev.Collateral = cloneMap(base.Collateral)
				edit(ev)
			}
			m.now, m.opts, m.base = now, opts, baseErr
			ms = append(ms, m)
		}
	}

	// Real SEV-SNP: go-sev-guest's sample (DEBUG set: already refused at
	// the TCB step, so every mutation must break the chain step instead).
	gsg := goSevGuestEvidence(t)
	gsgOpts := VerifyOptions{Now: vcekValid}
	add(gsg, vcekValid, gsgOpts, "POLICY.DEBUG", rawMutations("go-sev-guest Milan report", snpFields, len(gsg.Report)))
	add(gsg, vcekValid, gsgOpts, "POLICY.DEBUG", certMutations("go-sev-guest Milan report", gsg))

	// Real SEV-SNP: the Azure sample, when ../shared is there.
	if az, ok := tryAzure(t); ok {
		azOpts := VerifyOptions{Now: azureNow}
		add(az, azureNow, azOpts, "", rawMutations("Azure SEV-SNP report", snpFields, len(az.Report)))
		add(az, azureNow, azOpts, "", certMutations("Azure SEV-SNP report", az))
	}

	// Real TDX: go-tdx-guest's production quote, then its collateral.
	tq := &Evidence{Version: 1, Platform: PlatformTDX, Report: tdxdata.RawQuote}
	tOpts := VerifyOptions{Now: tdxSampleNow}
	add(tq, tdxSampleNow, tOpts, "", rawMutations("go-tdx-guest production quote", tdxFields, len(tq.Report)))
	add(tq, tdxSampleNow, tOpts, "", pckChainMutations("go-tdx-guest production quote", tq.Report))
	tqc := &Evidence{Version: 1, Platform: PlatformTDX, Report: tdxdata.RawQuote, Collateral: tdxCollateral(t)}
	add(tqc, tdxSampleNow, tOpts, tdxBaseError, collateralMutations("go-tdx-guest production collateral", tqc.Collateral))

	// Simulated SEV-SNP: raw flips, then re-signed changes.
	var rd [64]byte
	copy(rd[:], "tamper matrix report data")
	var hostData [32]byte
	copy(hostData[:], "tamper matrix host data")
	simEv := newSimEvidence(t, AttesterOptions{HostData: hostData}, rd)
	snpJudge := simSNPJudge(rd, hostData[:])
	simRaw := rawMutations("sim-snp", snpFields, len(simEv.Report))
	simRaw = append(simRaw, certMutations("sim-snp", simEv)...)
	for i := range simRaw {
		simRaw[i].judge = snpJudge
	}
	add(simEv, testNow, simOptions(), "", simRaw)
	add(simEv, testNow, simOptions(), "", resignedSNP(t, rd, hostData, snpJudge))

	// Simulated TDX: raw flips, then re-signed changes.
	var nonce [32]byte
	copy(nonce[:], "tamper matrix nonce")
	a, err := NewAttester(PlatformSimTDX, AttesterOptions{HostData: nonce})
	if err != nil {
		t.Fatal(err)
	}
	tdxEv, err := a.Attest(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	tdxJudge := simTDXJudge(rd, nonce)
	tdxRaw := rawMutations("sim-tdx", tdxFields, len(tdxEv.Report))
	tdxRaw = append(tdxRaw, pckChainMutations("sim-tdx", tdxEv.Report)...)
	for i := range tdxRaw {
		tdxRaw[i].judge = tdxJudge
	}
	add(tdxEv, testNow, simOptions(), "", tdxRaw)
	add(tdxEv, testNow, simOptions(), "", resignedTDX(t, rd, nonce, tdxJudge))

	// The unmodified samples pass (or fail only as expected).
	for _, b := range []struct {
		name string
		ev   *Evidence
		run  func(*Evidence) error
		want string
	}{
		{"sim-snp", simEv, snpJudge, ""},
		{"sim-tdx", tdxEv, tdxJudge, ""},
		{"tdx", tq, func(ev *Evidence) error { _, err := Verify(context.Background(), ev, tOpts); return err }, ""},
	} {
		if err := b.run(b.ev); err != nil {
			t.Fatalf("unmodified %s: %v", b.name, err)
		}
	}

	perSample := map[string]int{}
	for _, m := range ms {
		ev := &Evidence{}
		m.edit(ev)
		var err error
		if m.judge != nil {
			err = m.judge(ev)
		} else {
			_, err = Verify(context.Background(), ev, m.opts)
		}
		perSample[m.sample]++
		switch {
		case err == nil:
			t.Errorf("%s: %s: ACCEPTED", m.sample, m.name)
			continue
		case m.base != "" && strings.Contains(err.Error(), m.base):
			t.Errorf("%s: %s: only the sample's own failure (%v)", m.sample, m.name, err)
			continue
		}
		named := false
		for _, n := range m.names {
			named = named || strings.Contains(err.Error(), n)
		}
		if !named {
			t.Errorf("%s: %s: error does not name %s: %v", m.sample, m.name, strings.Join(m.names, " or "), err)
		}
		if testing.Verbose() {
			t.Logf("%-34s %-40s %v", m.sample, m.name, err)
		}
	}
	for _, s := range slices.Sorted(maps.Keys(perSample)) {
		t.Logf("%4d mutations of %s", perSample[s], s)
	}
	t.Logf("tamper matrix: %d mutations, none accepted, each failure naming the field", len(ms))
	if len(ms) < 200 {
		t.Errorf("only %d mutations, want at least 200", len(ms))
	}
}

func cloneMap(m map[string][]byte) map[string][]byte {
	if m == nil {
		return nil
	}
	c := map[string][]byte{}
	for k, v := range m {
		c[k] = append([]byte(nil), v...)
	}
	return c
}

func tryAzure(t *testing.T) (*Evidence, bool) {
	t.Helper()
	var res *Evidence
	// azureSNPEvidence skips the test when the fixture is absent; run it
	// in a subtest so that the matrix goes on without it.
	t.Run("azure sample", func(t *testing.T) { res, _ = azureSNPEvidence(t) })
	return res, res != nil
}

// pckChainMutations flips bytes of each certificate of the PEM chain inside
// a quote.
func pckChainMutations(sample string, quote []byte) []mutation {
	var ms []mutation
	start := bytes.Index(quote, []byte("-----BEGIN CERTIFICATE-----"))
	for i, name := range []string{"PCK certificate", "PCK chain CA certificate", "PCK chain root"} {
		if start < 0 {
			break
		}
		end := bytes.Index(quote[start:], []byte("-----END CERTIFICATE-----"))
		if end < 0 {
			break
		}
		body := start + len("-----BEGIN CERTIFICATE-----\n")
		for _, frac := range []int{5, 25, 50, 75, 95} {
			off := body + (start+end-body)*frac/100
			if quote[off] == '\n' {
				off++
			}
			ms = append(ms, mutation{sample: sample, name: fmt.Sprintf("%s (chain %d) byte %d", name, i, off),
				names: []string{"report"}, edit: func(ev *Evidence) { ev.Report[off] = base64Neighbour(ev.Report[off]) }})
		}
		start += end + len("-----END CERTIFICATE-----")
		if n := bytes.Index(quote[start:], []byte("-----BEGIN CERTIFICATE-----")); n >= 0 {
			start += n
		} else {
			start = -1
		}
	}
	return ms
}

// base64Neighbour changes a base64 character to another one.
func base64Neighbour(c byte) byte {
	switch {
	case c == 'Z', c == 'z', c == '9', c == '+', c == '/':
		return 'A'
	case c == '=' || c == '\n' || c == '-':
		return c ^ 0x01
	}
	return c + 1
}

func collateralMutations(sample string, col map[string][]byte) []mutation {
	var ms []mutation
	for _, name := range slices.Sorted(maps.Keys(col)) {
		n := len(col[name])
		for _, frac := range []int{2, 30, 60, 97} {
			off := n * frac / 100
			name := name
			want := "collateral." + name
			if name == CollateralTCBInfoIssuerChain {
				want = "collateral." + CollateralTCBInfo
			}
			if name == CollateralQEIdentityIssuerChain {
				want = "collateral." + CollateralQEIdentity
			}
			edit := func(ev *Evidence) { ev.Collateral[name][off] ^= 0x01 }
			if strings.HasSuffix(name, "IssuerChain") {
				edit = func(ev *Evidence) { ev.Collateral[name][off] = base64Neighbour(ev.Collateral[name][off]) }
			}
			ms = append(ms, mutation{sample: sample, name: fmt.Sprintf("collateral.%s byte %d", name, off),
				names: []string{want, "collateral"}, edit: edit})
		}
	}
	return ms
}

// resignedSNP changes one field of a simulated report at a time and signs it
// again with the TEST-ONLY VCEK: the chain holds, and the baseline, the
// policy, the measurement or the binding must catch the change.
func resignedSNP(t *testing.T, rd [64]byte, hostData [32]byte, _ func(*Evidence) error) []mutation {
	var ms []mutation
	for _, c := range []struct {
		name, want string
		edit       func(r *spb.Report)
	}{
		{"MEASUREMENT", "policy snp.measurements", func(r *spb.Report) { r.Measurement[0] ^= 1 }},
		{"REPORT_DATA digest", "REPORT_DATA", func(r *spb.Report) { r.ReportData[0] ^= 1 }},
		{"REPORT_DATA nonce", "REPORT_DATA", func(r *spb.Report) { r.ReportData[63] ^= 1 }},
		{"HOST_DATA", "policy snp.hostData", func(r *spb.Report) { r.HostData[31] ^= 1 }},
		{"POLICY.DEBUG", "POLICY.DEBUG", func(r *spb.Report) { r.Policy |= 1 << 19 }},
		{"POLICY.MIGRATE_MA", "POLICY.MIGRATE_MA", func(r *spb.Report) { r.Policy |= 1 << 18 }},
		{"VMPL", "policy snp.vmpl", func(r *spb.Report) { r.Vmpl = 1 }},
		{"REPORTED_TCB", "TCB", func(r *spb.Report) { r.ReportedTcb-- }},
		{"CURRENT_TCB", "TCB", func(r *spb.Report) { r.CurrentTcb++ }},
		{"COMMITTED_TCB", "TCB", func(r *spb.Report) { r.CommittedTcb-- }},
		{"CHIP_ID", "CHIP_ID", func(r *spb.Report) { r.ChipId[0] ^= 1 }},
		{"CPUID family", "report", func(r *spb.Report) { r.Cpuid1EaxFms = 0x00a10f11 }},
		{"SIGNER_INFO VLEK", "vlek", func(r *spb.Report) { r.SignerInfo = 1 << 2 }},
	} {
		s, err := sim.NewSNPSigner()
		if err != nil {
			t.Fatal(err)
		}
		var f sim.ReportFields
		f.ReportData, f.HostData = rd, hostData
		copy(f.Measurement[:], DefaultSimMeasurement())
		r := sim.NewSNPReport(f)
		c.edit(r)
		raw, err := s.Sign(r)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		ms = append(ms, mutation{sample: "sim-snp re-signed", name: c.name, names: []string{c.want},
			edit: func(ev *Evidence) { ev.Report = raw }})
	}
	for i := range ms {
		ms[i].judge = simSNPJudge(rd, hostData[:])
	}
	return ms
}

func simTDXJudge(rd [64]byte, nonce [32]byte) func(ev *Evidence) error {
	zero := make([]byte, 48)
	p := &Policy{Version: 1, Platforms: []Platform{PlatformSimTDX}, TDX: &TDXPolicy{
		Measurements: []TDXMeasurement{{MRTD: DefaultSimTDXMeasurement(), RTMRs: [4][]byte{zero, zero, zero, zero}}},
		MRConfigID:   append(nonce[:], make([]byte, 16)...), MinTEETCBSVN: []byte{3, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		MinQESVN: sim.TDXQESVN, MinPCESVN: sim.TDXPCESVN}}
	return func(ev *Evidence) error { return judge(ev, p, rd, simOptions()) }
}

func resignedTDX(t *testing.T, rd [64]byte, nonce [32]byte, judgeFn func(*Evidence) error) []mutation {
	var ms []mutation
	le := func(b []byte) { b[0]-- }
	for _, c := range []struct {
		name, want string
		edit       func(q *tpb.QuoteV4)
	}{
		{"MRTD", "policy tdx.measurements", func(q *tpb.QuoteV4) { q.TdQuoteBody.MrTd[0] ^= 1 }},
		{"RTMR0", "policy tdx.measurements", func(q *tpb.QuoteV4) { q.TdQuoteBody.Rtmrs[0][0] ^= 1 }},
		{"RTMR1", "policy tdx.measurements", func(q *tpb.QuoteV4) { q.TdQuoteBody.Rtmrs[1][5] ^= 1 }},
		{"RTMR2", "policy tdx.measurements", func(q *tpb.QuoteV4) { q.TdQuoteBody.Rtmrs[2][47] ^= 1 }},
		{"RTMR3", "policy tdx.measurements", func(q *tpb.QuoteV4) { q.TdQuoteBody.Rtmrs[3][20] ^= 1 }},
		{"MRCONFIGID", "policy tdx.mrConfigID", func(q *tpb.QuoteV4) { q.TdQuoteBody.MrConfigId[0] ^= 1 }},
		{"REPORTDATA digest", "REPORT_DATA", func(q *tpb.QuoteV4) { q.TdQuoteBody.ReportData[0] ^= 1 }},
		{"REPORTDATA nonce", "REPORT_DATA", func(q *tpb.QuoteV4) { q.TdQuoteBody.ReportData[63] ^= 1 }},
		{"TDATTRIBUTES.DEBUG", "TD_ATTRIBUTES.DEBUG", func(q *tpb.QuoteV4) { q.TdQuoteBody.TdAttributes[0] |= 1 }},
		{"TDATTRIBUTES.MIGRATABLE", "TD_ATTRIBUTES.MIGRATABLE", func(q *tpb.QuoteV4) { q.TdQuoteBody.TdAttributes[3] |= 1 << 5 }},
		{"TDATTRIBUTES unknown bit", "tdAttributes", func(q *tpb.QuoteV4) { q.TdQuoteBody.TdAttributes[1] |= 1 }},
		{"XFAM", "xfam", func(q *tpb.QuoteV4) { q.TdQuoteBody.Xfam[0] = 0 }},
		{"TEE_TCB_SVN", "policy tdx.minTEETCBSVN", func(q *tpb.QuoteV4) { le(q.TdQuoteBody.TeeTcbSvn[2:]) }},
		{"QE report ISVSVN", "policy tdx.minQESVN", func(q *tpb.QuoteV4) {
			q.SignedData.CertificationData.QeReportCertificationData.QeReport.IsvSvn--
		}},
	} {
		s, err := sim.NewTDXSigner()
		if err != nil {
			t.Fatal(err)
		}
		var f sim.TDXFields
		f.ReportData = rd
		copy(f.MRTD[:], DefaultSimTDXMeasurement())
		copy(f.MRConfigID[:], nonce[:])
		q := s.NewTDXQuote(f)
		c.edit(q)
		raw, err := s.Sign(q)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		ms = append(ms, mutation{sample: "sim-tdx re-signed", name: c.name, names: []string{c.want},
			edit: func(ev *Evidence) { ev.Report = raw }, judge: judgeFn})
	}
	return ms
}

// FuzzVerifyQuote changes up to two bytes of a sim-tdx quote anywhere
// (header, body, signature data, QE report, PCK chain): a changed quote is
// never accepted, always refused at the chain step, and nothing panics.
func FuzzVerifyQuote(f *testing.F) {
	a, err := NewAttester(PlatformSimTDX, AttesterOptions{})
	if err != nil {
		f.Fatal(err)
	}
	ev, err := a.Attest(context.Background(), [64]byte{1, 2, 3})
	if err != nil {
		f.Fatal(err)
	}
	var offsets []int
	for _, fl := range tdxFields {
		offsets = append(offsets, fl.off)
	}
	fuzzFlips(f, ev, offsets, [4]int{0x278, 0xff, 0x4c2, 0x80}, "quote")
}
