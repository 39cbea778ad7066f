package builder

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/provenance"
)

// BuilderIDBase prefixes runDetails.builder.id; the platform name follows.
const BuilderIDBase = "https://github.com/kettle-build/kettle/builder/"

// BuildOptions says what to build and how to attest it.
type BuildOptions struct {
	// FlakeRef is the flake reference as the user gave it, with an optional
	// "#attribute" (e.g. "github:org/repo#pkg", "./examples/hello").
	FlakeRef string
	// Output is where the bundle goes: a directory, or a file ending in ".tar".
	// It must not exist yet; its parent must be a writable directory.
	Output string
	// Attester produces the hardware (or simulated) evidence.
	Attester attest.Attester
	// Nonce is the requester's 32-byte nonce (all zero when there is none).
	Nonce [32]byte
	// Artifacts selects whether NAR exports of the outputs go into the bundle,
	// and with which compression ("" means none).
	Artifacts provenance.Compression
	// Nix runs nix and reads the store (nil: NixDriver of the nix on PATH).
	Nix Nix
	// KettleVersion and KettleBinary identify this build tool in the manifest's
	// toolchain leaves. KettleBinary "" means os.Executable().
	KettleVersion string
	KettleBinary  string
	// DeepHash makes Kettle re-hash the output of every derivation of the
	// closure, not only the top-level ones, and check each against the Nix
	// database; the manifest's output leaves then say by=kettle throughout.
	DeepHash bool
	// Workers bounds the parallelism of the closure walk and of hashing
	// (0 means GOMAXPROCS).
	Workers int
	// Log receives one line per pipeline stage (nil: discarded).
	Log io.Writer
	// Now is the one clock of the build, for its timings and its recorded
	// start and finish (nil: time.Now); tests pin it.
	Now func() time.Time
}

// Output is one realised store path, as it appears among the subjects.
type Output struct {
	Name       string `json:"name"`
	StorePath  string `json:"storePath"`
	NarSHA256  string `json:"narSha256"`
	NarSize    uint64 `json:"narSize"`
	Derivation string `json:"derivation"`
}

// BuildResult reports what a build produced.
type BuildResult struct {
	Bundle           string            `json:"bundle"`
	FlakeRef         string            `json:"flakeRef"`
	LockedURL        string            `json:"lockedUrl"`
	Attribute        string            `json:"attribute,omitempty"`
	Outputs          []Output          `json:"outputs"`
	Derivations      int               `json:"derivations"`
	Sources          int               `json:"sources"`
	ManifestRoot     string            `json:"manifestRoot"`
	ManifestLeaves   int               `json:"manifestLeaves"`
	ProvenanceSHA256 string            `json:"provenanceSha256"`
	Platform         attest.Platform   `json:"platform"`
	Simulated        bool              `json:"simulated"`
	Measurement      string            `json:"measurement"`
	Nonce            string            `json:"nonce"`
	Timings          map[string]string `json:"timings"`
}

