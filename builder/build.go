package builder

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/kettle-build/kettle/attest"
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
	// It must not exist yet.
	Output string
	// Attester produces the hardware (or simulated) evidence.
	Attester attest.Attester
	// Nonce is the requester's 32-byte nonce (all zero when there is none).
	Nonce [32]byte
	// Artifacts selects whether NAR exports of the outputs go into the bundle,
	// and with which compression ("" means none).
	Artifacts provenance.Compression
	// Nix drives the nix CLI.
	Nix *nixinputs.Driver
	// KettleVersion and KettleBinary identify this build tool in the manifest's
	// toolchain leaves. KettleBinary "" means os.Executable().
	KettleVersion string
	KettleBinary  string
	// Workers bounds the parallelism of the closure walk and of hashing
	// (0 means GOMAXPROCS).
	Workers int
	// Log receives one line per pipeline stage (nil: discarded).
	Log io.Writer
	// Now is the clock (nil: time.Now); tests pin it.
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
// error nothing is left at opts.Output.
func Build(ctx context.Context, opts BuildOptions) (*BuildResult, error) {
	if opts.Attester == nil {
		return nil, errors.New("no attestation backend given")
	}
	if opts.Nix == nil {
		opts.Nix = &nixinputs.Driver{}
	}
	if opts.Output == "" {
		return nil, errors.New("no bundle path given")
	}
	if _, err := os.Lstat(opts.Output); err == nil {
		return nil, fmt.Errorf("bundle %s already exists: refusing to overwrite it", opts.Output)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	logf := func(format string, args ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, format+"\n", args...)
		}
	}
	timings := map[string]string{}
	stage := func(name string, start time.Time) {
		d := time.Since(start).Round(time.Millisecond)
		timings[name] = d.String()
	}
	started := now()

	ref, err := nixinputs.ParseFlakeRef(opts.FlakeRef)
	if err != nil {
		return nil, err
	}
	// The toolchain leaves need nix's version and both binaries' digests;
	// gather them while nix resolves and builds.
	toolchainCh := make(chan toolchainFacts, 1)
	go func() { toolchainCh <- gatherToolchain(ctx, opts) }()

	// 1. Resolve to a locked ref; Metadata refuses unlocked inputs and dirty trees.
	t := time.Now()
	logf("resolving %s", ref.URL)
	md, err := opts.Nix.Metadata(ctx, ref.URL)
	if err != nil {
		return nil, err
	}
	sourceNar, err := nixinputs.ParseHash(md.NarHash)
	if err != nil {
		return nil, fmt.Errorf("flake %s: narHash %q: %w", ref.URL, md.NarHash, err)
	}
	var inputs []nixinputs.LockedInput
	if md.Lock != nil {
		if inputs, err = md.Lock.LockedInputs(); err != nil {
			return nil, fmt.Errorf("flake.lock of %s: %w", ref.URL, err)
		}
	}
	stage("resolve", t)

	// 2. Instantiate the locked ref, so that the source built is the one
	// recorded. The derivations are in the store before anything builds, so
	// the closure walk and the hashing of the sources run while nix builds.
	t = time.Now()
	installable := md.LockedURL
	if ref.Attr != "" {
		installable += "#" + ref.Attr
	}
	roots, err := opts.Nix.Instantiate(ctx, installable)
	if err != nil {
		return nil, err
	}
	stage("instantiate", t)
	srcCtx, cancelSrc := context.WithCancel(ctx)
	defer cancelSrc()
	srcCh := make(chan sourceResult, 1)
	go func() { srcCh <- walkAndHashSources(srcCtx, opts.Nix, roots, workers) }()

	// 3. Realise.
	t = time.Now()
	logf("building %s", installable)
	results, err := opts.Nix.Build(ctx, installable)
	if err != nil {
		return nil, err
	}
	if len(results) == 0 {
		return nil, fmt.Errorf("nix build %s produced no outputs", installable)
	}
	stage("realise", t)
	type outRef struct{ name, path, drv string }
	var outs []outRef
	built := map[string]bool{}
	for _, r := range results {
		built[r.DrvPath] = true
		for name, p := range r.Outputs {
			outs = append(outs, outRef{name: name, path: p, drv: r.DrvPath})
		}
	}
	sort.Slice(outs, func(i, j int) bool { return outs[i].path < outs[j].path })
	if len(built) != len(roots) || !allIn(roots, built) {
		return nil, fmt.Errorf("nix build %s built %v, but it instantiated to %v", installable, keys(built), roots)
	}

	// 4. The sources (walked and hashed meanwhile), then the outputs: hashed
	// by Kettle and cross-checked with the Nix database.
	t = time.Now()
	sr := <-srcCh
	if sr.err != nil {
		return nil, sr.err
	}
	stage("wait-sources", t)
	t = time.Now()
	closure, srcs, srcHashes := sr.closure, sr.srcs, sr.hashes
	timings["walk"], timings["hash-sources"] = sr.walk.String(), sr.hash.String()
	logf("walked %d derivations", len(closure.Derivations))
	outPaths := make([]string, len(outs))
	for i, o := range outs {
		outPaths[i] = o.path
	}
	infoCh := make(chan pathInfoResult, 1)
	go func() {
		infos, err := opts.Nix.PathInfo(ctx, outPaths...)
		infoCh <- pathInfoResult{infos, err}
	}()
	outHashes, err := nixinputs.HashPaths(ctx, outPaths, workers)
	ir := <-infoCh
	if err != nil {
		return nil, err
	}
	if ir.err != nil {
		return nil, ir.err
	}
	if err := crossCheck(outPaths, outHashes, ir.infos); err != nil {
		return nil, err
	}
	logf("hashed %d outputs and %d sources (NAR SHA-256, cross-checked with the Nix database)", len(outs), len(srcs))
	stage("hash-outputs", t)

	// 5. The input manifest.
	t = time.Now()
	tc := <-toolchainCh
	if tc.err != nil {
		return nil, tc.err
	}
	nixVersion, kettleVersion := tc.nixVersion, tc.kettleVersion

	leaves := provenance.SourceLeaves(md.LockedURL, md.Rev, sourceNar)
	attr := ref.Attr
	if attr == "" {
		attr = "default" // what nix builds for a ref without "#…"
	}
	info := provenance.BuildInfo{
		FlakeRef:  opts.FlakeRef,
		Attribute: attr,
		System:    closureSystem(closure, roots),
		Source: provenance.Dependency{
			Name:        "source",
			URI:         md.LockedURL,
			SHA256:      sourceNar,
			Annotations: map[string]string{"narHash": md.NarHash},
		},
		NixVersion:      nixVersion,
		KettleVersion:   kettleVersion,
		ManifestVersion: provenance.ManifestVersion,
	}
	if md.Rev != "" {
		info.Source.Annotations["rev"] = md.Rev
	}
	for _, in := range inputs {
		h, err := nixinputs.ParseHash(in.NarHash)
		if err != nil {
			return nil, fmt.Errorf("flake.lock input %q: narHash %q: %w", in.Path, in.NarHash, err)
		}
		leaves = append(leaves, provenance.FlakeInputLeaf(in.Path, in.URL, h))
		info.FlakeInputs = append(info.FlakeInputs, provenance.Dependency{
			Name: in.Path, URI: in.URL, SHA256: h,
			Annotations: map[string]string{"narHash": in.NarHash},
		})
	}
	for _, p := range closure.Paths() {
		d := closure.Derivations[p]
		leaves = append(leaves, provenance.DrvLeaf(p, d.ATermSHA256))
		info.Derivations = append(info.Derivations, provenance.Dependency{Name: p, SHA256: d.ATermSHA256})
		if fod, ok := d.FixedOutput(); ok {
			leaves = append(leaves, provenance.FODLeaf(fod.Name, fod.Mode, fod.Algo, fod.Hash, fod.URL))
		}
	}
	for _, p := range srcs {
		h := srcHashes[p]
		leaves = append(leaves, provenance.SrcLeaf(p, h.SHA256))
		info.Sources = append(info.Sources, provenance.Dependency{
			Name: p, SHA256: h.SHA256,
			Annotations: map[string]string{"narHash": h.SRI()},
		})
	}
	leaves = append(leaves,
		provenance.ToolchainLeaf("nix", nixVersion, tc.nixSHA256),
		provenance.ToolchainLeaf("kettle", kettleVersion, tc.kettleSHA256),
	)
	manifest, err := provenance.NewManifest(leaves)
	if err != nil {
		return nil, fmt.Errorf("building the input manifest: %w", err)
	}
	manifestJSON, err := manifest.Marshal()
	if err != nil {
		return nil, err
	}
	stage("manifest", t)

	// 6. Provenance, with the builder identity the attester will vouch for.
	t = time.Now()
	result := &BuildResult{
		FlakeRef:       opts.FlakeRef,
		LockedURL:      md.LockedURL,
		Attribute:      ref.Attr,
		Derivations:    len(closure.Derivations),
		Sources:        len(srcs),
		ManifestRoot:   fmt.Sprintf("%x", manifest.Root),
		ManifestLeaves: len(manifest.Leaves),
		Platform:       opts.Attester.Platform(),
		Simulated:      opts.Attester.Platform().Simulated(),
		Measurement:    fmt.Sprintf("%x", opts.Attester.Measurement()),
		Nonce:          fmt.Sprintf("%x", opts.Nonce),
		Timings:        timings,
	}
	for _, o := range outs {
		h := outHashes[o.path]
		info.Subjects = append(info.Subjects, provenance.Subject{
			Name: o.path, Output: o.name, SHA256: h.SHA256, NarSize: h.Size,
		})
		result.Outputs = append(result.Outputs, Output{
			Name: o.name, StorePath: o.path, NarSHA256: h.Hex(), NarSize: h.Size, Derivation: o.drv,
		})
	}
	info.ManifestRoot = manifest.Root
	info.ManifestLeafCount = len(manifest.Leaves)
	info.BuilderID = BuilderIDBase + string(opts.Attester.Platform())
	info.BuilderVersion = map[string]string{
		"kettle":   kettleVersion,
		"platform": string(opts.Attester.Platform()),
	}
	if result.Measurement != "" { // --attest none has no launch measurement
		info.BuilderVersion["measurement"] = result.Measurement
	}
	info.InvocationID = invocationID(manifest.Root, opts.Nonce, started)
	info.StartedOn = started.UTC()
	info.FinishedOn = now().UTC()
	provJSON, err := provenance.EncodeStatement(info)
	if err != nil {
		return nil, fmt.Errorf("encoding provenance: %w", err)
	}
	provDigest := sha256.Sum256(provJSON)
	result.ProvenanceSHA256 = fmt.Sprintf("%x", provDigest)
	stage("provenance", t)

	// 7. Attest: report_data = SHA-256(provenance.json) ‖ nonce.
	t = time.Now()
	logf("attesting with %s", opts.Attester.Platform())
	ev, err := opts.Attester.Attest(ctx, attest.ReportData(provDigest, opts.Nonce))
	if err != nil {
		return nil, fmt.Errorf("attesting with %s: %w", opts.Attester.Platform(), err)
	}
	evJSON, err := ev.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encoding evidence: %w", err)
	}
	stage("attest", t)

	// 8. The bundle, written to a temporary sibling and renamed into place.
	t = time.Now()
	w, err := provenance.CreateBundle(opts.Output)
	if err != nil {
		return nil, err
	}
	if err := writeBundle(w, provJSON, evJSON, manifestJSON, outPaths, opts.Artifacts); err != nil {
		if aerr := w.Abort(); aerr != nil {
			err = errors.Join(err, aerr)
		}
		return nil, err
	}
	stage("bundle", t)
	result.Bundle = opts.Output
	logf("wrote %s", opts.Output)
	return result, nil
}

