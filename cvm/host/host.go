// Package host is the build host's side of a build inside a Kettle CVM:
// it resolves the flake on the host, hands its locked sources to the VM as
// a binary cache of content-addressed paths on the input disk, launches the
// image, reads the bundle from the result disk, and verifies it against the
// image's measurement.json and the nonce before it is written.
package host

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/cvm/agent"
	"github.com/kettle-build/kettle/cvm/image"
	"github.com/kettle-build/kettle/cvm/launch"
	"github.com/kettle-build/kettle/internal/atomicfile"
	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/nixcache"
	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/verify"
)

// Options say what to build in which image.
type Options struct {
	// Image is the image directory (nix build .#cvm-image).
	Image string
	// FlakeRef is the flake to build, with an optional "#attribute".
	FlakeRef string
	// Output is where the bundle goes (a .tar); it must not exist.
	Output string
	// Platform is the attestation backend inside the VM. The simulators
	// run in a plain VM and report the image's own SEV-SNP measurement
	// for the VM's shape; sev-snp and tdx need the hardware and QEMU.
	Platform attest.Platform
	// Nonce is the requester's nonce.
	Nonce [32]byte
	// VCPUs, MemoryMiB and CPUType are the VM's shape.
	VCPUs, MemoryMiB int
	CPUType          string
	// Nix runs nix on the host.
	Nix *nixinputs.Driver
	// QEMU is the qemu-system-x86_64 binary ("" for the one on PATH).
	QEMU string
	// Timeout bounds the VM's whole run.
	Timeout time.Duration
	// Artifacts is the compression of the NAR exports: zst, xz or none.
	Artifacts string
	// DeepHash asks the agent to re-hash every output of the closure.
	DeepHash bool
	// Log receives progress lines and the agent's.
	Log io.Writer
}

// Result is what a build in a VM produced.
type Result struct {
	Bundle      string            `json:"bundle"`
	Measurement string            `json:"measurement"`
	Shape       string            `json:"shape"`
	Timings     map[string]string `json:"timings"`
	Report      *verify.Report    `json:"report"`
}

// Build runs one build in a VM. The bundle is written only when the
// agent's bundle verifies against the image and the nonce.
func Build(ctx context.Context, opts Options) (*Result, error) {
	b := &vmBuild{opts: opts, timings: map[string]string{}}
	if b.opts.Log == nil {
		b.opts.Log = io.Discard
	}
	if b.opts.Nix == nil {
		b.opts.Nix = &nixinputs.Driver{}
	}
	work, err := os.MkdirTemp("", "kettle-vm-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	b.work = work
	for _, s := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"prepare", b.prepare},
		{"inputs", b.inputs},
		{"vm", b.runVM},
		{"verify", b.verifyAndWrite},
	} {
		t := time.Now()
		if err := s.run(ctx); err != nil {
			return nil, err
		}
		b.timings["host/"+s.name] = time.Since(t).Round(time.Millisecond).String()
	}
	return &Result{Bundle: opts.Output, Measurement: fmt.Sprintf("%x", b.measurement), Shape: b.shape, Timings: b.timings, Report: b.report}, nil
}

type vmBuild struct {
	opts Options
	work string

	mu      sync.Mutex
	timings map[string]string

	files        image.Files
	measurements *image.Measurements
	measurement  []byte
	shape        string
	vmPlatform   launch.Platform
	inputDisk    string
	resultDisk   string
	bundle       []byte
	report       *verify.Report
}

func (b *vmBuild) logf(format string, args ...any) {
	fmt.Fprintf(b.opts.Log, format+"\n", args...)
}

func (b *vmBuild) setTiming(k, v string) {
	b.mu.Lock()
	b.timings[k] = v
	b.mu.Unlock()
}

