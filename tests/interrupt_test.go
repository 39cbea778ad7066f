package tests

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slowFlake is failingFlake with a builder that sleeps until it is killed;
// SALT makes its store path new each run. Its attribute is #broken.
func slowFlake(salt string) string {
	f := strings.Replace(failingFlake, `name = "broken"`, `name = "slow-`+salt+`"`, 1)
	return strings.Replace(f, `args = [ "sh" "-c" "echo the-compiler-said-no >&2; exit 3" ];`,
		`args = [ "sh" "-c" "sleep 600; echo done > $out" ];`, 1)
}

// processesMatching lists the PIDs whose command line contains s.
func processesMatching(t *testing.T, s string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(strings.ReplaceAll(string(cmdline), "\x00", " "), s) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// TestBuildInterrupted: SIGINT or SIGTERM while nix builds makes kettle stop
// nix and everything it started, remove its staging directory and exit
// non-zero, leaving nothing beside the bundle path.
func TestBuildInterrupted(t *testing.T) {
	requireNix(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			salt := "kettle-interrupt-" + filepath.Base(t.TempDir())
			flake := writeFlake(t, slowFlake(salt), true)
			outDir := t.TempDir()
			cmd := exec.Command(e2e.kettle, "build", "--attest", "sim-snp", "-o", filepath.Join(outDir, "bundle"), "path:"+flake+"#broken")
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait until nix runs the builder, then signal kettle alone.
			building := make(chan bool, 1)
			go func() {
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					if strings.Contains(sc.Text(), "building") {
						building <- true
						break
					}
				}
				io.Copy(io.Discard, stderr)
			}()
			select {
			case <-building:
			case <-time.After(2 * time.Minute):
				cmd.Process.Kill()
				t.Fatal("kettle build never reached the build stage")
			}
			deadline := time.Now().Add(time.Minute)
			for len(processesMatching(t, "sleep 600")) == 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if len(processesMatching(t, "sleep 600")) == 0 {
				cmd.Process.Kill()
				t.Fatal("the builder never started")
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err == nil {
					t.Errorf("kettle exited 0 after %s", sig)
				}
			case <-time.After(time.Minute):
				cmd.Process.Kill()
				t.Fatalf("kettle did not exit within a minute of %s", sig)
			}
			// nix and the builder it ran must be gone too.
			deadline = time.Now().Add(30 * time.Second)
			for len(processesMatching(t, salt))+len(processesMatching(t, "sleep 600")) > 0 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			if left := append(processesMatching(t, salt), processesMatching(t, "sleep 600")...); len(left) > 0 {
				t.Errorf("processes left after %s: %v", sig, left)
			}
			if names := leftovers(t, outDir); len(names) > 0 {
				t.Errorf("left beside the bundle path after %s: %v", sig, names)
			}
		})
	}
}

// leftovers lists what is in dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
