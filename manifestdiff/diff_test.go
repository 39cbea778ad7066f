package manifestdiff

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/provenance"
)

// sp returns a store path whose hash part is made from seed.
func sp(seed, name string) string {
	const alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
	sum := sha256.Sum256([]byte(seed + "/" + name))
	h := make([]byte, 32)
	for i := range h {
		h[i] = alphabet[sum[i]%32]
	}
	return "/nix/store/" + string(h) + "-" + name
}

func digest(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// closure writes the leaves of a test closure. Each derivation has one
// output, "out".
type closure struct {
	leaves []provenance.Leaf
	drvs   map[string]string // name → .drv path
}

func newClosure() *closure { return &closure{drvs: map[string]string{}} }

// drv adds a derivation named name whose .drv and output paths are made
// from seed, with its output's NAR made from nar and hashed by by.
func (c *closure) drv(name, seed, nar string, by provenance.OutputAuthority) *closure {
	path := sp(seed, name+".drv")
	c.drvs[name] = path
	c.leaves = append(c.leaves, provenance.DrvLeaf(path, digest(seed+name)))
	o := provenance.DrvOutput{Drv: path, Output: "out", Path: sp(seed, name), By: by}
	if by != provenance.ByNone {
		o.NarSHA256 = digest(nar)
	}
	c.leaves = append(c.leaves, o.Leaf())
	return c
}

func (c *closure) add(leaves ...provenance.Leaf) *closure {
	c.leaves = append(c.leaves, leaves...)
	return c
}

func (c *closure) manifest(t testing.TB, version int) *provenance.Manifest {
	t.Helper()
	leaves := c.leaves
	if version == provenance.ManifestV1 {
		leaves = nil
		for _, l := range c.leaves {
			if l.Kind != provenance.KindOutput {
				leaves = append(leaves, l)
			}
		}
	}
	m, err := provenance.NewManifestVersion(version, leaves)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// hello is the closure of examples/hello, with hello.sh of the given
// content and the source URL made from it.
func hello(script string) *closure {
	c := newClosure()
	c.drv("busybox-bin", "bb", "bb-nar", provenance.ByNixDB)
	c.drv("greeting.txt", "gr", "greeting", provenance.ByNixDB)
	c.drv("hello", "hello"+script, "hello-nar"+script, provenance.ByKettle)
	c.add(
		provenance.SrcLeaf(sp(script, "hello.sh"), digest(script)),
		provenance.SrcLeaf(sp("m", "busybox.mtree"), digest("mtree")),
		provenance.FODLeaf("greeting.txt", "flat", "sha256", fmt.Sprintf("%x", digest("greeting")), ""),
		provenance.FlakeInputLeaf("busybox", "path:/bin/busybox?narHash=x", digest("busybox")),
		provenance.ToolchainLeaf("nix", "2.8.0", digest("nix")),
		provenance.ToolchainLeaf("kettle", "devel", digest("kettle")),
	)
	c.add(provenance.SourceLeaves(fmt.Sprintf("path:/src?narHash=%x", digest(script)), "", digest("flake"+script))...)
	return c
}

func diff(t *testing.T, a, b *provenance.Manifest, opts Options) *Result {
	t.Helper()
	r, err := Diff(a, b, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// summary is a row as kind/change/name.
func summary(rows []Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, string(r.Kind)+"/"+string(r.Change)+"/"+r.Name)
	}
	return out
}

func TestIdentical(t *testing.T) {
	m := hello("echo hi").manifest(t, provenance.ManifestV2)
	r := diff(t, m, m, Options{})
	if !r.Identical || len(r.Rows) != 0 {
		t.Errorf("a manifest against itself: identical %v, rows %v", r.Identical, summary(r.Rows))
	}
	if c := r.Counts[provenance.KindDrv]; c == nil || c.Unchanged != 3 || c.Changed != 0 {
		t.Errorf("drv counts %+v, want 3 unchanged", c)
	}
	r = diff(t, m, m, Options{Unchanged: true})
	if len(r.Rows) != len(m.Leaves) {
		t.Errorf("with Unchanged: %d rows, want one per leaf (%d)", len(r.Rows), len(m.Leaves))
	}
}

// TestSourceFileChanged: one source file differs; its src leaf comes first,
// one changed row, then the source, then the derivation it changed and its
// output.
func TestSourceFileChanged(t *testing.T) {
	a := hello("echo hi").manifest(t, provenance.ManifestV2)
	b := hello("echo bye").manifest(t, provenance.ManifestV2)
	r := diff(t, a, b, Options{})
	want := []string{"src/changed/hello.sh", "source/changed/url", "drv/changed/hello", "output/changed/hello!out"}
	if got := summary(r.Rows); !reflect.DeepEqual(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	if r.Identical {
		t.Error("identical")
	}
	src := r.Rows[0]
	if !strings.HasPrefix(src.A, "src:"+sp("echo hi", "hello.sh")+":") || !strings.HasPrefix(src.B, "src:"+sp("echo bye", "hello.sh")+":") {
		t.Errorf("src row pairs %q and %q", src.A, src.B)
	}
	if !strings.Contains(src.Detail, "path ") || !strings.Contains(src.Detail, "NAR sha256 ") {
		t.Errorf("src detail %q names neither the path nor the NAR hash", src.Detail)
	}
	if c := r.Counts[provenance.KindSrc]; *c != (Count{Unchanged: 1, Changed: 1}) {
		t.Errorf("src counts %+v", c)
	}
	if c := r.Counts[provenance.KindOutput]; *c != (Count{Unchanged: 2, Changed: 1}) {
		t.Errorf("output counts %+v", c)
	}
	// With the unchanged pairs too, they come after every change.
	r = diff(t, a, b, Options{Unchanged: true})
	if got := summary(r.Rows[:4]); !reflect.DeepEqual(got, want) {
		t.Errorf("with Unchanged, the changes are not first: %v", summary(r.Rows))
	}
	if got := r.Rows[4]; got.Change != Unchanged || got.Kind != provenance.KindSrc || got.Name != "busybox.mtree" {
		t.Errorf("first unchanged row %+v, want src busybox.mtree", got)
	}
}

// TestNotReproduced: the same .drv with another output is listed first,
// before any input.
func TestNotReproduced(t *testing.T) {
	a := hello("echo hi")
	b := newClosure()
	b.drv("busybox-bin", "bb", "bb-nar", provenance.ByNixDB)
	b.drv("greeting.txt", "gr", "greeting", provenance.ByNixDB)
	b.drv("hello", "helloecho hi", "a different NAR", provenance.ByNixDB)
	for _, l := range a.leaves[6:] { // the same inputs, but another nix
		if l.Kind == provenance.KindToolchain && strings.HasPrefix(l.Name, "nix ") {
			l = provenance.ToolchainLeaf("nix", "2.18.1", digest("nix2"))
		}
		b.add(l)
	}
	r := diff(t, a.manifest(t, provenance.ManifestV2), b.manifest(t, provenance.ManifestV2), Options{})
	want := []string{"output/not-reproduced/hello!out", "toolchain/changed/nix"}
	if got := summary(r.Rows); !reflect.DeepEqual(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	if d := r.Rows[0].Detail; !strings.Contains(d, "(by=kettle) → ") || !strings.Contains(d, "(by=nix-db)") {
		t.Errorf("detail %q does not give both NAR hashes and their authorities", d)
	}
	if d := r.Rows[1].Detail; !strings.Contains(d, "version 2.8.0 → 2.18.1") {
		t.Errorf("toolchain detail %q", d)
	}
	if c := r.Counts[provenance.KindOutput]; c.NotReproduced != 1 || c.Unchanged != 2 {
		t.Errorf("output counts %+v", c)
	}
}

// TestOutputsCompared: outputs of one .drv that cannot be compared, or
// differ only in who hashed them, are changes, not reproducibility
// failures.
func TestOutputsCompared(t *testing.T) {
	a := newClosure().drv("x", "x", "same", provenance.ByNixDB).drv("y", "y", "y", provenance.ByKettle)
	b := newClosure().drv("x", "x", "same", provenance.ByKettle).drv("y", "y", "", provenance.ByNone)
	r := diff(t, a.manifest(t, provenance.ManifestV2), b.manifest(t, provenance.ManifestV2), Options{})
	if got, want := summary(r.Rows), []string{"output/changed/x!out", "output/changed/y!out"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	if d := r.Rows[0].Detail; !strings.Contains(d, "same NAR sha256") || !strings.Contains(d, "hashed by=nix-db → by=kettle") {
		t.Errorf("authority change: %q", d)
	}
	if d := r.Rows[1].Detail; !strings.Contains(d, "not in the store after build B (by=none)") || !strings.Contains(d, "not compared") {
		t.Errorf("absent output: %q", d)
	}
}

// TestAmbiguousNames: several derivations named "source" pair by equal
// value first, then in sorted order, and the rows say so.
func TestAmbiguousNames(t *testing.T) {
	a, b := newClosure(), newClosure()
	a.drv("source", "s1", "same", provenance.ByNixDB) // unchanged in B
	b.drv("source", "s1", "same", provenance.ByNixDB)
	a.drv("source", "a2", "n2", provenance.ByNixDB)
	a.drv("source", "a3", "n3", provenance.ByNixDB)
	b.drv("source", "b2", "n3", provenance.ByNixDB) // the content of a3
	b.drv("source", "b3", "n2x", provenance.ByNixDB)
	r := diff(t, a.manifest(t, provenance.ManifestV2), b.manifest(t, provenance.ManifestV2), Options{})
	if got, want := summary(r.Rows), []string{"drv/changed/source", "drv/changed/source", "output/changed/source!out", "output/changed/source!out"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	for _, row := range r.Rows {
		if !strings.Contains(row.Pairing, `2 leaves in A and 2 in B are named "source`) {
			t.Errorf("row %s %s: pairing %q does not say it was ambiguous", row.Kind, row.Name, row.Pairing)
		}
	}
	// The outputs with equal NAR hashes pair with each other.
	var sameContent int
	for _, row := range r.Rows[2:] {
		if strings.Contains(row.Detail, "the derivation changed, its output did not") {
			sameContent++
			if !strings.Contains(row.A, sp("a3", "source.drv")) || !strings.Contains(row.B, sp("b2", "source.drv")) {
				t.Errorf("equal outputs paired %s with %s", row.A, row.B)
			}
		}
	}
	if sameContent != 1 {
		t.Errorf("%d output rows with the same content, want 1:\n%v", sameContent, r.Rows)
	}
	// Deterministic: the same result every time.
	for range 5 {
		again := diff(t, a.manifest(t, provenance.ManifestV2), b.manifest(t, provenance.ManifestV2), Options{})
		if !reflect.DeepEqual(again.Rows, r.Rows) {
			t.Fatal("a second Diff paired differently")
		}
	}
}

func TestFixedOutputs(t *testing.T) {
	h := func(s string) string { return fmt.Sprintf("%x", digest(s)) }
	a := newClosure().add(
		provenance.FODLeaf("hello-2.12.tar.gz", "flat", "sha256", h("2.12"), "https://ftp.gnu.org/hello-2.12.tar.gz"),
		provenance.FODLeaf("source", "recursive", "sha256", h("s1"), "https://github.com/a/b/archive/1.tar.gz"),
		provenance.FODLeaf("source", "recursive", "sha256", h("s2"), "https://github.com/c/d/archive/1.tar.gz"),
		provenance.FODLeaf("data", "flat", "sha256", h("d1"), "https://example.org/data"),
	)
	b := newClosure().add(
		provenance.FODLeaf("hello-2.12.tar.gz", "flat", "sha256", h("2.12"), "https://mirror.example/hello-2.12.tar.gz"),
		provenance.FODLeaf("source", "recursive", "sha256", h("s3"), "https://github.com/a/b/archive/2.tar.gz"),
		provenance.FODLeaf("source", "recursive", "sha256", h("s4"), "https://github.com/c/d/archive/2.tar.gz"),
		provenance.FODLeaf("data", "recursive", "sha256", h("d2"), "https://example.org/data"),
	)
	r := diff(t, a.manifest(t, provenance.ManifestV1), b.manifest(t, provenance.ManifestV1), Options{})
	want := []string{"fod/changed/data url=https://example.org/data", "fod/changed/hello-2.12.tar.gz",
		"fod/removed/source url=https://github.com/a/b/archive/1.tar.gz", "fod/removed/source url=https://github.com/c/d/archive/1.tar.gz",
		"fod/added/source url=https://github.com/a/b/archive/2.tar.gz", "fod/added/source url=https://github.com/c/d/archive/2.tar.gz"}
	if got := summary(r.Rows); !reflect.DeepEqual(got, want) {
		t.Fatalf("rows\n %v, want\n %v", got, want)
	}
	if d := r.Rows[0].Detail; !strings.Contains(d, "mode=flat algo=sha256 → mode=recursive algo=sha256") || !strings.Contains(d, "hash ") {
		t.Errorf("data detail %q", d)
	}
	if d := r.Rows[1].Detail; !strings.Contains(d, "url https://ftp.gnu.org/hello-2.12.tar.gz → https://mirror.example/hello-2.12.tar.gz") || !strings.Contains(d, "same hash") {
		t.Errorf("hello detail %q", d)
	}
}

// TestVersions: a version 1 manifest against a version 2 one compares
// everything but the outputs, and says so once.
func TestVersions(t *testing.T) {
	c := hello("echo hi")
	v1, v2 := c.manifest(t, provenance.ManifestV1), c.manifest(t, provenance.ManifestV2)
	r := diff(t, v1, v2, Options{})
	if len(r.Rows) != 0 || r.Identical {
		t.Errorf("v1 against v2 of one closure: rows %v, identical %v", summary(r.Rows), r.Identical)
	}
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "A is a version 1 manifest, which has no output leaves: B's 3 output leaves are not compared") {
		t.Errorf("notes %q", r.Notes)
	}
	if _, ok := r.Counts[provenance.KindOutput]; ok {
		t.Error("outputs counted")
	}
	r = diff(t, v2, hello("echo bye").manifest(t, provenance.ManifestV1), Options{})
	if got, want := summary(r.Rows), []string{"src/changed/hello.sh", "source/changed/url", "drv/changed/hello"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	if len(r.Notes) != 1 || !strings.HasPrefix(r.Notes[0], "B is a version 1 manifest") {
		t.Errorf("notes %q", r.Notes)
	}
}

func TestAddedRemoved(t *testing.T) {
	a := hello("x")
	b := hello("x").drv("extra", "e", "e", provenance.ByNixDB)
	b.add(provenance.FlakeInputLeaf("nixpkgs", "github:NixOS/nixpkgs/abc", digest("np")))
	ma, mb := a.manifest(t, provenance.ManifestV2), b.manifest(t, provenance.ManifestV2)
	want := []string{"flake-input/added/nixpkgs", "drv/added/extra", "output/added/extra!out"}
	if got := summary(diff(t, ma, mb, Options{}).Rows); !reflect.DeepEqual(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	want = []string{"flake-input/removed/nixpkgs", "drv/removed/extra", "output/removed/extra!out"}
	if got := summary(diff(t, mb, ma, Options{}).Rows); !reflect.DeepEqual(got, want) {
		t.Errorf("rows the other way %v, want %v", got, want)
	}
}

func TestJSON(t *testing.T) {
	r := diff(t, hello("a").manifest(t, provenance.ManifestV2), hello("b").manifest(t, provenance.ManifestV2), Options{})
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		A, B   Side
		Rows   []Row
		Counts map[string]Count
	}
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != len(r.Rows) || back.Rows[0].Name != "hello.sh" || back.Counts["src"].Changed != 1 || back.A.Version != 2 || back.A.Root != r.A.Root {
		t.Errorf("JSON does not round-trip: %s", data)
	}
}

// memStore is a set of derivations in memory; a path it lacks is not in
// the store.
type memStore map[string]*nixinputs.Derivation

func (s memStore) read(p string) (*nixinputs.Derivation, error) {
	if d, ok := s[p]; ok {
		return d, nil
	}
	return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
}

func derivation(path string, srcs []string, inputs ...string) *nixinputs.Derivation {
	in := map[string][]string{}
	for _, p := range inputs {
		in[p] = []string{"out"}
	}
	return &nixinputs.Derivation{Path: path, InputSrcs: srcs, InputDrvs: in, Env: map[string]string{}, Outputs: map[string]nixinputs.Output{}}
}

// TestExplain: with the .drv files, a changed src names the derivations it
// changed, and the reproducibility failures come in the order of their
// dependencies.
func TestExplain(t *testing.T) {
	a, b := hello("echo hi"), hello("echo bye")
	s := memStore{}
	for _, c := range []*closure{a, b} {
		script := sp("echo hi", "hello.sh")
		if c == b {
			script = sp("echo bye", "hello.sh")
		}
		s[c.drvs["hello"]] = derivation(c.drvs["hello"], []string{script}, c.drvs["busybox-bin"])
		s[c.drvs["busybox-bin"]] = derivation(c.drvs["busybox-bin"], nil)
	}
	r := diff(t, a.manifest(t, provenance.ManifestV2), b.manifest(t, provenance.ManifestV2), Options{})
	r.Explain(s.read)
	if !r.Explained || len(r.Derivations) != 1 || r.Derivations[0].Name != "hello" {
		t.Fatalf("explanations %+v, want hello's", r.Derivations)
	}
	if got := r.Rows[0].UsedBy; !reflect.DeepEqual(got, []string{"hello"}) {
		t.Errorf("hello.sh used by %v, want [hello]", got)
	}
	for _, row := range r.Rows {
		if row.Kind == provenance.KindDrv && row.Note != "changed in itself: inputSrcs hello.sh" {
			t.Errorf("drv row %s: note %q", row.Name, row.Note)
		}
	}

	// noisy did not reproduce, and consumer, built from it, neither; base did.
	c1, c2 := newClosure(), newClosure()
	c1.drv("base", "base", "base", provenance.ByNixDB).drv("noisy", "noisy", "random 1", provenance.ByNixDB).drv("consumer", "consumer", "from random 1", provenance.ByKettle)
	c2.drv("base", "base", "base", provenance.ByNixDB).drv("noisy", "noisy", "random 2", provenance.ByNixDB).drv("consumer", "consumer", "from random 2", provenance.ByKettle)
	s = memStore{}
	s[c1.drvs["base"]] = derivation(c1.drvs["base"], nil)
	s[c1.drvs["noisy"]] = derivation(c1.drvs["noisy"], nil, c1.drvs["base"])
	s[c1.drvs["consumer"]] = derivation(c1.drvs["consumer"], nil, c1.drvs["noisy"], c1.drvs["base"])
	r = diff(t, c1.manifest(t, provenance.ManifestV2), c2.manifest(t, provenance.ManifestV2), Options{Unchanged: true})
	if r.Rows[0].Name != "consumer!out" || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "in name order") {
		t.Fatalf("without the .drv files, failures are in name order, and a note says so: %v %q", summary(r.Rows), r.Notes)
	}
	r.Explain(s.read)
	if len(r.Notes) != 0 {
		t.Errorf("notes after Explain: %q", r.Notes)
	}
	got := summary(r.Rows)
	want := []string{"output/not-reproduced/noisy!out", "output/not-reproduced/consumer!out"}
	if !reflect.DeepEqual(got[:2], want) {
		t.Fatalf("rows %v, want %v first", got, want)
	}
	if r.Rows[0].Follows != nil || !strings.Contains(r.Rows[0].Note, "look here first") {
		t.Errorf("noisy: follows %v, note %q", r.Rows[0].Follows, r.Rows[0].Note)
	}
	if !reflect.DeepEqual(r.Rows[1].Follows, []string{"noisy"}) {
		t.Errorf("consumer follows %v, want [noisy]", r.Rows[1].Follows)
	}
	var baseUnchanged bool
	for _, row := range r.Rows {
		if row.Kind == provenance.KindOutput && row.Change == Unchanged && row.Name == "base!out" {
			baseUnchanged = true
		}
	}
	if !baseUnchanged {
		t.Errorf("base's output is not an unchanged row: %v", got)
	}

	// A failing derivation whose .drv is not in the store says so.
	delete(s, c1.drvs["consumer"])
	r = diff(t, c1.manifest(t, provenance.ManifestV2), c2.manifest(t, provenance.ManifestV2), Options{})
	r.Explain(s.read)
	for _, row := range r.Rows {
		if row.Name == "consumer!out" && !strings.Contains(row.Note, "is not in the local store") {
			t.Errorf("consumer's note %q does not say its .drv is missing", row.Note)
		}
	}
}
