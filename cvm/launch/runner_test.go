package launch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests below boot Debian's kernel under QEMU's TCG with a busybox
// initrd. They need the Debian packages qemu-system-x86, ovmf,
// busybox-static and linux-image-amd64, and read access to the kernel
// (root, on Debian).

const testCmdline = "console=ttyS0 quiet panic=-1"

// needQEMU skips t when qemu-system-x86_64 is not installed.
func needQEMU(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed (Debian package qemu-system-x86)")
	}
	return path
}

// testKernel returns a readable kernel from /boot, or skips t.
func testKernel(t *testing.T) string {
	t.Helper()
	ks, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(ks) == 0 {
		t.Skip("no /boot/vmlinuz-* (Debian package linux-image-amd64)")
	}
	k := ks[len(ks)-1]
	f, err := os.Open(k)
	if err != nil {
		t.Skipf("kernel %s not readable (run as root): %v", k, err)
	}
	f.Close()
	return k
}

// marker records when a line first appears on the console.
type marker struct {
	mu    sync.Mutex
	start time.Time
	text  string
	buf   bytes.Buffer
	at    time.Duration
	seen  func()
}

func (m *marker) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.at != 0 {
		return len(p), nil
	}
	m.buf.Write(p)
	if bytes.Contains(m.buf.Bytes(), []byte(m.text)) {
		m.at = time.Since(m.start)
		if m.seen != nil {
			m.seen()
		}
	}
	return len(p), nil
}

func (m *marker) after() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.at
}

// gone fails t if a process whose command line contains s is still running.
func gone(t *testing.T, s string) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(s)) {
			t.Errorf("process %s still running: %q", filepath.Dir(p), bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}

// The guest prints the PCI device IDs it sees, then the marker, and powers
// off. Modern-only virtio devices have IDs 0x1040 + the virtio device ID:
// 0x1042 for a block device, 0x1043 for a console; legacy ones 0x1000 to
// 0x103f.
const pciInit = `/bin/busybox mount -t sysfs sysfs /sys
for d in /sys/bus/pci/devices/*; do echo "pci $(/bin/busybox cat $d/vendor):$(/bin/busybox cat $d/device)"; done
echo KETTLE-BOOTED
/bin/busybox poweroff -f
`

func bootPlain(t *testing.T, firmware string) {
	qemu := needQEMU(t)
	kernel := testKernel(t)
	initrd := busyboxInitrd(t, pciInit)
	dir := t.TempDir()
	disk := filepath.Join(dir, "input,cache.img") // a comma, escaped for QEMU
	if err := os.WriteFile(disk, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			c.Read(make([]byte, 1))
		}
	}()

	vm := &VM{
		Platform:  Plain,
		VCPUs:     1,
		MemoryMiB: 256,
		Firmware:  firmware,
		Kernel:    kernel,
		Initrd:    initrd,
		Cmdline:   testCmdline,
		Devices: []Device{
			{Kind: Disk, Name: "kettle-input", Path: disk, ReadOnly: true},
			{Kind: SerialPort, Name: "org.kettle.agent", Path: sock},
		},
	}
	m := &marker{start: time.Now(), text: "KETTLE-BOOTED"}
	r := &Runner{QEMU: qemu, Timeout: 2 * time.Minute, Console: m}
	res, err := r.Run(context.Background(), vm)
	if err != nil {
		if res != nil {
			t.Logf("console:\n%s", res.Console)
		}
		t.Fatal(err)
	}
	con := string(res.Console)
	if !strings.Contains(con, "KETTLE-BOOTED") {
		t.Fatalf("no marker on the console:\n%s", con)
	}
	for _, id := range []string{"0x1af4:0x1042", "0x1af4:0x1043"} {
		if !strings.Contains(con, "pci "+id) {
			t.Errorf("no modern virtio device %s on the guest's PCI bus:\n%s", id, con)
		}
	}
	for _, line := range strings.Split(con, "\n") {
		var dev int
		if n, _ := fmt.Sscanf(line, "pci 0x1af4:0x%x", &dev); n == 1 && dev < 0x1040 {
			t.Errorf("legacy virtio device on the guest's PCI bus: %s", line)
		}
	}
	if res.ExitCode != 0 || res.TimedOut {
		t.Errorf("exit %d, timed out %v; want 0, false", res.ExitCode, res.TimedOut)
	}
	name := "direct kernel boot (QEMU's default BIOS)"
	if firmware != "" {
		name = "OVMF boot (" + firmware + ")"
	}
	t.Logf("%s under TCG: init's marker %v after QEMU started, QEMU exited after %v having used %v of CPU", name, m.after().Round(time.Millisecond), res.Duration.Round(time.Millisecond), res.CPU.Round(time.Millisecond))
	gone(t, initrd)
}

