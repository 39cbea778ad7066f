package manifestdiff

import (
	"sort"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/provenance"
	"github.com/kettle-build/kettle/provenance/merkle"
)

// FuzzDiff compares manifests made of arbitrary leaves (one a line, the two
// sides separated by a blank line; lines that are not valid leaves are
// dropped): Diff never fails or panics, every leaf is counted once and,
// with Options.Unchanged, listed once, and equal roots are exactly no rows.
// The manifests are made as DecodeManifest would leave them (valid leaves,
// sorted, no duplicates) but without the version 2 output rules, which
// Diff must not rely on.
func FuzzDiff(f *testing.F) {
	join := func(a, b *provenance.Manifest) string {
		return strings.Join(a.Leaves, "\n") + "\n\n" + strings.Join(b.Leaves, "\n")
	}
	f.Add(join(hello("echo hi").manifest(f, provenance.ManifestV2), hello("echo bye").manifest(f, provenance.ManifestV2)), false)
	f.Add(join(hello("echo hi").manifest(f, provenance.ManifestV2), hello("echo bye").manifest(f, provenance.ManifestV1)), true)
	a, b := newClosure(), newClosure()
	a.drv("source", "s1", "x", provenance.ByNixDB).drv("source", "s2", "y", provenance.ByKettle)
	b.drv("source", "s3", "y", provenance.ByNixDB).drv("source", "s2", "z", provenance.ByNone)
	f.Add(join(a.manifest(f, provenance.ManifestV2), b.manifest(f, provenance.ManifestV2)), false)
	f.Fuzz(func(t *testing.T, data string, v1 bool) {
		sa, sb, ok := strings.Cut(data, "\n\n")
		if !ok {
			return
		}
		version := provenance.ManifestV2
		if v1 {
			version = provenance.ManifestV1
		}
		ma, mb := fuzzManifest(sa, provenance.ManifestV2), fuzzManifest(sb, version)
		if ma == nil || mb == nil {
			return
		}
		for _, opts := range []Options{{}, {Unchanged: true}} {
			r, err := Diff(ma, mb, opts)
			if err != nil {
				t.Fatalf("Diff: %v", err)
			}
			if r.Identical != (ma.Root == mb.Root) {
				t.Fatalf("identical %v, roots %x %x", r.Identical, ma.Root, mb.Root)
			}
			if r.Identical && len(r.Rows) != 0 && !opts.Unchanged {
				t.Fatalf("identical manifests with rows %v", summary(r.Rows))
			}
			checkAccounting(t, ma, mb, r, opts)
		}
	})
}

// fuzzManifest makes a manifest of the valid leaves among lines, nil for
// none. A version 1 manifest drops what only version 2 may hold.
func fuzzManifest(s string, version int) *provenance.Manifest {
	var leaves []string
	for _, line := range strings.Split(s, "\n") {
		l, err := provenance.ParseLeaf(line)
		if err != nil || version == provenance.ManifestV1 && (l.Kind == provenance.KindOutput || strings.Contains(l.Name, " mode=git ")) {
			continue
		}
		leaves = append(leaves, line)
	}
	if len(leaves) == 0 {
		return nil
	}
	sort.Strings(leaves)
	out := leaves[:1]
	for _, l := range leaves[1:] {
		if l != out[len(out)-1] {
			out = append(out, l)
		}
	}
	hashes := make([][32]byte, len(out))
	for i, l := range out {
		hashes[i] = merkle.HashLeaf([]byte(l))
	}
	return &provenance.Manifest{Version: version, Leaves: out, Root: merkle.RootFromLeafHashes(hashes)}
}

// checkAccounting checks that every leaf of each side is counted once, and,
// with opts.Unchanged, listed once.
func checkAccounting(t *testing.T, a, b *provenance.Manifest, r *Result, opts Options) {
	t.Helper()
	perKind := func(m *provenance.Manifest) map[provenance.LeafKind]int {
		n := map[provenance.LeafKind]int{}
		for _, l := range m.Leaves {
			kind, _, _ := strings.Cut(l, ":")
			n[provenance.LeafKind(kind)]++
		}
		return n
	}
	na, nb := perKind(a), perKind(b)
	for kind, c := range r.Counts {
		paired := c.Unchanged + c.Changed + c.NotReproduced
		if paired+c.Removed != na[kind] || paired+c.Added != nb[kind] {
			t.Fatalf("%s: counts %+v for %d leaves in A and %d in B", kind, c, na[kind], nb[kind])
		}
	}
	for kind, n := range na {
		if r.Counts[kind] == nil && !(kind == provenance.KindOutput && nb[kind] == 0 && a.Version != b.Version) {
			t.Fatalf("%d %s leaves in A not counted", n, kind)
		}
	}
	if !opts.Unchanged {
		return
	}
	seenA, seenB := map[string]int{}, map[string]int{}
	for _, row := range r.Rows {
		if row.A != "" {
			seenA[row.A]++
		}
		if row.B != "" {
			seenB[row.B]++
		}
	}
	for _, side := range []struct {
		m    *provenance.Manifest
		seen map[string]int
	}{{a, seenA}, {b, seenB}} {
		for _, l := range side.m.Leaves {
			kind, _, _ := strings.Cut(l, ":")
			if r.Counts[provenance.LeafKind(kind)] != nil && side.seen[l] != 1 {
				t.Fatalf("leaf %q is in %d rows", l, side.seen[l])
			}
		}
	}
}
