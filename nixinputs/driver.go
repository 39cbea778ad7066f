package nixinputs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Driver runs the nix command-line tool. The zero value runs "nix" from PATH
// with the current environment.
//
// Only commands and JSON shapes shared by Nix 2.8 through current releases
// are used; where the JSON differs between releases the decoders accept
// every known shape.
type Driver struct {
	Nix    string    // nix binary; "" means "nix" from PATH
	Env    []string  // extra environment entries, appended to os.Environ()
	Stderr io.Writer // if non-nil, nix's stderr is copied here as it runs (build logs)
	// StopDelay is how long nix has, once the context is done, to stop
	// its builds and exit after SIGTERM before it is killed; 0 means
	// DefaultStopDelay.
	StopDelay time.Duration
}

// NixError is returned when nix exits unsuccessfully or cannot be started.
// Its message carries Nix's own error text, collapsed onto one line.
type NixError struct {
	Tool   string   // the program run: "" for nix, else its name (nix-store)
	Args   []string // arguments nix was run with
	Err    error    // from os/exec: the exit status, or why nix did not start
	Stderr string   // the last part of nix's standard error
}

func (e *NixError) Error() string {
	tool := e.Tool
	if tool == "" {
		tool = "nix"
	}
	cmd := tool + " " + strings.Join(e.Args, " ")
	if errors.Is(e.Err, exec.ErrNotFound) {
		return fmt.Sprintf("%s: nix is not installed or not on PATH: %v", cmd, e.Err)
	}
	if msg := nixErrorText(e.Stderr); msg != "" {
		return fmt.Sprintf("%s: %s", cmd, msg)
	}
	return fmt.Sprintf("%s: %v", cmd, e.Err)
}

func (e *NixError) Unwrap() error { return e.Err }

// maxErrorText bounds the Nix error text carried in an error message.
const maxErrorText = 2000

// ansiRe matches terminal escape sequences, which Nix emits when it believes
// it writes to a terminal.
var ansiRe = regexp.MustCompile("\x1b\\[[0-9;?]*[ -/]*[@-~]")

// nixErrorText extracts Nix's error message from its stderr: from the last
// line that starts with "error:" to the end (older Nix prints the message
// first, newer Nix prints a trace and then the innermost error), each line
// trimmed and joined with spaces. Without an "error:" line it returns the
// last few lines.
func nixErrorText(stderr string) string {
	stderr = strings.TrimSpace(ansiRe.ReplaceAllString(stderr, ""))
	if stderr == "" {
		return ""
	}
	lines := strings.Split(stderr, "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "error:") {
			start = i
		}
	}
	if start < 0 {
		start = len(lines) - 5
		if start < 0 {
			start = 0
		}
	}
	var parts []string
	for _, l := range lines[start:] {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "(use '--show-trace'") {
			parts = append(parts, l)
		}
	}
	msg := strings.Join(parts, " ")
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText] + "…"
	}
	return msg
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	if len(t.buf) > t.max {
		return string(t.buf[len(t.buf)-t.max:])
	}
	return string(t.buf)
}

// ignoreErrors forwards writes and swallows their errors, so that a broken
// log sink cannot fail a build.
type ignoreErrors struct{ w io.Writer }

func (i ignoreErrors) Write(p []byte) (int, error) {
	_, _ = i.w.Write(p)
	return len(p), nil
}

func (d *Driver) bin() string {
	if d.Nix == "" {
		return "nix"
	}
	return d.Nix
}

// featureArgs are the global options every nix invocation starts with.
func featureArgs() []string {
	return []string{"--extra-experimental-features", "nix-command flakes"}
}

// maxNixOutput bounds the standard output read from one nix command. The
// largest Kettle reads, `nix path-info --json` over a closure of tens of
// thousands of store paths with their references, is some tens of MiB.
// Standard error is not kept beyond its last 64 KiB (see run).
const maxNixOutput = 128 << 20

// DefaultStopDelay is the default of Driver.StopDelay.
const DefaultStopDelay = 10 * time.Second

