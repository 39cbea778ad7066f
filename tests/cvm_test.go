package tests

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/cvm/agent"
	"github.com/kettle-build/kettle/cvm/image"
	"github.com/kettle-build/kettle/cvm/launch"
	"github.com/kettle-build/kettle/nixcache"
	"github.com/kettle-build/kettle/nixinputs"
)

// testCVMImage builds the CVM image (cvm/image.nix) from the offline
// stand-in with the real nix, checks what it holds and that its
// measurement.json is what kettle image measure computes from its files,
// and rebuilds it (nix build --rebuild) to show it is reproducible. It
// returns the image directory.
func testCVMImage(t *testing.T, fe *flakeEnv) string {
	t.Helper()
	fe.requireVendor(t)
	attr := fe.ref + "#packages.x86_64-linux.cvm-image"
	var res []struct {
		Outputs map[string]string `json:"outputs"`
	}
	out := nixCmd(t, "", "build", "--json", "--no-link", attr)
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res) != 1 {
		t.Fatalf("nix build --json %s: %v %s", attr, err, out)
	}
	dir := res[0].Outputs["out"]
	for _, f := range []string{"bzImage", "initrd", "OVMF.fd", "cmdline", "measurement.json", "image.json"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Fatalf("image %s: %s missing or empty: %v", dir, f, err)
		}
	}

	// The initrd holds the agent, Nix, busybox and the modules, and
	// nothing else of the host.
	list := runOut(t, e2e.kettle, "initrd", "--list", filepath.Join(dir, "initrd"))
	for _, want := range []string{" init\n", " bin/kettle\n", " bin/busybox\n", " usr/bin/nix\n", " lib64/ld-linux-x86-64.so.2\n", "virtio_blk.ko\n", " etc/kettle/modules\n", " dev/console\n"} {
		if !strings.Contains(list, want) {
			t.Errorf("the initrd has no %q:\n%s", strings.TrimSpace(want), list)
		}
	}

	// measurement.json is what the measure code computes from the files.
	m, err := image.ReadMeasurements(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		t.Fatal(err)
	}
	again := runOut(t, e2e.kettle, "image", "measure", "--firmware", filepath.Join(dir, "OVMF.fd"),
		"--kernel", filepath.Join(dir, "bzImage"), "--initrd", filepath.Join(dir, "initrd"), "--append", string(cmdline))
	if written, _ := os.ReadFile(filepath.Join(dir, "measurement.json")); !bytes.Equal(written, []byte(again)) {
		t.Errorf("measurement.json differs from a recompute:\n%s\n---\n%s", written, again)
	}
	if m.SNPCovers != image.CoversFirmwareOnly {
		t.Errorf("Debian's OVMF has no kernel-hashes table, but measurement.json says the SEV-SNP digests cover %q", m.SNPCovers)
	}
	if len(m.SNP) != 24 {
		t.Errorf("%d SEV-SNP digests, want 8 vCPU counts × 3 types", len(m.SNP))
	}

	// image.json names every input by store path and NAR hash.
	var doc struct {
		Inputs map[string]struct {
			StorePath string `json:"storePath"`
			NarSHA256 string `json:"narSha256"`
		} `json:"inputs"`
	}
	if data, err := os.ReadFile(filepath.Join(dir, "image.json")); err != nil || json.Unmarshal(data, &doc) != nil {
		t.Fatalf("image.json: %v\n%s", err, data)
	}
	for _, name := range []string{"kettle", "nix", "busybox", "linux"} {
		in := doc.Inputs[name]
		h, err := nixinputs.HashPath(in.StorePath)
		if err != nil || h.Hex() != in.NarSHA256 {
			t.Errorf("image.json input %s: %+v, but its NAR hash is %s (%v)", name, in, h.Hex(), err)
		}
	}

	// Reproducible: nix builds it again and compares every output byte.
	cmd := exec.Command("nix", "--extra-experimental-features", "nix-command flakes", "build", "--no-link", "--rebuild", attr)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("nix build --rebuild of the image: %v\n%s", err, out)
	}
	t.Logf("image %s: initrd %d bytes; SEV-SNP 2 × EPYC-Milan %s", dir, fileSize(t, filepath.Join(dir, "initrd")), m.SNP[1].Measurement)
	return dir
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// requireQEMU skips a test that boots a VM when QEMU or a kernel is absent.
func requireQEMU(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86 ovmf; .ci/run does)")
	}
}