// Build runs the whole pipeline and writes the bundle atomically: on any
// error, and on cancellation, nothing is left at opts.Output.
//
// The stages: resolve the flake ref to a locked one; instantiate it; then
// side by side, walk the derivation closure and hash its sources, and
// realise the outputs and hash them; meanwhile identify the toolchain. Then
// the manifest and the provenance, the attestation, and the bundle.
func Build(ctx context.Context, opts BuildOptions) (*BuildResult, error) {
	b, err := newBuild(opts)
	if err != nil {
		return nil, err
	}
	b.started = b.now()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return b.stages(gctx, stage{"toolchain", b.toolchain}) })
	g.Go(func() error {
		if err := b.stages(gctx, stage{"resolve", b.resolve}, stage{"instantiate", b.instantiate}); err != nil {
			return err
		}
		side, sctx := errgroup.WithContext(gctx)
		side.Go(func() error { return b.stages(sctx, stage{"walk", b.walk}, stage{"hash-sources", b.hashSources}) })
		side.Go(func() error { return b.stages(sctx, stage{"realise", b.realise}, stage{"hash-outputs", b.hashOutputs}) })
		return side.Wait()
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := b.stages(ctx, stage{"outputs", b.recordOutputs}, stage{"manifest", b.manifest}, stage{"provenance", b.provenance}, stage{"attest", b.attest}, stage{"bundle", b.write}); err != nil {
		return nil, err
	}
	return b.result(), nil
}

// build is the state of one run of the pipeline. Each stage fills its own
// fields; the stages that run side by side share none.
type build struct {
	opts    BuildOptions
	nix     Nix
	now     func() time.Time
	workers int

	timingsMu sync.Mutex
	timings   map[string]string

	started time.Time
	ref     nixinputs.FlakeRef

	// resolve
	md          *nixinputs.Metadata
	sourceNar   [32]byte
	flakeInputs []nixinputs.LockedInput
	// instantiate
	installable string
	roots       []string // the root .drv paths
	// walk and hash-sources
	closure      *nixinputs.Closure
	sources      []string // the inputSrcs and their reference closure, sorted
	sourceHashes map[string]nixinputs.NarHash
	// realise and hash-outputs
	outputs      []builtOutput // sorted by store path
	outputHashes map[string]nixinputs.NarHash
	// outputs (of every derivation of the closure)
	allOutputs []provenance.DrvOutput
	// toolchain
	nixVersion string
	tools      []provenance.Tool
	// manifest
	inputs       *provenance.Inputs
	manifestData *provenance.Manifest
	manifestJSON []byte
	// provenance
	provJSON   []byte
	provDigest [32]byte
	// attest
	evidenceJSON []byte
}

// builtOutput is one output nix built.
type builtOutput struct{ name, path, drv string }

func newBuild(opts BuildOptions) (*build, error) {
	if opts.Attester == nil {
		return nil, errors.New("no attestation backend given")
	}
	if err := checkOutput(opts.Output); err != nil {
		return nil, err
	}
	ref, err := nixinputs.ParseFlakeRef(opts.FlakeRef)
	if err != nil {
		return nil, err
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("the working directory, against which a relative path: flake is read: %w", err)
	}
	ref = ref.Absolute(wd)
	b := &build{opts: opts, nix: opts.Nix, now: opts.Now, workers: opts.Workers, ref: ref, timings: map[string]string{}}
	if b.nix == nil {
		b.nix = NixDriver(&nixinputs.Driver{})
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.workers <= 0 {
		b.workers = runtime.GOMAXPROCS(0)
	}
	return b, nil
}

// checkOutput refuses, before anything runs, a bundle path that exists or
// whose parent is not a writable directory.
func checkOutput(out string) error {
	if out == "" {
		return errors.New("no bundle path given")
	}
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("bundle %s already exists: refusing to overwrite it", out)
	}
	parent := filepath.Dir(out)
	fi, err := os.Stat(parent)
	if err != nil {
		return fmt.Errorf("bundle %s: parent directory: %w", out, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("bundle %s: parent %s is not a directory", out, parent)
	}
	probe, err := os.CreateTemp(parent, ".kettle-probe-*")
	if err != nil {
		return fmt.Errorf("bundle %s: parent directory is not writable: %w", out, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// timed runs one stage and records how long it took.
func (b *build) timed(ctx context.Context, name string, run func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := b.now()
	err := run(ctx)
	d := b.now().Sub(t).Round(time.Millisecond)
	b.timingsMu.Lock()
	b.timings[name] = d.String()
	b.timingsMu.Unlock()
	return err
}

// stage names one stage of the pipeline and the method that runs it.
type stage struct {
	name string
	run  func(context.Context) error
}

// stages runs stages one after the other, stopping at the first error.
func (b *build) stages(ctx context.Context, stages ...stage) error {
	for _, s := range stages {
		if err := b.timed(ctx, s.name, s.run); err != nil {
			return err
		}
	}
	return nil
}

func (b *build) logf(format string, args ...any) {
	if b.opts.Log != nil {
		fmt.Fprintf(b.opts.Log, format+"\n", args...)
	}
}

// resolve locks the flake ref; Metadata refuses unlocked inputs and dirty
// trees.
func (b *build) resolve(ctx context.Context) error {
	b.logf("resolving %s", b.ref.URL)
	md, err := b.nix.Metadata(ctx, b.ref.URL)
	if err != nil {
		return err
	}
	// The source's locked URL, rev and narHash are Nix's: nix flake
	// metadata established them when it fetched and locked the source.
	if b.sourceNar, err = nixinputs.ParseHash(md.NarHash); err != nil {
		return fmt.Errorf("flake %s: narHash %q: %w", b.ref.URL, md.NarHash, err)
	}
	if md.Lock != nil {
		// Each locked input's URL and narHash: flake.lock, checked by Nix
		// against the fetched input when it evaluated the flake.
		if b.flakeInputs, err = md.Lock.LockedInputs(); err != nil {
			return fmt.Errorf("flake.lock of %s: %w", b.ref.URL, err)
		}
	}
	b.md = md
	return nil
}

// instantiate evaluates the locked ref to its root derivations, so that the
// source built is the one recorded and the derivations are in the store
// before anything builds.
func (b *build) instantiate(ctx context.Context) error {
	b.installable = b.md.LockedURL
	if b.ref.Attr != "" {
		b.installable += "#" + b.ref.Attr
	}
	roots, err := b.nix.Instantiate(ctx, b.installable)
	if err != nil {
		return err
	}
	b.roots = roots
	return nil
}

// walk reads the derivation closure from the .drv files; each derivation's
// SHA-256 is Kettle's own hash of the file's bytes.
func (b *build) walk(ctx context.Context) error {
	c, err := b.nix.WalkClosure(ctx, b.roots, b.workers)
	if err != nil {
		return err
	}
	b.closure = c
	b.logf("walked %d derivations", len(c.Derivations))
	return nil
}

// hashSources hashes the sources a build sees — the inputSrcs and every path
// they reference — with Kettle's own NAR hasher, cross-checked with the Nix
// database.
func (b *build) hashSources(ctx context.Context) error {
	srcs, infos, err := nixinputs.SourceClosure(ctx, b.nix, b.closure.InputSrcs())
	if err != nil {
		return err
	}
	hashes, err := b.nix.HashPaths(ctx, srcs, b.workers)
	if err != nil {
		return err
	}
	if err := nixinputs.CrossCheck(srcs, hashes, infos); err != nil {
		return err
	}
	b.sources, b.sourceHashes = srcs, hashes
	return nil
}

// realise builds the locked ref and checks that nix built exactly the
// derivations it instantiated.
func (b *build) realise(ctx context.Context) error {
	b.logf("building %s", b.installable)
	results, err := b.nix.Build(ctx, b.installable)
	if err != nil {
		return err
	}
	if len(results) == 0 {
		return fmt.Errorf("nix build %s produced no outputs", b.installable)
	}
	built := map[string]bool{}
	var outs []builtOutput
	for _, r := range results {
		built[r.DrvPath] = true
		for name, p := range r.Outputs {
			outs = append(outs, builtOutput{name: name, path: p, drv: r.DrvPath})
		}
	}
	roots := slices.Sorted(maps.Keys(built))
	if !slices.Equal(roots, slices.Sorted(slices.Values(b.roots))) {
		return fmt.Errorf("nix build %s built %v, but it instantiated to %v", b.installable, roots, b.roots)
	}
	slices.SortFunc(outs, func(x, y builtOutput) int { return strings.Compare(x.path, y.path) })
	b.outputs = outs
	return nil
}

// hashOutputs hashes the outputs with Kettle's own NAR hasher while the Nix
// database is asked for its view of them; the two must agree.
func (b *build) hashOutputs(ctx context.Context) error {
	paths := b.outputPaths()
	var infos map[string]nixinputs.PathInfo
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { infos, err = b.nix.PathInfo(gctx, paths...); return err })
	g.Go(func() (err error) { b.outputHashes, err = b.nix.HashPaths(gctx, paths, b.workers); return err })
	if err := g.Wait(); err != nil {
		return err
	}
	if err := nixinputs.CrossCheck(paths, b.outputHashes, infos); err != nil {
		return err
	}
	b.logf("hashed %d outputs (NAR SHA-256, cross-checked with the Nix database)", len(paths))
	return nil
}

func (b *build) outputPaths() []string {
	paths := make([]string, len(b.outputs))
	for i, o := range b.outputs {
		paths[i] = o.path
	}
	return paths
}

// recordOutputs records every output of every derivation of the closure: the
// top-level outputs with Kettle's own hashes (hash-outputs), the others
// with the Nix database's narHash or, with DeepHash, Kettle's own hash
// cross-checked with it. An output not valid in the store after the build
// is recorded as absent.
func (b *build) recordOutputs(ctx context.Context) error {
	top := make(map[string]builtOutput, len(b.outputs))
	for _, o := range b.outputs {
		top[o.drv+"!"+o.name] = o
	}
	var outs []provenance.DrvOutput
	var query []string
	for _, drvPath := range b.closure.Paths() {
		d := b.closure.Derivations[drvPath]
		for _, name := range slices.Sorted(maps.Keys(d.Outputs)) {
			o := provenance.DrvOutput{Drv: drvPath, Output: name, Path: d.Outputs[name].Path, By: provenance.ByNone}
			built, isTop := top[o.ID()]
			switch {
			case isTop && o.Path != "" && o.Path != built.path:
				return fmt.Errorf("nix build reported %s for output %s, its .drv says %s", built.path, o.ID(), o.Path)
			case isTop:
				// The .drv names no path for a floating content-addressed
				// output; nix build reported the one it made.
				o.Path, o.By, o.NarSHA256 = built.path, provenance.ByKettle, b.outputHashes[built.path].SHA256
			case o.Path == "":
				o.Path = provenance.UnknownOutputPath
			default:
				query = append(query, o.Path)
			}
			outs = append(outs, o)
		}
	}
	infos, err := b.nix.ValidPathInfo(ctx, query...)
	if err != nil {
		return err
	}
	valid := slices.Sorted(maps.Keys(infos))
	var ours map[string]nixinputs.NarHash
	if b.opts.DeepHash {
		if ours, err = b.nix.HashPaths(ctx, valid, b.workers); err != nil {
			return err
		}
		if err := nixinputs.CrossCheck(valid, ours, infos); err != nil {
			return err
		}
	}
	for i, o := range outs {
		info, ok := infos[o.Path]
		switch {
		case o.By != provenance.ByNone || !ok:
		case b.opts.DeepHash:
			outs[i].By, outs[i].NarSHA256 = provenance.ByKettle, ours[o.Path].SHA256
		default:
			outs[i].By, outs[i].NarSHA256 = provenance.ByNixDB, info.NarHash
		}
	}
	b.allOutputs = outs
	how := "from the Nix database"
	if b.opts.DeepHash {
		how = "re-hashed by Kettle (--deep-hash)"
	}
	b.logf("recorded %d outputs of %d derivations: %d top-level, %d %s, %d not in the store", len(outs), len(b.closure.Derivations), len(b.outputs), len(valid), how, len(outs)-len(b.outputs)-len(valid))
	return nil
}

// toolchain identifies the nix and kettle binaries: the version nix reports
// of itself, the version this binary was stamped with, and Kettle's own
// SHA-256 of each binary's bytes.
func (b *build) toolchain(ctx context.Context) error {
	nixVersion, err := b.nix.Version(ctx)
	if err != nil {
		return err
	}
	nixBin, err := b.nix.BinaryPath()
	if err != nil {
		return err
	}
	nixSum, err := FileSHA256(nixBin)
	if err != nil {
		return err
	}
	kettleBin := b.opts.KettleBinary
	if kettleBin == "" {
		if kettleBin, err = os.Executable(); err != nil {
			return fmt.Errorf("locating the kettle binary: %w", err)
		}
	}
	kettleSum, err := FileSHA256(kettleBin)
	if err != nil {
		return err
	}
	b.nixVersion = nixVersion
	b.tools = []provenance.Tool{
		{Name: "nix", Version: nixVersion, SHA256: nixSum},
		{Name: "kettle", Version: b.kettleVersion(), SHA256: kettleSum},
	}
	return nil
}

func (b *build) kettleVersion() string {
	if b.opts.KettleVersion == "" {
		return "devel"
	}
	return b.opts.KettleVersion
}

// collectInputs is the one record of the build's inputs, from which the
// manifest's leaves and the provenance's resolvedDependencies are both
// derived.
func (b *build) collectInputs() (*provenance.Inputs, error) {
	in := &provenance.Inputs{
		Source:    provenance.SourceInput{URL: b.md.LockedURL, Rev: b.md.Rev, NarHash: b.sourceNar},
		Toolchain: b.tools,
	}
	for _, f := range b.flakeInputs {
		h, err := nixinputs.ParseHash(f.NarHash)
		if err != nil {
			return nil, fmt.Errorf("flake.lock input %q: narHash %q: %w", f.Path, f.NarHash, err)
		}
		in.FlakeInputs = append(in.FlakeInputs, provenance.FlakeInput{Path: f.Path, URL: f.URL, NarHash: h})
	}
	for _, p := range b.closure.Paths() {
		d := b.closure.Derivations[p]
		di := provenance.DerivationInput{Path: p, ATermSHA256: d.ATermSHA256}
		// A fixed-output derivation's name, mode, algorithm, hash and URL are
		// what its .drv says: the hash is checked by Nix when it builds the
		// output, the URL only names where the fetch was asked to go.
		if fod, ok := d.FixedOutput(); ok {
			di.FixedOutput = &provenance.FixedOutput{Name: fod.Name, Mode: fod.Mode, Algo: fod.Algo, HashHex: fod.Hash, URL: fod.URL}
		}
		in.Derivations = append(in.Derivations, di)
	}
	for _, p := range b.sources {
		in.Sources = append(in.Sources, provenance.StoreSource{Path: p, NarHash: b.sourceHashes[p].SHA256})
	}
	in.Outputs = b.allOutputs
	return in, nil
}

// manifest records the inputs and builds the input manifest from them.
func (b *build) manifest(context.Context) error {
	in, err := b.collectInputs()
	if err != nil {
		return err
	}
	b.inputs = in
	m, err := provenance.NewManifest(in.Leaves())
	if err != nil {
		return fmt.Errorf("building the input manifest: %w", err)
	}
	if b.manifestJSON, err = m.Marshal(); err != nil {
		return err
	}
	b.manifestData = m
	return nil
}

// attribute is the flake output built: the one named, or "default", which
// is what nix builds for a ref without "#…".
func (b *build) attribute() string {
	if b.ref.Attr == "" {
		return "default"
	}
	return b.ref.Attr
}

// provenance writes provenance.json, naming the builder the attester will
// vouch for.
func (b *build) provenance(context.Context) error {
	platform := b.opts.Attester.Platform()
	// Who established each value: FlakeRef and Attribute are the user's
	// request (externalParameters say what was asked, not what was
	// proven); System is the root .drv's; the versions are those the two
	// binaries report, tied to them by the toolchain leaves' hashes; the
	// manifest root and leaf count are Kettle's own hashing; the builder ID
	// and platform name the attester; the invocation ID and the times are
	// Kettle's clock inside the builder.
	info := provenance.BuildInfo{
		FlakeRef:          b.opts.FlakeRef,
		Attribute:         b.attribute(),
		System:            b.system(),
		NixVersion:        b.nixVersion,
		KettleVersion:     b.kettleVersion(),
		ManifestVersion:   provenance.ManifestVersion,
		ManifestRoot:      b.manifestData.Root,
		ManifestLeafCount: len(b.manifestData.Leaves),
		BuilderID:         BuilderIDBase + string(platform),
		BuilderVersion:    map[string]string{"kettle": b.kettleVersion(), "platform": string(platform)},
		InvocationID:      invocationID(b.manifestData.Root, b.opts.Nonce, b.started),
		StartedOn:         b.started.UTC(),
		FinishedOn:        b.now().UTC(),
	}
	info.SetInputs(b.inputs)
	// The launch measurement is the attester's (the hardware's, or the
	// simulator's); --attest none has none.
	if m := b.opts.Attester.Measurement(); len(m) > 0 {
		info.BuilderVersion["measurement"] = fmt.Sprintf("%x", m)
	}
	// Subjects: the output paths nix built, each with Kettle's own NAR hash.
	for _, o := range b.outputs {
		h := b.outputHashes[o.path]
		info.Subjects = append(info.Subjects, provenance.Subject{Name: o.path, Output: o.name, SHA256: h.SHA256, NarSize: h.Size})
	}
	var err error
	if b.provJSON, err = provenance.EncodeStatement(info); err != nil {
		return fmt.Errorf("encoding provenance: %w", err)
	}
	b.provDigest = sha256.Sum256(b.provJSON)
	return nil
}

// system is the system of the root derivations (they agree in practice), as
// their .drv files say.
func (b *build) system() string {
	for _, r := range b.roots {
		if d, ok := b.closure.Derivations[r]; ok && d.System != "" {
			return d.System
		}
	}
	return runtime.GOARCH + "-" + runtime.GOOS
}

// attest binds report_data = SHA-256(provenance.json) ‖ nonce.
func (b *build) attest(ctx context.Context) error {
	platform := b.opts.Attester.Platform()
	b.logf("attesting with %s", platform)
	ev, err := b.opts.Attester.Attest(ctx, attest.ReportData(b.provDigest, b.opts.Nonce))
	if err != nil {
		return fmt.Errorf("attesting with %s: %w", platform, err)
	}
	if b.evidenceJSON, err = ev.Marshal(); err != nil {
		return fmt.Errorf("encoding evidence: %w", err)
	}
	return nil
}

// write writes the bundle to a temporary sibling and renames it into place;
// on any error or cancellation the sibling is removed.
func (b *build) write(ctx context.Context) (err error) {
	w, err := provenance.CreateBundle(b.opts.Output)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, w.Abort())
		}
	}()
	for _, f := range []struct {
		name string
		data []byte
	}{
		{provenance.FileProvenance, b.provJSON},
		{provenance.FileEvidence, b.evidenceJSON},
		{provenance.FileManifest, b.manifestJSON},
	} {
		if err := w.AddFile(f.name, f.data); err != nil {
			return err
		}
	}
	if c := b.opts.Artifacts; c != "" {
		for _, p := range b.outputPaths() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := w.AddArtifact(path.Base(p), c, func(dst io.Writer) error {
				return nixinputs.WriteNAR(dst, p)
			}); err != nil {
				return fmt.Errorf("exporting %s: %w", p, err)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := w.Commit(); err != nil {
		return err
	}
	b.logf("wrote %s", b.opts.Output)
	return nil
}

// result is what the build reports.
func (b *build) result() *BuildResult {
	platform := b.opts.Attester.Platform()
	r := &BuildResult{
		Bundle:           b.opts.Output,
		FlakeRef:         b.opts.FlakeRef,
		LockedURL:        b.md.LockedURL,
		Attribute:        b.ref.Attr,
		Derivations:      len(b.closure.Derivations),
		Sources:          len(b.sources),
		ManifestRoot:     fmt.Sprintf("%x", b.manifestData.Root),
		ManifestLeaves:   len(b.manifestData.Leaves),
		ProvenanceSHA256: fmt.Sprintf("%x", b.provDigest),
		Platform:         platform,
		Simulated:        platform.Simulated(),
		Measurement:      fmt.Sprintf("%x", b.opts.Attester.Measurement()),
		Nonce:            fmt.Sprintf("%x", b.opts.Nonce),
		Timings:          b.timings,
	}
	for _, o := range b.outputs {
		h := b.outputHashes[o.path]
		r.Outputs = append(r.Outputs, Output{Name: o.name, StorePath: o.path, NarSHA256: h.Hex(), NarSize: h.Size, Derivation: o.drv})
	}
	return r
}

// maxToolBinary bounds the nix and kettle binaries hashed for the
// toolchain leaves; both are tens of MB.
const maxToolBinary = 1 << 30

// FileSHA256 is the SHA-256 of a file's bytes (binaries in the toolchain
// leaves): a regular file of at most 1 GiB, opened once.
func FileSHA256(p string) ([32]byte, error) {
	var sum [32]byte
	f, err := inputfile.Open(p, maxToolBinary)
	if err != nil {
		return sum, fmt.Errorf("hashing %s: %w", p, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("hashing %s: %w", p, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// invocationID is unique per build without needing a random source: it
// hashes the manifest root, nonce and start time.
func invocationID(root [32]byte, nonce [32]byte, t time.Time) string {
	h := sha256.New()
	h.Write(root[:])
	h.Write(nonce[:])
	h.Write([]byte(t.UTC().Format(time.RFC3339Nano)))
	s := fmt.Sprintf("%x", h.Sum(nil))
	return strings.Join([]string{s[0:8], s[8:12], s[12:16], s[16:20], s[20:32]}, "-")
}
