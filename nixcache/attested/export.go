package attested

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/kettle-build/kettle/internal/nixstore"
	"github.com/kettle-build/kettle/nixcache"
	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/verify"
)

// A LocalStore is the local Nix store: its database, and a NAR hasher for
// the subjects step of a bundle without artifacts. Export reads the files
// of a path at the path itself.
type LocalStore interface {
	nixinputs.PathInfoer
	verify.StoreHasher
}

// ExportOptions say what Export writes where.
type ExportOptions struct {
	// Bundles are the bundles whose paths to export, directories or .tar
	// files. Where two attest the same path, the first names it.
	Bundles []string
	// Dir is the cache: created if it does not exist, else added to.
	Dir string
	// Key signs every narinfo; nil writes them unsigned.
	Key *nixcache.SecretKey
	// Compression of the NAR files: nixcache.CompressionXZ (the default)
	// or CompressionZstd.
	Compression string
	// Verify is what each bundle must verify with; Bundle and Store are
	// set for each bundle.
	Verify verify.Options
	// AllowUnverified exports the paths of bundles that do not verify;
	// the report says so for each.
	AllowUnverified bool
	// Store, if not nil, is the local Nix store, from which Export takes
	// the paths the bundles attest but do not carry, and the references
	// of the paths it has.
	Store LocalStore
}

// An ExportReport says what Export did.
type ExportReport struct {
	Cache    string         `json:"cache"`
	Created  bool           `json:"created"`
	Bundles  []ExportBundle `json:"bundles"`
	Paths    []ExportPath   `json:"paths"`
	Warnings []string       `json:"warnings,omitempty"`
}

// An ExportBundle is one bundle given to Export.
type ExportBundle struct {
	Bundle           string `json:"bundle"`
	File             string `json:"file,omitempty"` // in the cache; "" when it names no path written
	ProvenanceSHA256 string `json:"provenanceSHA256"`
	Verified         bool   `json:"verified"`
	Verdict          string `json:"verdict"`
	Subjects         int    `json:"subjects"`
	// Report is the bundle's verification, step by step.
	Report *verify.Report `json:"report"`
}

// An ExportPath is one store path of the cache Export wrote.
type ExportPath struct {
	StorePath      string   `json:"storePath"`
	Bundle         string   `json:"bundle"`     // the bundle as given
	BundleFile     string   `json:"bundleFile"` // in the cache
	BundleVerified bool     `json:"bundleVerified"`
	AttestedAs     string   `json:"attestedAs"` // "subject", "src leaf", …
	From           string   `json:"from"`       // the artifact's file in the bundle ("artifacts/<name>.nar.zst"), FromLocalStore or FromCache
	NarInfo        string   `json:"narinfo"`
	URL            string   `json:"url,omitempty"`
	NarSize        uint64   `json:"narSize"`
	FileSize       uint64   `json:"fileSize,omitempty"`
	References     []string `json:"references"`
	ReferencesFrom string   `json:"referencesFrom"` // FromLocalStore, FromNARScan or FromCache
	Signed         bool     `json:"signed"`
}

// Where Export took a path's NAR (ExportPath.From, besides the artifact's
// file) and references (ExportPath.ReferencesFrom).
const (
	FromCache      = "already in the cache" // the path was in the cache before
	FromLocalStore = "local store"
	FromNARScan    = "NAR scan"
)

// Export writes the paths the bundles attest to a binary cache: every
// subject of every bundle and every path they refer to, each attested by
// one of the bundles, and the bundles that name them. Nothing is written
// unless every bundle verifies (or AllowUnverified), every path's NAR is
// at hand and hashes as its bundle says, and every reference is attested
// or already in the cache; a new cache appears only when complete, and a
// failed export to an existing cache removes what it added.
func Export(ctx context.Context, opts ExportOptions) (*ExportReport, error) {
	rep := &ExportReport{Cache: opts.Dir}
	if len(opts.Bundles) == 0 {
		return rep, errors.New("no bundles to export")
	}
	bundles, err := readBundles(ctx, opts, rep)
	if err != nil {
		return rep, err
	}
	claims, err := mergeClaims(bundles)
	if err != nil {
		return rep, err
	}
	storeDir, err := oneStoreDir(claims)
	if err != nil {
		return rep, err
	}
	if _, err := os.Stat(opts.Dir); errors.Is(err, fs.ErrNotExist) {
		rep.Created = true
	}
	w, err := nixcache.Open(opts.Dir, nixcache.Options{StoreDir: storeDir, Compression: opts.Compression, Key: opts.Key})
	if err != nil {
		return rep, err
	}
	defer w.Abort()
	p := &planner{opts: opts, w: w, storeDir: storeDir, bundles: bundles, claims: claims, items: map[string]*item{}}
	if err := p.plan(ctx); err != nil {
		return rep, err
	}
	if err := p.write(ctx, rep); err != nil {
		return rep, err
	}
	if err := w.Commit(); err != nil {
		return rep, err
	}
	return rep, nil
}