// prepare reads the image and checks the output path and the VM shape.
func (b *vmBuild) prepare(context.Context) error {
	o := b.opts
	if o.Output == "" {
		return errors.New("no bundle path given")
	}
	if _, err := os.Lstat(o.Output); err == nil {
		return fmt.Errorf("bundle %s already exists: refusing to overwrite it", o.Output)
	}
	if fi, err := os.Stat(filepath.Dir(o.Output)); err != nil || !fi.IsDir() {
		return fmt.Errorf("bundle %s: the parent directory does not exist", o.Output)
	}
	for _, f := range []string{"bzImage", "initrd", "OVMF.fd", "cmdline", image.FileMeasurements} {
		if fi, err := os.Stat(filepath.Join(o.Image, f)); err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("image %s: no %s (want the output of nix build .#cvm-image)", o.Image, f)
		}
	}
	cmdline, err := inputfile.Read(filepath.Join(o.Image, "cmdline"), 4096)
	if err != nil {
		return fmt.Errorf("image %s: %w", o.Image, err)
	}
	b.files = image.Files{
		Firmware: filepath.Join(o.Image, "OVMF.fd"),
		Kernel:   filepath.Join(o.Image, "bzImage"),
		Initrd:   filepath.Join(o.Image, "initrd"),
		Cmdline:  string(cmdline),
	}
	if b.measurements, err = image.ReadMeasurements(o.Image); err != nil {
		return fmt.Errorf("image %s: %w", o.Image, err)
	}
	switch o.Platform {
	case attest.PlatformSimSNP, attest.PlatformSimTDX:
		b.vmPlatform = launch.Plain
	case attest.PlatformSEVSNP:
		b.vmPlatform = launch.SEVSNP
	case attest.PlatformTDX:
		b.vmPlatform = launch.TDX
	default:
		return fmt.Errorf("platform %q: want sev-snp, tdx, sim-snp or sim-tdx", o.Platform)
	}
	// The measurement the bundle must carry: the image's own for this
	// shape. A simulator is told to report it; hardware reports it.
	m, ok := b.measurements.LookupSNP(o.CPUType, o.VCPUs)
	if o.Platform == attest.PlatformTDX || o.Platform == attest.PlatformSimTDX {
		m, ok = nil, false
		if t := b.measurements.TDX; t != nil {
			m, ok = decodeHex(t.MRTD)
		}
	}
	if !ok {
		return fmt.Errorf("image %s: %s has no measurement for %d × %s", o.Image, image.FileMeasurements, o.VCPUs, o.CPUType)
	}
	b.measurement = m
	b.shape, _ = b.measurements.Match(m)
	return b.recompute()
}

// recompute measures the image's files for the VM's shape and refuses an
// image whose measurement.json says otherwise.
func (b *vmBuild) recompute() error {
	o := b.opts
	m, err := image.Compute(b.files, image.Shapes{VCPUs: []int{o.VCPUs}, VCPUTypes: []string{o.CPUType}})
	if err != nil {
		return fmt.Errorf("image %s: measuring its files: %w", o.Image, err)
	}
	var want []byte
	if o.Platform == attest.PlatformTDX || o.Platform == attest.PlatformSimTDX {
		if m.TDX != nil {
			want, _ = decodeHex(m.TDX.MRTD)
		}
	} else {
		want, _ = m.LookupSNP(o.CPUType, o.VCPUs)
	}
	if !bytes.Equal(want, b.measurement) {
		return fmt.Errorf("image %s: %s says %x for %d × %s, but its files measure %x", o.Image, image.FileMeasurements, b.measurement, o.VCPUs, o.CPUType, want)
	}
	return nil
}

// inputs resolves the flake on the host and writes the input disk: the
// request and a binary cache of the flake's source and locked inputs, all
// content-addressed (Nix inside the VM checks each against its hash), and
// an empty result disk.
func (b *vmBuild) inputs(ctx context.Context) error {
	ref, err := nixinputs.ParseFlakeRef(b.opts.FlakeRef)
	if err != nil {
		return err
	}
	b.logf("resolving %s on the host", ref.URL)
	md, err := b.opts.Nix.Metadata(ctx, ref.URL)
	if err != nil {
		return err
	}
	paths, err := b.opts.Nix.FlakeSourcePaths(ctx, md.LockedURL)
	if err != nil {
		return err
	}
	cacheDir := filepath.Join(b.work, "cache")
	w, err := nixcache.Create(cacheDir, nixcache.Options{Compression: nixcache.CompressionZstd})
	if err != nil {
		return err
	}
	if _, err := nixcache.Export(ctx, b.opts.Nix, w, paths...); err != nil {
		return fmt.Errorf("exporting the flake's sources: %w", err)
	}
	installable := md.LockedURL
	if ref.Attr != "" {
		installable += "#" + ref.Attr
	}
	req := &agent.Request{
		FlakeRef:   installable,
		Substitute: paths,
		Platform:   b.opts.Platform,
		Nonce:      fmt.Sprintf("%x", b.opts.Nonce),
		Artifacts:  b.opts.Artifacts,
		DeepHash:   b.opts.DeepHash,
	}
	if b.opts.Platform.Simulated() {
		req.SimMeasurement = fmt.Sprintf("%x", b.measurement)
	}
	b.inputDisk = filepath.Join(b.work, "input.img")
	if err := writeDisk(b.inputDisk, func(w io.Writer) error { return agent.WriteInput(w, req, cacheDir) }); err != nil {
		return fmt.Errorf("input disk: %w", err)
	}
	b.resultDisk = filepath.Join(b.work, "result.img")
	f, err := os.Create(b.resultDisk)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Truncate(agent.ResultDiskSize)
}

// writeDisk writes a raw disk image, padded to whole MiB.
func writeDisk(p string, write func(io.Writer) error) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := write(f); err != nil {
		return err
	}
	end, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	const mib = 1 << 20
	return f.Truncate((end + mib) / mib * mib)
}

// consoleWatcher forwards the agent's lines from the VM console to the log
// and notes when it was ready and when it started building.
type consoleWatcher struct {
	b     *vmBuild
	start time.Time
	buf   bytes.Buffer
}

