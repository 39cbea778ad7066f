package nixinputs

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// nixStore is the nix-store program beside the nix binary the driver runs:
// Nix installs its legacy commands as links to one multi-call binary, in
// the same directory.
func (d *Driver) nixStore() string {
	bin := d.bin()
	if !strings.ContainsRune(bin, '/') {
		return "nix-store"
	}
	return filepath.Join(filepath.Dir(bin), "nix-store")
}

// System returns the system this Nix builds for natively, such as
// "x86_64-linux" (builtins.currentSystem, Nix's "system" setting).
func (d *Driver) System(ctx context.Context) (string, error) {
	out, err := d.run(ctx, "eval", "--impure", "--raw", "--expr", "builtins.currentSystem")
	if err != nil {
		return "", err
	}
	sys := string(out)
	if sys == "" || strings.ContainsAny(sys, " \t\r\n/") || !strings.Contains(sys, "-") {
		return "", fmt.Errorf("nix eval builtins.currentSystem: got %q, want a system such as x86_64-linux", sys)
	}
	return sys, nil
}

// RealiseDerivation builds the outputs of the derivation at drvPath with
// `nix-store --realise` (the same on every Nix release, unlike the syntax
// of a derivation's outputs as an installable) and returns the output
// paths Nix printed, sorted.
func (d *Driver) RealiseDerivation(ctx context.Context, drvPath string) ([]string, error) {
	if err := checkDrvArg(drvPath); err != nil {
		return nil, err
	}
	out, err := d.runTool(ctx, "nix-store", d.nixStore(), []string{"--realise", drvPath})
	if err != nil {
		return nil, err
	}
	return decodeRealised(drvPath, out)
}

func checkDrvArg(drvPath string) error {
	if !filepath.IsAbs(drvPath) || !strings.HasSuffix(drvPath, ".drv") {
		return fmt.Errorf("%q is not a .drv store path", drvPath)
	}
	return nil
}

// decodeRealised reads the output paths `nix-store --realise` prints, one
// per line.
func decodeRealised(drvPath string, out []byte) ([]string, error) {
	var paths []string
	for _, line := range strings.Split(string(out), "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if !filepath.IsAbs(line) || strings.ContainsAny(line, " \t") {
			return nil, fmt.Errorf("nix-store --realise %s: output line %q is not a store path", drvPath, line)
		}
		paths = append(paths, line)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("nix-store --realise %s: no output path printed", drvPath)
	}
	sort.Strings(paths)
	return paths, nil
}

// CheckResult is what a rebuild in check mode found.
type CheckResult struct {
	// Differs maps the path of each output whose rebuild differs from the
	// valid path to where Nix kept the rebuild ("<path>.check"), or to ""
	// when it did not keep it.
	Differs map[string]string
	// Listed says that Nix compared every output and listed each that
	// differs (Lix, and Nix releases that say "outputs differ"). Nix 2.8
	// stops at the first output that differs: then the outputs of a
	// multi-output derivation that Differs does not name were not
	// necessarily compared.
	Listed bool
	// KeptBuildDir is set when the rebuild could only be kept with
	// --keep-failed, which also keeps the build directory: the one Nix
	// named.
	KeptBuildDir string
}

// CheckDerivation rebuilds the derivation at drvPath, whose outputs must all
// be valid, in Nix's check mode (`nix-store --realise --check`), and
// reports the outputs whose rebuild differs from the valid path. Nothing
// else is an error: a build that fails is one, with Nix's own text.
//
// Nix keeps a differing rebuild at "<path>.check" when the run-diff-hook or
// keep-failed setting is on. run-diff-hook (with no diff-hook set) keeps
// just the output, and is tried first; a Nix daemon does not take it from
// a client, so when nothing was kept the check runs again with
// --keep-failed, which keeps the build directory as well.
func (d *Driver) CheckDerivation(ctx context.Context, drvPath string) (*CheckResult, error) {
	if err := checkDrvArg(drvPath); err != nil {
		return nil, err
	}
	res, err := d.check(ctx, drvPath, "--option", "run-diff-hook", "true")
	if err != nil || !res.lost() {
		return res, err
	}
	return d.check(ctx, drvPath, "--keep-failed")
}

// lost reports whether a differing rebuild was not kept.
func (r *CheckResult) lost() bool {
	for _, kept := range r.Differs {
		if kept == "" {
			return true
		}
	}
	return false
}

func (d *Driver) check(ctx context.Context, drvPath string, keep ...string) (*CheckResult, error) {
	args := append([]string{"--realise", "--check"}, keep...)
	_, err := d.runTool(ctx, "nix-store", d.nixStore(), append(args, drvPath))
	if err == nil {
		return &CheckResult{Differs: map[string]string{}, Listed: true}, nil
	}
	var ne *NixError
	var ee *exec.ExitError
	if !errors.As(err, &ne) || !errors.As(ne.Err, &ee) || !isCheckMismatch(ee.ExitCode()) {
		return nil, err
	}
	res := parseCheckMismatch(ne.Stderr)
	if len(res.Differs) == 0 {
		return nil, fmt.Errorf("%w (Nix reported outputs that differ, but named none this version of Kettle recognises)", err)
	}
	return res, nil
}

// isCheckMismatch reports whether a Nix exit status says that a check-mode
// rebuild differed: Nix exits with 0x60 plus a mask, in which 0x08 marks a
// derivation that is not deterministic (104 when nothing else failed).
func isCheckMismatch(code int) bool {
	return code&^0x0f == 0x60 && code&0x08 != 0
}

// checkMismatchRe matches how Nix names a differing output: Nix 2.8 to
// 2.2x write "output '<path>' differs from '<path>.check'" (or "output
// '<path>' differs" when it kept nothing) in one error per derivation;
// later releases and Lix list every output, each on a line
// "output differs: output '<path>' differs from '<path>.check'".
var checkMismatchRe = regexp.MustCompile(`output '([^']+)' differs(?: from '([^']+)')?`)

// keptBuildDirRe matches Nix's note on a kept build directory.
var keptBuildDirRe = regexp.MustCompile(`keeping build directory '([^']+)'`)

// parseCheckMismatch reads the outputs that differ from Nix's error text:
// from the last line that starts with "error:" on, since a builder's log,
// which comes before it, may print anything. A kept path is always the
// output's path with ".check" appended; a line naming another is not
// Nix's.
func parseCheckMismatch(stderr string) *CheckResult {
	stderr = ansiRe.ReplaceAllString(stderr, "")
	res := &CheckResult{Differs: map[string]string{}}
	msg := ""
	if i := strings.LastIndex("\n"+stderr, "\nerror:"); i >= 0 {
		msg = stderr[i:]
	}
	for _, m := range checkMismatchRe.FindAllStringSubmatch(msg, -1) {
		if m[2] == "" || m[2] == m[1]+".check" {
			res.Differs[m[1]] = m[2]
		}
	}
	res.Listed = strings.Contains(msg, "may not be deterministic: outputs differ")
	if m := keptBuildDirRe.FindAllStringSubmatch(stderr, -1); len(m) > 0 {
		res.KeptBuildDir = m[len(m)-1][1]
	}
	return res
}
