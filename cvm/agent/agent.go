package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/builder"
	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/provenance"
)

// System is what the agent needs of the machine it runs on: the VM's
// devices and the steps that make a Linux initramfs fit for Nix's sandbox.
// The real one (Linux, PID 1) is NewSystem; tests give fakes.
type System interface {
	// Setup mounts what the agent needs, loads the kernel modules of the
	// VM's devices and moves the root onto a tmpfs.
	Setup(ctx context.Context) error
	// OpenInput opens the input disk (read-only).
	OpenInput() (io.ReadCloser, error)
	// OpenResult opens the result disk for writing from its first byte.
	OpenResult() (io.WriteCloser, error)
}

// Config says where the agent's tools are and how it builds.
type Config struct {
	// Nix is the nix binary inside the VM.
	Nix string
	// NixConf is the nix.conf the agent writes (e.g. /etc/nix/nix.conf).
	NixConf string
	// WorkDir is where the input cache is unpacked and the bundle written.
	WorkDir string
	// KettleVersion and KettleBinary identify the agent in the manifest.
	KettleVersion, KettleBinary string
	// Log receives the agent's progress (the VM console).
	Log io.Writer
	// Build runs the pipeline; nil means builder.Build.
	Build func(context.Context, builder.BuildOptions) (*builder.BuildResult, error)
	// Now is the clock of the phase timings (nil: time.Now).
	Now func() time.Time
}

// Run does the agent's one job: set the machine up, read the request and
// the input cache, build with the same pipeline as kettle build, and write
// the result — the bundle, or the error — to the result disk. It returns
// the error it reported; the caller powers the VM off whatever happens.
func Run(ctx context.Context, sys System, cfg Config) error {
	a := &run{sys: sys, cfg: cfg, timings: map[string]string{}}
	if a.cfg.Build == nil {
		a.cfg.Build = builder.Build
	}
	if a.cfg.Now == nil {
		a.cfg.Now = time.Now
	}
	if a.cfg.Log == nil {
		a.cfg.Log = io.Discard
	}
	bundle, err := a.build(ctx)
	res := Result{OK: err == nil, Timings: a.timings}
	if err != nil {
		res.Error = err.Error()
		bundle = nil
		a.logf("build failed: %v", err)
	}
	if werr := a.writeResult(res, bundle); werr != nil {
		a.logf("writing the result: %v", werr)
		if err == nil {
			err = werr
		}
	}
	return err
}

// run is one run of the agent.
type run struct {
	sys     System
	cfg     Config
	timings map[string]string
	req     *Request
}

func (a *run) logf(format string, args ...any) {
	fmt.Fprintf(a.cfg.Log, "kettle-agent: "+format+"\n", args...)
}

// phase runs one phase and records its time.
func (a *run) phase(name string, f func() error) error {
	t := a.cfg.Now()
	err := f()
	a.timings[name] = a.cfg.Now().Sub(t).Round(time.Millisecond).String()
	return err
}