// testVMBuild builds examples/hello inside the image under QEMU (TCG, a
// plain VM: no SEV-SNP here) with sim-snp reporting the image's own
// measurement, and checks that kettle verify --image accepts the bundle,
// that another image's measurements refuse it, and that failures inside
// and around the VM are clear errors on the host with no bundle left.
func testVMBuild(t *testing.T, imageDir string) {
	requireQEMU(t)
	hello := exampleFlake(t, "hello")
	outDir := t.TempDir()
	bundle := filepath.Join(outDir, "hello.tar")
	nonce := sha256Hex("vm nonce")
	vm := func(ref, out string, extra ...string) result {
		args := append([]string{"vm", "build", "--image", imageDir, "--attest", "sim-snp", "--nonce", nonce,
			"--vcpus", "2", "--memory", "2048", "--timeout", "10m", "-o", out}, extra...)
		return kettle(t, append(args, ref)...)
	}
	r := vm("path:"+hello, bundle, "--json")
	if r.code != 0 {
		t.Fatalf("kettle vm build: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var res struct {
		Measurement string            `json:"measurement"`
		Shape       string            `json:"shape"`
		Timings     map[string]string `json:"timings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	t.Logf("vm build: measurement %s (%s); timings %v", res.Measurement, res.Shape, res.Timings)

	rep, vr := verifyJSON(t, "--image", imageDir, "--allow-simulated", "--nonce", nonce, bundle)
	if vr.code != 0 || !rep.OK {
		t.Fatalf("verify --image: exit %d\n%s", vr.code, rep)
	}
	if _, d := rep.step("measurement"); !strings.Contains(d, "2 × EPYC-Milan") || !strings.Contains(d, "firmware only") {
		t.Errorf("measurement step %q does not name the shape and what it covers", d)
	}

	// Another image's measurements refuse the bundle.
	other := t.TempDir()
	m, err := os.ReadFile(filepath.Join(imageDir, "measurement.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.Unmarshal(m, &doc)
	for _, e := range doc["snp"].([]any) {
		entry := e.(map[string]any)
		d := entry["measurement"].(string)
		entry["measurement"] = strings.Repeat("0", 8) + d[8:]
	}
	delete(doc, "tdx")
	changed, _ := json.Marshal(doc)
	os.WriteFile(filepath.Join(other, "measurement.json"), changed, 0o644)
	if rep, vr := verifyJSON(t, "--image", other, "--allow-simulated", "--nonce", nonce, bundle); vr.code == 0 || rep.Failed != "measurement" {
		t.Errorf("another image's measurements: exit %d, failed at %q, want the measurement step", vr.code, rep.Failed)
	}

	// A policy can name the image (relative to the policy file).
	good := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(good, []byte(`{"version":1,"image":"`+imageDir+`"}`), 0o644)
	if rep, vr := verifyJSON(t, "--policy", good, "--allow-simulated", "--nonce", nonce, bundle); vr.code != 0 || !rep.OK {
		t.Errorf("policy naming the image: exit %d\n%s", vr.code, rep)
	}
	bad := filepath.Join(other, "policy.json")
	os.WriteFile(bad, []byte(`{"version":1,"image":"."}`), 0o644)
	if rep, vr := verifyJSON(t, "--policy", bad, "--allow-simulated", "--nonce", nonce, bundle); vr.code == 0 || rep.Failed != "measurement" {
		t.Errorf("policy naming another image: exit %d, failed at %q", vr.code, rep.Failed)
	}

	t.Run("bad input", func(t *testing.T) {
		// An image without its kernel, and one whose measurement.json
		// disagrees with its files: refused before anything launches.
		noKernel := t.TempDir()
		for _, f := range []string{"initrd", "OVMF.fd", "cmdline", "measurement.json"} {
			copyFile(t, filepath.Join(imageDir, f), filepath.Join(noKernel, f))
		}
		lying := t.TempDir()
		for _, f := range []string{"bzImage", "initrd", "OVMF.fd", "cmdline"} {
			copyFile(t, filepath.Join(imageDir, f), filepath.Join(lying, f))
		}
		os.WriteFile(filepath.Join(lying, "measurement.json"), changed, 0o644)
		failing := writeFlake(t, failingFlake, true)
		for _, tc := range []struct {
			name, image, ref, want string
			extra                  []string
		}{
			{"no kernel", noKernel, "path:" + hello, "no bzImage", nil},
			{"measurement.json disagrees", lying, "path:" + hello, "but its files measure", nil},
			{"build fails inside the VM", imageDir, "path:" + failing + "#broken", "the-compiler-said-no", nil},
			{"the VM hangs", imageDir, "path:" + hello, "timeout: killed", []string{"--timeout", "3s"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "b.tar")
				args := append([]string{"vm", "build", "--image", tc.image, "--attest", "sim-snp", "--vcpus", "2", "-o", out}, tc.extra...)
				r := kettle(t, append(args, tc.ref)...)
				if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
					t.Errorf("exit %d, stderr does not say %q:\n%s", r.code, tc.want, r.stderr)
				}
				if _, err := os.Stat(out); err == nil {
					t.Error("a bundle was written")
				}
				if left := processesMatching(t, tc.image); len(left) > 0 {
					t.Errorf("processes left: %v", left)
				}
			})
		}
	})
}

// testHostileHost plays a build host that is not to be trusted, with the
// same public pieces kettle vm build uses: it writes the input cache, then
// swaps bytes of a NAR in it, or adds an output it built itself, boots the
// image and reads what the agent reports. A swapped NAR gets the build
// refused by Nix inside the VM; an offered output is not taken (it is
// input-addressed and unsigned): the VM builds it itself.
func testHostileHost(t *testing.T, imageDir string) {
	requireQEMU(t)
	ctx := context.Background()
	nix := &nixinputs.Driver{}
	hello := exampleFlake(t, "hello")
	md, err := nix.Metadata(ctx, "path:"+hello)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := nix.FlakeSourcePaths(ctx, md.LockedURL)
	if err != nil {
		t.Fatal(err)
	}
	built, err := nix.Build(ctx, md.LockedURL)
	if err != nil {
		t.Fatal(err)
	}
	output := built[0].Outputs["out"]
	measurements, err := image.ReadMeasurements(imageDir)
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := measurements.LookupSNP("EPYC-Milan", 2)
	cmdline, _ := os.ReadFile(filepath.Join(imageDir, "cmdline"))
	var bootWith func(t *testing.T, edit func(string, *nixcache.Writer), request []byte) (*agent.Result, string)

	boot := func(t *testing.T, edit func(cache string, w *nixcache.Writer)) (*agent.Result, string) {
		return bootWith(t, edit, nil)
	}
	bootWith = func(t *testing.T, edit func(cache string, w *nixcache.Writer), request []byte) (*agent.Result, string) {
		t.Helper()
		work := t.TempDir()
		cache := filepath.Join(work, "cache")
		w, err := nixcache.Create(cache, nixcache.Options{Compression: nixcache.CompressionZstd})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nixcache.Export(ctx, nix, w, paths...); err != nil {
			t.Fatal(err)
		}
		edit(cache, w)
		req := &agent.Request{FlakeRef: md.LockedURL, Substitute: paths, Platform: attest.PlatformSimSNP, SimMeasurement: fmt.Sprintf("%x", digest), Artifacts: "none"}
		input := filepath.Join(work, "input.img")
		f, err := os.Create(input)
		if err != nil {
			t.Fatal(err)
		}
		if request == nil {
			if err := agent.WriteInput(f, req, cache); err != nil {
				t.Fatal(err)
			}
		} else {
			// A request the host wrote by hand: tar with request.json only.
			tw := tar.NewWriter(f)
			tw.WriteHeader(&tar.Header{Name: agent.InputRequest, Mode: 0o644, Size: int64(len(request)), Typeflag: tar.TypeReg})
			tw.Write(request)
			tw.Close()
		}
		f.Truncate(64 << 20)
		f.Close()
		result := filepath.Join(work, "result.img")
		os.WriteFile(result, nil, 0o644)
		os.Truncate(result, 256<<20)
		vm := &launch.VM{Platform: launch.Plain, VCPUs: 2, MemoryMiB: 2048,
			Kernel: filepath.Join(imageDir, "bzImage"), Initrd: filepath.Join(imageDir, "initrd"), Cmdline: string(cmdline),
			Devices: []launch.Device{
				{Kind: launch.Disk, Name: agent.InputDiskSerial, Path: input, ReadOnly: true},
				{Kind: launch.Disk, Name: agent.ResultDiskSerial, Path: result},
			}}
		r := &launch.Runner{Timeout: 10 * time.Minute}
		res, err := r.Run(ctx, vm)
		if err != nil {
			t.Fatal(err)
		}
		rf, err := os.Open(result)
		if err != nil {
			t.Fatal(err)
		}
		defer rf.Close()
		out, _, err := agent.ReadResult(rf)
		if err != nil {
			t.Fatalf("%v\n%s", err, res.Console)
		}
		return out, string(res.Console)
	}

	t.Run("swapped NAR", func(t *testing.T) {
		// The source's narinfo points at the busybox input's NAR file, with
		// that file's hash and size: every file-level check holds, only
		// the NAR hash (and the content address) can catch it.
		out, console := boot(t, func(cache string, _ *nixcache.Writer) {
			infos, _ := filepath.Glob(filepath.Join(cache, "*.narinfo"))
			if len(infos) != 2 {
				t.Fatalf("%d narinfos, want 2", len(infos))
			}
			var ni [2]*nixcache.NarInfo
			for i, p := range infos {
				data, _ := os.ReadFile(p)
				if ni[i], err = nixcache.ParseNarInfo(data); err != nil {
					t.Fatal(err)
				}
			}
			ni[0].URL, ni[0].FileHash, ni[0].FileSize = ni[1].URL, ni[1].FileHash, ni[1].FileSize
			text, err := ni[0].MarshalText()
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(infos[0], text, 0o644)
		})
		if out.OK {
			t.Fatal("the build succeeded with a swapped NAR in the input cache")
		}
		if !strings.Contains(console, "hash mismatch") {
			t.Errorf("error %q, console:\n%s", out.Error, console)
		}
		t.Logf("refused inside the VM: %s", out.Error)
	})

	t.Run("request that does not parse", func(t *testing.T) {
		out, console := bootWith(t, func(string, *nixcache.Writer) {}, []byte(`{"version":1,"flakeRef":"path:/x","platform":"sim-snp","unknown":true}`))
		if out.OK || !strings.Contains(out.Error, "unknown") {
			t.Errorf("result %+v, console:\n%s", out, console)
		}
	})

	t.Run("offered output", func(t *testing.T) {
		out, console := boot(t, func(_ string, w *nixcache.Writer) {
			infos, err := nix.PathInfo(ctx, output)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Add(infos[output]); err != nil {
				t.Fatal(err)
			}
		})
		if !out.OK {
			t.Fatalf("build failed: %s\n%s", out.Error, console)
		}
		if strings.Contains(console, "copying path '"+output) {
			t.Errorf("the VM took the host's unsigned, input-addressed output %s:\n%s", output, console)
		}
	})
}
