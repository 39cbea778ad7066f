// Package manifestdiff compares the input manifests of two builds. It pairs
// their leaves by kind and name, so that an input whose store hash changed
// is one changed row rather than a removal and an addition, and orders the
// rows so that the likely causes come first: outputs of one derivation that
// differ between the builds (a reproducibility failure: the same .drv built
// twice, two results); then the inputs at the bottom of the closure (src,
// fod, flake-input, toolchain, source); then the derivations, and the
// outputs of derivations that changed.
//
// Leaves pair by these names:
//
//	src          the store path's name, after the hash ("hello.sh")
//	drv          the derivation's name ("hello" for …-hello.drv)
//	fod          the name and URL; then, for those left, the name alone where it is unique on both sides
//	flake-input  the input's path in flake.lock
//	toolchain    the tool ("nix", "kettle")
//	source       "rev" for the revision, "url" for the locked URL
//	output       the .drv path and output name; then the derivation's name and output name
//
// Where one name has several unpaired leaves on a side (fetchers name their
// derivations "source"), leaves with equal values pair first, then the rest
// in sorted order, and the row says so (Row.Pairing).
package manifestdiff

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/kettle-build/kettle/internal/nixstore"
	"github.com/kettle-build/kettle/manifestdiff/drvdiff"
	"github.com/kettle-build/kettle/provenance"
)

// Change is how a pair of leaves differs.
type Change string

// The changes, in the order rows of one kind are listed.
const (
	// NotReproduced: an output of the same .drv in both manifests, with a
	// different NAR hash (or, for a content-addressed output, path).
	NotReproduced Change = "not-reproduced"
	Changed       Change = "changed"
	Removed       Change = "removed" // only in A
	Added         Change = "added"   // only in B
	Unchanged     Change = "unchanged"
)

// Row is one pair of leaves, or one leaf without a counterpart.
type Row struct {
	Kind   provenance.LeafKind `json:"kind"`
	Change Change              `json:"change"`
	// Name is what the leaves were paired by (see the package comment);
	// for outputs, always the derivation's name and the output's
	// ("hello!out"), the leaves giving the .drv paths.
	Name string `json:"name"`
	// A and B are the leaves, "" on the side without one.
	A string `json:"a,omitempty"`
	B string `json:"b,omitempty"`
	// Detail says what differs, in words.
	Detail string `json:"detail,omitempty"`
	// Pairing says how a name shared by several leaves was paired.
	Pairing string `json:"pairing,omitempty"`
	// UsedBy names the derivations whose input sources changed with this
	// src row (known with the .drv files: Explain).
	UsedBy []string `json:"usedBy,omitempty"`
	// Follows names, for a not-reproduced output, the input derivations
	// that did not reproduce either; empty for the first ones, whose
	// inputs all did (known with the .drv files: Explain).
	Follows []string `json:"follows,omitempty"`
	// Note says what else is known, or could not be known, about the row.
	Note string `json:"note,omitempty"`

	rank  int // the row's place in the order of rows (rankOf)
	depth int // for a not-reproduced output: how many failing inputs deep
	// The store paths the leaves name (of a src or drv leaf; of an output
	// leaf, its .drv), for Explain.
	pathA, pathB string
}

// Count counts the pairs of one kind by change.
type Count struct {
	Unchanged     int `json:"unchanged"`
	Changed       int `json:"changed"`
	Removed       int `json:"removed"`
	Added         int `json:"added"`
	NotReproduced int `json:"notReproduced,omitempty"`
}

func (c *Count) add(ch Change) {
	switch ch {
	case Unchanged:
		c.Unchanged++
	case Changed:
		c.Changed++
	case Removed:
		c.Removed++
	case Added:
		c.Added++
	case NotReproduced:
		c.NotReproduced++
	}
}

// Side describes one of the two manifests.
type Side struct {
	Version   int    `json:"manifestVersion"`
	LeafCount int    `json:"leafCount"`
	Root      string `json:"root"` // lower-case hex
}

// Result is the comparison of manifest A with manifest B.
type Result struct {
	A Side `json:"a"`
	B Side `json:"b"`
	// Identical: the roots are equal, and so are the manifests.
	Identical bool `json:"identical"`
	// Rows are the differences in the order described in the package
	// comment, then, with Options.Unchanged, the unchanged pairs.
	Rows []Row `json:"rows"`
	// Counts has an entry for every kind either manifest has.
	Counts map[provenance.LeafKind]*Count `json:"counts"`
	// Notes say what was not compared, and why.
	Notes []string `json:"notes,omitempty"`
	// Explained is set by Explain, which reads the .drv files, and
	// Derivations is what it found: how each pair of changed derivations
	// differs.
	Explained   bool                   `json:"explained"`
	Derivations []*drvdiff.Explanation `json:"derivations,omitempty"`
}