func (a *run) build(ctx context.Context) ([]byte, error) {
	cacheDir := filepath.Join(a.cfg.WorkDir, InputCacheDir)
	bundlePath := filepath.Join(a.cfg.WorkDir, "bundle.tar")
	if err := a.phase("setup", func() error { return a.sys.Setup(ctx) }); err != nil {
		return nil, fmt.Errorf("setting up the VM: %w", err)
	}
	a.logf("ready")
	if err := a.phase("inputs", func() error { return a.readInputs(cacheDir) }); err != nil {
		return nil, err
	}
	var res *builder.BuildResult
	err := a.phase("build", func() error {
		opts, err := a.buildOptions(cacheDir, bundlePath)
		if err != nil {
			return err
		}
		a.logf("building %s", a.req.FlakeRef)
		res, err = a.cfg.Build(ctx, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	for k, v := range res.Timings {
		a.timings["build/"+k] = v
	}
	bundle, err := inputfile.Read(bundlePath, MaxBundleSize)
	if err != nil {
		return nil, fmt.Errorf("reading the bundle: %w", err)
	}
	a.logf("built %s: provenance %s", a.req.FlakeRef, res.ProvenanceSHA256)
	return bundle, nil
}

// readInputs reads the request and unpacks the input cache, and writes
// Nix's configuration with that cache as its only substituter.
func (a *run) readInputs(cacheDir string) error {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return err
	}
	in, err := a.sys.OpenInput()
	if err != nil {
		return fmt.Errorf("input disk: %w", err)
	}
	defer in.Close()
	if a.req, err = ReadInput(in, cacheDir); err != nil {
		return err
	}
	if err := writeNixConf(a.cfg.NixConf, cacheDir); err != nil {
		return err
	}
	narinfos, _ := filepath.Glob(filepath.Join(cacheDir, "*.narinfo"))
	a.logf("input cache: %d path(s), %d named by the request; %s: substituters = file://%s, require-sigs = true", len(narinfos), len(a.req.Substitute), a.cfg.NixConf, cacheDir)
	// Nix substitutes the flake's source and inputs from the cache
	// itself when the pipeline resolves the flake: each locked input names
	// its narHash, from which Nix computes the content-addressed store
	// path and asks its substituters for it.
	return nil
}

// driver runs the VM's nix with the agent's nix.conf as a user
// configuration file too: Nix 2.8 takes the system file's settings as
// defaults, which its no-network check then overrides (it turns
// substitution off), but keeps what a user file sets.
func (a *run) driver() *nixinputs.Driver {
	return &nixinputs.Driver{Nix: a.cfg.Nix, Stderr: a.cfg.Log, Env: []string{"NIX_USER_CONF_FILES=" + a.cfg.NixConf}}
}

// NixConfText is the Nix configuration inside the VM: the host's cache as
// the only substituter, signatures required (so that only content-addressed
// paths, which Nix checks against their hashes, can come from it), no
// registry, sandboxed builds with nothing of the VM let in.
func NixConfText(cacheDir string) string {
	return strings.Join([]string{
		"substituters = file://" + cacheDir,
		// Nix turns substitution off by itself in a VM without network
		// ("you don't have Internet access") unless a user file sets it.
		"substitute = true",
		"trusted-substituters =",
		"trusted-public-keys =",
		"require-sigs = true",
		"flake-registry =",
		"experimental-features = nix-command flakes",
		"sandbox = true",
		"sandbox-paths =",
		"build-users-group = nixbld",
		"connect-timeout = 1",
		"fallback = false",
		"",
	}, "\n")
}

func writeNixConf(p, cacheDir string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(NixConfText(cacheDir)), 0o644)
}

// buildOptions turns the request into the pipeline's options, with the
// attester the request names.
func (a *run) buildOptions(cacheDir, bundlePath string) (builder.BuildOptions, error) {
	req := a.req
	var aopts attest.AttesterOptions
	if req.Platform.Simulated() {
		// A simulated launcher commits the nonce as HOST_DATA; on hardware
		// the real launcher did.
		aopts.HostData = req.NonceBytes()
		if req.SimMeasurement != "" {
			m, err := decodeHexN(req.SimMeasurement, 48)
			if err != nil {
				return builder.BuildOptions{}, fmt.Errorf("simMeasurement: %w", err)
			}
			aopts.Measurement = m
		}
	}
	attester, err := attest.NewAttester(req.Platform, aopts)
	if err != nil {
		return builder.BuildOptions{}, fmt.Errorf("attester %s: %w", req.Platform, err)
	}
	var comp provenance.Compression
	if req.Artifacts != "none" {
		art := req.Artifacts
		if art == "" {
			art = string(provenance.CompressionZstd)
		}
		if comp, err = provenance.ParseCompression(art); err != nil {
			return builder.BuildOptions{}, err
		}
	}
	return builder.BuildOptions{
		FlakeRef:      req.FlakeRef,
		Output:        bundlePath,
		Attester:      attester,
		Nonce:         req.NonceBytes(),
		Artifacts:     comp,
		DeepHash:      req.DeepHash,
		Nix:           builder.NixDriver(a.driver()),
		KettleVersion: a.cfg.KettleVersion,
		KettleBinary:  a.cfg.KettleBinary,
		Log:           a.cfg.Log,
	}, nil
}

// writeResult writes the result disk.
func (a *run) writeResult(res Result, bundle []byte) error {
	w, err := a.sys.OpenResult()
	if err != nil {
		return fmt.Errorf("result disk: %w", err)
	}
	if err := WriteResult(w, res, bundle); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
