package rebuild

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/provenance"
	"github.com/kettle-build/kettle/verify"
)

// DefaultMaxFiles is how many differing entries an output lists when
// Options.MaxFiles is 0.
const DefaultMaxFiles = 20

// Options say what to rebuild and how.
type Options struct {
	// Bundle is the bundle directory or .tar file.
	Bundle string
	// Verify is what the verifier expects of the bundle, as `kettle
	// verify` takes it; its Bundle is set from Bundle.
	Verify verify.Options
	// AllowUnverified rebuilds a bundle that does not verify; every output
	// of the result then says so, and Result.OK is false.
	AllowUnverified bool
	// Deep compares every output leaf of a version 2 manifest, bottom-up
	// through the closure, not only the top-level outputs.
	Deep bool
	// Diffoscope runs diffoscope on the two trees of each output that
	// differs (with Deep, of each first-differing derivation) and keeps
	// its reports in Keep. It fails before anything is built when
	// diffoscope is not installed.
	Diffoscope bool
	// DiffoscopeTimeout bounds one diffoscope run; 0 means
	// DefaultDiffoscopeTimeout.
	DiffoscopeTimeout time.Duration
	// Keep is the directory for the reports, made if need be; "" means a
	// new temporary directory, made when the first report is written.
	Keep string
	// MaxFiles bounds the differing entries listed per output; 0 means
	// DefaultMaxFiles.
	MaxFiles int
	// Nix drives nix and nix-store.
	Nix *nixinputs.Driver
	// Log, when set, receives a line per stage and per derivation.
	Log io.Writer
}

// Run verifies the bundle, realises its locked ref here and compares every
// output with what the bundle attests. A difference is not an error: it is
// in the result. An error says the rebuild stopped before every output was
// compared; the result then holds what was established until then, and
// Result.Error says the same. Only bad options, or --diffoscope without
// diffoscope, return no result.
func Run(ctx context.Context, opts Options) (*Result, error) {
	r, err := newRebuilder(opts)
	if err != nil {
		return nil, err
	}
	err = r.run(ctx)
	r.finish(err)
	return r.res, err
}

// rebuilder carries one rebuild: what each stage established for the next.
type rebuilder struct {
	opts       Options
	res        *Result
	nix        *nixinputs.Driver
	diffoscope *diffoscope
	maxFiles   int

	// verify and read
	notVerified string // "bundle not verified: …", "" when it verified
	bundle      *provenance.Bundle
	stmt        *provenance.Statement
	leaves      map[string]provenance.DrvOutput // output leaves by ID, drv!name (version 2)
	drvLeaves   map[string]bool                 // the manifest's drv leaves
	// instantiate
	closure *nixinputs.Closure
	// compare: the trees of each output compared, by store path, and the
	// outputs explain lists the differing files of
	trees   map[string]*outputTrees
	explain []*Output
}

func newRebuilder(opts Options) (*rebuilder, error) {
	if opts.Bundle == "" {
		return nil, errors.New("no bundle")
	}
	if opts.Nix == nil {
		opts.Nix = &nixinputs.Driver{}
	}
	if opts.MaxFiles < 0 {
		return nil, fmt.Errorf("MaxFiles %d: want 0 (the default, %d) or more", opts.MaxFiles, DefaultMaxFiles)
	}
	r := &rebuilder{
		opts:     opts,
		res:      &Result{Bundle: opts.Bundle, Deep: opts.Deep, Outputs: []Output{}},
		nix:      opts.Nix,
		maxFiles: opts.MaxFiles,
		trees:    map[string]*outputTrees{},
	}
	if r.maxFiles == 0 {
		r.maxFiles = DefaultMaxFiles
	}
	if opts.Diffoscope {
		d, err := findDiffoscope(opts.DiffoscopeTimeout)
		if err != nil {
			return nil, err
		}
		r.diffoscope = d
	}
	return r, nil
}

func (r *rebuilder) logf(format string, args ...any) {
	if r.opts.Log != nil {
		fmt.Fprintf(r.opts.Log, format+"\n", args...)
	}
}

