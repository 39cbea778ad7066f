package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// diffJSON is the part of `kettle diff --json` the tests read.
type diffJSON struct {
	A, B struct {
		Bundle          string `json:"bundle"`
		Verified        bool   `json:"verified"`
		Simulated       bool   `json:"simulated"`
		ManifestVersion int    `json:"manifestVersion"`
		Root            string `json:"root"`
	}
	Identical bool `json:"identical"`
	Rows      []struct {
		Kind    string   `json:"kind"`
		Change  string   `json:"change"`
		Name    string   `json:"name"`
		A       string   `json:"a"`
		B       string   `json:"b"`
		UsedBy  []string `json:"usedBy"`
		Follows []string `json:"follows"`
		Note    string   `json:"note"`
	} `json:"rows"`
	Counts      map[string]map[string]int `json:"counts"`
	Explained   bool                      `json:"explained"`
	Derivations []struct {
		Name        string   `json:"name"`
		A           string   `json:"a"`
		B           string   `json:"b"`
		Unavailable []string `json:"unavailable"`
		OnlyInputs  bool     `json:"onlyInputs"`
		Changes     []struct {
			Field  string `json:"field"`
			Name   string `json:"name"`
			Change string `json:"change"`
			A      string `json:"a"`
			B      string `json:"b"`
		} `json:"changes"`
	} `json:"derivations"`
}

