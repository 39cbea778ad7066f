package builder

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/provenance"
	"github.com/kettle-build/kettle/verify"
)

// The fake store: one root derivation with one source and one output.
const (
	fakeDrv = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-demo.drv"
	fakeSrc = "/nix/store/zyxwvsrqpnmlkjihgfdcba9876543210-builder.sh"
	fakeOut = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-demo"
)

// fakeNix is the Nix side of the pipeline without nix: it answers from
// fixed data, records the order of the calls, fails the method named in
// fail, and blocks in the method named in block until its context ends.
type fakeNix struct {
	binary string
	fail   string
	block  string

	// extra derivations of the closure besides fakeDrv (which then
	// depends on them), and store paths the database says are not valid.
	extra   map[string]*nixinputs.Derivation
	invalid map[string]bool

	mu      sync.Mutex
	calls   []string
	active  int
	started chan string // receives the name of every method as it starts
}

func narHashOf(p string) nixinputs.NarHash {
	return nixinputs.NarHash{SHA256: sha256.Sum256([]byte("nar of " + p)), Size: uint64(len(p)) * 8}
}

func (f *fakeNix) enter(ctx context.Context, name string) (func(), error) {
	f.mu.Lock()
	f.calls = append(f.calls, name)
	f.active++
	f.mu.Unlock()
	if f.started != nil {
		f.started <- name
	}
	done := func() {
		f.mu.Lock()
		f.active--
		f.mu.Unlock()
	}
	if name == f.block {
		<-ctx.Done()
		done()
		return nil, ctx.Err()
	}
	if name == f.fail {
		done()
		return nil, errors.New("injected failure of " + name)
	}
	return done, nil
}

func (f *fakeNix) Metadata(ctx context.Context, url string) (*nixinputs.Metadata, error) {
	done, err := f.enter(ctx, "Metadata")
	if err != nil {
		return nil, err
	}
	defer done()
	nar := sha256.Sum256([]byte("source"))
	sri := "sha256-" + base64.StdEncoding.EncodeToString(nar[:])
	return &nixinputs.Metadata{OriginalURL: url, LockedURL: "path:/src?narHash=" + sri, NarHash: sri}, nil
}

func (f *fakeNix) Instantiate(ctx context.Context, installable string) ([]string, error) {
	done, err := f.enter(ctx, "Instantiate")
	if err != nil {
		return nil, err
	}
	defer done()
	return []string{fakeDrv}, nil
}

func (f *fakeNix) Build(ctx context.Context, installable string) ([]nixinputs.BuildResult, error) {
	done, err := f.enter(ctx, "Build")
	if err != nil {
		return nil, err
	}
	defer done()
	return []nixinputs.BuildResult{{DrvPath: fakeDrv, Outputs: map[string]string{"out": fakeOut}}}, nil
}

func (f *fakeNix) PathInfo(ctx context.Context, paths ...string) (map[string]nixinputs.PathInfo, error) {
	done, err := f.enter(ctx, "PathInfo")
	if err != nil {
		return nil, err
	}
	defer done()
	infos := map[string]nixinputs.PathInfo{}
	for _, p := range paths {
		h := narHashOf(p)
		infos[p] = nixinputs.PathInfo{Path: p, NarHash: h.SHA256, NarSize: h.Size}
	}
	return infos, nil
}

func (f *fakeNix) ValidPathInfo(ctx context.Context, paths ...string) (map[string]nixinputs.PathInfo, error) {
	done, err := f.enter(ctx, "ValidPathInfo")
	if err != nil {
		return nil, err
	}
	defer done()
	infos := map[string]nixinputs.PathInfo{}
	for _, p := range paths {
		if f.invalid[p] {
			continue
		}
		h := narHashOf(p)
		infos[p] = nixinputs.PathInfo{Path: p, NarHash: h.SHA256, NarSize: h.Size}
	}
	return infos, nil
}