// readBundles opens and verifies every bundle, refusing one that does not
// verify unless opts.AllowUnverified.
func readBundles(ctx context.Context, opts ExportOptions, rep *ExportReport) ([]*bundle, error) {
	var bundles []*bundle
	seen := map[[32]byte]string{}
	for _, arg := range opts.Bundles {
		b, err := readBundle(arg)
		if err != nil {
			return nil, err
		}
		if first, dup := seen[b.digest]; dup {
			return nil, fmt.Errorf("bundles %s and %s have the same provenance", first, arg)
		}
		seen[b.digest] = arg
		vopts := opts.Verify
		vopts.Bundle = arg
		vopts.Store = nil
		if len(b.pb.Artifacts) == 0 && opts.Store != nil {
			vopts.Store = opts.Store
		}
		b.report = verify.Verify(ctx, vopts)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rep.Bundles = append(rep.Bundles, ExportBundle{
			Bundle: arg, ProvenanceSHA256: fmt.Sprintf("%x", b.digest),
			Verified: b.report.OK, Verdict: verdict(b.report), Subjects: len(b.stmt.Subjects), Report: b.report,
		})
		if !b.report.OK {
			if !opts.AllowUnverified {
				return nil, fmt.Errorf("bundle %s does not verify: %s (--allow-unverified exports it anyway, and says so)", arg, verdict(b.report))
			}
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("bundle %s does NOT verify (%s): its paths are exported UNVERIFIED", arg, verdict(b.report)))
		}
		bundles = append(bundles, b)
	}
	return bundles, nil
}

// mergeClaims merges the bundles' claims: the first bundle that attests a
// path names it, and every bundle that attests it must agree.
func mergeClaims(bundles []*bundle) (map[string]claim, error) {
	claims := map[string]claim{}
	for _, b := range bundles {
		for _, p := range slices.Sorted(maps.Keys(b.claims)) {
			c := b.claims[p]
			old, ok := claims[p]
			switch {
			case !ok:
				claims[p] = c
			case old.narHash != c.narHash:
				return nil, fmt.Errorf("%s: bundle %s attests NAR SHA-256 %x, bundle %s %x", p, old.bundle.arg, old.narHash, b.arg, c.narHash)
			case old.narSize != 0 && c.narSize != 0 && old.narSize != c.narSize:
				return nil, fmt.Errorf("%s: bundle %s attests a NAR of %d bytes, bundle %s of %d", p, old.bundle.arg, old.narSize, b.arg, c.narSize)
			default:
				old.narSize = cmp.Or(old.narSize, c.narSize)
				old.deriver = cmp.Or(old.deriver, c.deriver)
				claims[p] = old
			}
		}
	}
	return claims, nil
}

// oneStoreDir returns the store directory of the claimed paths, which
// must all be in one.
func oneStoreDir(claims map[string]claim) (string, error) {
	dir := ""
	for _, p := range slices.Sorted(maps.Keys(claims)) {
		sp, err := nixstore.ParsePath(p)
		if err != nil {
			return "", fmt.Errorf("%s: %w", p, err)
		}
		if dir == "" {
			dir = sp.Dir
		} else if sp.Dir != dir {
			return "", fmt.Errorf("the bundles attest paths in two stores, %s and %s", dir, sp.Dir)
		}
	}
	return dir, nil
}

// An item is one store path of the plan.
type item struct {
	claim    claim
	info     nixinputs.PathInfo // for its narinfo
	carrier  *bundle            // the bundle whose artifact holds its NAR; nil for the local store
	existing *nixcache.NarInfo  // the cache's narinfo of it, if it has one
	refsFrom string
}

// planner works out what Export writes, and in which order, before
// anything is written.
type planner struct {
	opts     ExportOptions
	w        *nixcache.Writer
	storeDir string
	bundles  []*bundle
	claims   map[string]claim
	local    map[string]nixinputs.PathInfo // the local store's database, for claimed paths it has
	items    map[string]*item
	order    []string // references before the paths that refer to them
	cached   []string // the store paths the cache has, once scan needs them
}

