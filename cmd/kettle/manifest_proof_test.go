package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/provenance"
)

// runCLI runs the kettle command line in this process and returns the exit
// status run would return, with what was printed.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCommand(&out, &errb)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	_, err := root.ExecuteContextC(context.Background())
	if err != nil {
		code = 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if ee == nil || ee.err != errSilent {
			fmt.Fprintf(&errb, "kettle: %v\n", err)
		}
	}
	return code, out.String(), errb.String()
}

// proofFixture writes a manifest.json of 11 leaves and returns its path and
// manifest.
func proofFixture(t *testing.T) (string, *provenance.Manifest) {
	t.Helper()
	var leaves []provenance.Leaf
	for i := range 10 {
		p := fmt.Sprintf("/nix/store/%032d-src-%d", i, i)
		leaves = append(leaves, provenance.SrcLeaf(p, sha256.Sum256([]byte(p))))
	}
	leaves = append(leaves, provenance.FODLeaf("source", "recursive", "sha256", strings.Repeat("ab", 32), "https://example.org/x.tar.gz"))
	m, err := provenance.NewManifestVersion(provenance.ManifestV1, leaves)
	if err != nil {
		t.Fatal(err)
	}
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, m
}

type proveOutput struct {
	Leaf      string   `json:"leaf"`
	Index     int      `json:"index"`
	TreeSize  int      `json:"treeSize"`
	Root      string   `json:"root"`
	AuditPath []string `json:"auditPath"`
}

