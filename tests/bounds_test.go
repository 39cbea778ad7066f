package tests

import (
	"archive/tar"
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
	"testing"
	"time"
)

// kettleWithin runs the kettle binary and fails the test if it does not
// exit within d (a command that read a FIFO used to hang forever).
func kettleWithin(t *testing.T, d time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, e2e.kettle, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("kettle %v: still running after %v", args, d)
	}
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running kettle %v: %v", args, err)
	}
	return r
}

// TestUsageErrors: every usage error exits 2, with the error and a pointer
// to the help on stderr; help asked for exits 0.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"manifest", "bogus"}, 2, `unknown command "bogus" for "kettle manifest"`},
		{[]string{"measure", "bogus"}, 2, `unknown command "bogus" for "kettle measure"`},
		{[]string{"bogus"}, 2, `unknown command "bogus" for "kettle"`},
		{[]string{"verfy"}, 2, "did you mean verify?"},
		{[]string{"manifest"}, 2, `missing command for "kettle manifest" (one of check-proof, prove, show)`},
		{[]string{}, 2, `missing command for "kettle"`},
		{[]string{"verify", "A", "B"}, 2, "accepts 1 arg(s), received 2"},
		{[]string{"verify"}, 2, "accepts 1 arg(s), received 0"},
		{[]string{"verify", "--bogus", "A"}, 2, "unknown flag: --bogus"},
		{[]string{"verify", "--nonce", "xyz", "A"}, 2, "--nonce: not hex"},
		{[]string{"manifest", "prove", "A"}, 2, "accepts 2 arg(s), received 1"},
		{[]string{"measure", "snp", "--ovmf", "x", "--vcpus", "0", "--vcpu-type", "EPYC"}, 2, "--vcpus 0: want 1 to 512"},
		{[]string{"measure", "snp", "--ovmf", "x", "--vcpus", "513", "--vcpu-type", "EPYC"}, 2, "--vcpus 513: want 1 to 512"},
		{[]string{"measure", "snp", "--ovmf", "x", "--mode", "bogus"}, 2, `--mode "bogus": want snp, snp:ovmf-hash, seves or sev`},
		{[]string{"measure", "snp", "--ovmf", "x", "--mode", "seves", "--vcpus", "1", "--vcpu-type", "EPYC", "--snp-ovmf-hash", strings.Repeat("00", 48)}, 2, "--snp-ovmf-hash: only in --mode snp"},
		{[]string{"measure", "snp", "extra"}, 2, `unknown command "extra" for "kettle measure snp"`},
		{[]string{"measure", "tdx", "--ovmf", "x", "--rtmr0", "00"}, 2, "--rtmr0: 1 bytes, expected 48"},
		{[]string{"build", "--attest", "none", "--nonce", strings.Repeat("00", 32), "path:/nonexistent"}, 2, "--nonce: not with --attest none"},
		{[]string{"build", "--attest", "none", "--sim-measurement", strings.Repeat("00", 48), "path:/nonexistent"}, 2, "--sim-measurement: not with --attest none"},
		{[]string{"build", "--attest", "none", "--collateral", "/nonexistent", "path:/nonexistent"}, 2, "--collateral: not with --attest none"},
		{[]string{"build", "--attest", "bogus", "path:/nonexistent"}, 2, "--attest"},
		{[]string{"build", "-j", "100000", "path:/nonexistent"}, 2, "--jobs 100000: want 1 to"},
		{[]string{"build", "-j", "-1", "path:/nonexistent"}, 2, "--jobs -1: want 1 to"},
		{[]string{"closure", "-j", "100000", "/nix/store/x.drv"}, 2, "--jobs 100000: want 1 to"},
		{[]string{"hash"}, 2, "requires at least 1 arg(s)"},
		{[]string{"version", "x"}, 2, `unknown command "x" for "kettle version"`},
		{[]string{"--help"}, 0, ""},
		{[]string{"manifest", "--help"}, 0, ""},
		{[]string{"help", "measure"}, 0, ""},
	} {
		r := kettleWithin(t, time.Minute, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("kettle %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.want)
		}
		if tc.code == 2 && !strings.Contains(r.stderr, "--help' for usage.") {
			t.Errorf("kettle %s: stderr %q does not point to the help", strings.Join(tc.args, " "), r.stderr)
		}
	}
}