// plan takes every subject of every bundle, and then every path they
// refer to, until the closure is complete.
func (p *planner) plan(ctx context.Context) error {
	if err := p.queryLocal(ctx); err != nil {
		return err
	}
	var queue []string
	for _, b := range p.bundles {
		for _, s := range b.stmt.Subjects {
			queue = append(queue, s.Name)
		}
	}
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		sp := queue[0]
		queue = queue[1:]
		if p.items[sp] != nil {
			continue
		}
		it, err := p.planPath(sp)
		if err != nil {
			return err
		}
		p.items[sp] = it
		if it.existing != nil {
			continue // the cache holds its closure already
		}
		for _, r := range it.info.References {
			if r == sp || p.items[r] != nil {
				continue
			}
			if _, ok := p.claims[r]; ok {
				queue = append(queue, r)
				continue
			}
			old, err := p.w.Lookup(r)
			if err != nil {
				return err
			}
			if old == nil {
				return fmt.Errorf("%s refers to %s, which none of the bundles attests with its NAR hash and the cache does not have "+
					"(a manifest of version 1 attests only the outputs built and the sources; export the bundle that built it too)", sp, r)
			}
		}
	}
	p.sort()
	return nil
}

// queryLocal reads the local store's database for the claimed paths it
// has.
func (p *planner) queryLocal(ctx context.Context) error {
	p.local = map[string]nixinputs.PathInfo{}
	if p.opts.Store == nil {
		return nil
	}
	var present []string
	for _, sp := range slices.Sorted(maps.Keys(p.claims)) {
		if _, err := os.Lstat(sp); err == nil {
			present = append(present, sp)
		}
	}
	for len(present) > 0 {
		batch := present[:min(len(present), 512)]
		present = present[len(batch):]
		infos, err := p.opts.Store.PathInfo(ctx, batch...)
		if err != nil {
			return fmt.Errorf("the local store: %w", err)
		}
		maps.Copy(p.local, infos)
	}
	return nil
}

// planPath decides where a path's NAR, references and narinfo come from.
func (p *planner) planPath(sp string) (*item, error) {
	c, ok := p.claims[sp]
	if !ok {
		return nil, fmt.Errorf("%s: no bundle attests it", sp)
	}
	it := &item{claim: c}
	old, err := p.w.Lookup(sp)
	if err != nil {
		return nil, err
	}
	if old != nil {
		if old.NarHash != c.narHash || c.narSize != 0 && old.NarSize != c.narSize {
			return nil, fmt.Errorf("%s: the cache has it with NAR hash %x (%d bytes), bundle %s attests %x", sp, old.NarHash, old.NarSize, c.bundle.arg, c.narHash)
		}
		it.existing, it.refsFrom = old, FromCache
		for _, r := range old.References {
			it.info.References = append(it.info.References, p.storeDir+"/"+r)
		}
		return it, nil
	}
	it.info = nixinputs.PathInfo{Path: sp, NarHash: c.narHash, NarSize: c.narSize, Deriver: c.deriver}
	db, inDB := p.local[sp]
	dbAgrees := inDB && db.NarHash == c.narHash && (c.narSize == 0 || db.NarSize == c.narSize)
	it.carrier = p.carrier(sp)
	switch {
	case it.carrier != nil:
	case dbAgrees:
	case p.opts.Store == nil:
		return nil, fmt.Errorf("%s (attested by the %s of bundle %s) is not carried by any bundle: give --store to export it from the local Nix store", sp, c.what, c.bundle.arg)
	case inDB:
		return nil, fmt.Errorf("%s: the local store has NAR hash %x, bundle %s attests %x", sp, db.NarHash, c.bundle.arg, c.narHash)
	default:
		return nil, fmt.Errorf("%s (attested by the %s of bundle %s) is neither carried by a bundle nor valid in the local store", sp, c.what, c.bundle.arg)
	}
	if dbAgrees {
		// The database records what Nix found when it registered the
		// path: the same NAR, so the same references.
		it.info.NarSize, it.info.References, it.info.CA = db.NarSize, db.References, db.CA
		it.info.Deriver = cmp.Or(db.Deriver, c.deriver)
		it.refsFrom = FromLocalStore
		return it, nil
	}
	if err := p.scan(it); err != nil {
		return nil, err
	}
	return it, nil
}

// carrier returns the first bundle that carries the path's NAR in its
// artifacts, or nil.
func (p *planner) carrier(sp string) *bundle {
	for _, b := range p.bundles {
		if _, ok := b.carried[sp]; ok {
			return b
		}
	}
	return nil
}