func writeBundle(w *provenance.BundleWriter, prov, ev, man []byte, outputs []string, c provenance.Compression) error {
	if err := w.AddFile(provenance.FileProvenance, prov); err != nil {
		return err
	}
	if err := w.AddFile(provenance.FileEvidence, ev); err != nil {
		return err
	}
	if err := w.AddFile(provenance.FileManifest, man); err != nil {
		return err
	}
	if c != "" {
		for _, p := range outputs {
			if err := w.AddArtifact(path.Base(p), c, func(dst io.Writer) error {
				return nixinputs.WriteNAR(dst, p)
			}); err != nil {
				return fmt.Errorf("exporting %s: %w", p, err)
			}
		}
	}
	return w.Commit()
}

// toolchainFacts identify the two tools of a build in the manifest.
type toolchainFacts struct {
	nixVersion, kettleVersion string
	nixSHA256, kettleSHA256   [32]byte
	err                       error
}

func gatherToolchain(ctx context.Context, opts BuildOptions) toolchainFacts {
	var tc toolchainFacts
	fail := func(err error) toolchainFacts { tc.err = err; return tc }
	v, err := opts.Nix.Version(ctx)
	if err != nil {
		return fail(err)
	}
	tc.nixVersion = v
	nixBin, err := opts.Nix.BinaryPath()
	if err != nil {
		return fail(err)
	}
	if tc.nixSHA256, err = FileSHA256(nixBin); err != nil {
		return fail(err)
	}
	kettleBin := opts.KettleBinary
	if kettleBin == "" {
		if kettleBin, err = os.Executable(); err != nil {
			return fail(fmt.Errorf("locating the kettle binary: %w", err))
		}
	}
	if tc.kettleSHA256, err = FileSHA256(kettleBin); err != nil {
		return fail(err)
	}
	tc.kettleVersion = opts.KettleVersion
	if tc.kettleVersion == "" {
		tc.kettleVersion = "devel"
	}
	return tc
}

