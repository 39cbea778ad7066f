package attested

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"path"

	"github.com/kettle-build/kettle/internal/nixstore"
	"github.com/kettle-build/kettle/nixcache"
	"github.com/kettle-build/kettle/provenance"
	"github.com/kettle-build/kettle/verify"
)

// A claim is what one bundle attests about one store path.
type claim struct {
	path    string
	narHash [32]byte
	narSize uint64 // 0 when the bundle does not record it
	what    string // what in the bundle attests it: "subject" or a leaf kind
	deriver string // the .drv that produced it, "" when the bundle does not say
	bundle  *bundle
}

// A bundle is an opened Kettle bundle and what it attests.
type bundle struct {
	arg      string // the bundle as it was named
	pb       *provenance.Bundle
	stmt     *provenance.Statement
	manifest *provenance.Manifest
	digest   [32]byte // SHA-256 of provenance.json
	file     string   // in a cache: nixcache.BundleFile(digest)
	report   *verify.Report
	claims   map[string]claim               // by store path
	carried  map[string]provenance.Artifact // the artifacts, by the store path of their subject
}

// readBundle opens a Kettle bundle and reads what it attests; it does not
// verify it. A foreign tool's bundle, whose subjects are not store paths
// with NAR hashes, is refused.
func readBundle(p string) (*bundle, error) {
	pb, err := provenance.OpenBundle(p)
	if err != nil {
		return nil, err
	}
	stmt, err := pb.DecodeStatement()
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %s: %w (only Kettle's bundles attest store paths)", p, provenance.FileProvenance, err)
	}
	m, err := pb.DecodeManifest()
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %s: %w", p, provenance.FileManifest, err)
	}
	b := &bundle{arg: p, pb: pb, stmt: stmt, manifest: m, digest: stmt.Digest()}
	b.file = nixcache.BundleFile(b.digest)
	if b.claims, err = claimsOf(b); err != nil {
		return nil, fmt.Errorf("bundle %s: %w", p, err)
	}
	b.carried = map[string]provenance.Artifact{}
	for _, a := range pb.Artifacts {
		for _, s := range stmt.Subjects {
			if path.Base(s.Name) == a.Name {
				b.carried[s.Name] = a
			}
		}
	}
	return b, nil
}

// claimsOf lists the store paths a bundle attests with their NAR hashes:
// its subjects, and each manifest leaf that names a store path with its
// NAR SHA-256 (leafClaim). Two claims of one path must agree; the first
// names what attests it, and the others add what it lacks (the NAR size of
// a subject, the deriver of an output leaf).
func claimsOf(b *bundle) (map[string]claim, error) {
	claims := map[string]claim{}
	add := func(c claim) error {
		c.bundle = b
		old, ok := claims[c.path]
		switch {
		case !ok:
			claims[c.path] = c
			return nil
		case old.narHash != c.narHash:
			return fmt.Errorf("%s: its %s says NAR SHA-256 %x, its %s %x", c.path, old.what, old.narHash, c.what, c.narHash)
		}
		old.narSize = cmp.Or(old.narSize, c.narSize)
		old.deriver = cmp.Or(old.deriver, c.deriver)
		claims[c.path] = old
		return nil
	}
	for _, s := range b.stmt.Subjects {
		if err := add(claim{path: s.Name, narHash: s.SHA256, narSize: s.NarSize, what: "subject"}); err != nil {
			return nil, err
		}
	}
	for _, text := range b.manifest.Leaves {
		l, err := provenance.ParseLeaf(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", provenance.FileManifest, err)
		}
		c, ok, err := leafClaim(l)
		if err != nil {
			return nil, fmt.Errorf("%s: leaf %q: %w", provenance.FileManifest, text, err)
		}
		if !ok {
			continue
		}
		if err := add(c); err != nil {
			return nil, err
		}
	}
	return claims, nil
}

// leafClaim returns the claim of a manifest leaf that names a store path
// with its NAR SHA-256, and false for a leaf of another kind or an output
// that was not realised. Each kind of leaf that attests a store path's NAR
// is one case here.
func leafClaim(l provenance.Leaf) (claim, bool, error) {
	switch l.Kind {
	case provenance.KindOutput:
		o, err := provenance.ParseOutputLeaf(l)
		if err != nil || !o.Realised() {
			return claim{}, false, err
		}
		return claim{path: o.Path, narHash: o.NarSHA256, what: "output leaf (by=" + string(o.By) + ")", deriver: o.Drv}, true, nil
	case provenance.KindSrc:
		if err := nixstore.CheckPath(l.Name); err != nil {
			return claim{}, false, err
		}
		d, err := hex.DecodeString(l.Value)
		if err != nil || len(d) != 32 {
			return claim{}, false, errors.New("the value is not a SHA-256 in hex")
		}
		return claim{path: l.Name, narHash: [32]byte(d), what: string(l.Kind) + " leaf"}, true, nil
	}
	return claim{}, false, nil
}

// writeTo writes the bundle's provenance, evidence and manifest, without
// its artifacts (in a cache they are the cache's NARs), as a tar bundle
// at p, which must not exist.
func (b *bundle) writeTo(p string) error {
	w, err := provenance.CreateBundle(p)
	if err != nil {
		return err
	}
	defer w.Abort()
	for _, f := range []struct {
		name string
		data []byte
	}{{provenance.FileProvenance, b.pb.Provenance}, {provenance.FileEvidence, b.pb.Evidence}, {provenance.FileManifest, b.pb.Manifest}} {
		if err := w.AddFile(f.name, f.data); err != nil {
			return err
		}
	}
	return w.Commit()
}

// sameAs checks that the bundle file at p holds what writeTo writes.
func (b *bundle) sameAs(p string) error {
	old, err := provenance.OpenBundle(p)
	if err != nil {
		return fmt.Errorf("the cache has %s, and it is not a copy of bundle %s: %w", p, b.arg, err)
	}
	if !bytes.Equal(old.Provenance, b.pb.Provenance) || !bytes.Equal(old.Evidence, b.pb.Evidence) ||
		!bytes.Equal(old.Manifest, b.pb.Manifest) || len(old.Artifacts) != 0 {
		return fmt.Errorf("the cache has %s, and it is not a copy of bundle %s: other contents", p, b.arg)
	}
	return nil
}

// verdict is one line on a bundle's verification: the verdict of a bundle
// that verifies, else the step that failed and why.
func verdict(r *verify.Report) string {
	if r.OK {
		return r.Verdict()
	}
	for _, s := range r.Steps {
		if s.Step == r.Failed {
			return fmt.Sprintf("FAILED at %s: %s", s.Step, s.Detail)
		}
	}
	return r.Verdict()
}
