package launch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// DefaultConsoleLimit is how much console output a Runner keeps when its
// ConsoleLimit is zero: the last 1 MiB.
const DefaultConsoleLimit = 1 << 20

// stderrLimit is how much of QEMU's standard error a Result keeps.
const stderrLimit = 64 << 10

// waitDelay is how long Run waits for QEMU's output pipes to close after
// QEMU has exited or been killed.
const waitDelay = 5 * time.Second

// A Runner starts QEMU for a VM and waits for it to end.
type Runner struct {
	// QEMU is the qemu-system-x86_64 to run; looked up in PATH when empty.
	QEMU string
	// Timeout bounds the VM's whole run, from start to exit. It must be
	// positive: a VM is never left to run without one.
	Timeout time.Duration
	// Measurements are the expected launch measurements; a SEV-SNP or
	// TDX VM whose shape they have no digest for is not launched.
	Measurements Measurements
	// ConsoleLimit is how many bytes of the serial console the Result
	// keeps, the last ones; DefaultConsoleLimit when zero.
	ConsoleLimit int
	// Console, if not nil, also receives the serial console as it comes.
	// A slow Console slows the guest; an error from it is ignored.
	Console io.Writer
}

// Result is how a VM's run ended. QEMU exits with status 0 when the guest
// powers off, and also when it reboots or panics (reboot is shutdown under
// -no-reboot): only what the agent sent over its transport says whether the
// work inside was done.
type Result struct {
	// Args are QEMU's arguments, for the record.
	Args []string
	// Console is the end of the serial console output, at most the
	// Runner's ConsoleLimit bytes; Dropped counts the bytes before it that
	// were not kept.
	Console []byte
	Dropped int64
	// Stderr is the start of QEMU's standard error (its own messages).
	Stderr []byte
	// ExitCode is QEMU's exit status, -1 when it was killed.
	ExitCode int
	// Duration is the time from QEMU's start to its end.
	Duration time.Duration
	// CPU is the processor time QEMU used, user and system.
	CPU time.Duration
	// TimedOut reports whether the Runner's Timeout killed QEMU.
	TimedOut bool
}

// TimeoutError reports a VM that was still running when the Runner's
// Timeout ran out and was killed.
type TimeoutError struct {
	After time.Duration // the Runner's Timeout
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("launch: VM still running after the %v timeout: killed", e.After)
}

// Timeout reports true.
func (e *TimeoutError) Timeout() bool { return true }

// Run checks vm, checks that the QEMU is new enough for its platform and,
// for SEV-SNP and TDX, that the Runner's Measurements hold a digest for its
// shape, then starts QEMU in its own process group and waits for it to end.
// When ctx is done or the Timeout runs out first, the whole process group is
// killed.
//
// Run returns a Result whenever QEMU was started. The error is nil only if
// QEMU exited with status 0 (the guest powered off); it is a *TimeoutError
// after the Timeout, ctx.Err() after ctx ended, and otherwise names QEMU's
// exit status and the start of its standard error.
func (r *Runner) Run(ctx context.Context, vm *VM) (*Result, error) {
	if r.Timeout <= 0 {
		return nil, fmt.Errorf("launch: timeout %v: want a positive timeout", r.Timeout)
	}
	if r.ConsoleLimit < 0 {
		return nil, fmt.Errorf("launch: console limit %d: want 0 (the default) or more", r.ConsoleLimit)
	}
	args, err := vm.Args()
	if err != nil {
		return nil, err
	}
	if _, err := ExpectedMeasurement(vm, r.Measurements); err != nil {
		return nil, err
	}
	if err := checkFiles(vm); err != nil {
		return nil, err
	}
	qemu := r.QEMU
	if qemu == "" {
		qemu = "qemu-system-x86_64"
	}
	qemu, err = exec.LookPath(qemu)
	if err != nil {
		return nil, fmt.Errorf("launch: QEMU: %w", err)
	}
	out, err := QEMUVersion(ctx, qemu)
	if err != nil {
		return nil, err
	}
	if err := CheckVersion(vm.Platform, out); err != nil {
		return nil, err
	}

	limit := r.ConsoleLimit
	if limit == 0 {
		limit = DefaultConsoleLimit
	}
	console := &tailBuffer{max: limit}
	var stdout io.Writer = console
	if r.Console != nil {
		stdout = io.MultiWriter(console, ignoreErrors{r.Console})
	}
	var stderr bytes.Buffer

	tctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, qemu, args...)
	cmd.Stdin = nil
	cmd.Stdout = stdout
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: stderrLimit}
	cmd.Env = []string{}
	if err := setProcessGroup(cmd); err != nil {
		return nil, err
	}
	cmd.WaitDelay = waitDelay

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("launch: starting %s: %w", qemu, err)
	}
	werr := cmd.Wait()
	res := &Result{Args: args, Duration: time.Since(start), ExitCode: -1}
	res.Console, res.Dropped = console.bytes()
	res.Stderr = stderr.Bytes()
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
		res.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	switch {
	case ctx.Err() != nil:
		return res, ctx.Err()
	case errors.Is(tctx.Err(), context.DeadlineExceeded):
		res.TimedOut = true
		return res, &TimeoutError{After: r.Timeout}
	case werr != nil:
		return res, fmt.Errorf("launch: QEMU: %w: %s", werr, bytes.TrimSpace(res.Stderr))
	}
	return res, nil
}

// checkFiles reports the first file vm names that is missing, is not a
// regular file, or cannot be opened for reading. Serial port sockets are
// the host's to create and are not checked.
func checkFiles(vm *VM) error {
	type file struct{ field, path string }
	files := []file{{"firmware", vm.Firmware}, {"kernel", vm.Kernel}, {"initrd", vm.Initrd}}
	for i, d := range vm.Devices {
		if d.Kind == Disk {
			files = append(files, file{fmt.Sprintf("device %d (disk %q)", i, d.Name), d.Path})
		}
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		fi, err := os.Stat(f.path)
		if err != nil {
			return fmt.Errorf("launch: %s: %w", f.field, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("launch: %s %s: not a regular file", f.field, f.path)
		}
		fd, err := os.Open(f.path)
		if err != nil {
			return fmt.Errorf("launch: %s: %w", f.field, err)
		}
		fd.Close()
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	buf     []byte
	dropped int64
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if len(p) > b.max {
		b.dropped += int64(len(p) - b.max)
		p = p[len(p)-b.max:]
	}
	if over := len(b.buf) + len(p) - b.max; over > 0 {
		b.dropped += int64(over)
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

func (b *tailBuffer) bytes() ([]byte, int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf), b.dropped
}

// ignoreErrors is a writer whose errors do not stop the writes around it.
type ignoreErrors struct{ w io.Writer }

func (w ignoreErrors) Write(p []byte) (int, error) {
	w.w.Write(p)
	return len(p), nil
}
