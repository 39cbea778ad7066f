package drvdiff

import (
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/nixinputs"
)

// sp returns a store path with a hash part made from seed.
func sp(seed, name string) string {
	const alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
	h := make([]byte, 32)
	for i := range h {
		c := 7 * i
		for _, r := range seed {
			c += int(r) * (i + 3)
		}
		h[i] = alphabet[c%32]
	}
	return "/nix/store/" + string(h) + "-" + name
}

// drv builds a derivation as Nix would write it: its output path appears
// in its environment, and its inputs' paths in its script.
func drv(seed, name string, inputDrvs map[string][]string, inputSrcs []string, script string) *nixinputs.Derivation {
	out := sp(seed+"out", name)
	return &nixinputs.Derivation{
		Path:      sp(seed, name+".drv"),
		Name:      name,
		Outputs:   map[string]nixinputs.Output{"out": {Path: out}},
		InputDrvs: inputDrvs,
		InputSrcs: inputSrcs,
		Builder:   sp("busybox", "busybox-bin") + "/bin/busybox",
		Args:      []string{"sh", "-c", script},
		System:    "x86_64-linux",
		Env:       map[string]string{"name": name, "out": out, "builder": sp("busybox", "busybox-bin") + "/bin/busybox"},
	}
}

// store is an in-memory set of derivations; a path it lacks is not in
// the store.
type store map[string]*nixinputs.Derivation

func (s store) read(p string) (*nixinputs.Derivation, error) {
	if d, ok := s[p]; ok {
		return d, nil
	}
	return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
}

func (s store) add(ds ...*nixinputs.Derivation) {
	for _, d := range ds {
		s[d.Path] = d
	}
}

func TestCompareSourceChange(t *testing.T) {
	srcA, srcB := sp("a", "hello.sh"), sp("b", "hello.sh")
	a := drv("helloA", "hello", nil, []string{srcA, sp("m", "busybox.mtree")}, "cp "+srcA+" $out")
	b := drv("helloB", "hello", nil, []string{srcB, sp("m", "busybox.mtree")}, "cp "+srcB+" $out")
	got := Compare(a, b)
	want := []Change{
		{Field: FieldArgs, Name: "2", Change: ChangeStorePaths, A: a.Args[2], B: b.Args[2]},
		{Field: FieldEnv, Name: "out", Change: ChangeStorePaths, A: a.Env["out"], B: b.Env["out"]},
		{Field: FieldInputSrcs, Name: "hello.sh", Change: ChangeChanged, A: srcA, B: srcB},
		{Field: FieldOutputs, Name: "out", Change: ChangeStorePaths, A: a.Outputs["out"].Path, B: b.Outputs["out"].Path},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Compare:\n got %+v\nwant %+v", got, want)
	}
}

func TestCompareEverything(t *testing.T) {
	a := drv("x", "tool", map[string][]string{sp("l1", "lib.drv"): {"out"}, sp("g", "gone.drv"): {"out"}}, []string{sp("s", "old.patch")}, "make")
	b := drv("y", "tool", map[string][]string{sp("l2", "lib.drv"): {"dev", "out"}, sp("n", "new.drv"): {"out"}}, []string{sp("t", "new.patch")}, "make -j4")
	a.Env["FLAGS"], b.Env["FLAGS"] = "-O2", "-O3"
	a.Env["OLD"] = "1"
	b.Env["NEW"] = "2"
	b.System = "aarch64-linux"
	b.Builder = "/bin/other"
	b.Args = append(b.Args, "extra")
	b.Outputs["dev"] = nixinputs.Output{Path: sp("ydev", "tool-dev")}
	a.Outputs["out"] = nixinputs.Output{Path: sp("fixed", "tool"), HashAlgo: "sha256", Hash: strings.Repeat("a", 64)}
	b.Outputs["out"] = nixinputs.Output{Path: sp("fixed2", "tool"), HashAlgo: "sha256", Hash: strings.Repeat("b", 64)}
	got := Compare(a, b)
	type key struct{ field, name, change string }
	var keys []key
	for _, c := range got {
		keys = append(keys, key{c.Field, c.Name, c.Change})
	}
	want := []key{
		{FieldBuilder, "", ChangeChanged},
		{FieldSystem, "", ChangeChanged},
		{FieldArgs, "2", ChangeChanged},
		{FieldArgs, "3", ChangeAdded},
		{FieldEnv, "FLAGS", ChangeChanged},
		{FieldEnv, "NEW", ChangeAdded},
		{FieldEnv, "OLD", ChangeRemoved},
		{FieldEnv, "out", ChangeStorePaths},
		{FieldInputSrcs, "new.patch", ChangeAdded},
		{FieldInputSrcs, "old.patch", ChangeRemoved},
		{FieldInputDrvs, "gone", ChangeRemoved},
		{FieldInputDrvs, "lib", ChangeChanged},
		{FieldInputDrvs, "lib outputs", ChangeChanged},
		{FieldInputDrvs, "new", ChangeAdded},
		{FieldOutputs, "dev", ChangeAdded},
		{FieldOutputs, "out", ChangeChanged},
	}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("Compare:\n got %v\nwant %v", keys, want)
	}
}

