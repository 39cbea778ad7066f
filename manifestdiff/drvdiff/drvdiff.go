// Package drvdiff explains how two derivations differ, as nix-diff does:
// their builder, system and arguments, their environment variables added,
// removed or changed, their input sources and input derivations, and their
// outputs. An input derivation that differs is explained in turn, once.
//
// Nearly every change of a derivation changes the store paths written in
// it (its own outputs, its inputs' outputs), so a value that differs only
// in the hash parts of store paths is reported as such (ChangeStorePaths),
// apart from the changes that say why.
package drvdiff

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/kettle-build/kettle/internal/nixstore"
	"github.com/kettle-build/kettle/nixinputs"
	"github.com/nix-community/go-nix/pkg/nixbase32"
)

// Reader reads the .drv file at a store path, such as
// nixinputs.ReadDerivation. An error that is fs.ErrNotExist means the
// derivation is not in the store.
type Reader func(path string) (*nixinputs.Derivation, error)

// The fields of a derivation a Change is about.
const (
	FieldBuilder   = "builder"
	FieldSystem    = "system"
	FieldArgs      = "args"
	FieldEnv       = "env"
	FieldInputSrcs = "inputSrcs"
	FieldInputDrvs = "inputDrvs"
	FieldOutputs   = "outputs"
)

// The kinds of Change.
const (
	ChangeChanged = "changed"
	ChangeAdded   = "added"   // only in B
	ChangeRemoved = "removed" // only in A
	// ChangeStorePaths: the values differ only in the hash parts of store
	// paths, which follow from other changes.
	ChangeStorePaths = "store-paths"
)

// Change is one difference between two derivations.
type Change struct {
	Field string `json:"field"`
	// Name is the environment variable, the name of the input source,
	// input derivation or output, or the argument's index ("3"); empty for
	// the builder and the system.
	Name   string `json:"name,omitempty"`
	Change string `json:"change"`
	// A and B are the values on each side, empty on the side without one.
	A string `json:"a,omitempty"`
	B string `json:"b,omitempty"`
}

// Explanation says how derivation A differs from derivation B.
type Explanation struct {
	Name string `json:"name"` // the derivation's name, from B's path
	A    string `json:"a"`    // the .drv store paths
	B    string `json:"b"`
	// Unavailable says, for each side that could not be read, why: "not in
	// the local store", or the error. Such an explanation has no changes.
	Unavailable []string `json:"unavailable,omitempty"`
	Changes     []Change `json:"changes,omitempty"`
	// OnlyInputs is set when every change is an input derivation or a
	// store path: the derivation differs because its inputs do.
	OnlyInputs bool `json:"onlyInputs"`
}

// Explainer explains pairs of derivations, reading each .drv once and
// explaining each pair once.
type Explainer struct {
	read  Reader
	drvs  map[string]readResult
	pairs map[[2]string]*Explanation
	order []*Explanation
}

type readResult struct {
	drv *nixinputs.Derivation
	err error
}

// NewExplainer returns an Explainer that reads derivations with read.
func NewExplainer(read Reader) *Explainer {
	return &Explainer{read: read, drvs: map[string]readResult{}, pairs: map[[2]string]*Explanation{}}
}

// Explain explains how derivation a differs from derivation b and, in
// turn, every pair of their input derivations that differs, each pair
// once. It returns the explanation of a and b.
func (e *Explainer) Explain(a, b string) *Explanation {
	first := e.explainOne(a, b)
	queue := []*Explanation{first}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		for _, c := range x.Changes {
			if c.Field != FieldInputDrvs || c.Change != ChangeChanged || c.A == c.B {
				continue
			}
			if _, done := e.pairs[[2]string{c.A, c.B}]; !done {
				queue = append(queue, e.explainOne(c.A, c.B))
			}
		}
	}
	return first
}

// Explanations returns every explanation made, in the order they were
// first made.
func (e *Explainer) Explanations() []*Explanation { return e.order }

// Derivation reads the derivation at path once; it is for callers that
// need one side, such as the inputs of a derivation that did not
// reproduce.
func (e *Explainer) Derivation(path string) (*nixinputs.Derivation, error) {
	r, ok := e.drvs[path]
	if !ok {
		r.drv, r.err = e.read(path)
		e.drvs[path] = r
	}
	return r.drv, r.err
}