// TestInputFilesBounded: every file a user names is read only if it is a
// regular file: /dev/zero (directly or through a symlink) and a FIFO are
// refused at once, where they used to grow to gigabytes or hang.
func TestInputFilesBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zeroDrv := filepath.Join(dir, "zero.drv")
	if err := os.Symlink("/dev/zero", zeroDrv); err != nil {
		t.Fatal(err)
	}
	fifoDrv := filepath.Join(dir, "fifo.drv")
	if err := syscall.Mkfifo(fifoDrv, 0o600); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, []byte("not firmware"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A firmware that parses, so that the kernel's error is the one TDX
	// reports; without it the kernel cases only check that kettle stops.
	tdxFW := filepath.Join(e2e.repo, "..", "shared", "fixtures", "tdx-measure", "debian-ovmf-2022.11-6+deb12u2-OVMF.fd")
	if _, err := os.Stat(tdxFW); err != nil {
		tdxFW = ""
	}
	snp := func(args ...string) []string {
		return append([]string{"measure", "snp", "--vcpus", "1", "--vcpu-type", "EPYC"}, args...)
	}
	tdx := func(args ...string) []string { return append([]string{"measure", "tdx"}, args...) }
	const special = "not a regular file"
	type tc struct {
		args []string
		want string
	}
	cases := []tc{
		{[]string{"manifest", "show", "/dev/zero"}, "/dev/zero: a character device, " + special},
		{[]string{"manifest", "show", fifo}, fifo + ": a named pipe (FIFO), " + special},
		{[]string{"manifest", "prove", fifo, "leaf"}, fifo + ": a named pipe (FIFO), " + special},
		{[]string{"verify", "--policy", "/dev/zero", dir}, "--policy: /dev/zero: a character device, " + special},
		{[]string{"verify", "--policy", fifo, dir}, "--policy: " + fifo + ": a named pipe (FIFO), " + special},
		{[]string{"verify", fifo}, "neither a directory nor a regular file"},
		{[]string{"closure", zeroDrv}, zeroDrv + ": a character device, " + special},
		{[]string{"closure", fifoDrv}, fifoDrv + ": a named pipe (FIFO), " + special},
		{snp("--ovmf", "/dev/zero"), "reading firmware: /dev/zero: a character device, " + special},
		{snp("--ovmf", fifo), "reading firmware: " + fifo + ": a named pipe (FIFO), " + special},
		{snp("--ovmf", junk, "--kernel", "/dev/zero"), "reading kernel: /dev/zero: a character device, " + special},
		{snp("--ovmf", junk, "--kernel", fifo), "reading kernel: " + fifo + ": a named pipe (FIFO), " + special},
		{snp("--ovmf", junk, "--kernel", junk, "--initrd", "/dev/zero"), "reading initrd: /dev/zero: a character device, " + special},
		{snp("--ovmf", junk, "--kernel", junk, "--initrd", fifo), "reading initrd: " + fifo + ": a named pipe (FIFO), " + special},
		{tdx("--ovmf", "/dev/zero"), "reading firmware: /dev/zero: a character device, " + special},
		{tdx("--ovmf", fifo), "reading firmware: " + fifo + ": a named pipe (FIFO), " + special},
		{tdx("--ovmf", junk, "--kernel", junk, "--initrd", "/dev/zero"), "reading initrd: /dev/zero: a character device, " + special},
		{tdx("--ovmf", junk, "--kernel", junk, "--initrd", fifo), "reading initrd: " + fifo + ": a named pipe (FIFO), " + special},
	}
	for _, k := range []string{"/dev/zero", fifo} {
		c := tc{tdx("--ovmf", junk, "--kernel", k), ""}
		if tdxFW != "" {
			c = tc{tdx("--ovmf", tdxFW, "--kernel", k), "reading kernel: " + k + ": "}
		}
		cases = append(cases, c)
	}
	for _, c := range cases {
		r := kettleWithin(t, time.Minute, c.args...)
		// verify reports a broken bundle on stdout, the others on stderr.
		if r.code == 0 || !strings.Contains(r.stderr+r.stdout, c.want) {
			t.Errorf("kettle %s: exit %d, output %q; want an error %q", strings.Join(c.args, " "), r.code, r.stdout+r.stderr, c.want)
		}
	}
}