// run runs the stages in order; the first error stops it.
func (r *rebuilder) run(ctx context.Context) error {
	compare := r.compareTop
	if r.opts.Deep {
		compare = r.compareDeep
	}
	for _, stage := range []func(context.Context) error{
		r.verify, r.read, r.checkSystem, r.instantiate, compare, r.explainDifferences,
	} {
		if err := stage(ctx); err != nil {
			return err
		}
	}
	return nil
}

// verify runs the verifier with the caller's options and refuses a bundle
// that does not verify unless the caller allows it.
func (r *rebuilder) verify(ctx context.Context) error {
	vopts := r.opts.Verify
	vopts.Bundle = r.opts.Bundle
	rep := verify.Verify(ctx, vopts)
	r.res.Verification = rep
	r.res.Verified = rep.OK
	r.res.Platform = string(rep.Platform)
	if rep.Foreign != "" {
		return fmt.Errorf("bundle %s was made by %s: kettle rebuild rebuilds Kettle's own bundles", r.opts.Bundle, rep.Foreign)
	}
	if rep.OK {
		r.logf("bundle %s: %s", r.opts.Bundle, rep.Verdict())
		return nil
	}
	reason := rep.Verdict()
	for _, s := range rep.Steps {
		if s.Step == rep.Failed {
			reason += ": " + s.Detail
		}
	}
	r.res.NotVerifiedReason = reason
	if !r.opts.AllowUnverified {
		return fmt.Errorf("bundle %s does not verify (%s); --allow-unverified rebuilds it anyway", r.opts.Bundle, reason)
	}
	r.notVerified = "bundle not verified: " + reason
	r.logf("bundle %s: %s — rebuilding anyway (--allow-unverified)", r.opts.Bundle, reason)
	return nil
}

// read decodes the bundle's provenance and manifest: what was built, from
// which locked source, for which system, and what every output hashed to.
func (r *rebuilder) read(context.Context) error {
	b, err := provenance.OpenBundle(r.opts.Bundle)
	if err != nil {
		return err
	}
	st, err := b.DecodeStatement()
	if err != nil {
		return fmt.Errorf("bundle %s: %s: %w", r.opts.Bundle, provenance.FileProvenance, err)
	}
	m, err := b.DecodeManifest()
	if err != nil {
		return fmt.Errorf("bundle %s: %s: %w", r.opts.Bundle, provenance.FileManifest, err)
	}
	r.bundle, r.stmt = b, st
	sum := st.Digest()
	res := r.res
	res.ProvenanceSHA256 = hex.EncodeToString(sum[:])
	res.FlakeRef, res.Attribute, res.System = st.FlakeRef, st.Attribute, st.System
	res.LockedRef, res.BuilderID, res.ManifestVersion = st.Source.URI, st.BuilderID, m.Version
	if res.Platform == "" {
		res.Platform = st.BuilderVersion["platform"]
	}
	if st.BuildType != provenance.BuildTypeNixFlakeV1 {
		return fmt.Errorf("%s: buildType %q: kettle rebuild rebuilds %q", provenance.FileProvenance, st.BuildType, provenance.BuildTypeNixFlakeV1)
	}
	if err := r.setInstallable(st); err != nil {
		return fmt.Errorf("bundle %s: %s: %w", r.opts.Bundle, provenance.FileProvenance, err)
	}
	if r.opts.Deep && m.Version < provenance.ManifestV2 {
		return fmt.Errorf("--deep: the bundle's manifest is version %d, which records the outputs of the top-level derivations only; --deep needs version %d (kettle build from this release on)", m.Version, provenance.ManifestV2)
	}
	// Verification checked the rules of the output leaves; without it,
	// what breaks one is reported output by output, except a second leaf
	// of one output, which leaves two attested hashes.
	outs, err := m.Outputs()
	if err != nil {
		return fmt.Errorf("bundle %s: %s: %w", r.opts.Bundle, provenance.FileManifest, err)
	}
	r.leaves = make(map[string]provenance.DrvOutput, len(outs))
	for _, o := range outs {
		if _, dup := r.leaves[o.ID()]; dup {
			return fmt.Errorf("bundle %s: %s: two output leaves of %s", r.opts.Bundle, provenance.FileManifest, o.ID())
		}
		r.leaves[o.ID()] = o
	}
	r.drvLeaves = map[string]bool{}
	for _, s := range m.Leaves {
		if l, err := provenance.ParseLeaf(s); err == nil && l.Kind == provenance.KindDrv {
			r.drvLeaves[l.Name] = true
		}
	}
	return nil
}