func (e *Explainer) explainOne(a, b string) *Explanation {
	if x, ok := e.pairs[[2]string{a, b}]; ok {
		return x
	}
	x := &Explanation{Name: drvName(b), A: a, B: b}
	e.pairs[[2]string{a, b}] = x
	e.order = append(e.order, x)
	da, errA := e.Derivation(a)
	db, errB := e.Derivation(b)
	for _, side := range []struct {
		label, path string
		err         error
	}{{"a", a, errA}, {"b", b, errB}} {
		switch {
		case side.err == nil:
		case errors.Is(side.err, fs.ErrNotExist):
			x.Unavailable = append(x.Unavailable, fmt.Sprintf("%s: %s is not in the local store", side.label, side.path))
		default:
			x.Unavailable = append(x.Unavailable, fmt.Sprintf("%s: %v", side.label, side.err))
		}
	}
	if len(x.Unavailable) > 0 {
		return x
	}
	x.Changes = Compare(da, db)
	x.OnlyInputs = len(x.Changes) > 0
	for _, c := range x.Changes {
		if c.Field != FieldInputDrvs && c.Change != ChangeStorePaths {
			x.OnlyInputs = false
		}
	}
	return x
}

// Compare lists the differences between two derivations, field by field
// in the order of the Field constants, each field's by name.
func Compare(a, b *nixinputs.Derivation) []Change {
	m := masker{dirA: storeDir(a.Path), dirB: storeDir(b.Path)}
	var cs []Change
	if a.Builder != b.Builder {
		cs = append(cs, Change{Field: FieldBuilder, Change: m.kind(a.Builder, b.Builder), A: a.Builder, B: b.Builder})
	}
	if a.System != b.System {
		cs = append(cs, Change{Field: FieldSystem, Change: ChangeChanged, A: a.System, B: b.System})
	}
	cs = append(cs, compareArgs(m, a.Args, b.Args)...)
	cs = append(cs, compareEnv(m, a.Env, b.Env)...)
	cs = append(cs, compareInputSrcs(a.InputSrcs, b.InputSrcs)...)
	cs = append(cs, compareInputDrvs(a.InputDrvs, b.InputDrvs)...)
	cs = append(cs, compareOutputs(m, a.Outputs, b.Outputs)...)
	return cs
}

func compareArgs(m masker, a, b []string) []Change {
	var cs []Change
	for i := range max(len(a), len(b)) {
		c := Change{Field: FieldArgs, Name: fmt.Sprint(i)}
		switch {
		case i >= len(a):
			c.Change, c.B = ChangeAdded, b[i]
		case i >= len(b):
			c.Change, c.A = ChangeRemoved, a[i]
		case a[i] == b[i]:
			continue
		default:
			c.Change, c.A, c.B = m.kind(a[i], b[i]), a[i], b[i]
		}
		cs = append(cs, c)
	}
	return cs
}

func compareEnv(m masker, a, b map[string]string) []Change {
	var cs []Change
	for _, k := range unionKeys(a, b) {
		va, inA := a[k]
		vb, inB := b[k]
		c := Change{Field: FieldEnv, Name: k, A: va, B: vb}
		switch {
		case !inB:
			c.Change = ChangeRemoved
		case !inA:
			c.Change = ChangeAdded
		case va == vb:
			continue
		default:
			c.Change = m.kind(va, vb)
		}
		cs = append(cs, c)
	}
	return cs
}

// compareInputSrcs pairs input sources by their store path names.
func compareInputSrcs(a, b []string) []Change {
	var cs []Change
	for _, p := range pairByName(a, b, storeName) {
		c := Change{Field: FieldInputSrcs, Name: p.name, A: p.a, B: p.b}
		switch {
		case p.a == p.b:
			continue
		case p.a == "":
			c.Change = ChangeAdded
		case p.b == "":
			c.Change = ChangeRemoved
		default:
			c.Change = ChangeChanged
		}
		cs = append(cs, c)
	}
	return cs
}

// compareInputDrvs pairs input derivations by their names, and reports
// those whose path or whose outputs used changed.
func compareInputDrvs(a, b map[string][]string) []Change {
	var cs []Change
	pairs := pairByName(slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b)), drvName)
	for _, p := range pairs {
		c := Change{Field: FieldInputDrvs, Name: p.name, A: p.a, B: p.b}
		switch {
		case p.a == "":
			c.Change = ChangeAdded
		case p.b == "":
			c.Change = ChangeRemoved
		case p.a != p.b:
			c.Change = ChangeChanged
		}
		if c.Change != "" {
			cs = append(cs, c)
		}
		if p.a != "" && p.b != "" {
			oa, ob := outputList(a[p.a]), outputList(b[p.b])
			if oa != ob {
				cs = append(cs, Change{Field: FieldInputDrvs, Name: p.name + " outputs", Change: ChangeChanged, A: oa, B: ob})
			}
		}
	}
	return cs
}

