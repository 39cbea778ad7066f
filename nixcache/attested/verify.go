package attested

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"

	"github.com/kettle-build/kettle/nixcache"
	"github.com/kettle-build/kettle/verify"
)

// VerifyOptions say what Verify trusts.
type VerifyOptions struct {
	// Keys are the trusted public keys, as Nix's trusted-public-keys.
	Keys []nixcache.PublicKey
	// Verify is what each bundle must verify with; Bundle and Store are
	// set for each bundle (the store is the cache: a bundle's subjects
	// are checked against the cache's NARs).
	Verify verify.Options
}

// A VerifyReport is the verdict on a cache: on the directory as a whole,
// on each bundle and on each store path.
type VerifyReport struct {
	Cache   string         `json:"cache"`
	OK      bool           `json:"ok"`
	Errors  []string       `json:"errors,omitempty"` // of the directory as a whole
	Bundles []VerifyBundle `json:"bundles"`
	Paths   []VerifyPath   `json:"paths"`
}

// A VerifyBundle is the verdict on one bundle of the cache.
type VerifyBundle struct {
	File    string         `json:"file"` // relative to the cache
	OK      bool           `json:"ok"`
	Verdict string         `json:"verdict"`
	Report  *verify.Report `json:"report,omitempty"`
}

// A VerifyPath is the verdict on one narinfo of the cache.
type VerifyPath struct {
	StorePath        string `json:"storePath,omitempty"` // "" when the narinfo does not parse
	NarInfo          string `json:"narinfo"`
	Bundle           string `json:"bundle,omitempty"`
	AttestedAs       string `json:"attestedAs,omitempty"`
	SignedBy         string `json:"signedBy,omitempty"`
	ContentAddressed bool   `json:"contentAddressed"`
	OK               bool   `json:"ok"`
	Error            string `json:"error,omitempty"`
}

// Verify checks the cache in dir and every bundle it holds. It returns an
// error only when dir cannot be checked at all; every failure is in the
// report, and OK is false if there is any.
func Verify(ctx context.Context, dir string, opts VerifyOptions) (*VerifyReport, error) {
	cr, err := nixcache.Check(dir, opts.Keys)
	if err != nil {
		return nil, err
	}
	rep := &VerifyReport{Cache: dir}
	for _, e := range cr.Errors {
		rep.Errors = append(rep.Errors, e.Error())
	}
	store := cacheStore{ok: map[string][32]byte{}, bad: map[string]error{}}
	for _, p := range cr.Paths {
		if n := p.NarInfo; n != nil && p.Err == nil {
			store.ok[n.StorePath] = n.NarHash
		} else if n != nil {
			store.bad[n.StorePath] = p.Err
		}
	}
	bundles := verifyBundles(ctx, dir, cr, opts, store)
	for _, f := range slices.Sorted(maps.Keys(bundles)) {
		vb := bundles[f]
		rep.Bundles = append(rep.Bundles, vb.VerifyBundle)
	}
	for _, p := range cr.Paths {
		rep.Paths = append(rep.Paths, checkAttested(p, bundles, store))
	}
	rep.OK = len(rep.Errors) == 0
	for _, p := range rep.Paths {
		rep.OK = rep.OK && p.OK
	}
	for _, b := range rep.Bundles {
		rep.OK = rep.OK && b.OK
	}
	return rep, ctx.Err()
}

// cacheStore answers a bundle's subjects step from the cache: the NAR
// hash of a path whose narinfo and NAR nixcache.Check verified.
type cacheStore struct {
	ok  map[string][32]byte
	bad map[string]error
	// claims, if not nil, are the bundle's: a NAR hash that is not the
	// one claimed is reported here, so that the report speaks of the
	// cache's NAR rather than of a local store path.
	claims map[string]claim
}

// StoreName names the cache in verify's report.
func (s cacheStore) StoreName() string { return "the binary cache" }

func (s cacheStore) NarSHA256(_ context.Context, storePath string) ([32]byte, error) {
	if h, ok := s.ok[storePath]; ok {
		if c, claimed := s.claims[storePath]; claimed && c.narHash != h {
			return h, fmt.Errorf("the cache's NAR has SHA-256 %x, the %s says %x", h, c.what, c.narHash)
		}
		return h, nil
	}
	if err := s.bad[storePath]; err != nil {
		return [32]byte{}, fmt.Errorf("its narinfo or NAR in the cache does not verify: %w", err)
	}
	return [32]byte{}, errors.New("not in the cache")
}

