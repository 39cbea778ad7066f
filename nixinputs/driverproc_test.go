package nixinputs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// script writes an executable shell script and returns a Driver that runs
// it as nix.
func script(t *testing.T, body string) *Driver {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nix")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Driver{Nix: p}
}

// TestRunOutputLimit: a nix that prints more than maxNixOutput fails with
// an error naming the command and the limit, and does not fill memory.
func TestRunOutputLimit(t *testing.T) {
	d := script(t, fmt.Sprintf("head -c %d /dev/zero\n", maxNixOutput+1))
	_, err := d.run(context.Background(), "eval", "--raw")
	want := fmt.Sprintf("nix eval --raw: standard output larger than the limit of %d bytes", maxNixOutput)
	var ne *NixError
	if err == nil || err.Error() != want || !errors.As(err, &ne) {
		t.Errorf("error %v, want %q", err, want)
	}
	// An endless one is stopped at the limit too.
	d = script(t, "cat /dev/zero\n")
	if _, err := d.run(context.Background(), "eval"); err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Errorf("endless output: error %v", err)
	}
	// At the limit it is read whole.
	d = script(t, fmt.Sprintf("head -c %d /dev/zero\n", maxNixOutput))
	if out, err := d.run(context.Background(), "eval"); err != nil || len(out) != maxNixOutput {
		t.Errorf("output at the limit: %d bytes, %v", len(out), err)
	}
}

// TestRunStopsProcessGroup: cancelling the context stops nix and what it
// started in its process group, here a child that holds nix's standard
// output open and would otherwise keep the call waiting.
func TestRunStopsProcessGroup(t *testing.T) {
	for _, tc := range []struct {
		name, body string
	}{
		{"child", `sleep 300 & echo $! > "$PIDFILE"; wait`},
		// A child that ignores SIGTERM is killed once nix has exited.
		{"child ignoring SIGTERM", `sh -c 'trap "" TERM; echo $$ > "$PIDFILE"; while :; do sleep 1; done' & wait`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			d := script(t, tc.body+"\n")
			d.Env = []string{"PIDFILE=" + pidFile}
			d.StopDelay = 100 * time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := d.run(ctx, "build")
				done <- err
			}()
			pid := waitForPID(t, pidFile)
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("error %v, want context.Canceled", err)
			}
			waitGone(t, pid)
		})
	}
}

// waitForPID waits for the script to write its child's PID.
func waitForPID(t *testing.T, pidFile string) int {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(pidFile)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	t.Fatal("the fake nix did not start its child")
	return 0
}

// waitGone waits for the process to be gone (or a zombie, about to be
// reaped by init).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			return
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if f := strings.Fields(string(b)); len(f) > 2 && f[2] == "Z" {
				return
			}
		}
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("process %d that nix started is still running", pid)
}
