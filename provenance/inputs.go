package provenance

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Inputs is every input of one build, the single record from which both the
// manifest's leaves (Leaves) and provenance.json's resolvedDependencies
// (BuildInfo.SetInputs) are derived, so that the two cannot disagree.
type Inputs struct {
	Source      SourceInput
	FlakeInputs []FlakeInput
	Derivations []DerivationInput
	Sources     []StoreSource
	Toolchain   []Tool
	// Outputs is every output of every derivation of the closure (manifest
	// version 2), in the manifest only.
	Outputs []DrvOutput
}

// SourceInput is the locked flake source.
type SourceInput struct {
	URL     string   // the locked URL
	Rev     string   // the revision, "" for sources without one
	NarHash [32]byte // the narHash digest
}

// FlakeInput is one locked input of flake.lock.
type FlakeInput struct {
	Path    string // the input's path in flake.lock, such as "nixpkgs" or "a/b"
	URL     string // its locked URL
	NarHash [32]byte
}

// DerivationInput is one derivation of the closure.
type DerivationInput struct {
	Path        string   // the .drv store path
	ATermSHA256 [32]byte // SHA-256 of the .drv file's bytes
	// FixedOutput is set for a fixed-output derivation.
	FixedOutput *FixedOutput
}

// FixedOutput is what a fixed-output derivation promises to fetch.
type FixedOutput struct {
	Name, Mode, Algo string
	HashHex          string // lower-case hex
	URL              string // "" for none
}

// StoreSource is one source store path the build sees (an inputSrcs path or
// a path it references) with the SHA-256 of its NAR serialisation.
type StoreSource struct {
	Path    string
	NarHash [32]byte
}

// Tool is one tool of the build ("nix" or "kettle") with the SHA-256 of its
// binary.
type Tool struct {
	Name, Version string
	SHA256        [32]byte
}

// Leaves returns the manifest leaves of the inputs, in the order they are
// listed (NewManifest sorts them).
func (in *Inputs) Leaves() []Leaf {
	leaves := SourceLeaves(in.Source.URL, in.Source.Rev, in.Source.NarHash)
	for _, f := range in.FlakeInputs {
		leaves = append(leaves, FlakeInputLeaf(f.Path, f.URL, f.NarHash))
	}
	for _, d := range in.Derivations {
		leaves = append(leaves, DrvLeaf(d.Path, d.ATermSHA256))
		if f := d.FixedOutput; f != nil {
			leaves = append(leaves, FODLeaf(f.Name, f.Mode, f.Algo, f.HashHex, f.URL))
		}
	}
	for _, s := range in.Sources {
		leaves = append(leaves, SrcLeaf(s.Path, s.NarHash))
	}
	for _, t := range in.Toolchain {
		leaves = append(leaves, ToolchainLeaf(t.Name, t.Version, t.SHA256))
	}
	for _, o := range in.Outputs {
		leaves = append(leaves, o.Leaf())
	}
	return leaves
}

// SetInputs fills the resolved dependencies of b from in: the source, one
// dependency per flake input, derivation and source path. Nix's SRI form of
// each NAR hash is added as the "narHash" annotation.
func (b *BuildInfo) SetInputs(in *Inputs) {
	b.Source = Dependency{
		Name:        DependencySource,
		URI:         in.Source.URL,
		SHA256:      in.Source.NarHash,
		Annotations: map[string]string{"narHash": sriSHA256(in.Source.NarHash)},
	}
	if in.Source.Rev != "" {
		b.Source.Annotations[RevName] = in.Source.Rev
	}
	b.FlakeInputs = make([]Dependency, 0, len(in.FlakeInputs))
	for _, f := range in.FlakeInputs {
		b.FlakeInputs = append(b.FlakeInputs, Dependency{
			Name: f.Path, URI: f.URL, SHA256: f.NarHash,
			Annotations: map[string]string{"narHash": sriSHA256(f.NarHash)},
		})
	}
	b.Derivations = make([]Dependency, 0, len(in.Derivations))
	for _, d := range in.Derivations {
		b.Derivations = append(b.Derivations, Dependency{Name: d.Path, SHA256: d.ATermSHA256})
	}
	b.Sources = make([]Dependency, 0, len(in.Sources))
	for _, s := range in.Sources {
		b.Sources = append(b.Sources, Dependency{
			Name: s.Path, SHA256: s.NarHash,
			Annotations: map[string]string{"narHash": sriSHA256(s.NarHash)},
		})
	}
}