// limitedBuffer collects at most max bytes; the write that would go past
// them fails and calls over. Its buffer grows by doubling, but never
// beyond max. (It has no ReadFrom, which io.Copy would prefer to Write.)
type limitedBuffer struct {
	buf      []byte
	max      int
	exceeded bool
	over     func()
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if len(p) > b.max-len(b.buf) {
		if !b.exceeded {
			b.exceeded = true
			b.over()
		}
		return 0, errors.New("output limit exceeded")
	}
	if need := len(b.buf) + len(p); need > cap(b.buf) {
		grown := make([]byte, len(b.buf), min(max(2*cap(b.buf), need, 4096), b.max))
		copy(grown, b.buf)
		b.buf = grown
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// run runs nix with args and returns its standard output, of at most
// maxNixOutput bytes.
//
// Every call enables the nix-command and flakes features on the command
// line, so Kettle works whatever the user's nix.conf says; the flag exists
// with the same meaning on Nix 2.8 and on every later release.
//
// Nix runs in a process group of its own. When ctx is done, or nix prints
// more than the limit, the group gets SIGTERM, on which nix stops its
// builds; nix is killed StopDelay later if it is still running, and
// whatever is left of its group once it has exited is killed too. Nothing
// nix started in its group thus outlives the call.
func (d *Driver) run(ctx context.Context, args ...string) ([]byte, error) {
	return d.runTool(ctx, "", d.bin(), args)
}

// runTool is run for the program bin, named tool in errors ("" for nix).
func (d *Driver) runTool(ctx context.Context, tool, bin string, args []string) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(featureArgs(), args...)...)
	cmd.Env = append(os.Environ(), d.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = d.StopDelay
	if cmd.WaitDelay <= 0 {
		cmd.WaitDelay = DefaultStopDelay
	}
	stdout := &limitedBuffer{max: maxNixOutput, over: cancel}
	tail := &tailBuffer{max: 64 << 10}
	cmd.Stdout = stdout
	cmd.Stderr = tail
	if d.Stderr != nil {
		cmd.Stderr = io.MultiWriter(tail, ignoreErrors{d.Stderr})
	}
	err := cmd.Run()
	if cmd.Process != nil && ctx.Err() != nil {
		// The leader has exited; stop any member of its group left behind.
		// The group's ID cannot be reused while a member remains.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	switch {
	case stdout.exceeded:
		return nil, &NixError{Tool: tool, Args: args, Err: fmt.Errorf("standard output larger than the limit of %d bytes", maxNixOutput)}
	case err != nil:
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, &NixError{Tool: tool, Args: args, Err: err, Stderr: tail.String()}
	}
	return stdout.buf, nil
}

// Metadata resolves flakeURL with `nix flake metadata --json
// --no-update-lock-file` and checks that it is pinned: it refuses a dirty git
// tree, a result without narHash, and a lock file with an input that is not
// locked. The lock file is never written: a flake whose flake.lock is missing
// or out of date is refused by Nix itself.
func (d *Driver) Metadata(ctx context.Context, flakeURL string) (*Metadata, error) {
	out, err := d.run(ctx, "flake", "metadata", "--json", "--no-update-lock-file", flakeURL)
	if err != nil {
		return nil, err
	}
	return decodeMetadata(flakeURL, out)
}

// Build realises installable with `nix build --json --no-link
// --no-update-lock-file` (no result symlink, no lock file written) and
// returns what Nix reports it built. If it fails, the error carries Nix's own
// error text.
func (d *Driver) Build(ctx context.Context, installable string) ([]BuildResult, error) {
	out, err := d.run(ctx, "build", "--json", "--no-link", "--no-update-lock-file", installable)
	if err != nil {
		return nil, err
	}
	res, err := decodeBuildResults(out)
	if err != nil {
		return nil, fmt.Errorf("nix build %s: %w", installable, err)
	}
	return res, nil
}

// Instantiate evaluates installable and writes its derivations to the store
// without building anything, with `nix path-info --derivation
// --no-update-lock-file` (one .drv path per line on every Nix since 2.4).
// The result is sorted.
func (d *Driver) Instantiate(ctx context.Context, installable string) ([]string, error) {
	out, err := d.run(ctx, "path-info", "--derivation", "--no-update-lock-file", installable)
	if err != nil {
		return nil, err
	}
	drvs, err := decodeDrvList(out)
	if err != nil {
		return nil, fmt.Errorf("nix path-info --derivation %s: %w", installable, err)
	}
	return drvs, nil
}

// decodeDrvList reads the .drv paths `nix path-info --derivation` prints.
func decodeDrvList(out []byte) ([]string, error) {
	var drvs []string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !filepath.IsAbs(line) || !strings.HasSuffix(line, ".drv") || strings.ContainsAny(line, " \t") {
			return nil, fmt.Errorf("output line %q is not a .drv store path", line)
		}
		drvs = append(drvs, line)
	}
	if len(drvs) == 0 {
		return nil, errors.New("no derivation in the output")
	}
	sort.Strings(drvs)
	return drvs, nil
}

// queryPathInfo runs `nix path-info --json` for paths and returns the info
// of the valid ones and the paths Nix reported invalid.
func (d *Driver) queryPathInfo(ctx context.Context, paths []string) (map[string]PathInfo, []string, error) {
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			return nil, nil, fmt.Errorf("path-info: %q is not an absolute store path", p)
		}
	}
	infos := make(map[string]PathInfo, len(paths))
	var invalid []string
	// One nix per batch: the store paths of a whole system's closure do
	// not fit on one command line (ARG_MAX).
	for start := 0; start < len(paths); start += pathInfoBatch {
		batch := paths[start:min(start+pathInfoBatch, len(paths))]
		out, err := d.run(ctx, append([]string{"path-info", "--json"}, batch...)...)
		if err != nil {
			return nil, nil, err
		}
		got, bad, err := decodePathInfo(out, filepath.Dir(batch[0]))
		if err != nil {
			return nil, nil, fmt.Errorf("nix path-info: %w", err)
		}
		maps.Copy(infos, got)
		invalid = append(invalid, bad...)
	}
	sort.Strings(invalid)
	return infos, invalid, nil
}

