package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHashMatchesNix: `kettle hash` prints what `nix hash path` prints, in
// SRI and in Nix's base32, on a tree with the awkward cases of NAR.
func TestHashMatchesNix(t *testing.T) {
	requireNix(t)
	dir := filepath.Join(t.TempDir(), "tree")
	for p, content := range map[string]string{
		"a/b/file":   "hello\n",
		"a/..dots":   "dots",
		"a/empty":    "",
		"exe":        "#!/bin/sh\n",
		"z/deep/x/y": strings.Repeat("0123456789", 100000),
	} {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(dir, "exe"), 0o755)
	os.Symlink("../exe", filepath.Join(dir, "a", "link"))
	os.MkdirAll(filepath.Join(dir, "emptydir"), 0o755)

	for _, tc := range []struct{ kettleFlag, nixFlag string }{{"", ""}, {"--base32", "--base32"}} {
		kargs := []string{"hash", dir}
		nargs := []string{"hash", "path", dir}
		if tc.kettleFlag != "" {
			kargs = []string{"hash", tc.kettleFlag, dir}
			nargs = []string{"hash", "path", tc.nixFlag, dir}
		}
		r := kettle(t, kargs...)
		if r.code != 0 {
			t.Fatalf("kettle %v: %s", kargs, r.stderr)
		}
		if want := nixCmd(t, "", nargs...); r.stdout != want {
			t.Errorf("kettle %v = %q, nix %v = %q", kargs, r.stdout, nargs, want)
		}
	}
}

func TestClosureRefusesMalformedDrv(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "garbage.drv")
	if err := os.WriteFile(bad, []byte("Derive([(\"out\","), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{bad, filepath.Join(t.TempDir(), "missing.drv")} {
		r := kettle(t, "closure", p)
		if r.code == 0 {
			t.Errorf("kettle closure %s succeeded", p)
		}
		if !strings.Contains(r.stderr, filepath.Base(p)) {
			t.Errorf("error does not name %s: %s", p, r.stderr)
		}
	}
}