// TestManifestShowTarAnyName: manifest show reads a tar bundle whatever
// its name, as verify does, and a manifest.json whatever its name.
func TestManifestShowTarAnyName(t *testing.T) {
	bundle := buildHello(t)
	want := kettle(t, "manifest", "show", bundle)
	if want.code != 0 {
		t.Fatalf("manifest show %s: exit %d\n%s", bundle, want.code, want.stderr)
	}
	dir := t.TempDir()
	archive := filepath.Join(dir, "hello.bundle")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range []string{"provenance.json", "evidence.json", "manifest.json"} {
		data, err := os.ReadFile(filepath.Join(bundle, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(archive, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := kettle(t, "manifest", "show", archive); got.code != 0 || got.stdout != want.stdout {
		t.Errorf("manifest show of a tar named %s: exit %d\n%s%s", filepath.Base(archive), got.code, got.stdout, got.stderr)
	}
	renamed := filepath.Join(dir, "leaves")
	manifest, err := os.ReadFile(filepath.Join(bundle, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(renamed, manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := kettle(t, "manifest", "show", renamed); got.code != 0 || got.stdout != want.stdout {
		t.Errorf("manifest show of a manifest.json named %s: exit %d\n%s%s", filepath.Base(renamed), got.code, got.stdout, got.stderr)
	}
}

// TestBuildSIGTERMStopsNix: a kettle build stopped by SIGTERM stops the
// nix it runs, and what that nix started, and exits 128+15; nix used to
// go on building under PID 1.
func TestBuildSIGTERMStopsNix(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	nix := filepath.Join(dir, "nix")
	body := fmt.Sprintf("#!/bin/sh\nsleep 300 &\necho $! >> %s\nwait\n", pids)
	if err := os.WriteFile(nix, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(e2e.kettle, "build", "--nix", nix, "--attest", "none", "-o", filepath.Join(dir, "bundle"), "path:"+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// kettle runs nix twice at once at the start (its version, and the
	// flake's metadata): wait for both, or for one after a while.
	var children []int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		children = readPIDs(t, pids)
		if len(children) >= 2 || len(children) == 1 && time.Until(deadline) < 25*time.Second {
			break
		}
	}
	if len(children) == 0 {
		cmd.Process.Kill()
		t.Fatalf("the fake nix never ran:\n%s", stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 128+int(syscall.SIGTERM) {
			t.Errorf("kettle exited with %v, want exit status %d\n%s", err, 128+int(syscall.SIGTERM), stderr.String())
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatalf("kettle still running a minute after SIGTERM\n%s", stderr.String())
	}
	for _, pid := range readPIDs(t, pids) {
		if !gone(pid, 30*time.Second) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("process %d that nix started outlived kettle", pid)
		}
	}
}

func readPIDs(t *testing.T, file string) []int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var pids []int
	for _, l := range strings.Split(string(data), "\n") {
		if pid, err := strconv.Atoi(l); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// gone waits up to d for the process to be gone (or a zombie, about to be
// reaped by init).
func gone(pid int, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			return true
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			// The state follows the command name in parentheses.
			if i := bytes.LastIndexByte(b, ')'); i >= 0 && bytes.HasPrefix(b[i+1:], []byte(" Z")) {
				return true
			}
		}
	}
	return false
}