func (f *fakeNix) Version(ctx context.Context) (string, error) {
	done, err := f.enter(ctx, "Version")
	if err != nil {
		return "", err
	}
	defer done()
	return "2.8.0", nil
}

func (f *fakeNix) BinaryPath() (string, error) { return f.binary, nil }

func (f *fakeNix) WalkClosure(ctx context.Context, roots []string, workers int) (*nixinputs.Closure, error) {
	done, err := f.enter(ctx, "WalkClosure")
	if err != nil {
		return nil, err
	}
	defer done()
	if !slices.Equal(roots, []string{fakeDrv}) {
		return nil, errors.New("walk of unexpected roots")
	}
	drvs := map[string]*nixinputs.Derivation{
		fakeDrv: {
			Path: fakeDrv, ATermSHA256: sha256.Sum256([]byte("Derive(...)")), Name: "demo",
			Outputs:   map[string]nixinputs.Output{"out": {Path: fakeOut}},
			InputSrcs: []string{fakeSrc}, System: "x86_64-linux",
			InputDrvs: map[string][]string{},
		},
	}
	for p, d := range f.extra {
		drvs[p] = d
		drvs[fakeDrv].InputDrvs[p] = slices.Sorted(maps.Keys(d.Outputs))
	}
	return &nixinputs.Closure{Roots: roots, Derivations: drvs}, nil
}

func (f *fakeNix) HashPaths(ctx context.Context, paths []string, workers int) (map[string]nixinputs.NarHash, error) {
	name := "HashSources"
	if slices.Contains(paths, fakeOut) {
		name = "HashOutputs"
	}
	done, err := f.enter(ctx, name)
	if err != nil {
		return nil, err
	}
	defer done()
	hashes := map[string]nixinputs.NarHash{}
	for _, p := range paths {
		hashes[p] = narHashOf(p)
	}
	return hashes, nil
}

// NarSHA256 makes the fake the verifier's store too.
func (f *fakeNix) NarSHA256(_ context.Context, p string) ([32]byte, error) {
	return narHashOf(p).SHA256, nil
}

func (f *fakeNix) index(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Index(f.calls, name)
}

func newFake(t *testing.T) *fakeNix {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nix")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &fakeNix{binary: bin}
}

func testOptions(t *testing.T, f *fakeNix) BuildOptions {
	t.Helper()
	a, err := attest.NewAttester(attest.PlatformSimSNP, attest.AttesterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return BuildOptions{
		FlakeRef: "path:/src", Output: filepath.Join(t.TempDir(), "bundle"),
		Attester: a, Nix: f, KettleVersion: "test", KettleBinary: f.binary,
		Now: func() time.Time { return time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC) },
	}
}

