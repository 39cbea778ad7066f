package report

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/rebuild"
)

func hexOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// out makes an output of the given status, as a rebuild reports it; a
// differing one has the files given.
func out(name, path string, st rebuild.Status, files ...string) rebuild.Output {
	o := rebuild.Output{Name: name, StorePath: path, Drv: path + ".drv", Status: st, AttestedSHA256: hexOf(path), AttestedBy: "subject", Method: rebuild.MethodBuild}
	switch st {
	case rebuild.Reproduced:
		o.LocalSHA256, o.LocalPath = o.AttestedSHA256, path
	case rebuild.Differs:
		o.LocalSHA256, o.LocalPath = hexOf(path+" rebuilt"), path
		for _, f := range files {
			o.DifferingFiles = append(o.DifferingFiles, rebuild.FileDiff{Path: f, Attested: &rebuild.Entry{Type: "regular", Size: 1, SHA256: hexOf(f)}, Local: &rebuild.Entry{Type: "regular", Size: 2, SHA256: hexOf(f + "'")}})
		}
		o.DifferingCount = len(files)
	case rebuild.NotBuilt:
		o.Method, o.Reason = rebuild.MethodNone, "nix build failed"
	case rebuild.NotAttested:
		o.AttestedSHA256, o.AttestedBy, o.Reason = "", "", "no attested hash"
	}
	return o
}

// result makes a verified result of a bundle with the outputs given.
func result(bundle, platform string, outs ...rebuild.Output) rebuild.Result {
	r := rebuild.Result{
		Bundle: bundle, ProvenanceSHA256: hexOf(bundle), Verified: true,
		FlakeRef: "path:/src/hello?narHash=sha256-x", Attribute: "packages.x86_64-linux.default",
		LockedRef: "path:/src/hello?narHash=sha256-x", Installable: "path:/src/hello?narHash=sha256-x#packages.x86_64-linux.default",
		System: "x86_64-linux", Platform: platform, BuilderID: "https://kettle.example/builder/" + platform,
		ManifestVersion: 2, Outputs: outs, OK: true,
	}
	for _, o := range outs {
		tally(&r.Counts, o.Status)
		r.OK = r.OK && o.Status == rebuild.Reproduced
	}
	return r
}

func unverified(bundle, platform, why string) rebuild.Result {
	r := result(bundle, platform)
	r.Verified, r.NotVerifiedReason, r.OK = false, why, false
	r.Error = "the bundle does not verify"
	return r
}

const (
	helloPath = "/nix/store/0c5ydzv5q6p3rlbxv6m5hxla1yd4dakq-hello"
	docPath   = "/nix/store/1b2l9f7z8cfqd6l3a9n9h2a1wm1c7m1x-hello-doc"
	toolPath  = "/nix/store/2k8yq1a2k3cfbd6l3a9n9h2a1wm1c7m1y-tool"
)

// sample is five bundles on two platforms: two reproduced, two differ in
// the same output, one not built, one unverified.
func sample() []Input {
	return []Input{
		{Result: result("b/tdx-2.tar", "tdx", out("out", helloPath, rebuild.Differs, "bin/hello", "share/stamp"), out("doc", docPath, rebuild.Reproduced))},
		{Result: result("b/snp-1.tar", "sev-snp", out("out", helloPath, rebuild.Reproduced), out("doc", docPath, rebuild.Reproduced))},
		{Result: result("b/snp-2.tar", "sev-snp", out("out", helloPath, rebuild.Differs, "bin/hello", "lib/libx.so"))},
		{Result: result("b/tdx-1.tar", "tdx", out("out", toolPath, rebuild.Reproduced))},
		{Result: result("b/snp-3.tar", "sev-snp", out("out", toolPath, rebuild.NotBuilt))},
		{Result: unverified("b/tdx-3.tar", "tdx", "binding: report_data does not bind provenance.json")},
	}
}