// pathInfoBatch is the most store paths one nix path-info is given: about
// 200 KB of arguments, a tenth of Linux's usual ARG_MAX.
const pathInfoBatch = 2000

// ValidPathInfo is PathInfo for paths that need not be valid: it returns
// the info of those that are and leaves out those Nix reports invalid
// (Nix ≤ 2.18: "valid": false; later: null). A path Nix does not report
// at all is an error, as with PathInfo. No path may be a .drv.
func (d *Driver) ValidPathInfo(ctx context.Context, paths ...string) (map[string]PathInfo, error) {
	if len(paths) == 0 {
		return map[string]PathInfo{}, nil
	}
	for _, p := range paths {
		if strings.HasSuffix(p, ".drv") {
			return nil, fmt.Errorf("path-info: %s is a .drv, which Nix 2.8 takes to mean its outputs", p)
		}
	}
	infos, invalid, err := d.queryPathInfo(ctx, paths)
	if err != nil {
		return nil, err
	}
	bad := make(map[string]bool, len(invalid))
	for _, p := range invalid {
		if _, ok := infos[p]; ok {
			return nil, fmt.Errorf("nix path-info reported %s both valid and invalid", p)
		}
		bad[p] = true
	}
	res := make(map[string]PathInfo, len(infos))
	for _, p := range paths {
		if info, ok := infos[p]; ok {
			res[p] = info
		} else if !bad[p] {
			return nil, fmt.Errorf("nix path-info did not report %s", p)
		}
	}
	return res, nil
}

// PathInfo queries the Nix database with `nix path-info --json` for the given
// store paths. It fails if any of them is not a valid store path. Paths
// must be store paths of store objects; a .drv path is its own store object
// on current Nix, but older Nix (2.8) takes it to mean the derivation's
// outputs and reports those instead, which is reported as an error here.
func (d *Driver) PathInfo(ctx context.Context, paths ...string) (map[string]PathInfo, error) {
	if len(paths) == 0 {
		return map[string]PathInfo{}, nil
	}
	infos, invalid, err := d.queryPathInfo(ctx, paths)
	if err != nil {
		return nil, err
	}
	bad := map[string]bool{}
	for _, p := range invalid {
		bad[p] = true
	}
	res := make(map[string]PathInfo, len(paths))
	for _, p := range paths {
		info, ok := infos[p]
		switch {
		case bad[p]:
			return nil, fmt.Errorf("nix path-info: %s is not a valid path in the Nix store", p)
		case !ok && strings.HasSuffix(p, ".drv"):
			return nil, fmt.Errorf("nix path-info did not report %s (this Nix takes a .drv path to mean its outputs)", p)
		case !ok:
			return nil, fmt.Errorf("nix path-info did not report %s", p)
		}
		res[p] = info
	}
	return res, nil
}

// versionRe matches a version number such as 2.8.0, 2.18.1 or 2.24.0pre.
var versionRe = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?[0-9A-Za-z.+_-]*$`)

// Version returns the version of nix, e.g. "2.8.0", from `nix --version`.
func (d *Driver) Version(ctx context.Context) (string, error) {
	out, err := d.run(ctx, "--version")
	if err != nil {
		return "", err
	}
	return parseNixVersion(string(out))
}

// parseNixVersion takes the version number from `nix --version` output:
// "nix (Nix) 2.8.0", "nix (Lix, like Nix) 2.91.1",
// "nix (Determinate Nix 3.6.2) 2.29.0".
func parseNixVersion(out string) (string, error) {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "nix" || !versionRe.MatchString(f[len(f)-1]) {
		return "", fmt.Errorf("unrecognised `nix --version` output %q", line)
	}
	return f[len(f)-1], nil
}

// BinaryPath returns the absolute path of the nix binary with symlinks
// resolved: the file whose SHA-256 identifies the toolchain.
func (d *Driver) BinaryPath() (string, error) {
	p, err := exec.LookPath(d.bin())
	if err != nil {
		return "", fmt.Errorf("finding nix: %w", err)
	}
	if p, err = filepath.Abs(p); err != nil {
		return "", fmt.Errorf("finding nix: %w", err)
	}
	if p, err = filepath.EvalSymlinks(p); err != nil {
		return "", fmt.Errorf("finding nix: %w", err)
	}
	return p, nil
}

// StoreDir returns the Nix store directory, normally "/nix/store", as Nix
// evaluates builtins.storeDir (which honours NIX_STORE_DIR and the store
// setting).
func (d *Driver) StoreDir(ctx context.Context) (string, error) {
	out, err := d.run(ctx, "eval", "--raw", "--expr", "builtins.storeDir")
	if err != nil {
		return "", err
	}
	dir := strings.TrimSpace(string(out))
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("nix eval builtins.storeDir: got %q, want an absolute path", dir)
	}
	return dir, nil
}