// leftovers lists what is in dir: after a failed build, nothing.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestBuildStages: the stages run in their order, every stage is timed, and
// the bundle verifies, every link of it.
func TestBuildStages(t *testing.T) {
	f := newFake(t)
	opts := testOptions(t, f)
	res, err := Build(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	before := func(a, b string) {
		t.Helper()
		if ia, ib := f.index(a), f.index(b); ia < 0 || ib < 0 || ia > ib {
			t.Errorf("%s (call %d) must come before %s (call %d): %v", a, ia, b, ib, f.calls)
		}
	}
	before("Metadata", "Instantiate")
	before("Instantiate", "WalkClosure")
	before("Instantiate", "Build")
	before("WalkClosure", "HashSources")
	before("Build", "HashOutputs")
	for _, s := range []string{"toolchain", "resolve", "instantiate", "walk", "hash-sources", "realise", "hash-outputs", "manifest", "provenance", "attest", "bundle"} {
		if _, ok := res.Timings[s]; !ok {
			t.Errorf("no timing for stage %s: %v", s, res.Timings)
		}
	}
	if res.Derivations != 1 || res.Sources != 1 || len(res.Outputs) != 1 || res.Outputs[0].StorePath != fakeOut {
		t.Errorf("result %+v", res)
	}
	rep := verify.Verify(context.Background(), verify.Options{Bundle: opts.Output, AllowSimulated: true, Store: f})
	if !rep.OK {
		t.Fatalf("bundle failed at %s: %+v", rep.Failed, rep.Steps)
	}
	for _, s := range rep.Steps {
		if s.Step == verify.StepDependencies && s.Detail != "3 dependencies match the manifest" {
			t.Errorf("dependencies: %s", s.Detail)
		}
	}
}

// TestBuildStageErrors: a failure in any stage fails the build with that
// stage's error and leaves nothing beside the bundle path.
func TestBuildStageErrors(t *testing.T) {
	for _, method := range []string{"Metadata", "Instantiate", "WalkClosure", "HashSources", "Build", "HashOutputs", "PathInfo", "Version"} {
		t.Run(method, func(t *testing.T) {
			f := newFake(t)
			f.fail = method
			opts := testOptions(t, f)
			_, err := Build(context.Background(), opts)
			if err == nil || !strings.Contains(err.Error(), "injected failure of "+method) {
				t.Fatalf("error %v, want the injected failure of %s", err, method)
			}
			if names := leftovers(t, filepath.Dir(opts.Output)); len(names) > 0 {
				t.Errorf("left behind: %v", names)
			}
		})
	}
	t.Run("attest", func(t *testing.T) {
		f := newFake(t)
		opts := testOptions(t, f)
		opts.Attester = failingAttester{opts.Attester}
		if _, err := Build(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "attesting with sim-snp") {
			t.Fatalf("error %v", err)
		}
		if names := leftovers(t, filepath.Dir(opts.Output)); len(names) > 0 {
			t.Errorf("left behind: %v", names)
		}
	})
}

type failingAttester struct{ attest.Attester }

func (failingAttester) Attest(context.Context, [64]byte) (*attest.Evidence, error) {
	return nil, errors.New("no report")
}

// TestBuildCancel: cancelling the build while nix builds stops every
// goroutine of the pipeline and leaves no bundle.
func TestBuildCancel(t *testing.T) {
	f := newFake(t)
	f.block = "Build"
	f.started = make(chan string, 32)
	opts := testOptions(t, f)
	baseline := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := Build(ctx, opts); errc <- err }()
	for name := range f.started {
		if name == "Build" {
			break
		}
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	f.mu.Lock()
	active := f.active
	f.mu.Unlock()
	if active != 0 {
		t.Errorf("%d calls into nix still running after Build returned", active)
	}
	// Build waits for its goroutines before it returns; allow the runtime a
	// moment to reap them.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseline {
		t.Errorf("%d goroutines after Build returned, %d before", n, baseline)
	}
	if names := leftovers(t, filepath.Dir(opts.Output)); len(names) > 0 {
		t.Errorf("left behind: %v", names)
	}
}

// TestBuildOutputChecked: a bundle path that exists, or whose parent is
// missing or not writable, is refused before nix runs.
func TestBuildOutputChecked(t *testing.T) {
	dir := t.TempDir()
	exists := filepath.Join(dir, "exists")
	if err := os.Mkdir(exists, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ out, want string }{
		{exists, "already exists"},
		{filepath.Join(dir, "missing", "bundle"), "parent directory"},
		{filepath.Join(file, "bundle"), "is not a directory"},
		{"/proc/kettle-bundle", "not writable"},
	} {
		f := newFake(t)
		opts := testOptions(t, f)
		opts.Output = tc.out
		_, err := Build(context.Background(), opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.out, err, tc.want)
		}
		if len(f.calls) > 0 {
			t.Errorf("%s: nix was called (%v) before the output was checked", tc.out, f.calls)
		}
	}
}