// cacheBundle is a bundle of the cache and its verdict.
type cacheBundle struct {
	VerifyBundle
	b   *bundle // nil when it cannot be read
	err error   // why the bundle fails, nil when it verifies
}

// verifyBundles reads and verifies every bundle a narinfo names.
func verifyBundles(ctx context.Context, dir string, cr *nixcache.Report, opts VerifyOptions, store cacheStore) map[string]*cacheBundle {
	out := map[string]*cacheBundle{}
	for _, p := range cr.Paths {
		if p.NarInfo == nil || p.NarInfo.Bundle == "" || out[p.NarInfo.Bundle] != nil {
			continue
		}
		f := p.NarInfo.Bundle
		cb := &cacheBundle{VerifyBundle: VerifyBundle{File: f}}
		out[f] = cb
		cb.b, cb.err = readCacheBundle(dir, f)
		if cb.err == nil {
			vopts := opts.Verify
			bs := store
			bs.claims = cb.b.claims
			vopts.Bundle, vopts.Store = filepath.Join(dir, filepath.FromSlash(f)), bs
			cb.Report = verify.Verify(ctx, vopts)
			cb.b.report = cb.Report
			if !cb.Report.OK {
				cb.err = fmt.Errorf("does not verify: %s", verdict(cb.Report))
			}
		}
		cb.OK = cb.err == nil
		if cb.Report != nil {
			cb.Verdict = verdict(cb.Report)
		} else {
			cb.Verdict = cb.err.Error()
		}
	}
	return out
}

// readCacheBundle reads a bundle file of the cache: it must be there, be
// named by its provenance's SHA-256 and carry no artifacts.
func readCacheBundle(dir, file string) (*bundle, error) {
	want, err := nixcache.ParseBundleFile(file)
	if err != nil {
		return nil, err
	}
	b, err := readBundle(filepath.Join(dir, filepath.FromSlash(file)))
	if err != nil {
		return nil, err
	}
	if b.digest != want {
		return nil, fmt.Errorf("its provenance.json has SHA-256 %x, not the one its name says", b.digest)
	}
	if len(b.pb.Artifacts) > 0 {
		return nil, errors.New("it carries artifacts; a cache's bundle has none (the cache's NARs are its artifacts)")
	}
	return b, nil
}

// checkAttested is the verdict on one narinfo: nixcache.Check's, then its
// bundle's, then the bundle's claim of the path, then its references.
func checkAttested(p nixcache.PathResult, bundles map[string]*cacheBundle, store cacheStore) VerifyPath {
	v := VerifyPath{NarInfo: p.File, SignedBy: p.SignedBy, ContentAddressed: p.ContentAddressed}
	fail := func(err error) VerifyPath {
		v.Error = err.Error()
		return v
	}
	n := p.NarInfo
	if n != nil {
		v.StorePath, v.Bundle = n.StorePath, n.Bundle
	}
	if p.Err != nil {
		return fail(p.Err)
	}
	if n.Bundle == "" {
		return fail(fmt.Errorf("names no bundle (no %s field)", nixcache.BundleField))
	}
	cb := bundles[n.Bundle]
	if cb.err != nil {
		return fail(fmt.Errorf("bundle %s: %w", n.Bundle, cb.err))
	}
	c, ok := cb.b.claims[n.StorePath]
	if !ok {
		return fail(fmt.Errorf("bundle %s does not attest this path", n.Bundle))
	}
	v.AttestedAs = c.what
	if c.narHash != n.NarHash {
		return fail(fmt.Errorf("NarHash has SHA-256 %x, the %s of bundle %s %x", n.NarHash, c.what, n.Bundle, c.narHash))
	}
	if c.narSize != 0 && c.narSize != n.NarSize {
		return fail(fmt.Errorf("NarSize is %d, the %s of bundle %s says %d", n.NarSize, c.what, n.Bundle, c.narSize))
	}
	for _, r := range n.References {
		rp := path.Join(n.StoreDir(), r)
		if rp == n.StorePath {
			continue
		}
		if _, ok := store.ok[rp]; ok {
			continue
		}
		if err := store.bad[rp]; err != nil {
			return fail(fmt.Errorf("refers to %s, whose narinfo or NAR does not verify", rp))
		}
		return fail(fmt.Errorf("refers to %s, which is not in the cache", rp))
	}
	v.OK = true
	return v
}
