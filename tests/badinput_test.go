package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// failingFlake writes a flake whose build fails with a message of its own.
const failingFlake = `{
  inputs.busybox = { url = "path:/bin/busybox"; flake = false; };
  outputs = { self, busybox }: let
    system = "x86_64-linux";
    bb = derivation {
      name = "busybox-bin"; inherit system;
      builder = "builtin:unpack-channel"; channelName = "bin";
      src = builtins.toFile "busybox.mtree" ''
        #mtree
        ./bin type=dir mode=0555
        ./bin/busybox type=link link=${busybox}
      '';
    };
  in {
    packages.${system}.broken = derivation {
      name = "broken"; inherit system;
      builder = "${bb}/bin/busybox";
      args = [ "sh" "-c" "echo the-compiler-said-no >&2; exit 3" ];
    };
  };
}
`

func writeFlake(t *testing.T, body string, lock bool) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "flake")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "flake.nix"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if lock {
		nixCmd(t, dir, "flake", "lock", "path:"+dir)
	}
	return dir
}

func TestBuildBadInput(t *testing.T) {
	requireNix(t)
	broken := writeFlake(t, failingFlake, true)
	unlocked := writeFlake(t, failingFlake, false)

	dirty := filepath.Join(t.TempDir(), "dirty")
	copyTree(t, exampleFlake(t, "hello"), dirty)
	for _, args := range [][]string{
		{"init", "-q"}, {"add", "-A"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "x"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dirty
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(dirty, "hello.sh"), []byte("#!/bin/sh\necho changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, ref string
		want      []string // all in stderr
	}{
		{"unparseable ref", "github:", []string{"github:"}},
		{"ref with two attributes", "path:" + broken + "#a#b", []string{"#"}},
		{"missing attribute", "path:" + broken + "#nope", []string{"nope"}},
		{"build failure shows nix's error", "path:" + broken + "#broken", []string{"the-compiler-said-no"}},
		{"unlocked input", "path:" + unlocked + "#broken", []string{"lock"}},
		{"dirty git tree", "git+file://" + dirty, []string{"dirty"}},
		// Nix 2.8 passes rev and revCount of a path: source through
		// unchecked: an attested bundle must not claim them.
		{"rev claimed for a path source", "path:" + exampleFlake(t, "hello") + "?rev=1111111111111111111111111111111111111111",
			[]string{`"rev" attribute, which Nix does not check for path inputs`}},
		{"revCount claimed for a path source", "path:" + exampleFlake(t, "hello") + "?revCount=7",
			[]string{`"revCount" attribute`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "bundle")
			r := kettle(t, "build", "--attest", "sim-snp", "-o", out, tc.ref)
			if r.code == 0 {
				t.Fatalf("kettle build %s succeeded:\n%s", tc.ref, r.stdout)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not mention %q:\n%s", w, r.stderr)
				}
			}
			if !strings.Contains(r.stderr, "kettle: ") {
				t.Errorf("no kettle error line in stderr:\n%s", r.stderr)
			}
			if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
				t.Errorf("a failed build left files behind: %v", entries)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(unlocked, "flake.lock")); err == nil {
		t.Errorf("kettle build wrote a flake.lock into the user's flake")
	}
}

func TestBuildRefusesExistingBundle(t *testing.T) {
	requireNix(t)
	out := t.TempDir() // exists
	r := kettle(t, "build", "--attest", "sim-snp", "-o", out, "path:"+exampleFlake(t, "hello"))
	if r.code == 0 || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("build over an existing path: exit %d, stderr %s", r.code, r.stderr)
	}
}

func TestVerifyBadBundles(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	garbageTar := filepath.Join(dir, "garbage.tar")
	os.WriteFile(garbageTar, []byte("this is not a tar file at all"), 0o644)
	for _, b := range []string{filepath.Join(dir, "nonexistent"), empty, garbageTar} {
		rep, r := verifyJSON(t, "--allow-simulated", b)
		if r.code == 0 || rep.OK || rep.Failed != "bundle" {
			t.Errorf("verify %s: exit %d failed=%q, want a failure at bundle", b, r.code, rep.Failed)
		}
	}
	if r := kettle(t, "verify", "--nonce", "zz", empty); r.code != 2 {
		t.Errorf("verify --nonce zz: exit %d, want 2 (usage)", r.code)
	}
}

// TestBuildRefusesCorruptStorePath changes an output in /nix/store behind
// Nix's back: Kettle's own NAR hash then disagrees with the database's, and
// the build must stop naming the path, without writing a bundle.
func TestBuildRefusesCorruptStorePath(t *testing.T) {
	requireNix(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to modify /nix/store")
	}
	salt := filepath.Base(t.TempDir())
	flake := writeFlake(t, strings.Replace(failingFlake, `args = [ "sh" "-c" "echo the-compiler-said-no >&2; exit 3" ];`,
		`args = [ "sh" "-c" "echo `+salt+` > $out" ];`, 1), true)
	ref := "path:" + flake + "#broken"
	var built []struct {
		Outputs map[string]string `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(nixCmd(t, flake, "build", "--json", "--no-link", ref)), &built); err != nil || len(built) != 1 {
		t.Fatalf("nix build --json: %v %v", err, built)
	}
	out := built[0].Outputs["out"]
	t.Cleanup(func() { exec.Command("nix-store", "--delete", out).Run() })
	if err := os.Chmod(out, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, []byte("tampered\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	r := kettle(t, "build", "--attest", "sim-snp", "-o", bundle, ref)
	if r.code == 0 {
		t.Fatalf("build over a corrupted store path succeeded")
	}
	if !strings.Contains(r.stderr, out) || !strings.Contains(r.stderr, "Nix database") {
		t.Errorf("error does not name the path and the database:\n%s", r.stderr)
	}
	if _, err := os.Stat(bundle); err == nil {
		t.Errorf("a bundle was written")
	}
}