// TestBuildRecordsEveryOutput: the outputs stage writes an output leaf for
// every output of every derivation: the top-level one by=kettle, the others
// from the database (by=nix-db), or re-hashed with DeepHash (by=kettle);
// an output the database does not know and a floating content-addressed
// output are absent; a git-hashed fixed output needs no special case.
func TestBuildRecordsEveryOutput(t *testing.T) {
	const (
		libDrv = "/nix/store/1123456789abcdfghijklmnpqrsvwxyz-lib.drv"
		libOut = "/nix/store/1123456789abcdfghijklmnpqrsvwxyz-lib"
		libDev = "/nix/store/2123456789abcdfghijklmnpqrsvwxyz-lib-dev"
		gitDrv = "/nix/store/3123456789abcdfghijklmnpqrsvwxyz-source.drv"
		gitOut = "/nix/store/3123456789abcdfghijklmnpqrsvwxyz-source"
		caDrv  = "/nix/store/4123456789abcdfghijklmnpqrsvwxyz-floating.drv"
	)
	extra := map[string]*nixinputs.Derivation{
		libDrv: {Path: libDrv, Name: "lib", System: "x86_64-linux", ATermSHA256: sha256.Sum256([]byte("lib")),
			Outputs: map[string]nixinputs.Output{"out": {Path: libOut}, "dev": {Path: libDev}}},
		gitDrv: {Path: gitDrv, Name: "source", System: "x86_64-linux", ATermSHA256: sha256.Sum256([]byte("git")),
			Outputs: map[string]nixinputs.Output{"out": {Path: gitOut, HashAlgo: "git:sha1", Hash: strings.Repeat("ab", 20)}}},
		caDrv: {Path: caDrv, Name: "floating", System: "x86_64-linux", ATermSHA256: sha256.Sum256([]byte("ca")),
			Outputs: map[string]nixinputs.Output{"out": {HashAlgo: "r:sha256"}}},
	}
	for _, deep := range []bool{false, true} {
		f := newFake(t)
		f.extra, f.invalid = extra, map[string]bool{libDev: true}
		opts := testOptions(t, f)
		opts.DeepHash = deep
		if _, err := Build(context.Background(), opts); err != nil {
			t.Fatalf("deep=%t: %v", deep, err)
		}
		b, err := provenance.OpenBundle(opts.Output)
		if err != nil {
			t.Fatal(err)
		}
		m, err := provenance.DecodeManifest(b.Manifest)
		if err != nil {
			t.Fatal(err)
		}
		outs, err := m.Outputs()
		if err != nil {
			t.Fatal(err)
		}
		intermediate := provenance.ByNixDB
		if deep {
			intermediate = provenance.ByKettle
		}
		want := map[string]provenance.OutputAuthority{
			fakeDrv + "!out": provenance.ByKettle,
			libDrv + "!out":  intermediate,
			libDrv + "!dev":  provenance.ByNone,
			gitDrv + "!out":  intermediate,
			caDrv + "!out":   provenance.ByNone,
		}
		got := map[string]provenance.OutputAuthority{}
		for _, o := range outs {
			got[o.ID()] = o.By
			if o.Realised() && o.NarSHA256 != narHashOf(o.Path).SHA256 {
				t.Errorf("deep=%t: %s has NAR SHA-256 %x, the store's is %x", deep, o.ID(), o.NarSHA256, narHashOf(o.Path).SHA256)
			}
			if o.ID() == caDrv+"!out" && o.Path != provenance.UnknownOutputPath {
				t.Errorf("floating output path %q, want %q", o.Path, provenance.UnknownOutputPath)
			}
		}
		if !maps.Equal(got, want) {
			t.Errorf("deep=%t: outputs %v, want %v", deep, got, want)
		}
		if !slices.ContainsFunc(m.Leaves, func(l string) bool { return strings.HasPrefix(l, "fod:source mode=git algo=sha1 ") }) {
			t.Errorf("no git fod leaf in %q", m.Leaves)
		}
		rep := verify.Verify(context.Background(), verify.Options{Bundle: opts.Output, AllowSimulated: true, Store: f, DeepHash: true})
		if !rep.OK {
			t.Fatalf("deep=%t: bundle failed at %s: %+v", deep, rep.Failed, rep.Steps)
		}
	}
}