// setInstallable makes the installable to realise from the locked source
// URL and the attribute, which nix is given as one argument: it must be a
// flake reference with a scheme (as a locked URL has), never a bare path
// or a registry name, which would resolve differently here, nor anything
// nix would read as an option.
func (r *rebuilder) setInstallable(st *provenance.Statement) error {
	if st.Source.URI == "" || st.Attribute == "" {
		return errors.New("no locked source URL or attribute to rebuild")
	}
	ref, err := nixinputs.ParseFlakeRef(st.Source.URI + "#" + st.Attribute)
	if err != nil {
		return fmt.Errorf("the locked source and attribute: %w", err)
	}
	if t := ref.Type(); t == "indirect" || !strings.Contains(ref.URL, ":") {
		return fmt.Errorf("the locked source %q is not a locked flake URL with a scheme (its kind: %s)", ref.URL, t)
	}
	r.res.Installable = ref.String()
	return nil
}

// checkSystem refuses a bundle built for another system: Nix here could
// not build it, or would build it under emulation, which is not the same
// build.
func (r *rebuilder) checkSystem(ctx context.Context) error {
	local, err := r.nix.System(ctx)
	if err != nil {
		return err
	}
	if r.res.System == "" {
		return fmt.Errorf("%s names no system (externalParameters.system); this machine builds %s", provenance.FileProvenance, local)
	}
	if r.res.System != local {
		return fmt.Errorf("the bundle was built for %s and this machine builds %s: rebuild it on a %s machine", r.res.System, local, r.res.System)
	}
	if r.res.NixVersion, err = r.nix.Version(ctx); err != nil {
		return err
	}
	return nil
}

// instantiate evaluates the locked ref here and reads its derivation
// closure from the local .drv files.
func (r *rebuilder) instantiate(ctx context.Context) error {
	r.logf("instantiating %s", r.res.Installable)
	roots, err := r.nix.Instantiate(ctx, r.res.Installable)
	if err != nil {
		return err
	}
	c, err := nixinputs.WalkClosure(ctx, roots, nixinputs.WalkOptions{})
	if err != nil {
		return err
	}
	r.closure = c
	r.logf("%d derivations in the local closure", len(c.Derivations))
	return nil
}

// finish counts the outputs, says on each that the bundle did not verify
// when it did not, and sets OK and Error.
func (r *rebuilder) finish(err error) {
	res := r.res
	all := res.Outputs
	if res.Closure != nil {
		all = nil
		byPath := map[string]Output{}
		for _, d := range res.Closure.Derivations {
			all = append(all, d.Outputs...)
			for _, o := range d.Outputs {
				byPath[o.StorePath] = o
			}
		}
		res.Outputs = r.deepSubjects(byPath)
	}
	var c Counts
	for _, o := range all {
		switch o.Status {
		case Reproduced:
			c.Reproduced++
		case Differs:
			c.Differs++
		case NotBuilt:
			c.NotBuilt++
		case NotAttested:
			c.NotAttested++
		}
	}
	if res.Closure != nil {
		for _, d := range res.Closure.Derivations {
			switch {
			case d.FirstDiffering:
				c.FirstDiffering++
			case d.Status == Differs:
				c.DiffersInputsDiffered++
			}
		}
	}
	res.Counts = c
	if r.notVerified != "" {
		for i := range res.Outputs {
			res.Outputs[i].NotVerified = r.notVerified
		}
		if res.Closure != nil {
			for i := range res.Closure.Derivations {
				for j := range res.Closure.Derivations[i].Outputs {
					res.Closure.Derivations[i].Outputs[j].NotVerified = r.notVerified
				}
			}
		}
	}
	if err != nil {
		res.Error = err.Error()
	}
	res.OK = err == nil && res.Verified && len(all) > 0 && c.Reproduced == len(all)
}