func TestRunDirectBoot(t *testing.T) {
	bootPlain(t, "")
}

func TestRunOVMF(t *testing.T) {
	const ovmf = "/usr/share/ovmf/OVMF.fd"
	if _, err := os.Stat(ovmf); err != nil {
		t.Skipf("no %s (Debian package ovmf): %v", ovmf, err)
	}
	bootPlain(t, ovmf)
}

const hangInit = `echo KETTLE-HANGING
while :; do /bin/busybox sleep 1000; done
`

func hangingVM(t *testing.T) *VM {
	return &VM{
		Platform:  Plain,
		VCPUs:     1,
		MemoryMiB: 256,
		Kernel:    testKernel(t),
		Initrd:    busyboxInitrd(t, hangInit),
		Cmdline:   testCmdline,
	}
}

func TestRunTimeout(t *testing.T) {
	qemu := needQEMU(t)
	vm := hangingVM(t)
	const timeout = 30 * time.Second
	m := &marker{start: time.Now(), text: "KETTLE-HANGING"}
	r := &Runner{QEMU: qemu, Timeout: timeout, Console: m}
	res, err := r.Run(context.Background(), vm)
	var te *TimeoutError
	if !errors.As(err, &te) || te.After != timeout {
		t.Fatalf("Run: %v; want a *TimeoutError after %v", err, timeout)
	}
	if res == nil || !res.TimedOut || res.ExitCode != -1 {
		t.Fatalf("result %+v; want timed out, exit -1", res)
	}
	if m.after() == 0 {
		// Under a heavily loaded host the boot itself can outlast the
		// timeout; the guest is killed all the same.
		t.Logf("the guest did not reach init before the timeout; console:\n%s", res.Console)
	}
	t.Logf("hanging guest: init after %v, killed after %v", m.after().Round(time.Millisecond), res.Duration.Round(time.Millisecond))
	gone(t, vm.Initrd)
}

func TestRunCancel(t *testing.T) {
	qemu := needQEMU(t)
	vm := hangingVM(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := &marker{start: time.Now(), text: "KETTLE-HANGING", seen: cancel}
	r := &Runner{QEMU: qemu, Timeout: 2 * time.Minute, Console: m}
	res, err := r.Run(ctx, vm)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v; want context.Canceled", err)
	}
	if res == nil || res.TimedOut {
		t.Fatalf("result %+v; want one, not timed out", res)
	}
	gone(t, vm.Initrd)
}

func TestRunConsoleLimit(t *testing.T) {
	qemu := needQEMU(t)
	vm := &VM{
		Platform:  Plain,
		VCPUs:     1,
		MemoryMiB: 128,
		Kernel:    testKernel(t),
		Initrd:    busyboxInitrd(t, "i=0; while [ $i -lt 300 ]; do echo line-$i-0123456789; i=$((i+1)); done; echo KETTLE-END\n/bin/busybox poweroff -f\n"),
		Cmdline:   testCmdline,
	}
	const limit = 1000
	res, err := (&Runner{QEMU: qemu, Timeout: 2 * time.Minute, ConsoleLimit: limit}).Run(context.Background(), vm)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Console) != limit || res.Dropped == 0 {
		t.Errorf("kept %d bytes, dropped %d; want %d kept and some dropped", len(res.Console), res.Dropped, limit)
	}
	if !bytes.Contains(res.Console, []byte("KETTLE-END")) {
		t.Errorf("the end of the console is not kept:\n%s", res.Console)
	}
}