// dependencyLeaves returns the manifest leaves that the resolved
// dependencies of b stand for, each with the dependency it came from, in
// the order provenance.json lists them.
func (b *BuildInfo) dependencyLeaves() []dependencyLeaf {
	src := b.Source
	out := make([]dependencyLeaf, 0, 2+len(b.FlakeInputs)+len(b.Derivations)+len(b.Sources))
	out = append(out, dependencyLeaf{DependencySource, src.URI, "", Leaf{KindSource, src.URI, hex.EncodeToString(src.SHA256[:])}})
	if rev, ok := src.Annotations[RevName]; ok {
		out = append(out, dependencyLeaf{DependencySource, src.URI, " (annotation rev)", Leaf{KindSource, RevName, rev}})
	}
	for _, d := range b.FlakeInputs {
		out = append(out, dependencyLeaf{DependencyFlakeInput, d.Name, "", FlakeInputLeaf(d.Name, d.URI, d.SHA256)})
	}
	for _, d := range b.Derivations {
		out = append(out, dependencyLeaf{DependencyDrv, d.Name, "", DrvLeaf(d.Name, d.SHA256)})
	}
	for _, d := range b.Sources {
		out = append(out, dependencyLeaf{DependencySrc, d.Name, "", SrcLeaf(d.Name, d.SHA256)})
	}
	return out
}

type dependencyLeaf struct {
	// The resolvedDependencies entry is kind, name and note, in words
	// (entry); they are joined only for an error.
	kind, name, note string
	leaf             Leaf
}

func (d dependencyLeaf) entry() string { return d.kind + " " + d.name + d.note }

// DependencyKinds are the manifest leaf kinds that provenance.json's
// resolvedDependencies list as well: the fod, toolchain and output leaves
// are in the manifest only.
func DependencyKinds() []LeafKind {
	return []LeafKind{KindSource, KindFlakeInput, KindDrv, KindSrc}
}

// CheckDependencies checks that the two records of a build's inputs agree:
// every resolvedDependencies entry of st is exactly one leaf of m, and every
// leaf of m of a kind that resolvedDependencies list (DependencyKinds) is
// one of its entries. It returns the number of entries matched; an error
// names the first entry or leaf that has no counterpart.
func CheckDependencies(st *Statement, m *Manifest) (int, error) {
	if st == nil || m == nil {
		return 0, errors.New("no statement or no manifest to compare")
	}
	listed := map[string]bool{}
	for _, k := range DependencyKinds() {
		listed[string(k)] = true
	}
	want := map[string]int{} // manifest leaves of the listed kinds, by position
	for i, l := range m.Leaves {
		kind, _, _ := strings.Cut(l, ":")
		if listed[kind] {
			want[l] = i
		}
	}
	matched := make([]bool, len(m.Leaves))
	deps := st.dependencyLeaves()
	var buf []byte // each leaf in turn, to look up without a string of its own
	for _, d := range deps {
		buf = d.leaf.appendTo(buf[:0])
		i, ok := want[string(buf)]
		if !ok || matched[i] { // a second entry of the same leaf finds it taken
			return 0, fmt.Errorf("resolvedDependencies entry %s: the manifest has no leaf %s", d.entry(), quoteLeaf(string(buf)))
		}
		matched[i] = true
	}
	if len(deps) < len(want) {
		var missing []string
		for l, i := range want {
			if !matched[i] {
				missing = append(missing, l)
			}
		}
		return 0, fmt.Errorf("manifest leaf %s is not listed in resolvedDependencies (%d leaf(s) missing there)", quoteLeaf(slices.Min(missing)), len(missing))
	}
	return len(deps), nil
}
