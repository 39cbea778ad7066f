package rebuild

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
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
// output with what the bundle attests. The result is returned whenever the
// bundle could be opened, with an error when the rebuild stopped before
// every output was compared (Result.Error says the same); a difference is
// not an error, it is in the result.
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
	manifest    *provenance.Manifest
	leaves      map[string]provenance.DrvOutput // output leaves by ID, drv!name (version 2)
	drvLeaves   map[string]bool                 // the manifest's drv leaves
	// instantiate
	closure *nixinputs.Closure
	// compare: the trees of each output compared, by store path, and the
	// outputs explain lists the differing files of
	trees   map[string]*outputTrees
	explain []*Output
}

// outputTrees are where the two trees of one output are.
type outputTrees struct {
	// attested lists the candidates for the attested tree, best first:
	// the bundle's artifact of a subject, then the valid store path; the
	// first whose NAR SHA-256 is the attested one is used.
	attested []treeSource
	// local is the local rebuild's tree, "" when there is none.
	local string
}

// treeSource is one place an attested tree may be.
type treeSource struct {
	storePath string               // a valid store path, or
	artifact  *provenance.Artifact // a NAR in the bundle
	narSize   uint64               // the artifact's size, as its subject signs it
}

func (t treeSource) String() string {
	if t.artifact != nil {
		return "artifact " + t.artifact.File
	}
	return "store path " + t.storePath
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
	st, err := provenance.DecodeStatement(b.Provenance)
	if err != nil {
		return fmt.Errorf("bundle %s: %s: %w", r.opts.Bundle, provenance.FileProvenance, err)
	}
	m, err := provenance.DecodeManifest(b.Manifest)
	if err != nil {
		return fmt.Errorf("bundle %s: %s: %w", r.opts.Bundle, provenance.FileManifest, err)
	}
	r.bundle, r.stmt, r.manifest = b, st, m
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
	if st.Source.URI == "" || st.Attribute == "" {
		return fmt.Errorf("%s: no locked source URL or attribute to rebuild", provenance.FileProvenance)
	}
	res.Installable = st.Source.URI + "#" + st.Attribute
	if r.opts.Deep && m.Version < provenance.ManifestV2 {
		return fmt.Errorf("--deep: the bundle's manifest is version %d, which records the outputs of the top-level derivations only; --deep needs version %d (kettle build from this release on)", m.Version, provenance.ManifestV2)
	}
	outs, err := m.CheckOutputLeaves()
	if err != nil {
		return fmt.Errorf("bundle %s: %s: %w", r.opts.Bundle, provenance.FileManifest, err)
	}
	r.leaves = make(map[string]provenance.DrvOutput, len(outs))
	for _, o := range outs {
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

// compareTop rebuilds the root derivations and compares the provenance
// subjects.
func (r *rebuilder) compareTop(ctx context.Context) error {
	type ref struct{ drv, name string }
	byPath := map[string]ref{}
	for _, root := range r.closure.Roots {
		for name, o := range r.closure.Derivations[root].Outputs {
			if o.Path != "" {
				byPath[o.Path] = ref{root, name}
			}
		}
	}
	outs := make([]Output, len(r.stmt.Subjects))
	wanted := map[string][]int{} // root .drv → indexes of its subjects
	for i, s := range r.stmt.Subjects {
		o := Output{Name: s.Output, StorePath: s.Name, AttestedSHA256: hex.EncodeToString(s.SHA256[:]), AttestedBy: "subject", Method: MethodNone}
		ref, ok := byPath[s.Name]
		if !ok {
			o.Status, o.Reason = NotBuilt, r.notInstantiated(s.Name)
			outs[i] = o
			continue
		}
		o.Drv = ref.drv
		if o.Name == "" {
			o.Name = ref.name
		}
		outs[i] = o
		wanted[ref.drv] = append(wanted[ref.drv], i)
	}
	for _, root := range r.closure.Roots {
		idx := wanted[root]
		if len(idx) == 0 {
			continue
		}
		local := r.rebuildDerivation(ctx, r.closure.Derivations[root])
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, i := range idx {
			o := &outs[i]
			r.settle(o, local[o.StorePath], r.subjectArtifact(r.stmt.Subjects[i]))
		}
	}
	r.res.Outputs = outs
	for i := range r.res.Outputs {
		if r.res.Outputs[i].Status == Differs {
			r.explain = append(r.explain, &r.res.Outputs[i])
		}
	}
	return nil
}

// notInstantiated explains a subject that no local root derivation builds.
func (r *rebuilder) notInstantiated(storePath string) string {
	msg := fmt.Sprintf("%s instantiates here to %v, which do not build %s: the evaluation differs from the attested build's", r.res.Installable, r.closure.Roots, storePath)
	for _, l := range r.leaves {
		if l.Path == storePath {
			msg += fmt.Sprintf(" (the bundle says %s builds it)", l.Drv)
		}
	}
	return msg
}

// subjectArtifact is the bundle's artifact of a subject, if it has one.
func (r *rebuilder) subjectArtifact(s provenance.Subject) *treeSource {
	for i, a := range r.bundle.Artifacts {
		if a.Name == path.Base(s.Name) {
			return &treeSource{artifact: &r.bundle.Artifacts[i], narSize: s.NarSize}
		}
	}
	return nil
}

// localOutput is what a local rebuild left of one output.
type localOutput struct {
	method Method
	// tree is the local rebuild: the store path, or <path>.check; "" when
	// there is none.
	tree string
	// valid: the store path was valid before the rebuild, so it may be
	// the attested tree.
	valid bool
	// reason says why there is no tree, or, with lostDiffer, that Nix
	// found the rebuild different but did not keep it.
	reason     string
	lostDiffer bool
}

// rebuildDerivation rebuilds one derivation and reports, by output path,
// where each output's local tree is. A fixed-output derivation whose
// output is valid is not rebuilt: Nix checked its content against the
// hash in its .drv. Outputs that are all valid are rebuilt in check mode;
// otherwise the derivation is built.
func (r *rebuilder) rebuildDerivation(ctx context.Context, d *nixinputs.Derivation) map[string]localOutput {
	local := map[string]localOutput{}
	var paths []string
	for _, o := range d.Outputs {
		if o.Path != "" {
			paths = append(paths, o.Path)
		}
	}
	// fail sets every output not yet set to lo, with reason.
	fail := func(lo localOutput, reason string) map[string]localOutput {
		lo.reason = reason
		for _, p := range paths {
			if _, done := local[p]; !done {
				local[p] = lo
			}
		}
		return local
	}
	none := localOutput{method: MethodNone}
	if len(paths) < len(d.Outputs) {
		return fail(none, "a floating content-addressed output: its path is known only once built, and kettle rebuild compares outputs by path")
	}
	valid, err := r.nix.ValidPathInfo(ctx, paths...)
	if err != nil {
		return fail(none, err.Error())
	}
	_, fixed := d.FixedOutput()
	switch {
	case fixed && len(valid) == len(paths):
		r.logf("fixed-output %s: valid, not fetched again", d.Path)
		for _, p := range paths {
			local[p] = localOutput{method: MethodFixed, tree: p, valid: true}
		}
	case len(valid) == len(paths):
		r.logf("checking %s", d.Path)
		res, err := r.nix.CheckDerivation(ctx, d.Path)
		if err != nil {
			// The outputs are still the valid ones.
			return fail(localOutput{method: MethodCheck, valid: true}, "nix-store --realise --check failed: "+err.Error())
		}
		for _, p := range paths {
			lo := localOutput{method: MethodCheck, tree: p, valid: true}
			if kept, differs := res.Differs[p]; differs {
				lo.tree = kept
				lo.lostDiffer = kept == ""
				if lo.lostDiffer {
					lo.reason = "Nix found the rebuild different from the valid path but did not keep it"
				}
			} else if len(res.Differs) > 0 && !res.Listed && len(paths) > 1 {
				lo.tree, lo.reason = "", "not compared: this Nix stops checking a derivation at its first output that differs"
			}
			local[p] = lo
		}
	default:
		r.logf("building %s", d.Path)
		built, err := r.nix.RealiseDerivation(ctx, d.Path)
		if err != nil {
			return fail(localOutput{method: MethodBuild}, "nix-store --realise failed: "+err.Error())
		}
		for _, p := range built {
			local[p] = localOutput{method: MethodBuild, tree: p}
		}
		// Any output it did not print is not built.
		return fail(localOutput{method: MethodBuild}, "nix-store --realise did not report this output")
	}
	return local
}

// settle hashes an output's local tree and compares it with the attested
// hash, recording where both trees are for explainDifferences. artifact is
// the bundle's NAR of the output, if any.
func (r *rebuilder) settle(o *Output, lo localOutput, artifact *treeSource) {
	o.Method, o.LocalPath = lo.method, lo.tree
	if o.Method == "" {
		o.Method, lo.reason = MethodNone, "nothing rebuilt this output"
	}
	if lo.tree == "" && !lo.lostDiffer {
		o.Status, o.Reason = NotBuilt, lo.reason
		return
	}
	trees := &outputTrees{local: lo.tree}
	if artifact != nil {
		trees.attested = append(trees.attested, *artifact)
	}
	if lo.valid {
		trees.attested = append(trees.attested, treeSource{storePath: o.StorePath})
	}
	r.trees[o.StorePath] = trees
	if lo.lostDiffer {
		// Nix says the rebuild differs from the valid path: it differs
		// from the attested tree if that is the valid path.
		sum, err := nixinputs.HashPath(o.StorePath)
		switch {
		case err != nil:
			o.Status, o.Reason = NotBuilt, lo.reason+", and hashing the valid path failed: "+err.Error()
		case hex.EncodeToString(sum.SHA256[:]) == o.AttestedSHA256:
			o.Status, o.Reason = Differs, lo.reason
		default:
			o.Status, o.Reason = NotBuilt, lo.reason+", and the valid path is not the attested one either"
		}
		return
	}
	sum, err := nixinputs.HashPath(lo.tree)
	if err != nil {
		o.Status, o.Reason = NotBuilt, fmt.Sprintf("hashing the rebuild %s: %v", lo.tree, err)
		return
	}
	o.LocalSHA256 = sum.Hex()
	switch {
	case o.AttestedSHA256 == "":
		o.Status = NotAttested
	case o.LocalSHA256 == o.AttestedSHA256:
		o.Status = Reproduced
	default:
		o.Status = Differs
	}
}

// explainDifferences lists the differing files of each output chosen by
// the compare stage and, with --diffoscope, runs diffoscope on them.
func (r *rebuilder) explainDifferences(ctx context.Context) error {
	for _, o := range r.explain {
		if err := ctx.Err(); err != nil {
			return err
		}
		trees := r.trees[o.StorePath]
		if trees == nil || trees.local == "" {
			o.DiffUnavailable = "the local rebuild was not kept"
			continue
		}
		attested, src, why := r.attestedListing(ctx, o, trees.attested)
		if attested == nil {
			o.DiffUnavailable = why
			continue
		}
		local, _, err := listTree(ctx, trees.local)
		if err != nil {
			o.DiffUnavailable = err.Error()
			continue
		}
		o.DifferingFiles, o.DifferingCount = diffListings(attested, local, r.maxFiles)
		r.logf("%s: %d entries differ (attested tree: %s)", o.StorePath, o.DifferingCount, src)
		if r.diffoscope != nil {
			r.runDiffoscope(ctx, o, src, trees.local)
		}
	}
	return nil
}

// attestedListing lists the first candidate tree whose NAR SHA-256 is the
// attested one, or says why there is none.
func (r *rebuilder) attestedListing(ctx context.Context, o *Output, candidates []treeSource) ([]listedEntry, treeSource, string) {
	if len(candidates) == 0 {
		return nil, treeSource{}, "the attested tree is not at hand: the bundle has no artifact of this output and the store path was not valid here before the rebuild"
	}
	var why []string
	for _, c := range candidates {
		list, sum, err := r.listSource(ctx, c)
		switch {
		case err != nil:
			why = append(why, fmt.Sprintf("%s: %v", c, err))
		case hex.EncodeToString(sum[:]) != o.AttestedSHA256:
			why = append(why, fmt.Sprintf("%s has NAR SHA-256 %x, not the attested one", c, sum))
		default:
			return list, c, ""
		}
	}
	return nil, treeSource{}, fmt.Sprintf("the attested tree is not at hand: %v", why)
}

func (r *rebuilder) listSource(ctx context.Context, c treeSource) ([]listedEntry, [32]byte, error) {
	if c.artifact == nil {
		return listTree(ctx, c.storePath)
	}
	rc, err := r.bundle.OpenArtifactLimit(*c.artifact, narLimit(c.narSize))
	if err != nil {
		return nil, [32]byte{}, err
	}
	defer rc.Close()
	return listNAR(rc)
}

// narLimit is the decompression limit of an artifact whose subject signs
// narSize.
func narLimit(narSize uint64) int64 {
	if narSize > 1<<62 {
		return 1 << 62
	}
	return int64(narSize)
}

// runDiffoscope writes diffoscope's reports on an output's two trees to
// the keep directory, unpacking an artifact first.
func (r *rebuilder) runDiffoscope(ctx context.Context, o *Output, src treeSource, local string) {
	dir, err := r.keepDir()
	if err != nil {
		o.DiffoscopeError = err.Error()
		return
	}
	attested := src.storePath
	if src.artifact != nil {
		tmp, err := os.MkdirTemp("", "kettle-rebuild-attested-")
		if err != nil {
			o.DiffoscopeError = err.Error()
			return
		}
		defer os.RemoveAll(tmp)
		attested = tmp + "/" + path.Base(o.StorePath)
		if err := r.unpackArtifact(src, attested); err != nil {
			o.DiffoscopeError = fmt.Sprintf("unpacking %s: %v", src, err)
			return
		}
	}
	text, html := reportNames(dir, o.StorePath)
	r.logf("diffoscope %s %s", attested, local)
	if err := r.diffoscope.compare(ctx, attested, local, text, html); err != nil {
		o.DiffoscopeError = err.Error()
		return
	}
	o.DiffoscopeReport, o.DiffoscopeHTML = text, html
}

func (r *rebuilder) unpackArtifact(src treeSource, dest string) error {
	rc, err := r.bundle.OpenArtifactLimit(*src.artifact, narLimit(src.narSize))
	if err != nil {
		return err
	}
	defer rc.Close()
	return unpackNAR(rc, dest)
}

// keepDir returns the directory for reports, making it on first use.
func (r *rebuilder) keepDir() (string, error) {
	if r.res.Keep != "" {
		return r.res.Keep, nil
	}
	dir := r.opts.Keep
	if dir == "" {
		d, err := os.MkdirTemp("", "kettle-rebuild-")
		if err != nil {
			return "", fmt.Errorf("making a directory for the reports: %w", err)
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("--keep: %w", err)
	}
	r.res.Keep = dir
	return dir, nil
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

// deepSubjects are the provenance subjects as the closure compared them.
func (r *rebuilder) deepSubjects(byPath map[string]Output) []Output {
	outs := make([]Output, 0, len(r.stmt.Subjects))
	for _, s := range r.stmt.Subjects {
		o, ok := byPath[s.Name]
		if !ok {
			o = Output{Name: s.Output, StorePath: s.Name, AttestedSHA256: hex.EncodeToString(s.SHA256[:]), AttestedBy: "subject", Method: MethodNone, Status: NotBuilt, Reason: r.notInstantiated(s.Name)}
		}
		outs = append(outs, o)
	}
	return outs
}
