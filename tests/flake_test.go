package tests

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"errors"
	"go/version"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/nixinputs"
)

// The nixpkgs that flake.lock pins, and the Go it ships as its default go.
// nixos-25.05 builds with go_1_24 (nixpkgs PR #381448, "go, buildGoModule:
// default to 1.24", merged before the 25.05 branch-off); its patch release at
// this revision is not recorded here, so the bound is the first 1.24 release,
// which every 1.24.x satisfies. Moving the pin fails TestFlakeGoVersion until
// both constants are checked again.
const (
	pinnedNixpkgsRef = "nixos-25.05"
	pinnedNixpkgsRev = "a58390ab6f1aa810eb8e0f0fc74230e7cc06de03"
	pinnedNixpkgsGo  = "1.24.0"
)

// TestFlakeGoVersion checks that flake.lock pins the nixpkgs the constants
// above describe, in the format Nix writes, and that go.mod's go line is not
// newer than that nixpkgs' Go: with a newer one, `nix run .#kettle` fails for
// every user (nixpkgs' Go runs with GOTOOLCHAIN=local).
func TestFlakeGoVersion(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(e2e.repo, "flake.lock"))
	if err != nil {
		t.Fatal(err)
	}
	var lock struct {
		Version int    `json:"version"`
		Root    string `json:"root"`
		Nodes   map[string]struct {
			Inputs   map[string]string `json:"inputs"`
			Locked   map[string]any    `json:"locked"`
			Original map[string]any    `json:"original"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(data, &lock); err != nil {
		t.Fatalf("flake.lock: %v", err)
	}
	if lock.Version != 7 || lock.Root != "root" || len(lock.Nodes) != 2 || lock.Nodes["root"].Inputs["nixpkgs"] != "nixpkgs" {
		t.Fatalf("flake.lock: want version 7, a root node and one input, nixpkgs; got %s", data)
	}
	n := lock.Nodes["nixpkgs"]
	for k, want := range map[string]string{"type": "github", "owner": "NixOS", "repo": "nixpkgs", "rev": pinnedNixpkgsRev} {
		if got, _ := n.Locked[k].(string); got != want {
			t.Errorf("flake.lock: nixpkgs locked.%s = %q, want %q", k, got, want)
		}
	}
	if h, _ := n.Locked["narHash"].(string); !strings.HasPrefix(h, "sha256-") {
		t.Errorf("flake.lock: nixpkgs locked.narHash = %q, want an SRI sha256", h)
	}
	if _, ok := n.Locked["lastModified"].(float64); !ok || len(n.Locked) != 6 {
		t.Errorf("flake.lock: nixpkgs locked = %v, want lastModified, narHash, owner, repo, rev, type", n.Locked)
	}
	for k, want := range map[string]string{"type": "github", "owner": "NixOS", "repo": "nixpkgs", "ref": pinnedNixpkgsRef} {
		if got, _ := n.Original[k].(string); got != want {
			t.Errorf("flake.lock: nixpkgs original.%s = %q, want %q", k, got, want)
		}
	}
	if len(n.Original) != 4 {
		t.Errorf("flake.lock: nixpkgs original = %v, want only owner, repo, ref, type", n.Original)
	}

	goLine := goModGoLine(t)
	if !version.IsValid("go" + goLine) {
		t.Fatalf("go.mod: go line %q is not a Go version", goLine)
	}
	if version.Compare("go"+goLine, "go"+pinnedNixpkgsGo) > 0 {
		t.Errorf("go.mod says go %s, newer than the Go of the pinned nixpkgs (%s at %s: go %s): nixpkgs' buildGoModule would refuse to build kettle",
			goLine, pinnedNixpkgsRef, pinnedNixpkgsRev[:12], pinnedNixpkgsGo)
	}
}

func goModGoLine(t *testing.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join(e2e.repo, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "go "); ok {
			return strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Fatal("go.mod has no go line")
	return ""
}

// flakeEnv is a temporary copy of the repository whose flake.lock pins
// nixpkgs to the offline stand-in (nix/stand-in), with the kettle package's
// goModules already in the store.
type flakeEnv struct {
	ref       string // path:<copy>
	standIn   string // <copy>/nix/stand-in
	overrides []string
	// The kettle package for x86_64-linux as the flake evaluates it.
	out, version, vendorHash string
	// The NAR hash of `go mod vendor`'s output for the package's src.
	vendorNAR string
}

// newFlakeEnv makes the copy and locks it: `nix flake lock` with
// --override-input nixpkgs path:<copy>/nix/stand-in records the stand-in and
// every path input of it (this machine's busybox, Go, kernel, ... by NAR
// hash) in the copy's flake.lock, so that later commands need no override and
// do not hash those inputs again. nixpkgs' lib comes from
// <repo>/../shared/nixpkgs-lib, the Go toolchain from `go env GOROOT`.
func newFlakeEnv(t *testing.T) *flakeEnv {
	t.Helper()
	requireNix(t)
	lib := filepath.Join(filepath.Dir(e2e.repo), "shared", "nixpkgs-lib")
	if _, err := os.Stat(filepath.Join(lib, "flake.nix")); err != nil {
		t.Skipf("nixpkgs' lib is not at %s (the stand-in needs it): %v", lib, err)
	}
	// The stand-in imports the kernel from /boot, which only root can read.
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(kernels) == 0 {
		t.Skip("no kernel in /boot for the stand-in (apt-get install linux-image-amd64; .ci/run does)")
	}
	if f, err := os.Open(kernels[0]); err != nil {
		t.Skipf("the stand-in needs to read %s (run the tests as root): %v", kernels[0], err)
	} else {
		f.Close()
	}
	goroot := strings.TrimSpace(runOut(t, "go", "env", "GOROOT"))

	dir := filepath.Join(t.TempDir(), "kettle")
	copySource(t, e2e.repo, dir)
	fe := &flakeEnv{ref: "path:" + dir, standIn: filepath.Join(dir, "nix", "stand-in")}
	fe.overrides = []string{
		"--override-input", "nixpkgs", "path:" + fe.standIn,
		"--override-input", "nixpkgs/nixpkgs-lib", "path:" + lib,
		"--override-input", "nixpkgs/go", "path:" + goroot,
	}
	nixCmd(t, dir, append(append([]string{"flake", "lock"}, fe.overrides...), fe.ref)...)

	const pkg = "packages.x86_64-linux.kettle"
	fe.out = fe.eval(t, pkg+".outPath")
	fe.version = fe.eval(t, pkg+".version")
	fe.vendorHash = fe.eval(t, pkg+".vendorHash")
	modName := fe.eval(t, pkg+".goModules.name")
	modOut := fe.eval(t, pkg+".goModules.outPath")

	// `go mod vendor` over the package's own src (the filtered tree Nix
	// builds), written outside it, under the name of the fixed-output
	// derivation so that --add-fixed gives the same store path.
	src := filepath.Join(t.TempDir(), "src")
	copyTree(t, fe.eval(t, pkg+".src"), src)
	vendor := filepath.Join(t.TempDir(), modName)
	cmd := exec.Command("go", "mod", "vendor", "-o", vendor)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod vendor: %v\n%s", err, out)
	}
	h, err := nixinputs.HashPath(vendor)
	if err != nil {
		t.Fatal(err)
	}
	fe.vendorNAR = h.SRI()
	if fe.vendorNAR == fe.vendorHash {
		added := strings.TrimSpace(runOut(t, "nix-store", "--add-fixed", "--recursive", "sha256", vendor))
		if added != modOut {
			t.Fatalf("nix-store --add-fixed gave %s, but goModules is %s", added, modOut)
		}
	}
	return fe
}

// eval returns `nix eval --raw` of an attribute of the locked copy.
func (fe *flakeEnv) eval(t *testing.T, attr string) string {
	t.Helper()
	return nixCmd(t, "", "eval", "--raw", fe.ref+"#"+attr)
}

// requireVendor skips a test that builds when goModules could not be added.
func (fe *flakeEnv) requireVendor(t *testing.T) {
	t.Helper()
	if fe.vendorNAR != fe.vendorHash {
		t.Skip("vendorHash is out of date (see TestFlake/vendorHash)")
	}
}

// TestFlake drives the project's flake.nix with the real nix, offline, with
// nixpkgs replaced by the stand-in.
func TestFlake(t *testing.T) {
	fe := newFlakeEnv(t)

	t.Run("vendorHash", func(t *testing.T) {
		if fe.vendorNAR != fe.vendorHash {
			t.Errorf("nix/kettle.nix has vendorHash = %q, but `go mod vendor`'s output hashes to %q: set vendorHash = \"%s\";",
				fe.vendorHash, fe.vendorNAR, fe.vendorNAR)
		}
	})

	t.Run("eval", func(t *testing.T) {
		var apps map[string]struct {
			Type    string `json:"type"`
			Program string `json:"program"`
		}
		if err := json.Unmarshal([]byte(nixCmd(t, "", "eval", "--json", fe.ref+"#apps.x86_64-linux")), &apps); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"kettle", "default"} {
			a := apps[name]
			if a.Type != "app" || a.Program != fe.out+"/bin/kettle" {
				t.Errorf("apps.x86_64-linux.%s = %+v, want type app, program %s/bin/kettle", name, a, fe.out)
			}
		}
		if got := fe.eval(t, "packages.x86_64-linux.kettle.meta.mainProgram"); got != "kettle" {
			t.Errorf("meta.mainProgram = %q", got)
		}
		if got := fe.eval(t, "packages.x86_64-linux.default.outPath"); got != fe.out {
			t.Errorf("packages.x86_64-linux.default is %s, not the kettle package %s", got, fe.out)
		}
		// aarch64-linux evaluates (it cannot be built here).
		if got, want := fe.eval(t, "packages.aarch64-linux.kettle.name"), "kettle-"+fe.version; got != want {
			t.Errorf("packages.aarch64-linux.kettle.name = %q, want %q", got, want)
		}
		for _, attr := range []string{
			"packages.aarch64-linux.default.drvPath",
			"apps.aarch64-linux.kettle.program",
			"devShells.aarch64-linux.default.drvPath",
			"devShells.x86_64-linux.default.drvPath",
			"checks.aarch64-linux.version.drvPath",
		} {
			if got := fe.eval(t, attr); !strings.HasPrefix(got, "/nix/store/") {
				t.Errorf("%s = %q, want a store path", attr, got)
			}
		}
	})

	t.Run("build", func(t *testing.T) {
		fe.requireVendor(t)
		var res []struct {
			Outputs map[string]string `json:"outputs"`
		}
		out := nixCmd(t, "", "build", "--json", "--no-link", fe.ref+"#packages.x86_64-linux.kettle")
		if err := json.Unmarshal([]byte(out), &res); err != nil || len(res) != 1 || res[0].Outputs["out"] != fe.out {
			t.Fatalf("nix build --json: %v %s, want %s", err, out, fe.out)
		}
		bin := filepath.Join(fe.out, "bin", "kettle")
		requireStatic(t, bin)
		got := runOut(t, bin, "version")
		if first, _, _ := strings.Cut(got, "\n"); first != "kettle "+fe.version {
			t.Errorf("%s version printed %q, want \"kettle %s\" first", bin, got, fe.version)
		}
	})

	t.Run("run", func(t *testing.T) {
		fe.requireVendor(t)
		// As a user runs it against another nixpkgs: --override-input on
		// the command line (nix then fetches the stand-in's inputs again).
		args := append([]string{"run"}, fe.overrides...)
		out := nixCmd(t, "", append(args, fe.ref+"#kettle", "--", "version")...)
		if want := "kettle " + fe.version + "\nbinary " + fe.out + "/bin/kettle\n"; !strings.HasPrefix(out, want) {
			t.Errorf("nix run .#kettle -- version printed %q, want it to start with %q", out, want)
		}
		if out := nixCmd(t, "", "run", fe.ref, "--", "version"); !strings.HasPrefix(out, "kettle "+fe.version+"\n") {
			t.Errorf("nix run (apps.default) -- version printed %q", out)
		}
	})

	t.Run("check", func(t *testing.T) {
		fe.requireVendor(t)
		nixCmd(t, "", "flake", "check", fe.ref)
	})

	var imageDir string
	t.Run("cvm-image", func(t *testing.T) { imageDir = testCVMImage(t, fe) })
	t.Run("vm-build", func(t *testing.T) {
		if imageDir == "" {
			t.Skip("no image (cvm-image failed)")
		}
		testVMBuild(t, imageDir)
	})
	t.Run("hostile-host", func(t *testing.T) {
		if imageDir == "" {
			t.Skip("no image (cvm-image failed)")
		}
		testHostileHost(t, imageDir)
	})
}

// requireStatic fails unless the ELF file at path is statically linked: no
// program interpreter and no shared libraries.
func requireStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter (PT_INTERP): not static", path)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v: not static", path, libs)
	}
}

// copySource copies the repository at src to dst as a path: flake sees it:
// regular files and directories, without .git or build outputs.
func copySource(t *testing.T, src, dst string) {
	t.Helper()
	skip := map[string]bool{".git": true, "bin": true, ".kettle": true, "vendor": true}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if skip[rel] || strings.HasPrefix(rel, "result") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, info.Mode().Perm()|0o200)
		}
		return nil // symlinks and the like: not part of the sources
	})
	if err != nil {
		t.Fatalf("copying %s to %s: %v", src, dst, err)
	}
}
