package report

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func hexOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// out makes an output result of the given status; a differing one has the
// files given.
func out(name, path string, st Status, files ...string) OutputResult {
	o := OutputResult{Name: name, StorePath: path, Drv: strings.TrimSuffix(path, "-"+name) + ".drv", Status: string(st), AttestedSHA256: hexOf(path)}
	switch st {
	case Reproduced:
		o.LocalSHA256 = o.AttestedSHA256
	case Differs:
		o.LocalSHA256 = hexOf(path + " rebuilt")
		o.DifferingFiles = files
		o.DifferingCount = len(files)
	case NotBuilt:
		o.Reason = "nix build failed"
	}
	return o
}

// result makes a verified result of a bundle with the outputs given.
func result(bundle, platform string, outs ...OutputResult) Result {
	r := Result{
		Bundle: bundle, ProvenanceSHA256: hexOf(bundle), Verified: true,
		FlakeRef: "path:/src/hello?narHash=sha256-x", Attribute: "packages.x86_64-linux.default", System: "x86_64-linux",
		Platform: platform, BuilderID: "https://kettle.example/builder/" + platform, Outputs: outs,
	}
	for _, o := range outs {
		switch Status(o.Status) {
		case Reproduced:
			r.Counts.Reproduced++
		case Differs:
			r.Counts.Differs++
		case NotBuilt:
			r.Counts.NotBuilt++
		}
	}
	return r
}

func unverified(bundle, platform, reason string) Result {
	r := result(bundle, platform)
	r.Verified, r.Reason = false, reason
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
		{Result: result("b/tdx-2.tar", "tdx", out("out", helloPath, Differs, "bin/hello", "share/stamp"), out("doc", docPath, Reproduced))},
		{Result: result("b/snp-1.tar", "sev-snp", out("out", helloPath, Reproduced), out("doc", docPath, Reproduced))},
		{Result: result("b/snp-2.tar", "sev-snp", out("out", helloPath, Differs, "bin/hello", "lib/libx.so"))},
		{Result: result("b/tdx-1.tar", "tdx", out("out", toolPath, Reproduced))},
		{Result: result("b/snp-3.tar", "sev-snp", out("out", toolPath, NotBuilt))},
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
		Name: "out", StorePath: helloPath, Drv: strings.TrimSuffix(helloPath, "-out") + ".drv",
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
	a := result("a.tar", "sev-snp", out("out", helloPath, Reproduced))
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
		r    Result
		want Status
	}{
		{"all reproduced", result("x", "p", out("out", helloPath, Reproduced), out("doc", docPath, Reproduced)), Reproduced},
		{"one differs", result("x", "p", out("out", helloPath, Reproduced), out("doc", docPath, Differs)), Differs},
		{"differs beats not built", result("x", "p", out("out", helloPath, NotBuilt), out("doc", docPath, Differs)), Differs},
		{"one not built", result("x", "p", out("out", helloPath, Reproduced), out("doc", docPath, NotBuilt)), NotBuilt},
		{"no outputs", result("x", "p"), NotBuilt},
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
