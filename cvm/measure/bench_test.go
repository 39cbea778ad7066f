package measure

import (
	"crypto/sha256"
	"crypto/sha512"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The benchmark's inputs: a 4 MiB firmware and a 16 MiB kernel and initrd.
const (
	benchFirmware = 4 << 20
	benchKernel   = 16 << 20
	benchInitrd   = 16 << 20
	benchTotal    = benchFirmware + benchKernel + benchInitrd
)

// opensslSHA384 is the SHA-384 speed limit of this machine, one core:
// `openssl speed -evp sha384` on 16 KiB blocks, in bytes per second; 0 when
// openssl is not installed.
func opensslSHA384(b *testing.B) float64 {
	path, err := exec.LookPath("openssl")
	if err != nil {
		b.Log("openssl not on PATH: no ratio to the SHA-384 limit")
		return 0
	}
	out, err := exec.Command(path, "speed", "-evp", "sha384", "-bytes", "16384", "-seconds", "1").Output()
	if err != nil {
		b.Logf("openssl speed: %v", err)
		return 0
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && strings.EqualFold(f[0], "sha384") && strings.HasSuffix(f[1], "k") {
			v, err := strconv.ParseFloat(strings.TrimSuffix(f[1], "k"), 64)
			if err == nil {
				return v * 1000
			}
		}
	}
	b.Logf("openssl speed: no sha384 line in %q", out)
	return 0
}

// BenchmarkMeasure measures a 4 MiB firmware with a 16 MiB kernel and a
// 16 MiB initrd, end to end from files (what `kettle measure --json` does,
// with every input's SHA-256 for the record; "digest-only" is plain
// `kettle measure`, without them) and from memory (the measurement alone), and reports input bytes per second and, with openssl, their ratio
// to the one-core SHA-384 limit (%openssl). Run with -cpu 1,2 to see one core
// and all of them.
func BenchmarkMeasure(b *testing.B) {
	dir := b.TempDir()
	im := amdSevLike()
	fwBytes := im.build(b)
	kernelBytes := kernelSpec(benchKernel).build()
	initrdBytes := make([]byte, benchInitrd)
	for i := range initrdBytes {
		initrdBytes[i] = byte(i * 13)
	}
	fw := writeTemp(b, dir, "OVMF.fd", fwBytes)
	kernel := writeTemp(b, dir, "bzImage", kernelBytes)
	initrd := writeTemp(b, dir, "initrd", initrdBytes)
	const cmdline = "console=ttyS0 init=/init"
	tdxConv, _ := TDXProfile(DefaultTDXProfile)
	var limit float64
	// report gives the ratio of input bytes per second to the limit twice:
	// by wall-clock time, and by the CPU time this process spent, which is
	// what openssl speed divides by (user time) and what stays meaningful
	// on a machine shared with other work.
	report := func(b *testing.B, cpu float64) {
		if limit > 0 {
			bytes := float64(benchTotal) * float64(b.N)
			b.ReportMetric(100*bytes/b.Elapsed().Seconds()/limit, "%openssl")
			b.ReportMetric(100*bytes/cpu/limit, "%openssl-cpu")
			b.ReportMetric(limit/1e6, "openssl-MB/s")
		}
	}
	run := func(name string, f func() error) {
		// The limit is taken afresh before each case, so that a machine
		// whose load changes compares like with like.
		limit = opensslSHA384(b)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(benchTotal)
			cpu0 := cpuSeconds(b)
			for range b.N {
				if err := f(); err != nil {
					b.Fatal(err)
				}
			}
			report(b, cpuSeconds(b)-cpu0)
		})
	}
	run("snp/files", func() error {
		_, err := MeasureSNPFiles(SNPRequest{OVMF: fw, Kernel: kernel, Initrd: initrd, Cmdline: cmdline, VCPUs: 4, VCPUType: "EPYC-v4", GuestFeatures: 1})
		return err
	})
	run("snp/files-digest-only", func() error {
		_, err := MeasureSNPFiles(SNPRequest{OVMF: fw, Kernel: kernel, Initrd: initrd, Cmdline: cmdline, VCPUs: 4, VCPUType: "EPYC-v4", GuestFeatures: 1, SkipInputDigests: true})
		return err
	})
	run("snp/memory", func() error {
		h := kernelHashes(kernelBytes, initrdBytes, cmdline)
		_, err := MeasureSNP(fwBytes, SNPOptions{VCPUs: 4, VCPUSig: 0x800f12, GuestFeatures: 1, Kernel: h})
		return err
	})
	run("tdx/files", func() error {
		_, err := MeasureTDXFiles(TDXRequest{OVMF: fw, Kernel: kernel, Initrd: initrd, Cmdline: cmdline, Conventions: tdxConv})
		return err
	})
	run("tdx/files-digest-only", func() error {
		_, err := MeasureTDXFiles(TDXRequest{OVMF: fw, Kernel: kernel, Initrd: initrd, Cmdline: cmdline, Conventions: tdxConv, SkipInputDigests: true})
		return err
	})
	run("tdx/memory", func() error {
		_, err := MeasureTDX(fwBytes, &TDXBoot{Kernel: kernelBytes, Cmdline: cmdline,
			Initrd: &TDXInitrd{SHA384: sha512.Sum384(initrdBytes), Size: benchInitrd}}, tdxConv)
		return err
	})
	// Go's own SHA-384 and SHA-256 over the same 36 MiB: the limits of the
	// hash implementations the measurement runs on.
	all := append(append(append([]byte(nil), fwBytes...), kernelBytes...), initrdBytes...)
	run("sha384-stream", func() error { sha512.Sum384(all); return nil })
	run("sha256-stream", func() error { sha256.Sum256(all); return nil })
}

// cpuSeconds is the user and system CPU time of this process so far.
func cpuSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