// Options say what a comparison lists.
type Options struct {
	// Unchanged lists the pairs that did not change too, after the changes.
	Unchanged bool
}

// Kinds lists the kinds of leaf in the order their rows are listed (after
// the reproducibility failures, which come first).
func Kinds() []provenance.LeafKind {
	return []provenance.LeafKind{provenance.KindSrc, provenance.KindFOD, provenance.KindFlakeInput, provenance.KindToolchain, provenance.KindSource, provenance.KindDrv, provenance.KindOutput}
}

// Diff compares manifest a with manifest b. It fails only on a leaf that
// does not parse, which a decoded manifest does not have.
func Diff(a, b *provenance.Manifest, opts Options) (*Result, error) {
	r := &Result{
		A:         side(a),
		B:         side(b),
		Identical: a.Root == b.Root,
		Counts:    map[provenance.LeafKind]*Count{},
		Rows:      []Row{},
	}
	ka, kb := splitByKind(a.Leaves), splitByKind(b.Leaves)
	d := &differ{opts: opts, result: r}
	for _, kind := range Kinds() {
		la, lb := ka[kind], kb[kind]
		if len(la) == 0 && len(lb) == 0 {
			continue
		}
		if kind == provenance.KindOutput && (len(la) == 0 || len(lb) == 0) && a.Version != b.Version {
			r.Notes = append(r.Notes, versionNote(a, b, len(la), len(lb)))
			continue
		}
		if err := d.kind(kind, la, lb); err != nil {
			return nil, err
		}
	}
	if c := r.Counts[provenance.KindOutput]; c != nil && c.NotReproduced > 1 {
		r.Notes = append(r.Notes, nameOrderNote)
	}
	sortRows(r.Rows)
	return r, nil
}

// nameOrderNote says that the reproducibility failures are in name order
// until Explain orders them.
const nameOrderNote = "the outputs that did not reproduce are in name order; with the .drv files (kettle diff --store) they are in the order of their dependencies, the first failure first"

func side(m *provenance.Manifest) Side {
	return Side{Version: m.Version, LeafCount: len(m.Leaves), Root: hex.EncodeToString(m.Root[:])}
}

// versionNote says, once, that one manifest's output leaves have no
// counterpart because the other's version has none.
func versionNote(a, b *provenance.Manifest, na, nb int) string {
	if na == 0 {
		return fmt.Sprintf("A is a version %d manifest, which has no output leaves: B's %d output leaves are not compared", a.Version, nb)
	}
	return fmt.Sprintf("B is a version %d manifest, which has no output leaves: A's %d output leaves are not compared", b.Version, na)
}

// splitByKind returns the leaves of each kind. A manifest's leaves are
// sorted bytewise, so those of one kind ("kind:…") are adjacent and stay
// sorted.
func splitByKind(leaves []string) map[provenance.LeafKind][]string {
	out := map[provenance.LeafKind][]string{}
	for i := 0; i < len(leaves); {
		kind, _, _ := strings.Cut(leaves[i], ":")
		prefix := kind + ":"
		j := i + 1
		for j < len(leaves) && strings.HasPrefix(leaves[j], prefix) {
			j++
		}
		out[provenance.LeafKind(kind)] = append(out[provenance.LeafKind(kind)], leaves[i:j]...)
		i = j
	}
	return out
}

// differ accumulates the rows and counts of one comparison.
type differ struct {
	opts   Options
	result *Result
}

// item is one unpaired leaf, parsed.
type item struct {
	leaf provenance.Leaf
	raw  string
	out  provenance.DrvOutput // for an output leaf
}

// kind compares the leaves of one kind, each list sorted.
func (d *differ) kind(kind provenance.LeafKind, la, lb []string) error {
	count := &Count{}
	d.result.Counts[kind] = count
	onlyA, onlyB := d.unchanged(kind, count, la, lb)
	as, err := parseItems(onlyA)
	if err != nil {
		return fmt.Errorf("manifest A: %w", err)
	}
	bs, err := parseItems(onlyB)
	if err != nil {
		return fmt.Errorf("manifest B: %w", err)
	}
	for _, ph := range phases(kind) {
		var pairs []pair
		pairs, as, bs = pairItems(as, bs, ph)
		for _, p := range pairs {
			row := describe(kind, p)
			count.add(row.Change)
			d.result.Rows = append(d.result.Rows, row)
		}
	}
	for _, it := range as {
		d.result.Rows = append(d.result.Rows, Row{Kind: kind, Change: Removed, Name: rowName(it), A: it.raw, pathA: it.path()})
		count.Removed++
	}
	for _, it := range bs {
		d.result.Rows = append(d.result.Rows, Row{Kind: kind, Change: Added, Name: rowName(it), B: it.raw, pathB: it.path()})
		count.Added++
	}
	return nil
}

