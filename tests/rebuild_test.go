package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/provenance"
	"github.com/kettle-build/kettle/provenance/merkle"
	"github.com/kettle-build/kettle/rebuild"
)

// lockedTestdataFlake returns tests/testdata/NAME, or a re-locked copy
// (lockedFlake).
func lockedTestdataFlake(t *testing.T, name string) string {
	t.Helper()
	return lockedFlake(t, filepath.Join("tests", "testdata", name))
}

// buildBundle builds the flake at dir into a new bundle with simulated
// SEV-SNP evidence.
func buildBundle(t *testing.T, dir string) string {
	t.Helper()
	requireNix(t)
	out := filepath.Join(t.TempDir(), filepath.Base(dir)+".bundle")
	if r := kettle(t, "build", "-q", "--attest", "sim-snp", "-o", out, "path:"+dir); r.code != 0 {
		t.Fatalf("kettle build %s: exit %d\n%s%s", dir, r.code, r.stdout, r.stderr)
	}
	return out
}

// rebuildJSON runs kettle rebuild --json and decodes its result.
func rebuildJSON(t *testing.T, args ...string) (rebuild.Result, result) {
	t.Helper()
	r := kettle(t, append([]string{"rebuild", "-q", "--json"}, args...)...)
	var res rebuild.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("kettle rebuild --json %v: exit %d, output is not JSON (%v)\nstdout: %s\nstderr: %s", args, r.code, err, r.stdout, r.stderr)
	}
	return res, r
}