type pathInfoResult struct {
	infos map[string]nixinputs.PathInfo
	err   error
}

// sourceResult is what walkAndHashSources found.
type sourceResult struct {
	closure *nixinputs.Closure
	srcs    []string // the inputSrcs and their reference closure, sorted
	hashes  map[string]nixinputs.NarHash
	walk    time.Duration
	hash    time.Duration
	err     error
}

// walkAndHashSources walks the derivation closure of roots, finds the
// sources a build sees — the inputSrcs and everything they reference (a
// builtins.toFile text may name other store paths) — and hashes them,
// cross-checked with the Nix database. It needs only the instantiated
// derivations, so it runs while nix builds.
func walkAndHashSources(ctx context.Context, nix *nixinputs.Driver, roots []string, workers int) sourceResult {
	var r sourceResult
	t := time.Now()
	if r.closure, r.err = nixinputs.WalkClosure(ctx, roots, nixinputs.WalkOptions{Workers: workers}); r.err != nil {
		return r
	}
	r.walk = time.Since(t).Round(time.Millisecond)
	t = time.Now()
	var infos map[string]nixinputs.PathInfo
	if infos, r.srcs, r.err = sourceClosure(ctx, nix, r.closure.InputSrcs()); r.err != nil {
		return r
	}
	if r.hashes, r.err = nixinputs.HashPaths(ctx, r.srcs, workers); r.err != nil {
		return r
	}
	r.err = crossCheck(r.srcs, r.hashes, infos)
	r.hash = time.Since(t).Round(time.Millisecond)
	return r
}