// rowName is the name of a row of the leaf: the key of its kind's first
// round of pairing, but for an output, whose first key is its .drv path,
// its derivation's name and output name.
func rowName(it item) string {
	if it.leaf.Kind == provenance.KindOutput {
		return drvName(it.out.Drv) + "!" + it.out.Output
	}
	return phases(it.leaf.Kind)[0].key(it)
}

// unchanged walks two sorted lists at once: equal leaves are unchanged
// pairs (rows with Options.Unchanged); the others are returned.
func (d *differ) unchanged(kind provenance.LeafKind, count *Count, la, lb []string) (onlyA, onlyB []string) {
	i, j := 0, 0
	for i < len(la) || j < len(lb) {
		switch {
		case j == len(lb) || i < len(la) && la[i] < lb[j]:
			onlyA = append(onlyA, la[i])
			i++
		case i == len(la) || lb[j] < la[i]:
			onlyB = append(onlyB, lb[j])
			j++
		default:
			count.Unchanged++
			if d.opts.Unchanged {
				it, err := parseItem(la[i])
				name := la[i]
				if err == nil {
					name = rowName(it)
				}
				d.result.Rows = append(d.result.Rows, Row{Kind: kind, Change: Unchanged, Name: name, A: la[i], B: lb[j]})
			}
			i++
			j++
		}
	}
	return onlyA, onlyB
}

// path is the store path the item's leaf names: a src or drv leaf's, an
// output leaf's .drv; "" for the other kinds.
func (it item) path() string {
	switch it.leaf.Kind {
	case provenance.KindSrc, provenance.KindDrv:
		return it.leaf.Name
	case provenance.KindOutput:
		return it.out.Drv
	}
	return ""
}

func parseItems(leaves []string) ([]item, error) {
	items := make([]item, len(leaves))
	for i, s := range leaves {
		it, err := parseItem(s)
		if err != nil {
			return nil, err
		}
		items[i] = it
	}
	return items, nil
}

func parseItem(s string) (item, error) {
	l, err := provenance.ParseLeaf(s)
	if err != nil {
		return item{}, err
	}
	it := item{leaf: l, raw: s}
	if l.Kind == provenance.KindOutput {
		if it.out, err = provenance.ParseOutputLeaf(l); err != nil {
			return item{}, err
		}
	}
	return it, nil
}

// phase is one round of pairing: the leaves left by the rounds before pair
// by key.
type phase struct {
	key func(item) string
	// uniqueOnly: pair only names that one leaf of each side has.
	uniqueOnly bool
	// sameDrv: the pairs are outputs of one derivation, whose differences
	// are reproducibility failures.
	sameDrv bool
}

// phases returns the rounds of pairing of a kind.
func phases(kind provenance.LeafKind) []phase {
	switch kind {
	case provenance.KindSrc:
		return []phase{{key: func(it item) string { return storeName(it.leaf.Name) }}}
	case provenance.KindDrv:
		return []phase{{key: func(it item) string { return drvName(it.leaf.Name) }}}
	case provenance.KindFOD:
		return []phase{
			{key: func(it item) string { n, _, url := fodFields(it.leaf.Name); return n + " url=" + url }},
			{key: func(it item) string { n, _, _ := fodFields(it.leaf.Name); return n }, uniqueOnly: true},
		}
	case provenance.KindFlakeInput:
		return []phase{{key: func(it item) string { p, _ := flakeInputFields(it.leaf.Name); return p }}}
	case provenance.KindToolchain:
		return []phase{{key: func(it item) string { tool, _, _ := strings.Cut(it.leaf.Name, " "); return tool }}}
	case provenance.KindSource:
		return []phase{{key: func(it item) string {
			if it.leaf.Name == provenance.RevName {
				return "rev"
			}
			return "url"
		}}}
	case provenance.KindOutput:
		return []phase{
			{key: func(it item) string { return it.out.ID() }, sameDrv: true},
			{key: func(it item) string { return drvName(it.out.Drv) + "!" + it.out.Output }},
		}
	}
	return []phase{{key: func(it item) string { return it.leaf.Name }}}
}

// pair is two leaves paired by name.
type pair struct {
	name    string
	a, b    item
	sameDrv bool
	pairing string
}