// TestExplainRecursive: a change at the bottom of a chain explains every
// derivation above it once, the ones above as following from their inputs.
func TestExplainRecursive(t *testing.T) {
	s := store{}
	baseA := drv("baseA", "base", nil, []string{sp("pa", "patch")}, "a")
	baseB := drv("baseB", "base", nil, []string{sp("pb", "patch")}, "a")
	midA := drv("midA", "mid", map[string][]string{baseA.Path: {"out"}}, nil, "cat "+baseA.Outputs["out"].Path)
	midB := drv("midB", "mid", map[string][]string{baseB.Path: {"out"}}, nil, "cat "+baseB.Outputs["out"].Path)
	// top uses mid twice over (directly and through side), so mid's pair is
	// reached twice and must be explained once.
	sideA := drv("sideA", "side", map[string][]string{midA.Path: {"out"}}, nil, "x")
	sideB := drv("sideB", "side", map[string][]string{midB.Path: {"out"}}, nil, "x")
	topA := drv("topA", "top", map[string][]string{midA.Path: {"out"}, sideA.Path: {"out"}}, nil, "y")
	topB := drv("topB", "top", map[string][]string{midB.Path: {"out"}, sideB.Path: {"out"}}, nil, "y")
	s.add(baseA, baseB, midA, midB, sideA, sideB, topA, topB)
	reads := map[string]int{}
	ex := NewExplainer(func(p string) (*nixinputs.Derivation, error) { reads[p]++; return s.read(p) })
	top := ex.Explain(topA.Path, topB.Path)
	if !top.OnlyInputs {
		t.Errorf("top changed only through its inputs: %+v", top)
	}
	var names []string
	for _, x := range ex.Explanations() {
		names = append(names, x.Name)
	}
	if want := []string{"top", "mid", "side", "base"}; !reflect.DeepEqual(names, want) {
		t.Errorf("explained %v, want %v (each pair once)", names, want)
	}
	base := ex.Explanations()[3]
	if base.OnlyInputs || len(base.Changes) != 3 || base.Changes[1].Field != FieldInputSrcs || base.Changes[1].Change != ChangeChanged {
		t.Errorf("base: %+v, want its patch as the cause", base)
	}
	for p, n := range reads {
		if n != 1 {
			t.Errorf("%s read %d times", p, n)
		}
	}
	if again := ex.Explain(midA.Path, midB.Path); again != ex.Explanations()[1] || len(ex.Explanations()) != 4 {
		t.Error("explaining a pair again made a new explanation")
	}
}

func TestExplainNotInStore(t *testing.T) {
	s := store{}
	a := drv("a", "x", nil, nil, "a")
	s.add(a)
	missing := sp("gone", "x.drv")
	x := NewExplainer(s.read).Explain(a.Path, missing)
	if len(x.Changes) != 0 || len(x.Unavailable) != 1 || x.Unavailable[0] != "b: "+missing+" is not in the local store" {
		t.Errorf("explanation of a pair with a missing .drv: %+v", x)
	}
	x = NewExplainer(func(p string) (*nixinputs.Derivation, error) { return nil, fmt.Errorf("derivation %s: malformed", p) }).Explain(a.Path, missing)
	if len(x.Unavailable) != 2 || !strings.Contains(x.Unavailable[0], "malformed") {
		t.Errorf("explanation of unreadable derivations: %+v", x)
	}
}

func TestMaskHashes(t *testing.T) {
	p1, p2 := sp("1", "x"), sp("2", "x")
	for _, tc := range []struct {
		a, b string
		want string
	}{
		{p1 + "/bin:" + p1, p2 + "/bin:" + p2, ChangeStorePaths},
		{p1, p2 + "y", ChangeChanged},
		{"/nix/store/short-x", "/nix/store/other-x", ChangeChanged},
		{"/nix/store/", "/nix/store/", ChangeStorePaths},
		{p1[:len(p1)-1], p2[:len(p2)-1], ChangeStorePaths}, // the hash and '-', then nothing
		{p1[:len(p1)-2], p2[:len(p2)-2], ChangeChanged},    // no '-' after the hash: not a store path
	} {
		if got := (masker{"/nix/store", "/nix/store"}).kind(tc.a, tc.b); got != tc.want {
			t.Errorf("kind(%q, %q) = %s, want %s", tc.a, tc.b, got, tc.want)
		}
	}
}
