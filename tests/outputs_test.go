package tests

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/provenance"
	"github.com/kettle-build/kettle/provenance/merkle"
)

// manifestOutputs is `kettle manifest show --kind output --json`.
type manifestOutputs struct {
	Version int    `json:"version"`
	Root    string `json:"root"`
	Outputs []struct {
		Leaf, Drv, Output, Path, By string
		NarSHA256                   string `json:"narSha256"`
	} `json:"outputs"`
}

func showOutputs(t *testing.T, bundle string) manifestOutputs {
	t.Helper()
	r := kettle(t, "manifest", "show", "--kind", "output", "--json", bundle)
	if r.code != 0 {
		t.Fatalf("manifest show --kind output: exit %d\n%s", r.code, r.stderr)
	}
	var m manifestOutputs
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("manifest show --kind output --json: %v\n%s", err, r.stdout)
	}
	return m
}

// TestManifestV2Outputs: a build records every output of its closure, the
// top-level one hashed by Kettle and the others from the Nix database, each
// equal to what Kettle's own hasher says of the store path; verify checks
// them at the outputs step, and re-hashes them all with --deep-hash.
func TestManifestV2Outputs(t *testing.T) {
	bundle := buildHello(t)
	m := showOutputs(t, bundle)
	if m.Version != provenance.ManifestV2 || len(m.Outputs) != 3 {
		t.Fatalf("manifest version %d with %d outputs, want version 2 with the 3 of busybox-bin, greeting.txt and hello: %+v", m.Version, len(m.Outputs), m.Outputs)
	}
	for _, o := range m.Outputs {
		want := "nix-db"
		if strings.HasSuffix(o.Path, "-hello") {
			want = "kettle"
		}
		if o.By != want || o.Output != "out" {
			t.Errorf("output %s!%s by=%s, want by=%s", o.Drv, o.Output, o.By, want)
		}
		if got := strings.TrimSpace(kettle(t, "hash", "--hex", o.Path).stdout); got != o.NarSHA256 {
			t.Errorf("output %s: leaf says %s, kettle hash says %s", o.Path, o.NarSHA256, got)
		}
	}

	rep, r := verifyJSON(t, "--allow-simulated", "--store", "--deep-hash", bundle)
	if r.code != 0 || !rep.OK {
		t.Fatalf("verify --store --deep-hash: exit %d\n%s%s", r.code, rep, r.stderr)
	}
	if st, detail := rep.step("outputs"); st != "PASS" || !strings.Contains(detail, "all 3 realised outputs re-hashed in the local store") {
		t.Errorf("outputs step: %s %s", st, detail)
	}
	if r := kettle(t, "verify", "--allow-simulated", "--deep-hash", bundle); r.code != 2 || !strings.Contains(r.stderr, "only with --store") {
		t.Errorf("--deep-hash without --store: exit %d, %s", r.code, r.stderr)
	}

	// An output leaf, named by its drv!output, has an inclusion proof that
	// stands on its own: the leaf, its index, the tree size and the root.
	o := m.Outputs[0]
	r = kettle(t, "manifest", "prove", "--json", bundle, o.Drv+"!"+o.Output)
	if r.code != 0 {
		t.Fatalf("manifest prove %s!%s: exit %d\n%s", o.Drv, o.Output, r.code, r.stderr)
	}
	var p struct {
		Leaf      string   `json:"leaf"`
		Index     int      `json:"index"`
		TreeSize  int      `json:"treeSize"`
		Root      string   `json:"root"`
		AuditPath []string `json:"auditPath"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatal(err)
	}
	if p.Leaf != o.Leaf || p.Root != m.Root {
		t.Fatalf("proof of %s is for leaf %q under root %s", o.Leaf, p.Leaf, p.Root)
	}
	var root [32]byte
	hex.Decode(root[:], []byte(p.Root))
	path := make([][32]byte, len(p.AuditPath))
	for i, h := range p.AuditPath {
		hex.Decode(path[i][:], []byte(h))
	}
	if err := merkle.VerifyInclusion(uint64(p.Index), uint64(p.TreeSize), merkle.HashLeaf([]byte(p.Leaf)), path, root); err != nil {
		t.Errorf("the proof of %s does not verify: %v", p.Leaf, err)
	}
}

// TestBuildDeepHash: with --deep-hash every output leaf is Kettle's own hash.
func TestBuildDeepHash(t *testing.T) {
	requireNix(t)
	out := filepath.Join(t.TempDir(), "deep.bundle")
	r := kettle(t, "build", "--deep-hash", "--attest", "sim-snp", "-o", out, "path:"+exampleFlake(t, "hello"))
	if r.code != 0 {
		t.Fatalf("kettle build --deep-hash: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "re-hashed by Kettle (--deep-hash)") {
		t.Errorf("the build log does not say the outputs were re-hashed:\n%s", r.stderr)
	}
	m := showOutputs(t, out)
	for _, o := range m.Outputs {
		if o.By != "kettle" {
			t.Errorf("output %s!%s by=%s after --deep-hash, want by=kettle", o.Drv, o.Output, o.By)
		}
	}
	if rep, r := verifyJSON(t, "--allow-simulated", out); !rep.OK {
		t.Errorf("verify: exit %d\n%s", r.code, rep)
	}
}

// TestVersion1BundleStillVerifies: a bundle written by Kettle before
// manifest version 2 (tests/testdata/v1-hello.bundle.tar, built from
// examples/hello by commit f7d5728 with sim-snp evidence) verifies exactly
// as it did; the outputs step says why it has nothing to check, and a check
// that needs output leaves fails rather than passing.
func TestVersion1BundleStillVerifies(t *testing.T) {
	bundle := filepath.Join(e2e.repo, "tests", "testdata", "v1-hello.bundle.tar")
	if _, err := os.Stat(bundle); err != nil {
		t.Fatal(err)
	}
	rep, r := verifyJSON(t, "--allow-simulated", bundle)
	if r.code != 0 || !rep.OK {
		t.Fatalf("verify of the version 1 bundle: exit %d\n%s%s", r.code, rep, r.stderr)
	}
	for _, step := range []string{"chain", "binding", "provenance", "manifest", "dependencies", "subjects"} {
		if st, detail := rep.step(step); st != "PASS" {
			t.Errorf("step %s: %s %s", step, st, detail)
		}
	}
	if st, detail := rep.step("outputs"); st != "SKIP" || !strings.Contains(detail, "manifest version 1 has no output leaves") {
		t.Errorf("outputs step of a version 1 bundle: %s %s", st, detail)
	}
	r = kettle(t, "manifest", "show", "--json", bundle)
	if r.code != 0 || !strings.Contains(r.stdout, `"version": 1,`) {
		t.Errorf("manifest show of the version 1 bundle: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := kettle(t, "manifest", "show", "--kind", "output", bundle); r.code == 0 || !strings.Contains(r.stderr, "version 1 has no output leaves") {
		t.Errorf("show --kind output of a version 1 bundle: exit %d, %s", r.code, r.stderr)
	}
	requireNix(t)
	if rep, _ := verifyJSON(t, "--allow-simulated", "--store", "--deep-hash", bundle); rep.OK || rep.Failed != "outputs" {
		t.Errorf("--deep-hash on a version 1 bundle: ok=%t failed=%s", rep.OK, rep.Failed)
	}
}