func (c *consoleWatcher) Write(p []byte) (int, error) {
	c.buf.Write(p)
	for {
		line, err := c.buf.ReadString('\n')
		if err != nil {
			c.buf.Reset()
			c.buf.WriteString(line)
			return len(p), nil
		}
		line = strings.TrimRight(line, "\r\n")
		if strings.Contains(line, "kettle-agent: ") {
			since := time.Since(c.start).Round(time.Millisecond)
			c.b.logf("[vm %6.1fs] %s", since.Seconds(), line[strings.Index(line, "kettle-agent: "):])
			switch {
			case strings.Contains(line, "kettle-agent: ready"):
				c.b.setTiming("vm/boot-to-agent-ready", since.String())
			case strings.Contains(line, "kettle-agent: building"):
				c.b.setTiming("vm/boot-to-build-start", since.String())
			}
		}
	}
}

// runVM launches the image with the two disks and reads the result.
func (b *vmBuild) runVM(ctx context.Context) error {
	o := b.opts
	vm := &launch.VM{
		Platform:  b.vmPlatform,
		VCPUs:     o.VCPUs,
		MemoryMiB: o.MemoryMiB,
		CPUType:   o.CPUType,
		Kernel:    b.files.Kernel,
		Initrd:    b.files.Initrd,
		Cmdline:   b.files.Cmdline,
		Nonce:     o.Nonce,
		Devices: []launch.Device{
			{Kind: launch.Disk, Name: agent.InputDiskSerial, Path: b.inputDisk, ReadOnly: true},
			{Kind: launch.Disk, Name: agent.ResultDiskSerial, Path: b.resultDisk},
		},
	}
	if b.vmPlatform != launch.Plain {
		// A confidential VM boots its measured firmware and bzImage.
		vm.Firmware = b.files.Firmware
	} else {
		// A plain VM boots the kernel directly, uncompressed where the image
		// has it (PVH), which under emulation is seconds faster.
		vm.CPUType = ""
		if vmlinux := filepath.Join(o.Image, "vmlinux"); regularFile(vmlinux) {
			vm.Kernel = vmlinux
		}
	}
	watch := &consoleWatcher{b: b, start: time.Now()}
	r := &launch.Runner{QEMU: o.QEMU, Timeout: o.Timeout, Measurements: b, Console: watch}
	b.logf("launching the CVM image (%s, %d vCPUs, %d MiB) under QEMU", b.vmPlatform, o.VCPUs, o.MemoryMiB)
	res, err := r.Run(ctx, vm)
	if err != nil {
		tail := ""
		if res != nil {
			tail = consoleTail(res.Console)
		}
		return fmt.Errorf("the VM: %w%s", err, tail)
	}
	b.setTiming("vm/total", res.Duration.Round(time.Millisecond).String())
	f, err := os.Open(b.resultDisk)
	if err != nil {
		return err
	}
	defer f.Close()
	out, bundle, err := agent.ReadResult(f)
	if err != nil {
		return fmt.Errorf("%w%s", err, consoleTail(res.Console))
	}
	for k, v := range out.Timings {
		b.setTiming("agent/"+k, v)
	}
	if !out.OK {
		return fmt.Errorf("the build inside the VM failed: %s%s", out.Error, consoleTail(res.Console))
	}
	b.bundle = bundle
	return nil
}

// Lookup gives the launcher the image's measurement of a shape.
func (b *vmBuild) Lookup(p launch.Platform, cpuType string, vcpus int) ([]byte, bool) {
	switch p {
	case launch.SEVSNP:
		return b.measurements.LookupSNP(cpuType, vcpus)
	case launch.TDX:
		if t := b.measurements.TDX; t != nil {
			return decodeHex(t.MRTD)
		}
	}
	return nil, false
}

func consoleTail(console []byte) string {
	const max = 2000
	if len(console) == 0 {
		return ""
	}
	if len(console) > max {
		console = console[len(console)-max:]
	}
	return "\nthe VM's console ended with:\n" + string(console)
}

// verifyAndWrite verifies the bundle against the image's measurements and
// the nonce, and only then writes it to the output path.
func (b *vmBuild) verifyAndWrite(ctx context.Context) error {
	tmp := filepath.Join(b.work, "bundle.tar")
	if err := os.WriteFile(tmp, b.bundle, 0o644); err != nil {
		return err
	}
	nonce := b.opts.Nonce
	rep := verify.Verify(ctx, verify.Options{
		Bundle:         tmp,
		Nonce:          nonce[:],
		Image:          b.measurements,
		Measurement:    b.measurement,
		AllowSimulated: b.opts.Platform.Simulated(),
	})
	b.report = rep
	if !rep.OK {
		return fmt.Errorf("the VM's bundle does not verify: %s", rep.Verdict())
	}
	return moveFile(tmp, b.opts.Output)
}

// moveFile puts the verified bundle at dst: a rename where the two are on
// one file system, else an atomic copy.
func moveFile(src, dst string) error {
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return atomicfile.Write(dst, data, 0o644)
}

func decodeHex(s string) ([]byte, bool) {
	b, err := hex.DecodeString(s)
	return b, err == nil
}

func regularFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
