package tests

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestClosureWalkLarge builds a flake with more than 1000 derivations and
// checks that every .drv in `nix-store -qR` of the output's deriver is a drv
// leaf of the manifest, and that there are no others.
func TestClosureWalkLarge(t *testing.T) {
	requireNix(t)
	if testing.Short() {
		t.Skip("-short: skipping the 1000-derivation build")
	}
	flake := filepath.Join(t.TempDir(), "closure")
	gen := exec.Command(filepath.Join(e2e.repo, "bench", "genflake.sh"), "1000", flake)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("genflake.sh: %v\n%s", err, out)
	}
	bundle := filepath.Join(t.TempDir(), "closure.bundle")
	r := kettle(t, "build", "--json", "--attest", "sim-snp", "--artifacts", "none", "-o", bundle, "path:"+flake)
	if r.code != 0 {
		t.Fatalf("kettle build: exit %d\n%s", r.code, r.stderr)
	}
	var res struct {
		Outputs []struct {
			Derivation string `json:"derivation"`
		} `json:"outputs"`
		Derivations int `json:"derivations"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res.Outputs) != 1 {
		t.Fatalf("build --json: %v\n%s", err, r.stdout)
	}

	out, err := exec.Command("nix-store", "-qR", res.Outputs[0].Derivation).Output()
	if err != nil {
		t.Fatalf("nix-store -qR: %v", err)
	}
	var want []string
	for _, p := range strings.Fields(string(out)) {
		if strings.HasSuffix(p, ".drv") {
			want = append(want, p)
		}
	}
	if len(want) < 1000 {
		t.Fatalf("the generated closure has only %d derivations", len(want))
	}

	r = kettle(t, "manifest", "show", "--json", bundle)
	var m struct {
		Leaves []string `json:"leaves"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, l := range m.Leaves {
		if rest, ok := strings.CutPrefix(l, "drv:"); ok {
			got[rest[:strings.LastIndexByte(rest, ':')]] = true
		}
	}
	var missing []string
	for _, p := range want {
		if !got[p] {
			missing = append(missing, p)
		}
		delete(got, p)
	}
	if len(missing) > 0 {
		t.Errorf("%d derivations of the closure have no drv leaf, e.g. %v", len(missing), missing[:min(3, len(missing))])
	}
	if len(got) > 0 {
		extra := make([]string, 0, len(got))
		for p := range got {
			extra = append(extra, p)
		}
		sort.Strings(extra)
		t.Errorf("%d drv leaves are not in the closure, e.g. %v", len(extra), extra[:min(3, len(extra))])
	}
	if res.Derivations != len(want) {
		t.Errorf("build reported %d derivations, nix-store -qR has %d", res.Derivations, len(want))
	}
	t.Logf("closure of %d derivations: every one is a drv leaf", len(want))
	rep, vr := verifyJSON(t, "--allow-simulated", "--store", bundle)
	if vr.code != 0 || !rep.OK {
		t.Fatalf("verify: %s", rep)
	}
}