// scan reads a carried NAR, checks it against its claim and finds its
// references among the attested paths and those the cache has, as Nix's
// scanner does: without the local store's database, the references of a
// NAR are the store paths whose hash part occurs in it, and the only
// candidates known are those. A NAR that names another store path
// ("<store>/<hash>") may refer to a path that is not among them, whose
// absence from the narinfo would make Nix import the path without it:
// such a NAR is refused.
func (p *planner) scan(it *item) error {
	sp, c := it.info.Path, it.claim
	if p.cached == nil {
		var err error
		if p.cached, err = p.w.StorePaths(); err != nil {
			return err
		}
	}
	candidates := slices.Concat(slices.Collect(maps.Keys(p.claims)), p.cached)
	slices.Sort(candidates)
	rs, err := nixcache.NewRefScanner(p.storeDir, slices.Compact(candidates))
	if err != nil {
		return err
	}
	h, n := sha256.New(), &counter{}
	if err := p.copyNAR(it, io.MultiWriter(h, n, rs)); err != nil {
		return err
	}
	if got := [32]byte(h.Sum(nil)); got != c.narHash || n.n != c.narSize {
		return fmt.Errorf("%s: its NAR in %s (SHA-256 %x, %d bytes) is not the one the bundle attests (%x, %d bytes)", sp, it.carrier.arg, got, n.n, c.narHash, c.narSize)
	}
	if unknown, more := rs.Unknown(); len(unknown) > 0 {
		list := strings.Join(unknown, ", ")
		if more {
			list += ", …"
		}
		return fmt.Errorf("%s: its NAR names store paths none of the bundles attests (%s): its references cannot be known without the local store's database (--store)", sp, list)
	}
	it.info.References = rs.References()
	it.refsFrom = FromNARScan
	return nil
}

// copyNAR writes the NAR of a carried path to w, decompressed from its
// artifact and read no further than the size its subject attests.
func (p *planner) copyNAR(it *item, w io.Writer) error {
	b := it.carrier
	a := b.carried[it.info.Path]
	rc, err := b.pb.OpenArtifactLimit(a, int64(b.claims[it.info.Path].narSize))
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("%s: %w", it.info.Path, err)
	}
	return rc.Close()
}

type counter struct{ n uint64 }

func (c *counter) Write(p []byte) (int, error) {
	c.n += uint64(len(p))
	return len(p), nil
}

// sort orders the plan so that every path comes after the paths it
// refers to: a reader of the cache never finds a narinfo whose
// references are not there yet.
func (p *planner) sort() {
	done := map[string]bool{}
	var visit func(string)
	visit = func(sp string) {
		if done[sp] {
			return
		}
		done[sp] = true
		it := p.items[sp]
		for _, r := range it.info.References {
			if p.items[r] != nil && r != sp {
				visit(r)
			}
		}
		p.order = append(p.order, sp)
	}
	for _, sp := range slices.Sorted(maps.Keys(p.items)) {
		visit(sp)
	}
}

// write writes the bundles, then the paths in order.
func (p *planner) write(ctx context.Context, rep *ExportReport) error {
	used := map[*bundle]bool{}
	for _, it := range p.items {
		if it.existing == nil {
			used[it.claim.bundle] = true
		}
	}
	for i, b := range p.bundles {
		if !used[b] {
			continue
		}
		existed, err := p.w.AddBundle(b.digest, b.writeTo)
		if err != nil {
			return err
		}
		if existed {
			if err := b.sameAs(p.w.BundlePath(b.file)); err != nil {
				return err
			}
		}
		rep.Bundles[i].File = b.file
	}
	for _, sp := range p.order {
		if err := ctx.Err(); err != nil {
			return err
		}
		it := p.items[sp]
		out, err := p.writePath(it)
		if err != nil {
			return err
		}
		rep.Paths = append(rep.Paths, out)
	}
	return nil
}

// writePath adds one path of the plan to the cache.
func (p *planner) writePath(it *item) (ExportPath, error) {
	c := it.claim
	out := ExportPath{
		StorePath: it.info.Path, Bundle: c.bundle.arg, BundleFile: c.bundle.file, BundleVerified: c.bundle.report.OK,
		AttestedAs: c.what, NarSize: it.info.NarSize, ReferencesFrom: it.refsFrom, References: []string{},
	}
	out.NarInfo, _ = nixcache.NarInfoFile(it.info.Path)
	n := it.existing
	if n == nil {
		e := nixcache.Entry{Info: it.info, Bundle: c.bundle.file}
		out.From = FromLocalStore
		if it.carrier != nil {
			e.NAR = func(w io.Writer) error { return p.copyNAR(it, w) }
			out.From = it.carrier.carried[it.info.Path].File
		}
		var existed bool
		var err error
		if n, existed, err = p.w.AddEntry(e); err != nil {
			return out, err
		}
		if existed {
			out.From = FromCache
		}
	} else {
		out.From, out.Bundle, out.BundleFile = FromCache, "", n.Bundle
	}
	out.URL, out.FileSize, out.NarSize, out.Signed = n.URL, n.FileSize, n.NarSize, len(n.Sigs) > 0
	for _, r := range n.References {
		out.References = append(out.References, path.Join(p.storeDir, r))
	}
	return out, nil
}
