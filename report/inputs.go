package report

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/kettle-build/kettle/provenance"
	"github.com/kettle-build/kettle/rebuild"
)

// SharedInputs ranks the inputs of the bundles with a differing output:
// an input every differing bundle holds and no reproduced bundle does is
// where a researcher looks first.
type SharedInputs struct {
	// DifferingBundles is the number of bundles with a differing output,
	// ReproducedBundles the number of bundles that reproduced.
	DifferingBundles  int `json:"differingBundles"`
	ReproducedBundles int `json:"reproducedBundles"`
	// Total is the number of distinct input leaves the differing bundles
	// hold; Leaves lists the first of them by rank (all, or Options.Top).
	Total  int           `json:"total"`
	Leaves []SharedInput `json:"leaves"`
}

// SharedInput is one manifest leaf held by at least one differing bundle.
type SharedInput struct {
	Kind string `json:"kind"`
	Leaf string `json:"leaf"`
	// Differing and Reproduced count the differing and the reproduced
	// bundles whose manifest holds the leaf.
	Differing  int `json:"differing"`
	Reproduced int `json:"reproduced"`
}

// inputRank orders the kinds of leaf that are inputs of a build, as the
// ranking prefers them on a tie: sources and fetches before the
// derivations built from them. ok is false for the other kinds: output
// leaves are results, not inputs, and the source leaf names the flake that
// every build of it shares.
func inputRank(kind provenance.LeafKind) (rank int, ok bool) {
	switch kind {
	case provenance.KindSrc:
		return 0, true
	case provenance.KindFOD:
		return 1, true
	case provenance.KindFlakeInput:
		return 2, true
	case provenance.KindToolchain:
		return 3, true
	case provenance.KindDrv:
		return 4, true
	}
	return 0, false
}

// sharedInputs counts, for each input leaf of a differing bundle, the
// differing and the reproduced bundles that hold it, and ranks them: held
// by more differing bundles first, then by fewer reproduced ones, then by
// kind and bytewise.
func sharedInputs(inputs []Input, top int) *SharedInputs {
	s := &SharedInputs{Leaves: []SharedInput{}}
	counts := map[string]*SharedInput{}
	for _, in := range inputs {
		if BundleStatus(in.Result) != Differs {
			continue
		}
		s.DifferingBundles++
		for _, l := range in.Leaves {
			kind := leafKind(l)
			if _, ok := inputRank(kind); !ok {
				continue
			}
			c := counts[l]
			if c == nil {
				c = &SharedInput{Kind: string(kind), Leaf: l}
				counts[l] = c
			}
			c.Differing++
		}
	}
	for _, in := range inputs {
		if BundleStatus(in.Result) != Reproduced {
			continue
		}
		s.ReproducedBundles++
		for _, l := range in.Leaves {
			if c := counts[l]; c != nil {
				c.Reproduced++
			}
		}
	}
	for _, c := range counts {
		s.Leaves = append(s.Leaves, *c)
	}
	slices.SortFunc(s.Leaves, func(a, b SharedInput) int {
		return cmp.Or(
			cmp.Compare(b.Differing, a.Differing),
			cmp.Compare(a.Reproduced, b.Reproduced),
			cmp.Compare(rankOf(a.Kind), rankOf(b.Kind)),
			cmp.Compare(a.Leaf, b.Leaf))
	})
	s.Total = len(s.Leaves)
	if top > 0 && len(s.Leaves) > top {
		s.Leaves = s.Leaves[:top]
	}
	return s
}

func rankOf(kind string) int {
	r, _ := inputRank(provenance.LeafKind(kind))
	return r
}

// leafKind is the text of a leaf before its first ':'.
func leafKind(leaf string) provenance.LeafKind {
	kind, _, _ := strings.Cut(leaf, ":")
	return provenance.LeafKind(kind)
}

// needsLeaves reports whether the ranking of shared inputs reads the
// manifest of a bundle with this result.
func needsLeaves(r rebuild.Result) bool {
	s := BundleStatus(r)
	return s == Differs || s == Reproduced
}

// ReadLeaves reads the manifest leaves of the bundle at path, and checks
// that the bundle is the one a result names: its provenance.json has the
// SHA-256 provenanceSHA256 (hex) and its manifest the root that
// provenance records.
func ReadLeaves(path, provenanceSHA256 string) ([]string, error) {
	b, err := provenance.OpenBundle(path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b.Provenance)
	if got := hex.EncodeToString(sum[:]); got != provenanceSHA256 {
		return nil, fmt.Errorf("bundle %s: provenance.json has SHA-256 %s, not %s as its result says: not the bundle that was rebuilt", path, got, provenanceSHA256)
	}
	st, err := b.DecodeStatement()
	if err != nil {
		return nil, fmt.Errorf("bundle %s: provenance.json: %w", path, err)
	}
	m, err := b.DecodeManifest()
	if err != nil {
		return nil, fmt.Errorf("bundle %s: manifest.json: %w", path, err)
	}
	if m.Root != st.ManifestRoot {
		return nil, fmt.Errorf("bundle %s: manifest.json has root %x, the provenance records %x", path, m.Root, st.ManifestRoot)
	}
	return m.Leaves, nil
}

// LoadInputs pairs each result with the leaves of its bundle's manifest
// when the ranking of shared inputs needs them (bundles that differ or
// reproduced); with withLeaves false no bundle is read.
func LoadInputs(results []rebuild.Result, withLeaves bool) ([]Input, error) {
	inputs := make([]Input, len(results))
	for i, r := range results {
		inputs[i].Result = r
		if !withLeaves || !needsLeaves(r) {
			continue
		}
		leaves, err := ReadLeaves(r.Bundle, r.ProvenanceSHA256)
		if err != nil {
			return nil, err
		}
		inputs[i].Leaves = leaves
	}
	return inputs, nil
}