// TestCheckProofOfProve: what `manifest prove` prints, in either form,
// `manifest check-proof` accepts.
func TestCheckProofOfProve(t *testing.T) {
	manifest, m := proofFixture(t)
	leaf := m.Leaves[0] // the fod leaf sorts first
	code, proofJSON, stderr := runCLI(t, "", "manifest", "prove", "--json", manifest, leaf)
	if code != 0 {
		t.Fatalf("manifest prove: exit %d: %s", code, stderr)
	}
	var p proveOutput
	if err := json.Unmarshal([]byte(proofJSON), &p); err != nil {
		t.Fatal(err)
	}
	proofFile := filepath.Join(t.TempDir(), "proof.json")
	if err := os.WriteFile(proofFile, []byte(proofJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	path := strings.Join(p.AuditPath, ",")
	idx, size := fmt.Sprint(p.Index), fmt.Sprint(p.TreeSize)
	for _, args := range [][]string{
		{p.Root, leaf, path, "--index", idx, "--tree-size", size},
		{strings.ToUpper(p.Root), leaf, strings.ToUpper(path), "--index", idx, "--tree-size", size},
		{p.Root, leaf, "--proof-json", proofFile},
		{p.Root, "--proof-json", proofFile, "--index", idx, "--tree-size", size},
		{p.Root, leaf, "--proof-json", "-"},
	} {
		code, out, stderr := runCLI(t, proofJSON, append([]string{"manifest", "check-proof"}, args...)...)
		if code != 0 || !strings.HasPrefix(out, "OK: "+leaf) {
			t.Errorf("check-proof %q: exit %d\n%s%s", args, code, out, stderr)
		}
	}
	code, out, _ := runCLI(t, proofJSON, "manifest", "check-proof", "--json", p.Root, "--proof-json", "-")
	var verdict struct {
		OK   bool   `json:"ok"`
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal([]byte(out), &verdict); err != nil || code != 0 || !verdict.OK || verdict.Kind != "fod" {
		t.Errorf("check-proof --json: exit %d, %+v (%v)\n%s", code, verdict, err, out)
	}

	// A one-leaf manifest: the empty path.
	one, err := provenance.NewManifestVersion(provenance.ManifestV1, []provenance.Leaf{provenance.SrcLeaf("/nix/store/00000000000000000000000000000000-x", sha256.Sum256(nil))})
	if err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runCLI(t, "", "manifest", "check-proof", fmt.Sprintf("%x", one.Root), one.Leaves[0], "", "--index", "0", "--tree-size", "1"); code != 0 {
		t.Errorf("one-leaf manifest: exit %d\n%s%s", code, out, stderr)
	}
}

// TestCheckProofBad: every wrong proof or argument is refused with its
// reason, a proof that does not hold with exit 1, a malformed argument with
// exit 2.
func TestCheckProofBad(t *testing.T) {
	manifest, m := proofFixture(t)
	leaf, other := m.Leaves[3], m.Leaves[4]
	_, proofJSON, _ := runCLI(t, "", "manifest", "prove", "--json", manifest, leaf)
	var p proveOutput
	if err := json.Unmarshal([]byte(proofJSON), &p); err != nil {
		t.Fatal(err)
	}
	path := strings.Join(p.AuditPath, ",")
	idx, size := fmt.Sprint(p.Index), fmt.Sprint(p.TreeSize)
	wrongRoot := fmt.Sprintf("%x", sha256.Sum256([]byte("another root")))
	dir := t.TempDir()
	write := func(name, data string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	good := write("good.json", proofJSON)
	trailing := write("trailing.json", proofJSON+"{}")
	unknown := write("unknown.json", strings.Replace(proofJSON, `"leaf"`, `"extra": 1, "leaf"`, 1))
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		code  int
		want  string
	}{
		{"wrong root", []string{wrongRoot, leaf, path, "--index", idx, "--tree-size", size}, "", 1, "leads to root"},
		{"wrong leaf", []string{p.Root, other, path, "--index", idx, "--tree-size", size}, "", 1, "leads to root"},
		{"wrong index", []string{p.Root, leaf, path, "--index", "2", "--tree-size", size}, "", 1, "leads to root"},
		{"index outside", []string{p.Root, leaf, path, "--index", size, "--tree-size", size}, "", 1, "outside a manifest of 11 leaves"},
		{"wrong size", []string{p.Root, leaf, path, "--index", idx, "--tree-size", "4"}, "", 1, "needs exactly 2"},
		{"truncated proof", []string{p.Root, leaf, strings.Join(p.AuditPath[1:], ","), "--index", idx, "--tree-size", size}, "", 1, "has 3 hashes"},
		{"extra hash", []string{p.Root, leaf, path + "," + p.Root, "--index", idx, "--tree-size", size}, "", 1, "has 5 hashes"},
		{"not a leaf", []string{p.Root, "hello", path, "--index", idx, "--tree-size", size}, "", 1, "want kind:name:value"},
		{"non-hex root", []string{strings.Repeat("zz", 32), leaf, path, "--index", idx, "--tree-size", size}, "", 2, "ROOT: "},
		{"short root", []string{p.Root[:10], leaf, path, "--index", idx, "--tree-size", size}, "", 2, "ROOT: "},
		{"non-hex proof", []string{p.Root, leaf, "xyz", "--index", idx, "--tree-size", size}, "", 2, "PROOF: hash 0"},
		{"empty hash in proof", []string{p.Root, leaf, path + ",", "--index", idx, "--tree-size", size}, "", 2, "PROOF: hash 4"},
		{"no --index", []string{p.Root, leaf, path, "--tree-size", size}, "", 2, "--index and --tree-size"},
		{"negative index", []string{p.Root, leaf, path, "--index", "-1", "--tree-size", size}, "", 2, "invalid argument"},
		{"too few arguments", []string{p.Root, leaf}, "", 2, "want ROOT LEAF PROOF"},
		{"no arguments", nil, "", 2, "arg"},
		{"PROOF with --proof-json", []string{p.Root, leaf, path, "--proof-json", good}, "", 2, "give ROOT [LEAF] only"},
		{"json: wrong root", []string{wrongRoot, "--proof-json", good}, "", 1, "the proof is for root"},
		{"json: wrong leaf", []string{p.Root, other, "--proof-json", good}, "", 1, "the proof is of leaf"},
		{"json: wrong --index", []string{p.Root, "--proof-json", good, "--index", "2"}, "", 1, "not --index 2"},
		{"json: wrong --tree-size", []string{p.Root, "--proof-json", good, "--tree-size", "12"}, "", 1, "not --tree-size 12"},
		{"json: trailing data", []string{p.Root, "--proof-json", trailing}, "", 1, "trailing data"},
		{"json: unknown field", []string{p.Root, "--proof-json", unknown}, "", 1, `unknown field "extra"`},
		{"json: missing file", []string{p.Root, "--proof-json", filepath.Join(dir, "nope.json")}, "", 1, "no such file"},
		{"json: a directory", []string{p.Root, "--proof-json", dir}, "", 1, "directory"},
		{"json: stdin too large", []string{p.Root, "--proof-json", "-"}, strings.Repeat(" ", 64<<10+1), 1, "more than 65536 bytes"},
		{"json: stdin empty", []string{p.Root, "--proof-json", "-"}, "", 1, "empty"},
		{"json: tampered path", []string{p.Root, "--proof-json", "-"}, strings.Replace(proofJSON, p.AuditPath[1], p.AuditPath[2], 1), 1, "leads to root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, tc.stdin, append([]string{"manifest", "check-proof"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, out, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not say %q", stderr, tc.want)
			}
			if strings.Contains(out, "OK") {
				t.Errorf("stdout says OK: %s", out)
			}
		})
	}
}