// diffRun runs `kettle diff --json` and parses its output; exit status 1
// (the manifests differ) and 0 (identical) are both results.
func diffRun(t *testing.T, args ...string) (diffJSON, result) {
	t.Helper()
	r := kettle(t, append([]string{"diff", "--json"}, args...)...)
	var d diffJSON
	if r.code > 1 {
		t.Fatalf("kettle diff %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("kettle diff --json %v: not JSON (%v)\n%s%s", args, err, r.stdout, r.stderr)
	}
	return d, r
}

// testdataFlake returns a copy of tests/testdata/NAME in a temporary
// directory, for a test that edits it, locked against this machine's
// /bin/busybox (lockedFlake).
func testdataFlake(t *testing.T, name string) string {
	t.Helper()
	cp := filepath.Join(t.TempDir(), name)
	copyTree(t, lockedTestdataFlake(t, name), cp)
	return cp
}

// buildSim builds flake with simulated SEV-SNP evidence into a new bundle.
func buildSim(t *testing.T, flake, bundle string) {
	t.Helper()
	r := kettle(t, "build", "--attest", "sim-snp", "--sim-measurement", testMeasurement, "-o", bundle, "path:"+flake)
	if r.code != 0 {
		t.Fatalf("kettle build %s: exit %d\n%s%s", flake, r.code, r.stdout, r.stderr)
	}
}

// TestDiffSourceFile: two builds of a flake that differ in one source file.
// diff names that src leaf first, and the derivations it changed (the ones
// built from it and those above them) but none of the others; --store says
// why each changed; a bundle against itself is identical.
func TestDiffSourceFile(t *testing.T) {
	requireNix(t)
	flakeA := testdataFlake(t, "diff-src")
	flakeB := filepath.Join(t.TempDir(), "diff-src")
	copyTree(t, flakeA, flakeB)
	if err := os.WriteFile(filepath.Join(flakeB, "lib.sh"), []byte("echo \"lib, version 2\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.bundle"), filepath.Join(dir, "b.bundle.tar")
	buildSim(t, flakeA, a)
	buildSim(t, flakeB, b)

	// Simulated evidence does not verify by default, and diff refuses it.
	if r := kettle(t, "diff", a, b); r.code != 2 || !strings.Contains(r.stderr, "FAILED at chain") || !strings.Contains(r.stderr, "--allow-unverified") {
		t.Errorf("diff of unverifiable bundles: exit %d, want 2 and the verdicts\n%s%s", r.code, r.stdout, r.stderr)
	}
	d, r := diffRun(t, "--allow-unverified", a, b)
	if r.code != 1 || d.A.Verified || d.B.Verified {
		t.Errorf("--allow-unverified: exit %d, verified %v %v; want 1, false, false", r.code, d.A.Verified, d.B.Verified)
	}

	d, r = diffRun(t, "--allow-simulated", a, b)
	if r.code != 1 || d.Identical {
		t.Fatalf("diff: exit %d, identical %v; want 1, false\n%s", r.code, d.Identical, r.stdout)
	}
	if !d.A.Verified || !d.B.Verified || !d.A.Simulated || d.A.ManifestVersion != 2 {
		t.Errorf("sides %+v %+v: want verified, simulated, version 2", d.A, d.B)
	}
	if len(d.Rows) == 0 || d.Rows[0].Kind != "src" || d.Rows[0].Change != "changed" || d.Rows[0].Name != "lib.sh" {
		t.Fatalf("first row %+v, want the changed src lib.sh\n%s", d.Rows[0], r.stdout)
	}
	if n := d.Counts["src"]["changed"]; n != 1 {
		t.Errorf("%d src rows changed, want 1 (only lib.sh)", n)
	}
	var drvs, others []string
	for _, row := range d.Rows[1:] {
		switch {
		case row.Kind == "drv" && row.Change == "changed":
			drvs = append(drvs, row.Name)
		case row.Kind == "source" || row.Kind == "output":
			// The flake's own source (its narHash) and the outputs of the
			// changed derivations change with it.
		default:
			others = append(others, row.Kind+" "+row.Name+" "+row.Change)
		}
	}
	if want := []string{"diff-app", "diff-lib", "diff-top"}; !slices.Equal(drvs, want) {
		t.Errorf("changed derivations %v, want %v (diff-other and busybox-bin do not use lib.sh)", drvs, want)
	}
	if len(others) > 0 {
		t.Errorf("unexpected rows: %v", others)
	}

	// The table says the same, the src first.
	r = kettle(t, "diff", "--allow-simulated", a, b)
	lines := strings.Split(r.stdout, "\n")
	var first string
	for i, l := range lines {
		if strings.HasPrefix(l, "CHANGE ") && i+1 < len(lines) {
			first = lines[i+1]
			break
		}
	}
	if r.code != 1 || !strings.HasPrefix(first, "changed") || !strings.Contains(first, " src ") || !strings.Contains(first, "lib.sh") {
		t.Errorf("table: exit %d, first row %q\n%s", r.code, first, r.stdout)
	}

	// With the .drv files: lib.sh is an input source of diff-lib, whose
	// change is the cause; app and top differ only through their inputs.
	d, _ = diffRun(t, "--allow-simulated", "--store", a, b)
	if !d.Explained || !slices.Equal(d.Rows[0].UsedBy, []string{"diff-lib"}) {
		t.Errorf("--store: explained %v, lib.sh used by %v, want [diff-lib]", d.Explained, d.Rows[0].UsedBy)
	}
	for _, row := range d.Rows {
		if row.Kind == "drv" {
			if row.Name != "diff-lib" || !strings.Contains(row.Note, "changed in itself: inputSrcs lib.sh") {
				t.Errorf("--store: first drv row %+v, want diff-lib, changed in itself", row)
			}
			break
		}
	}
	explained := map[string]bool{}
	for _, x := range d.Derivations {
		explained[x.Name] = true
		if len(x.Unavailable) > 0 {
			t.Errorf("%s: %v, but its .drv files are in the store", x.Name, x.Unavailable)
		}
		switch x.Name {
		case "diff-lib":
			var cause bool
			for _, c := range x.Changes {
				if c.Field == "inputSrcs" && c.Name == "lib.sh" && c.Change == "changed" && strings.HasSuffix(c.B, "-lib.sh") {
					cause = true
				}
			}
			if !cause || x.OnlyInputs {
				t.Errorf("diff-lib's changes %+v do not name lib.sh as the cause", x.Changes)
			}
		case "diff-app", "diff-top":
			if !x.OnlyInputs {
				t.Errorf("%s changed only through its inputs, but: %+v", x.Name, x.Changes)
			}
		default:
			t.Errorf("explained %s, which did not change", x.Name)
		}
	}
	if len(explained) != 3 {
		t.Errorf("explained %v, want diff-lib, diff-app and diff-top", explained)
	}
	r = kettle(t, "diff", "--allow-simulated", "--store", a, b)
	if !strings.Contains(r.stdout, "inputSrcs lib.sh: ") || !strings.Contains(r.stdout, "(it differs only through its input derivations)") {
		t.Errorf("--store table does not explain the derivations:\n%s", r.stdout)
	}

	// A bundle against itself.
	d, r = diffRun(t, "--allow-simulated", a, a)
	if r.code != 0 || !d.Identical || len(d.Rows) != 0 {
		t.Errorf("a bundle against itself: exit %d, identical %v, %d rows", r.code, d.Identical, len(d.Rows))
	}
	if r := kettle(t, "diff", "--allow-simulated", a, a); r.code != 0 || !strings.Contains(r.stdout, "identical: both manifests have root "+d.A.Root) {
		t.Errorf("identical bundles, table: exit %d\n%s", r.code, r.stdout)
	}
}

// TestCheckProofOfBuild: "this build used the fixed-output derivation with
// hash X" holds from the fod leaf, its proof and the root and leaf count the
// provenance signs; any other hash does not.
func TestCheckProofOfBuild(t *testing.T) {
	requireNix(t)
	bundle := filepath.Join(t.TempDir(), "b.bundle")
	buildSim(t, testdataFlake(t, "diff-src"), bundle)
	var prov struct {
		Predicate struct {
			BuildDefinition struct {
				InternalParameters struct {
					Root      string `json:"manifestRoot"`
					LeafCount int    `json:"manifestLeafCount"`
				} `json:"internalParameters"`
			} `json:"buildDefinition"`
		} `json:"predicate"`
	}
	data, err := os.ReadFile(filepath.Join(bundle, "provenance.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &prov); err != nil {
		t.Fatal(err)
	}
	ip := prov.Predicate.BuildDefinition.InternalParameters
	const fod = "fod:diff-data.txt mode=flat algo=sha256 url=-:9d460ecc14a159eca8473384de60b585d20a10361aa649bc854f3570534cc951"
	r := kettle(t, "manifest", "prove", "--json", bundle, fod)
	if r.code != 0 {
		t.Fatalf("manifest prove: exit %d\n%s", r.code, r.stderr)
	}
	proof := filepath.Join(t.TempDir(), "proof.json")
	if err := os.WriteFile(proof, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	size := strconv.Itoa(ip.LeafCount)
	if r := kettle(t, "manifest", "check-proof", ip.Root, fod, "--proof-json", proof, "--tree-size", size); r.code != 0 || !strings.HasPrefix(r.stdout, "OK: "+fod) {
		t.Errorf("check-proof of the fod leaf: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	other := strings.Replace(fod, ":9d46", ":9d47", 1)
	if r := kettle(t, "manifest", "check-proof", ip.Root, other, "--proof-json", proof); r.code != 1 || !strings.Contains(r.stderr, "the proof is of leaf") {
		t.Errorf("check-proof of another hash: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestDiffUnreproducible: a closure base → noisy → consumer whose noisy
// derivation writes random bytes, built twice (its and consumer's outputs
// deleted between the builds). diff lists noisy's output first — the same
// .drv with a different output — then consumer's, which follows from it,
// and base's output as unchanged.
func TestDiffUnreproducible(t *testing.T) {
	requireNix(t)
	flake := testdataFlake(t, "diff-unrepro")
	dir := t.TempDir()
	one, two := filepath.Join(dir, "1.bundle"), filepath.Join(dir, "2.bundle")
	buildSim(t, flake, one)

	// Delete consumer's output, then noisy's (it refers to neither, but
	// consumer's copy of it comes first), so that both are built again.
	var m struct {
		Leaves []string `json:"leaves"`
	}
	if err := json.Unmarshal([]byte(kettle(t, "manifest", "show", "--json", one).stdout), &m); err != nil {
		t.Fatal(err)
	}
	outPath := func(name string) string {
		for _, l := range m.Leaves {
			if f := strings.Fields(l); strings.HasPrefix(l, "output:") && len(f) == 3 && strings.HasSuffix(f[0], "-"+name+".drv!out") {
				return f[1]
			}
		}
		t.Fatalf("no output leaf of %s in %v", name, m.Leaves)
		return ""
	}
	for _, name := range []string{"diff-unrepro-consumer", "diff-unrepro-noisy"} {
		if out, err := exec.Command("nix-store", "--delete", outPath(name)).CombinedOutput(); err != nil {
			t.Fatalf("nix-store --delete %s: %v\n%s", outPath(name), err, out)
		}
	}
	buildSim(t, flake, two)

	d, r := diffRun(t, "--allow-simulated", "--store", "--unchanged", one, two)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stdout)
	}
	if len(d.Rows) < 2 {
		t.Fatalf("rows %+v", d.Rows)
	}
	first, second := d.Rows[0], d.Rows[1]
	if first.Kind != "output" || first.Change != "not-reproduced" || first.Name != "diff-unrepro-noisy!out" || len(first.Follows) != 0 {
		t.Errorf("first row %+v, want noisy's output, not reproduced, the first failure", first)
	}
	if second.Change != "not-reproduced" || second.Name != "diff-unrepro-consumer!out" || !slices.Equal(second.Follows, []string{"diff-unrepro-noisy"}) {
		t.Errorf("second row %+v, want consumer's output, following from noisy", second)
	}
	if drvA, drvB := strings.Fields(first.A)[0], strings.Fields(first.B)[0]; drvA != drvB {
		t.Errorf("not-reproduced row pairs two derivations: %s and %s", drvA, drvB)
	}
	var baseUnchanged bool
	for _, row := range d.Rows[2:] {
		if row.Change != "unchanged" {
			t.Errorf("row %+v: only the two outputs changed", row)
		}
		if row.Kind == "output" && row.Name == "diff-unrepro-base!out" {
			baseUnchanged = true
		}
	}
	if !baseUnchanged {
		t.Errorf("base's output is not listed as unchanged:\n%s", r.stdout)
	}
	if c := d.Counts["output"]; c["notReproduced"] != 2 || c["unchanged"] != 2 || c["changed"] != 0 {
		t.Errorf("output counts %v, want 2 not reproduced and 2 unchanged (base, busybox-bin)", c)
	}

	// Without the .drv files the failures are still first, in name order,
	// and a note says so.
	r = kettle(t, "diff", "--allow-simulated", one, two)
	if r.code != 1 || !strings.Contains(r.stdout, "note: the outputs that did not reproduce are in name order") {
		t.Errorf("without --store: exit %d\n%s", r.code, r.stdout)
	}
}

// TestDiffBadInput: what diff cannot compare is exit status 2, with the side
// and the reason.
func TestDiffBadInput(t *testing.T) {
	dir := t.TempDir()
	notBundle := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notBundle, []byte("not a bundle\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.bundle")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"one argument", []string{"diff", missing}, "accepts 2 arg(s)"},
		{"three arguments", []string{"diff", missing, missing, missing}, "accepts 2 arg(s)"},
		{"missing bundle", []string{"diff", "--allow-unverified", missing, missing}, "A: bundle " + missing},
		{"not a bundle", []string{"diff", "--allow-unverified", notBundle, notBundle}, "A: bundle " + notBundle},
		{"bad --measurement", []string{"diff", "--measurement", "xyz", missing, missing}, "--measurement"},
		{"--nonce", []string{"diff", "--nonce", "00", missing, missing}, "--nonce: two builds bind two nonces"},
		{"unknown flag", []string{"diff", "--bogus", missing, missing}, "unknown flag: --bogus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kettle(t, tc.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want 2 and %q\n%s%s", r.code, tc.want, r.stdout, r.stderr)
			}
		})
	}
}

// TestDiffVersion1: a version 1 bundle (written before output leaves)
// against a version 2 build of the same example compares every input and
// says once that the output leaves are not compared.
func TestDiffVersion1(t *testing.T) {
	v1 := filepath.Join(e2e.repo, "tests", "testdata", "v1-hello.bundle.tar")
	v2 := buildHello(t)
	d, r := diffRun(t, "--allow-simulated", v1, v2)
	if r.code != 1 || d.A.ManifestVersion != 1 || d.B.ManifestVersion != 2 || !d.A.Verified || !d.B.Verified {
		t.Fatalf("exit %d, versions %d and %d, verified %v %v\n%s", r.code, d.A.ManifestVersion, d.B.ManifestVersion, d.A.Verified, d.B.Verified, r.stdout)
	}
	var notes struct {
		Notes []string `json:"notes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &notes); err != nil {
		t.Fatal(err)
	}
	if len(notes.Notes) != 1 || !strings.Contains(notes.Notes[0], "A is a version 1 manifest, which has no output leaves: B's 3 output leaves are not compared") {
		t.Errorf("notes %q, want one saying the outputs are not compared", notes.Notes)
	}
	for _, row := range d.Rows {
		if row.Kind == "output" {
			t.Errorf("output row %+v against a version 1 manifest", row)
		}
	}
	if _, ok := d.Counts["output"]; ok {
		t.Errorf("outputs counted: %v", d.Counts["output"])
	}
}