// pairItems pairs the items of two sides by the phase's key; it returns
// the pairs, sorted by name, and the items left on each side, in the order
// given.
func pairItems(as, bs []item, ph phase) ([]pair, []item, []item) {
	type group struct{ a, b []int }
	groups := map[string]*group{}
	for i, it := range as {
		k := ph.key(it)
		if groups[k] == nil {
			groups[k] = &group{}
		}
		groups[k].a = append(groups[k].a, i)
	}
	for i, it := range bs {
		if g := groups[ph.key(it)]; g != nil {
			g.b = append(g.b, i)
		}
	}
	usedA, usedB := make([]bool, len(as)), make([]bool, len(bs))
	var pairs []pair
	for name, g := range groups {
		if len(g.b) == 0 || ph.uniqueOnly && (len(g.a) != 1 || len(g.b) != 1) {
			continue
		}
		note := ""
		if len(g.a) > 1 || len(g.b) > 1 {
			note = fmt.Sprintf("%d leaves in A and %d in B are named %q: paired by equal value first, then in sorted order", len(g.a), len(g.b), name)
		}
		// Equal values first: the same content under another path.
		for _, i := range g.a {
			for _, j := range g.b {
				if !usedB[j] && as[i].leaf.Value == bs[j].leaf.Value {
					pairs = append(pairs, pair{name, as[i], bs[j], ph.sameDrv, note})
					usedA[i], usedB[j] = true, true
					break
				}
			}
		}
		// Then in sorted order of the leaves (each side's list is sorted).
		j := 0
		for _, i := range g.a {
			if usedA[i] {
				continue
			}
			for j < len(g.b) && usedB[g.b[j]] {
				j++
			}
			if j == len(g.b) {
				break
			}
			pairs = append(pairs, pair{name, as[i], bs[g.b[j]], ph.sameDrv, note})
			usedA[i], usedB[g.b[j]] = true, true
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].name != pairs[j].name {
			return pairs[i].name < pairs[j].name
		}
		return pairs[i].a.raw < pairs[j].a.raw
	})
	return pairs, unused(as, usedA), unused(bs, usedB)
}

func unused(items []item, used []bool) []item {
	var out []item
	for i, it := range items {
		if !used[i] {
			out = append(out, it)
		}
	}
	return out
}

// rankOf is a row's group: reproducibility failures first, then the kinds
// in the order of Kinds, and the unchanged pairs after every change.
func rankOf(r Row) int {
	switch r.Change {
	case NotReproduced:
		return 0
	case Unchanged:
		return 100 + kindRank(r.Kind)
	}
	return kindRank(r.Kind)
}

// kindRank is a kind's place in Kinds, from 1.
func kindRank(k provenance.LeafKind) int {
	for i, kind := range Kinds() {
		if kind == k {
			return i + 1
		}
	}
	return len(Kinds()) + 1
}

// changeRank is the order of the changes within a group.
func changeRank(c Change) int {
	switch c {
	case NotReproduced:
		return 0
	case Changed:
		return 1
	case Removed:
		return 2
	case Added:
		return 3
	}
	return 4
}

// sortRows orders rows by group, then change, then (for reproducibility
// failures) depth, then name.
func sortRows(rows []Row) {
	for i := range rows {
		rows[i].rank = rankOf(rows[i])
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := &rows[i], &rows[j]
		switch {
		case a.rank != b.rank:
			return a.rank < b.rank
		case a.Change != b.Change:
			return changeRank(a.Change) < changeRank(b.Change)
		case a.depth != b.depth:
			return a.depth < b.depth
		case a.Name != b.Name:
			return a.Name < b.Name
		case a.A != b.A:
			return a.A < b.A
		}
		return a.B < b.B
	})
}

// storeName is the name part of a store path, after the hash.
func storeName(p string) string {
	sp, err := nixstore.ParsePath(p)
	if err != nil {
		return p
	}
	return sp.Name
}

// drvName is a .drv store path's name without ".drv".
func drvName(p string) string { return strings.TrimSuffix(storeName(p), ".drv") }

// fodFields splits a fod leaf's name, "<name> mode=<m> algo=<a> url=<u>".
func fodFields(name string) (drv, modeAlgo, url string) {
	f := strings.SplitN(name, " ", 4)
	if len(f) != 4 {
		return name, "", ""
	}
	return f[0], f[1] + " " + f[2], strings.TrimPrefix(f[3], "url=")
}

// flakeInputFields splits a flake-input leaf's name, "<input path> <URL>".
func flakeInputFields(name string) (path, url string) {
	i := strings.LastIndexByte(name, ' ')
	if i < 0 {
		return name, ""
	}
	return name[:i], name[i+1:]
}