// deleteStorePaths removes store paths, as on a machine that never built
// them; nothing else refers to the paths the tests delete.
func deleteStorePaths(t *testing.T, paths ...string) {
	t.Helper()
	cmd := exec.Command("nix-store", append([]string{"--delete"}, paths...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nix-store --delete %v: %v\n%s", paths, err, out)
	}
}

func byDrvSuffix(t *testing.T, c *rebuild.Closure, suffix string) rebuild.Derivation {
	t.Helper()
	for _, d := range c.Derivations {
		if strings.HasSuffix(d.Drv, suffix) {
			return d
		}
	}
	t.Fatalf("no derivation *%s in the closure", suffix)
	return rebuild.Derivation{}
}

func TestRebuildReproducible(t *testing.T) {
	bundle := buildHello(t)
	res, r := rebuildJSON(t, "--allow-simulated", "--measurement", testMeasurement, "--nonce", testNonce, bundle)
	if r.code != 0 || !res.OK {
		t.Fatalf("rebuild of examples/hello: exit %d, ok %t\n%s%s", r.code, res.OK, r.stdout, r.stderr)
	}
	if !res.Verified || res.System != "x86_64-linux" || !strings.HasSuffix(res.Installable, "#default") || res.ManifestVersion != 2 {
		t.Errorf("verified %t, system %q, installable %q, manifest version %d", res.Verified, res.System, res.Installable, res.ManifestVersion)
	}
	if len(res.Outputs) != 1 {
		t.Fatalf("%d outputs, want the one subject", len(res.Outputs))
	}
	o := res.Outputs[0]
	// The bundle was built on this machine: the output is valid, so it is
	// rebuilt in check mode and Kettle hashes the valid path.
	if o.Status != rebuild.Reproduced || o.Method != rebuild.MethodCheck || o.LocalSHA256 != o.AttestedSHA256 || o.LocalPath != o.StorePath {
		t.Errorf("output: %+v", o)
	}
	if res.Counts != (rebuild.Counts{Reproduced: 1}) {
		t.Errorf("counts %+v", res.Counts)
	}

	// --deep: every derivation of the closure reproduces; the fixed-output
	// greeting is hashed, not rebuilt.
	res, r = rebuildJSON(t, "--deep", "--allow-simulated", bundle)
	if r.code != 0 || !res.OK || res.Closure == nil {
		t.Fatalf("rebuild --deep: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if len(res.Closure.Derivations) != 3 || len(res.Closure.FirstDiffering) != 0 || res.Counts.Reproduced != 3 {
		t.Errorf("closure: %d derivations, first differing %v, counts %+v", len(res.Closure.Derivations), res.Closure.FirstDiffering, res.Counts)
	}
	if g := byDrvSuffix(t, res.Closure, "-greeting.txt.drv"); g.Outputs[0].Method != rebuild.MethodFixed {
		t.Errorf("the fixed-output greeting: method %q, want %q", g.Outputs[0].Method, rebuild.MethodFixed)
	}

	// The table says the same.
	r = kettle(t, "rebuild", "-q", "--allow-simulated", bundle)
	if r.code != 0 || !strings.Contains(r.stdout, "reproduced") || !strings.Contains(r.stdout, bundle+": REPRODUCED") {
		t.Errorf("table: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestRebuildUnreproducible(t *testing.T) {
	bundle := buildBundle(t, lockedTestdataFlake(t, "rebuild-unrepro"))

	// The output is valid here: check mode rebuilds it and keeps the
	// rebuild at <path>.check.
	keep := filepath.Join(t.TempDir(), "reports")
	res, r := rebuildJSON(t, "--allow-simulated", "--diffoscope", "--keep", keep, bundle)
	if r.code != 1 || res.OK {
		t.Fatalf("rebuild: exit %d, ok %t, want 1, false\n%s", r.code, res.OK, r.stderr)
	}
	o := res.Outputs[0]
	if o.Status != rebuild.Differs || o.Method != rebuild.MethodCheck || o.LocalPath != o.StorePath+".check" || o.LocalSHA256 == o.AttestedSHA256 {
		t.Fatalf("output: %+v", o)
	}
	checkStampDiffers(t, o, keep)
	if res.Counts != (rebuild.Counts{Differs: 1}) {
		t.Errorf("counts %+v", res.Counts)
	}
	tr := kettle(t, "rebuild", "-q", "--allow-simulated", bundle)
	if tr.code != 1 || !strings.Contains(tr.stdout, "share/stamp.txt") || !strings.Contains(tr.stdout, "NOT REPRODUCED") {
		t.Errorf("table: exit %d\n%s", tr.code, tr.stdout)
	}

	// As on a machine that never built it: the output is not valid, so it
	// is built, and the attested tree is the bundle's artifact (unpacked
	// for diffoscope).
	deleteStorePaths(t, o.StorePath)
	keep2 := filepath.Join(t.TempDir(), "reports")
	res, r = rebuildJSON(t, "--allow-simulated", "--diffoscope", "--keep", keep2, bundle)
	if r.code != 1 {
		t.Fatalf("rebuild after deleting the output: exit %d\n%s", r.code, r.stderr)
	}
	o = res.Outputs[0]
	if o.Status != rebuild.Differs || o.Method != rebuild.MethodBuild || o.LocalPath != o.StorePath {
		t.Fatalf("output: %+v", o)
	}
	checkStampDiffers(t, o, keep2)
}

// checkStampDiffers checks that exactly share/stamp.txt differs, and that
// diffoscope's reports on it are kept in keep.
func checkStampDiffers(t *testing.T, o rebuild.Output, keep string) {
	t.Helper()
	if o.DifferingCount != 1 || len(o.DifferingFiles) != 1 {
		t.Fatalf("%d differing files %+v (%s), want share/stamp.txt alone", o.DifferingCount, o.DifferingFiles, o.DiffUnavailable)
	}
	d := o.DifferingFiles[0]
	if d.Path != "share/stamp.txt" || d.Attested == nil || d.Local == nil || d.Attested.Type != "regular" || d.Attested.SHA256 == d.Local.SHA256 {
		t.Errorf("differing file %+v: %+v → %+v", d, d.Attested, d.Local)
	}
	if o.DiffoscopeError != "" || !strings.HasPrefix(o.DiffoscopeReport, keep+string(filepath.Separator)) {
		t.Fatalf("diffoscope: report %q, error %q", o.DiffoscopeReport, o.DiffoscopeError)
	}
	for _, f := range []string{o.DiffoscopeReport, o.DiffoscopeHTML} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "share/stamp.txt") || strings.Contains(string(data), "stable.txt") {
			t.Errorf("%s does not name share/stamp.txt alone:\n%.2000s", f, data)
		}
	}
}

func TestRebuildDeepFirstDiffering(t *testing.T) {
	bundle := buildBundle(t, lockedTestdataFlake(t, "rebuild-chain"))
	res, r := rebuildJSON(t, "--deep", "--allow-simulated", bundle)
	if r.code != 1 || res.Closure == nil {
		t.Fatalf("rebuild --deep: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	c := res.Closure
	a, b, top := byDrvSuffix(t, c, "-chain-a.drv"), byDrvSuffix(t, c, "-chain-b.drv"), byDrvSuffix(t, c, "-chain-c.drv")
	if len(c.FirstDiffering) != 1 || c.FirstDiffering[0] != b.Drv || !b.FirstDiffering || b.Status != rebuild.Differs {
		t.Fatalf("first differing %v, want exactly %s:\n%s", c.FirstDiffering, b.Drv, r.stdout)
	}
	if a.Status != rebuild.Reproduced {
		t.Errorf("a, below b: %s, want reproduced", a.Status)
	}
	// Every output is valid here, so each derivation is rebuilt in check
	// mode, from the valid outputs of its inputs: c is rebuilt from the
	// attested b, not from b's differing rebuild (kept aside at .check), so
	// it reproduces. It is not first differing, and it says which input did
	// not reproduce.
	if top.Status != rebuild.Reproduced || top.FirstDiffering || len(top.InputsNotReproduced) != 1 || top.InputsNotReproduced[0] != b.Drv {
		t.Errorf("c, above b: %+v", top)
	}
	if f := b.Outputs[0].DifferingFiles; len(f) != 1 || f[0].Path != "random.bin" {
		t.Errorf("b's differing files: %+v (%s)", f, b.Outputs[0].DiffUnavailable)
	}
	if res.Counts.Differs != 1 || res.Counts.FirstDiffering != 1 || res.Counts.NotBuilt != 0 || res.Counts.Reproduced != len(c.Derivations)-1 {
		t.Errorf("counts %+v", res.Counts)
	}
	if len(c.NotInLocalClosure)+len(c.LocalOnly)+len(c.Mismatches) != 0 {
		t.Errorf("the local closure and the manifest disagree: %v %v %v", c.NotInLocalClosure, c.LocalOnly, c.Mismatches)
	}

	// On a machine that built none of b and c, both are built: c is built
	// from b's new output and differs too, after its input did.
	deleteStorePaths(t, top.Outputs[0].StorePath, b.Outputs[0].StorePath)
	res, r = rebuildJSON(t, "--deep", "--allow-simulated", bundle)
	if r.code != 1 || res.Closure == nil {
		t.Fatalf("rebuild --deep after deleting b and c: exit %d\n%s", r.code, r.stderr)
	}
	c = res.Closure
	a, b, top = byDrvSuffix(t, c, "-chain-a.drv"), byDrvSuffix(t, c, "-chain-b.drv"), byDrvSuffix(t, c, "-chain-c.drv")
	if len(c.FirstDiffering) != 1 || c.FirstDiffering[0] != b.Drv || b.Outputs[0].Method != rebuild.MethodBuild {
		t.Fatalf("first differing %v (b by %s), want exactly %s", c.FirstDiffering, b.Outputs[0].Method, b.Drv)
	}
	if a.Status != rebuild.Reproduced || top.Status != rebuild.Differs || top.FirstDiffering || top.Outputs[0].Method != rebuild.MethodBuild {
		t.Errorf("a %s; c %s (first %t, by %s), want a reproduced and c differing after b", a.Status, top.Status, top.FirstDiffering, top.Outputs[0].Method)
	}
	// The attested b is nowhere here (no artifact: it is not a subject):
	// its files cannot be listed, and the result says so.
	if b.Outputs[0].DiffUnavailable == "" || len(b.Outputs[0].DifferingFiles) != 0 {
		t.Errorf("b: differing files %v, unavailable %q", b.Outputs[0].DifferingFiles, b.Outputs[0].DiffUnavailable)
	}
	if res.Counts.Differs != 2 || res.Counts.FirstDiffering != 1 || res.Counts.DiffersInputsDiffered != 1 {
		t.Errorf("counts %+v", res.Counts)
	}
	// The top-level output is c's, as the closure compared it.
	if len(res.Outputs) != 1 || res.Outputs[0].Status != rebuild.Differs || res.Outputs[0].Drv != top.Drv {
		t.Errorf("outputs %+v", res.Outputs)
	}
}

// tamperedHello is a copy of the hello bundle with edit applied to its
// provenance.json.
func tamperedHello(t *testing.T, edit func(string) string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "tampered.bundle")
	copyTree(t, buildHello(t), dst)
	p := filepath.Join(dst, "provenance.json")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	changed := edit(string(data))
	if changed == string(data) {
		t.Fatal("the edit changed nothing")
	}
	if err := os.WriteFile(p, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestRebuildRefusesUnverified(t *testing.T) {
	bundle := tamperedHello(t, func(s string) string {
		return strings.Replace(s, `"invocationId": "`, `"invocationId": "0`, 1)
	})
	res, r := rebuildJSON(t, "--allow-simulated", bundle)
	if r.code != 1 || res.Verified || res.OK {
		t.Fatalf("a tampered bundle: exit %d, verified %t", r.code, res.Verified)
	}
	if !strings.Contains(res.Error, "does not verify") || !strings.Contains(res.Error, "FAILED at binding") || !strings.Contains(r.stderr, "--allow-unverified") {
		t.Errorf("error %q, stderr %q", res.Error, r.stderr)
	}
	if len(res.Outputs) != 0 {
		t.Errorf("a refused bundle was rebuilt: %+v", res.Outputs)
	}

	// With --allow-unverified it is rebuilt, and every output says it was
	// not verified; the exit status stays 1.
	for _, deep := range []bool{false, true} {
		args := []string{"--allow-simulated", "--allow-unverified", bundle}
		if deep {
			args = append([]string{"--deep"}, args...)
		}
		res, r = rebuildJSON(t, args...)
		if r.code != 1 || res.OK || res.Error != "" {
			t.Fatalf("--allow-unverified (deep %t): exit %d, ok %t, error %q", deep, r.code, res.OK, res.Error)
		}
		all := res.Outputs
		if res.Closure != nil {
			for _, d := range res.Closure.Derivations {
				all = append(all, d.Outputs...)
			}
		}
		if len(all) == 0 {
			t.Fatal("no outputs")
		}
		for _, o := range all {
			if !strings.HasPrefix(o.NotVerified, "bundle not verified: FAILED at binding") || o.Status != rebuild.Reproduced {
				t.Errorf("%s: status %s, notVerified %q", o.StorePath, o.Status, o.NotVerified)
			}
		}
	}
}

func TestRebuildBadInput(t *testing.T) {
	requireNix(t)
	t.Run("another system", func(t *testing.T) {
		bundle := tamperedHello(t, func(s string) string {
			return strings.Replace(s, `"system": "x86_64-linux"`, `"system": "aarch64-linux"`, 1)
		})
		res, r := rebuildJSON(t, "--allow-simulated", "--allow-unverified", bundle)
		if r.code != 1 || !strings.Contains(res.Error, "built for aarch64-linux and this machine builds x86_64-linux") || len(res.Outputs) != 0 {
			t.Errorf("exit %d, error %q, outputs %d", r.code, res.Error, len(res.Outputs))
		}
	})
	t.Run("deep on a version 1 manifest", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "v1.bundle")
		copyTree(t, buildHello(t), dst)
		p := filepath.Join(dst, "manifest.json")
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := provenance.DecodeManifest(data)
		if err != nil {
			t.Fatal(err)
		}
		var leaves []provenance.Leaf
		for _, s := range m.Leaves {
			l, err := provenance.ParseLeaf(s)
			if err != nil {
				t.Fatal(err)
			}
			if l.Kind != provenance.KindOutput {
				leaves = append(leaves, l)
			}
		}
		v1, err := provenance.NewManifestVersion(provenance.ManifestV1, leaves)
		if err != nil {
			t.Fatal(err)
		}
		out, err := v1.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, out, 0o644); err != nil {
			t.Fatal(err)
		}
		res, r := rebuildJSON(t, "--deep", "--allow-simulated", "--allow-unverified", dst)
		if r.code != 1 || !strings.Contains(res.Error, "--deep: the bundle's manifest is version 1") {
			t.Errorf("--deep: exit %d, error %q", r.code, res.Error)
		}
		// Without --deep a version 1 bundle is rebuilt (its provenance no
		// longer matches the manifest, so it is not verified).
		res, r = rebuildJSON(t, "--allow-simulated", "--allow-unverified", dst)
		if r.code != 1 || res.Error != "" || len(res.Outputs) != 1 || res.Outputs[0].Status != rebuild.Reproduced || res.ManifestVersion != 1 {
			t.Errorf("version 1, top-level: exit %d, error %q, outputs %+v", r.code, res.Error, res.Outputs)
		}
	})
	t.Run("a missing output leaf", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "missing-leaf.bundle")
		copyTree(t, buildHello(t), dst)
		editManifest(t, dst, func(leaves []string) []string {
			var kept []string
			for _, l := range leaves {
				if !(strings.HasPrefix(l, "output:") && strings.Contains(l, "-busybox-bin.drv!out ")) {
					kept = append(kept, l)
				}
			}
			return kept
		})
		res, r := rebuildJSON(t, "--deep", "--allow-simulated", "--allow-unverified", dst)
		if r.code != 1 || res.Closure == nil {
			t.Fatalf("exit %d, error %q", r.code, res.Error)
		}
		bb := byDrvSuffix(t, res.Closure, "-busybox-bin.drv")
		if len(res.Closure.Mismatches) != 1 || !strings.Contains(res.Closure.Mismatches[0], bb.Drv+"!out: the local .drv has this output; the manifest has no output leaf for it") {
			t.Errorf("mismatches %q", res.Closure.Mismatches)
		}
		if bb.Status != rebuild.NotAttested || bb.Outputs[0].Reason != "the manifest has no output leaf for this output" || res.Counts.NotAttested != 1 {
			t.Errorf("busybox-bin: %+v; counts %+v", bb, res.Counts)
		}
	})
	t.Run("a foreign bundle", func(t *testing.T) {
		res, r := rebuildJSON(t, "--allow-unverified", foreignFixture(t, fixtureKex))
		if r.code != 1 || !strings.Contains(res.Error, "kettle rebuild rebuilds Kettle's own bundles") {
			t.Errorf("exit %d, error %q", r.code, res.Error)
		}
	})
	t.Run("no such bundle", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "missing")
		r := kettle(t, "rebuild", "-q", "--allow-unverified", missing)
		if r.code != 1 || !strings.Contains(r.stderr, missing) {
			t.Errorf("exit %d\n%s", r.code, r.stderr)
		}
	})
	t.Run("diffoscope not installed", func(t *testing.T) {
		cmd := exec.Command(e2e.kettle, "rebuild", "--diffoscope", "--allow-simulated", buildHello(t))
		cmd.Env = append(os.Environ(), "PATH="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "diffoscope is not installed") {
			t.Errorf("%v\n%s", err, out)
		}
	})
	for _, args := range [][]string{
		{"rebuild"},
		{"rebuild", "a", "b"},
		{"rebuild", "--max-files", "-1", "x"},
		{"rebuild", "--diffoscope-timeout", "1s", "x"},
		{"rebuild", "--deep-hash", "x"},
		{"rebuild", "--nonce", "abc", "x"},
		{"rebuild", "--no-such-flag", "x"},
	} {
		if r := kettle(t, args...); r.code != 2 {
			t.Errorf("kettle %v: exit %d, want 2 (usage)\n%s", args, r.code, r.stderr)
		}
	}
}

// editManifest rewrites the bundle's manifest.json with edit applied to its
// leaves, and the root recomputed: a manifest that decodes, whose root the
// provenance no longer names.
func editManifest(t *testing.T, bundle string, edit func([]string) []string) {
	t.Helper()
	p := filepath.Join(bundle, "manifest.json")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	m, err := provenance.DecodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	m.Leaves = edit(m.Leaves)
	hashes := make([][32]byte, len(m.Leaves))
	for i, l := range m.Leaves {
		hashes[i] = merkle.HashLeaf([]byte(l))
	}
	m.Root = merkle.RootFromLeafHashes(hashes)
	out, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
}