func TestBuild(t *testing.T) {
	rep, err := Build(sample(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counts{Reproduced: 2, Differs: 2, NotBuilt: 1, Unverified: 1}); rep.Bundles != want {
		t.Errorf("bundles %+v, want %+v", rep.Bundles, want)
	}
	if want := (Counts{Reproduced: 4, Differs: 2, NotBuilt: 1}); rep.Outputs != want {
		t.Errorf("outputs %+v, want %+v", rep.Outputs, want)
	}
	wantPlatforms := []PlatformRow{
		{Platform: "sev-snp", Bundles: Counts{Reproduced: 1, Differs: 1, NotBuilt: 1}, Outputs: Counts{Reproduced: 2, Differs: 1, NotBuilt: 1}},
		{Platform: "tdx", Bundles: Counts{Reproduced: 1, Differs: 1, Unverified: 1}, Outputs: Counts{Reproduced: 2, Differs: 1}},
	}
	if !reflect.DeepEqual(rep.Platforms, wantPlatforms) {
		t.Errorf("platforms\n got %+v\nwant %+v", rep.Platforms, wantPlatforms)
	}
	wantDiff := []DifferingOutput{{
		Name: "out", StorePath: helloPath, Drv: helloPath + ".drv", TopLevel: true,
		Bundles: []string{"b/snp-2.tar", "b/tdx-2.tar"}, Platforms: []string{"sev-snp", "tdx"},
		DifferingFiles: []string{"bin/hello", "lib/libx.so", "share/stamp"}, DifferingCount: 3,
	}}
	if !reflect.DeepEqual(rep.Differing, wantDiff) {
		t.Errorf("differing\n got %+v\nwant %+v", rep.Differing, wantDiff)
	}
	var bundles []string
	var sts []Status
	for _, r := range rep.Results {
		bundles = append(bundles, r.Bundle)
		sts = append(sts, r.Status)
	}
	if want := []string{"b/snp-1.tar", "b/snp-2.tar", "b/snp-3.tar", "b/tdx-1.tar", "b/tdx-2.tar", "b/tdx-3.tar"}; !slices.Equal(bundles, want) {
		t.Errorf("results in order %v, want %v", bundles, want)
	}
	if want := []Status{Reproduced, Differs, NotBuilt, Reproduced, Differs, Unverified}; !slices.Equal(sts, want) {
		t.Errorf("statuses %v, want %v", sts, want)
	}
	if got := rep.Results[2].Reason; got != "out: nix build failed" {
		t.Errorf("not-built bundle's reason %q, want the output's", got)
	}
	if rep.SharedInputs != nil {
		t.Errorf("shared inputs %+v without Options.Inputs", rep.SharedInputs)
	}
}

// The report depends on the results, not on the order they come in.
func TestBuildOrderIndependent(t *testing.T) {
	in := sample()
	want, err := Build(in, Options{Inputs: true})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(in)
	got, err := Build(in, Options{Inputs: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("reversed input gives another report:\n got %+v\nwant %+v", got, want)
	}
}

func TestBuildDuplicateBundle(t *testing.T) {
	a := result("a.tar", "sev-snp", out("out", helloPath, rebuild.Reproduced))
	b := a
	b.Bundle = "copy-of-a.tar"
	_, err := Build([]Input{{Result: a}, {Result: b}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "a.tar and copy-of-a.tar are the same bundle") {
		t.Fatalf("err = %v, want the two paths of the same bundle named", err)
	}
}

func TestBundleStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    rebuild.Result
		want Status
	}{
		{"all reproduced", result("x", "p", out("out", helloPath, rebuild.Reproduced), out("doc", docPath, rebuild.Reproduced)), Reproduced},
		{"one differs", result("x", "p", out("out", helloPath, rebuild.Reproduced), out("doc", docPath, rebuild.Differs)), Differs},
		{"differs beats not built", result("x", "p", out("out", helloPath, rebuild.NotBuilt), out("doc", docPath, rebuild.Differs)), Differs},
		{"one not built", result("x", "p", out("out", helloPath, rebuild.Reproduced), out("doc", docPath, rebuild.NotBuilt)), NotBuilt},
		{"no outputs", result("x", "p"), NotBuilt},
		{"not attested", result("x", "p", out("out", helloPath, rebuild.Reproduced), out("doc", docPath, rebuild.NotAttested)), NotBuilt},
		{"rebuild stopped", func() rebuild.Result {
			r := result("x", "p", out("out", helloPath, rebuild.Reproduced))
			r.Error, r.OK = "--deep: manifest version 1 has no output leaves", false
			return r
		}(), NotBuilt},
		{"unverified", unverified("x", "p", "chain: bad signature"), Unverified},
	} {
		if got := BundleStatus(tc.r); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestSharedInputs(t *testing.T) {
	common := []string{
		"drv:/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello.drv:" + hexOf("hello.drv"),
		"toolchain:nix 2.8.0:" + hexOf("nix"),
	}
	in := sample()
	for i := range in {
		switch in[i].Result.Bundle {
		case "b/snp-2.tar", "b/tdx-2.tar": // the differing ones
			in[i].Leaves = append(slices.Clone(common),
				"src:/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-stamp.sh:"+hexOf("stamp"),
				"source:path:/src/hello:"+hexOf("src"),
				"output:/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello.drv!out "+helloPath+" by=kettle:"+hexOf("out"))
		case "b/snp-1.tar", "b/tdx-1.tar": // reproduced
			in[i].Leaves = append(slices.Clone(common), "src:/nix/store/cccccccccccccccccccccccccccccccc-other:"+hexOf("other"))
		}
	}
	in[0].Leaves = append(in[0].Leaves, "fod:tarball mode=flat algo=sha256 url=https://example.org/t.tar:"+hexOf("t"))
	rep, err := Build(in, Options{Inputs: true})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.SharedInputs
	if s.DifferingBundles != 2 || s.ReproducedBundles != 2 || s.Total != 4 {
		t.Fatalf("shared inputs %+v: want 2 differing, 2 reproduced bundles, 4 input leaves", s)
	}
	var got []string
	for _, l := range s.Leaves {
		got = append(got, l.Kind+" "+strconv.Itoa(l.Differing)+" "+strconv.Itoa(l.Reproduced))
	}
	// In both differing bundles and no reproduced one first; then in both
	// and in the reproduced ones (a toolchain before a drv); then the fod
	// only one differing bundle holds. The source and output leaves are
	// not inputs.
	want := []string{"src 2 0", "toolchain 2 2", "drv 2 2", "fod 1 0"}
	if !slices.Equal(got, want) {
		t.Errorf("ranking %v, want %v", got, want)
	}

	rep, err = Build(in, Options{Inputs: true, Top: 2})
	if err != nil {
		t.Fatal(err)
	}
	if s := rep.SharedInputs; len(s.Leaves) != 2 || s.Total != 4 || s.Leaves[0].Kind != "src" {
		t.Errorf("with Top 2: %+v, want the first 2 of 4", s)
	}
}

// A deep rebuild adds the outputs of the derivations where
// reproducibility is first lost to the differing outputs.
func TestBuildDeep(t *testing.T) {
	r := result("deep.tar", "tdx", out("out", helloPath, rebuild.Differs, "bin/hello"))
	r.Deep = true
	tool := out("out", toolPath, rebuild.Differs, "bin/tool")
	r.Closure = &rebuild.Closure{
		Derivations: []rebuild.Derivation{
			{Drv: toolPath + ".drv", Status: rebuild.Differs, FirstDiffering: true, Outputs: []rebuild.Output{tool}},
			{Drv: docPath + ".drv", Status: rebuild.Reproduced, Outputs: []rebuild.Output{out("out", docPath, rebuild.Reproduced)}},
			{Drv: helloPath + ".drv", Status: rebuild.Differs, InputsNotReproduced: []string{toolPath + ".drv"}, Outputs: r.Outputs},
		},
		FirstDiffering: []string{toolPath + ".drv"},
	}
	other := result("top.tar", "tdx", out("out", toolPath, rebuild.Differs, "share/x"))
	rep, err := Build([]Input{{Result: r}, {Result: other}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range rep.Differing {
		got = append(got, fmt.Sprintf("%s top=%v first=%v %v %v", d.StorePath, d.TopLevel, d.FirstDiffering, d.Bundles, d.DifferingFiles))
	}
	want := []string{
		toolPath + " top=true first=true [deep.tar top.tar] [bin/tool share/x]",
		helloPath + " top=true first=false [deep.tar] [bin/hello]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("differing outputs\n got %q\nwant %q", got, want)
	}
	if row := rep.Results[0]; !row.Deep || !slices.Equal(row.FirstDiffering, []string{toolPath + ".drv"}) {
		t.Errorf("deep bundle row %+v", row)
	}
	if rep.Outputs.Differs != 2 {
		t.Errorf("outputs %+v: want the top-level ones counted", rep.Outputs)
	}
}
