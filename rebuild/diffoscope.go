package rebuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultDiffoscopeTimeout is how long diffoscope may run on one output
// when Options.DiffoscopeTimeout is 0.
const DefaultDiffoscopeTimeout = 10 * time.Minute

// maxReportSize bounds each diffoscope report (text and HTML), through
// diffoscope's own limits; it cuts the report short, saying so.
const maxReportSize = 16 << 20

// diffoscope runs Debian's diffoscope on two trees.
type diffoscope struct {
	bin     string
	timeout time.Duration
}

// findDiffoscope locates diffoscope on PATH; --diffoscope without it fails
// before anything is built.
func findDiffoscope(timeout time.Duration) (*diffoscope, error) {
	bin, err := exec.LookPath("diffoscope")
	if err != nil {
		return nil, fmt.Errorf("--diffoscope: diffoscope is not installed or not on PATH (Debian: apt-get install diffoscope): %w", err)
	}
	if timeout <= 0 {
		timeout = DefaultDiffoscopeTimeout
	}
	return &diffoscope{bin: bin, timeout: timeout}, nil
}

// compare writes diffoscope's text and HTML reports on the trees attested
// and local to text and html, each through a temporary sibling renamed
// into place when diffoscope is done. Exit status 1 (differences found)
// is success; so is 0, which says diffoscope saw none.
func (d *diffoscope) compare(ctx context.Context, attested, local, text, html string) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	tmpText, tmpHTML := text+".tmp", html+".tmp"
	defer os.Remove(tmpText)
	defer os.Remove(tmpHTML)
	// diffoscope's own timeout is best-effort; the context's is not. The
	// metadata of files (modes, times) is left out: an unpacked artifact's
	// is not the store's, and the listing has the executable bits, which
	// is all a NAR records.
	args := []string{
		"--no-progress",
		"--text", tmpText, "--html", tmpHTML,
		"--max-text-report-size", strconv.Itoa(maxReportSize),
		"--max-report-size", strconv.Itoa(maxReportSize),
		"--timeout", strconv.Itoa(max(1, int(d.timeout/time.Second))),
		"--exclude-directory-metadata", "yes",
		attested, local,
	}
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &tail{buf: &stderr, max: 8 << 10}
	err := cmd.Run()
	if cmd.Process != nil {
		// Whatever diffoscope started in its group goes with it.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("diffoscope stopped after %v: %w", d.timeout, ctx.Err())
	case errors.As(err, &ee) && ee.ExitCode() == 1:
	case err != nil:
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return fmt.Errorf("diffoscope: %w", err)
		}
		return fmt.Errorf("diffoscope: %w: %s", err, msg)
	}
	if err := os.Rename(tmpText, text); err != nil {
		return fmt.Errorf("diffoscope report: %w", err)
	}
	if err := os.Rename(tmpHTML, html); err != nil {
		return fmt.Errorf("diffoscope report: %w", err)
	}
	return nil
}

// tail keeps the last max bytes written to it.
type tail struct {
	buf *bytes.Buffer
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf.Write(p)
	if t.buf.Len() > 2*t.max {
		b := append([]byte(nil), t.buf.Bytes()[t.buf.Len()-t.max:]...)
		t.buf.Reset()
		t.buf.Write(b)
	}
	return len(p), nil
}

// reportNames are the paths of the two reports on an output in dir.
func reportNames(dir, storePath string) (text, html string) {
	base := filepath.Join(dir, filepath.Base(storePath)+".diffoscope")
	return base + ".txt", base + ".html"
}
