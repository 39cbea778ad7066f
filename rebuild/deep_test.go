package rebuild

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/provenance"
)

// closureOf builds a closure from a map of .drv name → input .drv names,
// each derivation with one output "out".
func closureOf(graph map[string][]string) *nixinputs.Closure {
	c := &nixinputs.Closure{Derivations: map[string]*nixinputs.Derivation{}}
	for name, inputs := range graph {
		d := &nixinputs.Derivation{
			Path:      "/nix/store/" + name + ".drv",
			Outputs:   map[string]nixinputs.Output{"out": {Path: "/nix/store/" + name}},
			InputDrvs: map[string][]string{},
		}
		for _, in := range inputs {
			d.InputDrvs["/nix/store/"+in+".drv"] = []string{"out"}
		}
		c.Derivations[d.Path] = d
	}
	return c
}

func short(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = strings.TrimSuffix(strings.TrimPrefix(p, "/nix/store/"), ".drv")
	}
	return out
}

func TestBottomUp(t *testing.T) {
	// A diamond on a chain: top needs left and right, both need mid, mid
	// needs base.
	c := closureOf(map[string][]string{
		"top": {"left", "right"}, "left": {"mid"}, "right": {"mid"}, "mid": {"base"}, "base": nil,
		"lone": nil,
	})
	order, err := bottomUp(c)
	if err != nil {
		t.Fatal(err)
	}
	got := short(order)
	want := []string{"base", "mid", "left", "lone", "right", "top"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	pos := map[string]int{}
	for i, p := range got {
		pos[p] = i
	}
	for p, d := range c.Derivations {
		for in := range d.InputDrvs {
			if pos[short([]string{in})[0]] > pos[short([]string{p})[0]] {
				t.Errorf("%s comes after %s, which needs it", in, p)
			}
		}
	}

	cyc := closureOf(map[string][]string{"a": {"b"}, "b": {"a"}})
	if _, err := bottomUp(cyc); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("a cycle: %v", err)
	}
	missing := closureOf(map[string][]string{"a": {"ghost"}})
	if _, err := bottomUp(missing); err == nil || !strings.Contains(err.Error(), "not in the closure") {
		t.Errorf("an input outside the closure: %v", err)
	}
}

func drvWith(name string, statuses ...Status) Derivation {
	d := Derivation{Drv: "/nix/store/" + name + ".drv"}
	for _, s := range statuses {
		d.Outputs = append(d.Outputs, Output{Status: s})
	}
	return d
}

func TestClassify(t *testing.T) {
	type want struct {
		status  Status
		first   bool
		notRepr []string
	}
	for _, tc := range []struct {
		name  string
		graph map[string][]string
		drvs  []Derivation // bottom-up
		want  map[string]want
	}{
		{
			name:  "a chain with one unreproducible link: the link is first, the one above it differs after it",
			graph: map[string][]string{"c": {"b"}, "b": {"a"}, "a": nil},
			drvs:  []Derivation{drvWith("a", Reproduced), drvWith("b", Differs), drvWith("c", Differs)},
			want: map[string]want{
				"a": {Reproduced, false, nil},
				"b": {Differs, true, nil},
				"c": {Differs, false, []string{"b"}},
			},
		},
		{
			name:  "check mode: the one above the unreproducible link rebuilt from the attested input and reproduced",
			graph: map[string][]string{"c": {"b"}, "b": {"a"}, "a": nil},
			drvs:  []Derivation{drvWith("a", Reproduced), drvWith("b", Differs), drvWith("c", Reproduced)},
			want: map[string]want{
				"a": {Reproduced, false, nil},
				"b": {Differs, true, nil},
				"c": {Reproduced, false, []string{"b"}},
			},
		},
		{
			name:  "two independent first differences under one top",
			graph: map[string][]string{"top": {"x", "y"}, "x": {"base"}, "y": {"base"}, "base": nil},
			drvs:  []Derivation{drvWith("base", Reproduced), drvWith("x", Differs), drvWith("y", Differs), drvWith("top", Differs)},
			want: map[string]want{
				"base": {Reproduced, false, nil},
				"x":    {Differs, true, nil},
				"y":    {Differs, true, nil},
				"top":  {Differs, false, []string{"x", "y"}},
			},
		},
		{
			name:  "an input not built: the derivation above cannot be first",
			graph: map[string][]string{"top": {"failed"}, "failed": nil},
			drvs:  []Derivation{drvWith("failed", NotBuilt), drvWith("top", Differs)},
			want: map[string]want{
				"failed": {NotBuilt, false, nil},
				"top":    {Differs, false, []string{"failed"}},
			},
		},
		{
			name:  "outputs of one derivation: one differs, so it differs; one not attested, so it is not reproduced",
			graph: map[string][]string{"multi": nil, "half": nil, "top": {"half"}},
			drvs:  []Derivation{drvWith("multi", Reproduced, Differs, NotBuilt), drvWith("half", Reproduced, NotAttested), drvWith("top", Reproduced)},
			want: map[string]want{
				"multi": {Differs, true, nil},
				"half":  {NotAttested, false, nil},
				"top":   {Reproduced, false, []string{"half"}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inputs := map[string][]string{}
			for p, d := range closureOf(tc.graph).Derivations {
				for in := range d.InputDrvs {
					inputs[p] = append(inputs[p], in)
				}
			}
			for p := range inputs {
				slices.Sort(inputs[p])
			}
			classify(tc.drvs, inputs)
			for _, d := range tc.drvs {
				name := short([]string{d.Drv})[0]
				w := tc.want[name]
				got := want{d.Status, d.FirstDiffering, nil}
				if len(d.InputsNotReproduced) > 0 {
					got.notRepr = short(d.InputsNotReproduced)
				}
				if !reflect.DeepEqual(got, w) {
					t.Errorf("%s: got %+v, want %+v", name, got, w)
				}
			}
		})
	}
}

func TestOutputMismatches(t *testing.T) {
	d := &nixinputs.Derivation{
		Path:    "/nix/store/x.drv",
		Outputs: map[string]nixinputs.Output{"out": {Path: "/nix/store/x"}, "dev": {Path: "/nix/store/x-dev"}, "doc": {Path: "/nix/store/x-doc"}},
	}
	leaves := []provenance.DrvOutput{
		{Drv: d.Path, Output: "out", Path: "/nix/store/x", By: provenance.ByNixDB},
		{Drv: d.Path, Output: "dev", Path: "/nix/store/other-dev", By: provenance.ByNixDB},
		{Drv: d.Path, Output: "lib", Path: "/nix/store/x-lib", By: provenance.ByNixDB},
	}
	got := outputMismatches(d, leaves, true)
	want := []string{
		"/nix/store/x.drv!dev: the output leaf names /nix/store/other-dev, the local .drv /nix/store/x-dev",
		"/nix/store/x.drv!doc: the local .drv has this output; the manifest has no output leaf for it",
		"/nix/store/x.drv!lib: output leaf of output \"lib\", which the local .drv does not have",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mismatches:\n got %q\nwant %q", got, want)
	}
	if got := outputMismatches(d, leaves[:1], true); len(got) != 2 {
		t.Errorf("two outputs without leaves: %q", got)
	}
	if got := outputMismatches(d, nil, true); len(got) != 3 {
		t.Errorf("a listed derivation without output leaves: %q", got)
	}
	if got := outputMismatches(d, nil, false); got != nil {
		t.Errorf("a derivation the manifest does not list is reported elsewhere, got %q", got)
	}
}
