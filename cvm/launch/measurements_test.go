package launch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shapes is a measurement set with one SEV-SNP shape: 2 vCPUs of EPYC-Milan.
func shapes(p Platform, cpu string, vcpus int) ([]byte, bool) {
	if p == SEVSNP && cpu == "EPYC-Milan" && vcpus == 2 {
		return []byte{1, 2, 3}, true
	}
	return nil, false
}

// files returns a firmware, kernel and initrd that exist.
func files(t *testing.T) (fw, kernel, initrd string) {
	dir := t.TempDir()
	for _, name := range []string{"OVMF.fd", "bzImage", "initrd"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "OVMF.fd"), filepath.Join(dir, "bzImage"), filepath.Join(dir, "initrd")
}

func TestRunRefusesUnmeasuredShape(t *testing.T) {
	fw, k, i := files(t)
	// QEMU does not exist: a refusal must come before any attempt to run it.
	r := &Runner{QEMU: "/nonexistent/qemu-system-x86_64", Timeout: time.Minute, Measurements: MeasurementsFunc(shapes)}
	for _, vm := range []VM{
		{Platform: SEVSNP, VCPUs: 3, MemoryMiB: 512, CPUType: "EPYC-Milan", Firmware: fw, Kernel: k, Initrd: i},
		{Platform: SEVSNP, VCPUs: 2, MemoryMiB: 512, CPUType: "EPYC-Genoa", Firmware: fw, Kernel: k, Initrd: i},
		{Platform: TDX, VCPUs: 2, MemoryMiB: 512, Firmware: fw, Kernel: k, Initrd: i},
	} {
		res, err := r.Run(context.Background(), &vm)
		var ue *UnmeasuredError
		if !errors.As(err, &ue) || res != nil {
			t.Errorf("%s %s×%d: Run: %v, %v; want an *UnmeasuredError and no result", vm.Platform, vm.CPUType, vm.VCPUs, res, err)
			continue
		}
		if ue.Platform != vm.Platform || ue.VCPUs != vm.VCPUs {
			t.Errorf("UnmeasuredError %+v; want platform %s, %d vCPUs", ue, vm.Platform, vm.VCPUs)
		}
		if vm.Platform == TDX && ue.CPUType != "host" {
			t.Errorf("TDX looked up as CPU type %q; want \"host\"", ue.CPUType)
		}
	}
	// No measurements at all.
	vm := VM{Platform: SEVSNP, VCPUs: 2, MemoryMiB: 512, CPUType: "EPYC-Milan", Firmware: fw, Kernel: k, Initrd: i}
	if _, err := (&Runner{Timeout: time.Minute}).Run(context.Background(), &vm); err == nil || !strings.Contains(err.Error(), "measurements: none given") {
		t.Errorf("Run without measurements: %v; want a refusal", err)
	}
	// The measured shape gets past the check, to the missing QEMU.
	if _, err := r.Run(context.Background(), &vm); err == nil || !strings.Contains(err.Error(), "/nonexistent/qemu-system-x86_64") {
		t.Errorf("Run of a measured shape: %v; want the missing QEMU", err)
	}
	// A plain VM has no launch measurement to check.
	if d, err := ExpectedMeasurement(&VM{Platform: Plain}, nil); d != nil || err != nil {
		t.Errorf("ExpectedMeasurement(plain): %x, %v; want nil, nil", d, err)
	}
}

func TestRunRefusesOldQEMU(t *testing.T) {
	qemu := needQEMU(t)
	out, err := QEMUVersion(context.Background(), qemu)
	if err != nil {
		t.Fatal(err)
	}
	if CheckVersion(SEVSNP, out) == nil {
		t.Skipf("%s is new enough for SEV-SNP: %s", qemu, out)
	}
	fw, k, i := files(t)
	vm := VM{Platform: SEVSNP, VCPUs: 2, MemoryMiB: 512, CPUType: "EPYC-Milan", Firmware: fw, Kernel: k, Initrd: i}
	_, err = (&Runner{QEMU: qemu, Timeout: time.Minute, Measurements: MeasurementsFunc(shapes)}).Run(context.Background(), &vm)
	if err == nil || !strings.Contains(err.Error(), "needs QEMU 9.1 or later") {
		t.Errorf("Run with %s: %v; want a version refusal", strings.TrimSpace(out), err)
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	fw, k, i := files(t)
	vm := VM{Platform: Plain, VCPUs: 1, MemoryMiB: 128, Firmware: fw, Kernel: k, Initrd: i}
	r := &Runner{QEMU: "/nonexistent/qemu", Timeout: time.Minute}
	tests := []struct {
		name   string
		r      Runner
		change func(*VM)
		want   string
	}{
		{"no timeout", Runner{}, func(*VM) {}, "want a positive timeout"},
		{"missing kernel", *r, func(v *VM) { v.Kernel += ".missing" }, "kernel: stat"},
		{"missing firmware", *r, func(v *VM) { v.Firmware += ".missing" }, "firmware: stat"},
		{"initrd directory", *r, func(v *VM) { v.Initrd = filepath.Dir(v.Initrd) }, "initrd " + filepath.Dir(i) + ": not a regular file"},
		{"missing disk", *r, func(v *VM) { v.Devices = []Device{{Kind: Disk, Name: "in", Path: "/nonexistent.img"}} }, `device 0 (disk "in"): stat`},
		{"negative console limit", Runner{Timeout: time.Minute, ConsoleLimit: -1}, func(*VM) {}, "console limit -1"},
	}
	for _, tt := range tests {
		v := vm
		tt.change(&v)
		_, err := tt.r.Run(context.Background(), &v)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Run: %v; want an error with %q", tt.name, err, tt.want)
		}
	}
}