func allIn(paths []string, set map[string]bool) bool {
	for _, p := range paths {
		if !set[p] {
			return false
		}
	}
	return true
}

func keys(set map[string]bool) []string {
	ks := make([]string, 0, len(set))
	for k := range set {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// sourceClosure queries the Nix database for the direct sources, then
// follows their references until none is new. It returns every path's info
// and the sorted closure of the sources.
func sourceClosure(ctx context.Context, nix *nixinputs.Driver, direct []string) (map[string]nixinputs.PathInfo, []string, error) {
	infos, err := nix.PathInfo(ctx, direct...)
	if err != nil {
		return nil, nil, err
	}
	seen := make(map[string]bool, len(direct))
	for _, p := range direct {
		seen[p] = true
	}
	frontier := direct
	for len(frontier) > 0 {
		var next []string
		for _, p := range frontier {
			info, ok := infos[p]
			if !ok {
				return nil, nil, fmt.Errorf("store path %s is not valid in the Nix database", p)
			}
			for _, r := range info.References {
				if !seen[r] {
					seen[r] = true
					next = append(next, r)
				}
			}
		}
		if len(next) == 0 {
			break
		}
		more, err := nix.PathInfo(ctx, next...)
		if err != nil {
			return nil, nil, err
		}
		for p, i := range more {
			infos[p] = i
		}
		frontier = next
	}
	srcs := make([]string, 0, len(seen))
	for p := range seen {
		srcs = append(srcs, p)
	}
	sort.Strings(srcs)
	return infos, srcs, nil
}

// crossCheck compares Kettle's own NAR hashes with the Nix database's.
func crossCheck(paths []string, ours map[string]nixinputs.NarHash, db map[string]nixinputs.PathInfo) error {
	for _, p := range paths {
		h, ok := ours[p]
		if !ok {
			return fmt.Errorf("store path %s was not hashed", p)
		}
		info, ok := db[p]
		if !ok {
			return fmt.Errorf("store path %s is not valid in the Nix database", p)
		}
		if info.NarHash != h.SHA256 {
			return fmt.Errorf("store path %s: NAR hash %x computed by kettle disagrees with the Nix database's %x (the store is corrupt or was modified)", p, h.SHA256, info.NarHash)
		}
		if info.NarSize != 0 && info.NarSize != h.Size {
			return fmt.Errorf("store path %s: NAR size %d computed by kettle disagrees with the Nix database's %d", p, h.Size, info.NarSize)
		}
	}
	return nil
}

// closureSystem is the system of the root derivations (they agree in practice).
func closureSystem(c *nixinputs.Closure, roots []string) string {
	for _, r := range roots {
		if d, ok := c.Derivations[r]; ok && d.System != "" {
			return d.System
		}
	}
	return runtime.GOARCH + "-" + runtime.GOOS
}

// FileSHA256 is the SHA-256 of a file's bytes (binaries in the toolchain leaves).
func FileSHA256(p string) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(p)
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
