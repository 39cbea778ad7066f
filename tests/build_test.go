package tests

import (
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	testMeasurement = func() string { h := sha512.Sum384([]byte("kettle e2e image")); return hex.EncodeToString(h[:]) }()
	testNonce       = sha256Hex("kettle e2e nonce")
)

// helloBundle builds examples/hello once per test run and returns the
// bundle's path; tests copy it before they change anything.
var helloBundle = struct {
	sync.Mutex
	path string
}{}

func buildHello(t *testing.T) string {
	t.Helper()
	requireNix(t)
	helloBundle.Lock()
	defer helloBundle.Unlock()
	if helloBundle.path != "" {
		return helloBundle.path
	}
	dir, err := os.MkdirTemp(e2e.tmp, "hello-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "hello.bundle")
	r := kettle(t, "build", "--attest", "sim-snp", "--sim-measurement", testMeasurement,
		"--nonce", testNonce, "-o", out, "path:"+exampleFlake(t, "hello"))
	if r.code != 0 {
		t.Fatalf("kettle build examples/hello: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	helloBundle.path = out
	return out
}

// exampleFlake returns the path of examples/NAME, or of a copy re-locked
// against this machine's /bin/busybox (lockedFlake).
func exampleFlake(t *testing.T, name string) string {
	t.Helper()
	return lockedFlake(t, filepath.Join("examples", name))
}

// lockedFlake returns the flake at rel (relative to the repository), or a
// copy re-locked against this machine's /bin/busybox when the committed
// flake.lock pins another busybox-static (Debian may ship a fix): the tests
// then still run, and say so.
func lockedFlake(t *testing.T, rel string) string {
	t.Helper()
	dir := filepath.Join(e2e.repo, rel)
	lock, err := os.ReadFile(filepath.Join(dir, "flake.lock"))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	local := strings.TrimSpace(kettle(t, "hash", "/bin/busybox").stdout)
	if local != "" && strings.Contains(string(lock), `"narHash": "`+local+`"`) {
		return dir
	}
	t.Logf("%s/flake.lock pins another /bin/busybox than this machine's (%s): testing a re-locked copy; update the committed lock", rel, local)
	cp := filepath.Join(t.TempDir(), filepath.Base(dir))
	copyTree(t, dir, cp)
	nixCmd(t, cp, "flake", "lock", "--update-input", "busybox", "path:"+cp)
	return cp
}

func TestBuildAndVerifyHello(t *testing.T) {
	bundle := buildHello(t)
	for _, f := range []string{"provenance.json", "evidence.json", "manifest.json"} {
		if _, err := os.Stat(filepath.Join(bundle, f)); err != nil {
			t.Errorf("bundle lacks %s: %v", f, err)
		}
	}
	arts, _ := filepath.Glob(filepath.Join(bundle, "artifacts", "*.nar.zst"))
	if len(arts) != 1 {
		t.Errorf("artifacts/: got %v, want one .nar.zst for the one output", arts)
	}

	rep, r := verifyJSON(t, "--allow-simulated", "--measurement", testMeasurement, "--nonce", testNonce, bundle)
	if r.code != 0 || !rep.OK {
		t.Fatalf("verify: exit %d, report:\n%s\n%s", r.code, rep, r.stderr)
	}
	want := []string{"bundle", "chain", "tcb", "measurement", "binding", "provenance", "manifest", "dependencies", "outputs", "subjects"}
	if len(rep.Steps) != len(want) {
		t.Fatalf("verify reported %d steps, want %d:\n%s", len(rep.Steps), len(want), rep)
	}
	for i, s := range rep.Steps {
		if s.Step != want[i] || s.Status != "PASS" {
			t.Errorf("step %d: %s %s, want %s PASS", i, s.Step, s.Status, want[i])
		}
	}
	if !rep.Simulated || !strings.Contains(rep.Verdict, "SIMULATED") {
		t.Errorf("simulated evidence: simulated=%t verdict %q must say SIMULATED", rep.Simulated, rep.Verdict)
	}

	// The human table says the same, one line per step, and SIMULATED.
	r = kettle(t, "verify", "--allow-simulated", "--measurement", testMeasurement, "--nonce", testNonce, bundle)
	if r.code != 0 {
		t.Fatalf("verify (table): exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, s := range want {
		if !strings.Contains(r.stdout, "\n"+s+" ") {
			t.Errorf("table lacks a line for step %s:\n%s", s, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "SIMULATED") {
		t.Errorf("table verdict does not say SIMULATED:\n%s", r.stdout)
	}

	// --store re-hashes the output from the local store instead of artifacts/.
	rep, r = verifyJSON(t, "--allow-simulated", "--store", bundle)
	if r.code != 0 || !rep.OK {
		t.Fatalf("verify --store: exit %d\n%s", r.code, rep)
	}
	if st, _ := rep.step("measurement"); st != "SKIP" {
		t.Errorf("without --measurement the measurement step is %q, want SKIP", st)
	}
}

func TestVerifyRefusesSimulatedByDefault(t *testing.T) {
	bundle := buildHello(t)
	rep, r := verifyJSON(t, bundle)
	if r.code == 0 || rep.OK {
		t.Fatalf("simulated evidence accepted without --allow-simulated:\n%s", rep)
	}
	if rep.Failed != "chain" {
		t.Errorf("failed at %q, want chain:\n%s", rep.Failed, rep)
	}
}

func TestManifestCoversTheClosure(t *testing.T) {
	bundle := buildHello(t)
	r := kettle(t, "manifest", "show", "--json", bundle)
	if r.code != 0 {
		t.Fatalf("manifest show: exit %d\n%s", r.code, r.stderr)
	}
	var m struct {
		Version int      `json:"version"`
		Root    string   `json:"root"`
		Leaves  []string `json:"leaves"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("manifest show --json: %v", err)
	}
	kinds := map[string]int{}
	for _, l := range m.Leaves {
		kinds[strings.SplitN(l, ":", 2)[0]]++
	}
	// hello: busybox-bin, greeting.txt (fixed-output) and hello derivations;
	// hello.sh as an inputSrc; busybox as the one flake input.
	for kind, min := range map[string]int{"source": 1, "flake-input": 1, "drv": 3, "src": 1, "fod": 1, "toolchain": 2} {
		if kinds[kind] < min {
			t.Errorf("manifest has %d %s leaves, want ≥ %d:\n%s", kinds[kind], kind, min, strings.Join(m.Leaves, "\n"))
		}
	}
	for _, l := range m.Leaves {
		if strings.HasPrefix(l, "fod:") && !strings.Contains(l, "9d460ecc14a159eca8473384de60b585d20a10361aa649bc854f3570534cc951") {
			t.Errorf("fod leaf %q lacks the pinned hash of greeting.txt", l)
		}
	}

	// Every leaf has an RFC 9162 inclusion proof to the root.
	r = kettle(t, "manifest", "prove", "--json", bundle, m.Leaves[len(m.Leaves)/2])
	if r.code != 0 {
		t.Fatalf("manifest prove: exit %d\n%s", r.code, r.stderr)
	}
	var p struct {
		Index     int      `json:"index"`
		TreeSize  int      `json:"treeSize"`
		Root      string   `json:"root"`
		AuditPath []string `json:"auditPath"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatal(err)
	}
	if p.Root != m.Root || p.TreeSize != len(m.Leaves) || p.Index != len(m.Leaves)/2 || len(p.AuditPath) == 0 {
		t.Errorf("proof %+v does not match the manifest (root %s, %d leaves)", p, m.Root, len(m.Leaves))
	}
	if r := kettle(t, "manifest", "prove", bundle, "drv:/nix/store/not-in-the-manifest.drv:00"); r.code == 0 {
		t.Errorf("proof of a leaf that is not in the manifest succeeded")
	}
}

// TestBuildGoExample builds a real Go program inside Nix with the host Go
// toolchain imported as a locked path input.
func TestBuildGoExample(t *testing.T) {
	requireNix(t)
	if testing.Short() {
		t.Skip("-short: skipping the Go toolchain build")
	}
	goroot := strings.TrimSpace(runOut(t, "go", "env", "GOROOT"))
	flake := filepath.Join(t.TempDir(), "go-hello")
	copyTree(t, filepath.Join(e2e.repo, "examples", "go-hello"), flake)
	// The committed flake.lock pins /usr/local/go by NAR hash; re-lock against
	// this machine's toolchain so the test does not depend on its exact version.
	nixCmd(t, flake, "flake", "lock", "--override-input", "go", "path:"+goroot, "path:"+flake)
	out := filepath.Join(t.TempDir(), "go.bundle.tar")
	r := kettle(t, "build", "--json", "--attest", "sim-snp", "-o", out, "path:"+flake)
	if r.code != 0 {
		t.Fatalf("kettle build go-hello: exit %d\n%s", r.code, r.stderr)
	}
	var res struct {
		Outputs []struct {
			StorePath string `json:"storePath"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res.Outputs) != 1 {
		t.Fatalf("build --json: %v %s", err, r.stdout)
	}
	got := runOut(t, filepath.Join(res.Outputs[0].StorePath, "bin", "kettle-go-hello"))
	if !strings.Contains(got, "Hello from a Go program") {
		t.Errorf("the built program printed %q", got)
	}
	rep, vr := verifyJSON(t, "--allow-simulated", out)
	if vr.code != 0 || !rep.OK {
		t.Fatalf("verify go bundle (.tar): exit %d\n%s", vr.code, rep)
	}
}

func runOut(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := execCommand(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}

// mutateEvidence rewrites evidence.json of a copied bundle through f, which
// gets the raw report bytes and the certificate map.
func mutateEvidence(t *testing.T, bundle string, f func(report []byte, certs map[string][]byte)) {
	t.Helper()
	p := filepath.Join(bundle, "evidence.json")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	var reportB64 string
	if err := json.Unmarshal(ev["report"], &reportB64); err != nil {
		t.Fatalf("evidence.json report: %v", err)
	}
	report, err := base64.StdEncoding.DecodeString(reportB64)
	if err != nil {
		t.Fatal(err)
	}
	certs := map[string][]byte{}
	if raw, ok := ev["certificates"]; ok {
		if err := json.Unmarshal(raw, &certs); err != nil {
			t.Fatalf("evidence.json certificates: %v", err)
		}
	}
	f(report, certs)
	ev["report"], _ = json.Marshal(base64.StdEncoding.EncodeToString(report))
	if len(certs) > 0 {
		ev["certificates"], _ = json.Marshal(certs)
	}
	out, _ := json.Marshal(ev)
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
}