func outputList(outs []string) string {
	s := slices.Clone(outs)
	sort.Strings(s)
	return strings.Join(s, ",")
}

func compareOutputs(m masker, a, b map[string]nixinputs.Output) []Change {
	var cs []Change
	for _, name := range unionKeys(a, b) {
		oa, inA := a[name]
		ob, inB := b[name]
		c := Change{Field: FieldOutputs, Name: name}
		if inA {
			c.A = describeOutput(oa)
		}
		if inB {
			c.B = describeOutput(ob)
		}
		switch {
		case !inB:
			c.Change = ChangeRemoved
		case !inA:
			c.Change = ChangeAdded
		case oa == ob:
			continue
		case oa.HashAlgo == ob.HashAlgo && oa.Hash == ob.Hash:
			c.Change = m.kind(oa.Path, ob.Path)
		default:
			c.Change = ChangeChanged
		}
		cs = append(cs, c)
	}
	return cs
}

// describeOutput is an output's path, with its fixed hash when it has one.
func describeOutput(o nixinputs.Output) string {
	s := o.Path
	if s == "" {
		s = "(path not yet known)"
	}
	if o.HashAlgo != "" {
		s += " " + o.HashAlgo + ":" + o.Hash
	}
	return s
}

func unionKeys[V any](a, b map[string]V) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// namedPair is one path of each side with the same name; a is "" for a
// path only in B, b is "" for one only in A.
type namedPair struct{ name, a, b string }

// pairByName pairs two sorted lists of store paths by name. Where one name
// has several paths on a side, equal paths pair first, then the rest in
// sorted order.
func pairByName(a, b []string, name func(string) string) []namedPair {
	byName := map[string]*[2][]string{}
	var names []string
	add := func(side int, paths []string) {
		for _, p := range paths {
			n := name(p)
			g, ok := byName[n]
			if !ok {
				g = &[2][]string{}
				byName[n] = g
				names = append(names, n)
			}
			g[side] = append(g[side], p)
		}
	}
	add(0, a)
	add(1, b)
	sort.Strings(names)
	var out []namedPair
	for _, n := range names {
		g := byName[n]
		as, bs := g[0], g[1]
		var restA []string
		for _, p := range as {
			if i := slices.Index(bs, p); i >= 0 {
				out = append(out, namedPair{n, p, p})
				bs = slices.Delete(slices.Clone(bs), i, i+1)
			} else {
				restA = append(restA, p)
			}
		}
		for i := range max(len(restA), len(bs)) {
			p := namedPair{name: n}
			if i < len(restA) {
				p.a = restA[i]
			}
			if i < len(bs) {
				p.b = bs[i]
			}
			out = append(out, p)
		}
	}
	return out
}

// storeName is the name part of a store path, after the hash; the path
// itself when it is not a store path.
func storeName(p string) string {
	sp, err := nixstore.ParsePath(p)
	if err != nil {
		return p
	}
	return sp.Name
}

// drvName is a .drv store path's name without ".drv".
func drvName(p string) string { return strings.TrimSuffix(storeName(p), ".drv") }

// storeDir is the directory of a store path.
func storeDir(p string) string {
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		return p[:i]
	}
	return ""
}

// masker tells a value that differs only in the hash parts of store paths
// from one that differs in anything else.
type masker struct{ dirA, dirB string }

func (m masker) kind(a, b string) string {
	if maskHashes(a, m.dirA) == maskHashes(b, m.dirB) {
		return ChangeStorePaths
	}
	return ChangeChanged
}

// maskHashes replaces the hash part of every store path of dir in s with
// a fixed string.
func maskHashes(s, dir string) string {
	if dir == "" {
		return s
	}
	prefix := dir + "/"
	var b strings.Builder
	for {
		i := strings.Index(s, prefix)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := i + len(prefix)
		b.WriteString(s[:j])
		if isHashPart(s[j:]) {
			b.WriteString("<hash>")
			j += nixstore.HashLen
		}
		s = s[j:]
	}
}

// isHashPart reports whether s starts with a store path's hash part and
// the '-' after it.
func isHashPart(s string) bool {
	if len(s) <= nixstore.HashLen || s[nixstore.HashLen] != '-' {
		return false
	}
	for i := range nixstore.HashLen {
		if !nixbase32.Is(s[i]) {
			return false
		}
	}
	return true
}
