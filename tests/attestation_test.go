package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// buildWith builds examples/hello with the given --attest platform and
// extra flags into a fresh bundle.
func buildWith(t *testing.T, platform string, extra ...string) string {
	t.Helper()
	requireNix(t)
	out := filepath.Join(t.TempDir(), platform+".bundle")
	args := append([]string{"build", "-q", "--attest", platform, "-o", out}, extra...)
	args = append(args, "path:"+filepath.Join(e2e.repo, "examples", "hello"))
	if r := kettle(t, args...); r.code != 0 {
		t.Fatalf("kettle build --attest %s: exit %d\n%s%s", platform, r.code, r.stdout, r.stderr)
	}
	return out
}

// TestUnattestedBundle: --attest none writes a bundle that verify reports as
// UNATTESTED, non-zero unless --allow-unattested, and then only the
// provenance, manifest and subjects are checked.
func TestUnattestedBundle(t *testing.T) {
	bundle := buildWith(t, "none")
	ev, err := os.ReadFile(filepath.Join(bundle, "evidence.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(strings.Fields(string(ev)), ""); got != `{"version":1,"platform":"none"}` {
		t.Errorf("evidence.json = %s", ev)
	}
	rep, r := verifyJSON(t, bundle)
	if r.code == 0 || rep.OK || rep.Failed != "chain" || !strings.Contains(rep.Verdict, "UNATTESTED") {
		t.Fatalf("unattested bundle: exit %d\n%s", r.code, rep)
	}
	if _, detail := rep.step("chain"); !strings.Contains(detail, "--allow-unattested") {
		t.Errorf("chain detail %q does not say how to accept it", detail)
	}
	rep, r = verifyJSON(t, "--allow-unattested", bundle)
	if r.code != 0 || !rep.OK || !strings.HasPrefix(rep.Verdict, "UNATTESTED") {
		t.Fatalf("--allow-unattested: exit %d\n%s", r.code, rep)
	}
	for _, s := range []string{"chain", "tcb", "measurement", "binding"} {
		if st, _ := rep.step(s); st != "SKIP" {
			t.Errorf("step %s is %s, want SKIP", s, st)
		}
	}
	for _, s := range []string{"provenance", "manifest", "dependencies", "subjects"} {
		if st, _ := rep.step(s); st != "PASS" {
			t.Errorf("step %s is %s, want PASS", s, st)
		}
	}
	// A check asked for that an unattested bundle cannot answer fails, at
	// the step that would have made it.
	policy := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(policy, []byte(`{"version":1,"snp":{"minTCB":{"snp":1}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ flag, value, step string }{
		{"--policy", policy, "tcb"},
		{"--measurement", testMeasurement, "measurement"},
		{"--nonce", testNonce, "binding"},
	} {
		rep, r := verifyJSON(t, "--allow-unattested", tc.flag, tc.value, bundle)
		if r.code != 1 || rep.OK || rep.Failed != tc.step {
			t.Errorf("--allow-unattested %s on an unattested bundle: exit %d, failed at %q, want 1 at %s", tc.flag, r.code, rep.Failed, tc.step)
		}
		if _, d := rep.step(tc.step); !strings.Contains(d, tc.flag+" given, but the bundle is UNATTESTED") {
			t.Errorf("%s: detail %q", tc.flag, d)
		}
	}
	// An unattested bundle passed off as attested evidence fails.
	if r := kettle(t, "verify", "--allow-simulated", bundle); r.code == 0 {
		t.Error("--allow-simulated accepted an unattested bundle")
	}
}

const simTDXMRTD = "2ef74c862fd2d23d8c67442f417e449afaeb65935b500cfab1f33ee76ef398ec3684f845d049a3998a4c464e29965d1d"

// TestSimTDXBundleWithPolicy: a sim-tdx bundle verifies with
// --allow-simulated, without a policy (listing what it did not check) and
// with one; a policy that does not allow the MRTD, or a bad policy file,
// fails naming the key.
func TestSimTDXBundleWithPolicy(t *testing.T) {
	bundle := buildWith(t, "sim-tdx", "--nonce", testNonce)
	rep, r := verifyJSON(t, "--allow-simulated", "--nonce", testNonce, bundle)
	if r.code != 0 || !rep.OK || !rep.Simulated {
		t.Fatalf("sim-tdx: exit %d\n%s", r.code, rep)
	}
	if _, d := rep.step("chain"); !strings.Contains(d, "sim-tdx") || !strings.Contains(d, "SIMULATED") {
		t.Errorf("chain detail %q", d)
	}
	table := kettle(t, "verify", "--allow-simulated", bundle)
	for _, want := range []string{"not checked: policy", "not checked: launch measurement", "not checked: TCB status and QE identity"} {
		if !strings.Contains(table.stdout, want) {
			t.Errorf("verify without a policy does not say %q:\n%s", want, table.stdout)
		}
	}

	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mrConfig := testNonce + strings.Repeat("00", 16)
	good := write("good.yaml", "version: 1\nplatforms: [sim-tdx]\ntdx:\n  measurements:\n    - mrtd: \""+simTDXMRTD+"\"\n  mrConfigID: \""+mrConfig+"\"\n  minQESVN: 8\n")
	rep, r = verifyJSON(t, "--allow-simulated", "--policy", good, bundle)
	if r.code != 0 || !rep.OK {
		t.Fatalf("good policy: exit %d\n%s", r.code, rep)
	}
	if st, d := rep.step("measurement"); st != "PASS" || !strings.Contains(d, "allowed by the policy") {
		t.Errorf("measurement step %s %q", st, d)
	}
	if _, d := rep.step("tcb"); !strings.Contains(d, "MRCONFIGID") {
		t.Errorf("tcb step %q does not list the policy's checks", d)
	}

	other := write("other.json", `{"version": 1, "tdx": {"measurements": [{"mrtd": "`+strings.Repeat("00", 48)+`"}]}}`)
	rep, r = verifyJSON(t, "--allow-simulated", "--policy", other, bundle)
	if r.code == 0 || rep.Failed != "measurement" {
		t.Fatalf("policy without this MRTD: exit %d\n%s", r.code, rep)
	}
	if _, d := rep.step("measurement"); !strings.Contains(d, "policy tdx.measurements") {
		t.Errorf("measurement failure %q does not name the policy key", d)
	}
	wrongPlatform := write("snp-only.yaml", "version: 1\nplatforms: [sev-snp]\n")
	if rep, _ := verifyJSON(t, "--allow-simulated", "--policy", wrongPlatform, bundle); rep.Failed != "tcb" {
		t.Errorf("platform not allowed: failed at %q\n%s", rep.Failed, rep)
	}

	for _, tc := range []struct{ name, body, want string }{
		{"unknown key", "version: 1\ntdx: {mrtdd: x}\n", "tdx.mrtdd: unknown key"},
		{"wrong type", `{"version": 1, "tdx": {"minQESVN": "8"}}`, "tdx.minQESVN: want an integer, got a string"},
	} {
		r := kettle(t, "verify", "--allow-simulated", "--policy", write(tc.name, tc.body), bundle)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 naming %q", tc.name, r.code, r.stderr, tc.want)
		}
	}
}

// TestCollateralFlag: --collateral reads a directory of known files and
// refuses anything else, naming the file.
func TestCollateralFlag(t *testing.T) {
	bundle := buildHello(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tcbinfo.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := kettle(t, "verify", "--allow-simulated", "--collateral", dir, bundle)
	if r.code != 2 || !strings.Contains(r.stderr, "tcbinfo.json: not a collateral file") {
		t.Errorf("unknown collateral file: exit %d, %q", r.code, r.stderr)
	}
	// An AMD CRL that is not one fails the tcb step, naming it.
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "crl.der"), []byte("not a crl"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, r := verifyJSON(t, "--allow-simulated", "--collateral", dir, bundle)
	if r.code == 0 || rep.Failed != "tcb" {
		t.Fatalf("bad CRL: exit %d\n%s", r.code, rep)
	}
	if _, d := rep.step("tcb"); !strings.Contains(d, "collateral.crl") {
		t.Errorf("tcb failure %q does not name collateral.crl", d)
	}
}
