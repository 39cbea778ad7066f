package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/provenance"
)

// fakeOutput stands for a store path: its NAR goes into artifacts/ under the
// store path's base name.
const fakeOutput = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-demo"

// The test bundle's derivation and source store paths.
const (
	testDrv = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-demo.drv"
	testSrc = "/nix/store/zyxwvsrqpnmlkjihgfdcba9876543210-builder.sh"
)

// writeTestBundle assembles a bundle the way Build does, without nix: a
// one-file output, a small manifest, sim-snp evidence over the provenance.
func writeTestBundle(t *testing.T, nonce [32]byte, measurement []byte) string {
	t.Helper()
	a, err := attest.NewAttester(attest.PlatformSimSNP, attest.AttesterOptions{Measurement: measurement, HostData: nonce})
	if err != nil {
		t.Fatal(err)
	}
	return writeTestBundleWith(t, nonce, a)
}

// writeTestBundleWith is writeTestBundle with the evidence from a.
func writeTestBundleWith(t *testing.T, nonce [32]byte, a attest.Attester) string {
	t.Helper()
	return writeEditedBundle(t, nonce, a, nil)
}

// writeEditedBundle is writeTestBundleWith with the provenance's BuildInfo
// edited before it is encoded and attested, the manifest left as it is.
func writeEditedBundle(t *testing.T, nonce [32]byte, a attest.Attester, edit func(*provenance.BuildInfo)) string {
	t.Helper()
	return writeManifestBundle(t, nonce, a, edit, provenance.ManifestVersion, nil)
}

// writeManifestBundle is writeEditedBundle with a manifest of the given
// version whose leaves editLeaves may change before the root is computed
// (the provenance commits to the edited root, so only the steps that read
// leaves can tell).
func writeManifestBundle(t *testing.T, nonce [32]byte, a attest.Attester, edit func(*provenance.BuildInfo), version int, editLeaves func([]provenance.Leaf) []provenance.Leaf) string {
	t.Helper()
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "hello"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var nar bytes.Buffer
	if err := nixinputs.WriteNAR(&nar, out); err != nil {
		t.Fatal(err)
	}
	narSum := sha256.Sum256(nar.Bytes())

	inputs := provenance.Inputs{
		Source:      provenance.SourceInput{URL: "path:/src?narHash=x", NarHash: sha256.Sum256([]byte("src"))},
		Derivations: []provenance.DerivationInput{{Path: testDrv, ATermSHA256: sha256.Sum256([]byte("Derive(...)"))}},
		Sources:     []provenance.StoreSource{{Path: testSrc, NarHash: sha256.Sum256([]byte("builder.sh"))}},
		Toolchain:   []provenance.Tool{{Name: "nix", Version: "2.8.0", SHA256: sha256.Sum256([]byte("nix"))}},
	}
	if version >= provenance.ManifestV2 {
		inputs.Outputs = []provenance.DrvOutput{{Drv: testDrv, Output: "out", Path: fakeOutput, By: provenance.ByKettle, NarSHA256: narSum}}
	}
	leaves := inputs.Leaves()
	if editLeaves != nil {
		leaves = editLeaves(leaves)
	}
	m, err := provenance.NewManifestVersion(version, leaves)
	if err != nil {
		// An edit that NewManifest refuses: compute the manifest by hand.
		m = rawManifest(t, version, leaves)
	}
	manJSON, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	info := provenance.BuildInfo{
		FlakeRef: "path:/src", Attribute: "default", System: "x86_64-linux",
		Subjects:          []provenance.Subject{{Name: fakeOutput, Output: "out", SHA256: narSum, NarSize: uint64(nar.Len())}},
		ManifestRoot:      m.Root,
		ManifestLeafCount: len(m.Leaves),
		ManifestVersion:   version,
		NixVersion:        "2.8.0", KettleVersion: "test",
		BuilderID:    "https://github.com/kettle-build/kettle/builder/" + "sim-snp",
		InvocationID: "test", StartedOn: start, FinishedOn: start.Add(time.Second),
	}
	info.SetInputs(&inputs)
	if edit != nil {
		edit(&info)
	}
	prov, err := provenance.EncodeStatement(info)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := a.Attest(context.Background(), attest.ReportData(sha256.Sum256(prov), nonce))
	if err != nil {
		t.Fatal(err)
	}
	evJSON, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "b")
	w, err := provenance.CreateBundle(dest)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{provenance.FileProvenance: prov, provenance.FileEvidence: evJSON, provenance.FileManifest: manJSON} {
		if err := w.AddFile(name, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.AddArtifact(path.Base(fakeOutput), provenance.CompressionZstd, func(dst io.Writer) error {
		return nixinputs.WriteNAR(dst, out)
	}); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return dest
}

func TestVerifyLinks(t *testing.T) {
	measurement := func() []byte { h := sha512.Sum384([]byte("image")); return h[:] }()
	nonce := sha256.Sum256([]byte("nonce"))
	bundle := writeTestBundle(t, nonce, measurement)

	good := Options{Bundle: bundle, Nonce: nonce[:], Measurement: measurement, AllowSimulated: true}
	rep := Verify(context.Background(), good)
	if !rep.OK {
		t.Fatalf("good bundle failed at %s: %+v", rep.Failed, rep.Steps)
	}
	if len(rep.Steps) != len(StepOrder()) {
		t.Fatalf("%d steps, want %d", len(rep.Steps), len(StepOrder()))
	}
	for i, s := range rep.Steps {
		if s.Step != StepOrder()[i] || s.Status != Pass {
			t.Errorf("step %d: %s %s %s, want %s PASS", i, s.Step, s.Status, s.Detail, StepOrder()[i])
		}
	}
	if !rep.Simulated || !strings.Contains(rep.Verdict(), "SIMULATED") {
		t.Errorf("verdict %q on sim evidence must say SIMULATED", rep.Verdict())
	}

	otherNonce := sha256.Sum256([]byte("other"))
	cases := []struct {
		name string
		opts Options
		want Step
	}{
		{"simulated not allowed", Options{Bundle: bundle}, StepChain},
		{"wrong measurement", Options{Bundle: bundle, AllowSimulated: true, Measurement: make([]byte, 48)}, StepMeasurement},
		{"wrong nonce", Options{Bundle: bundle, AllowSimulated: true, Nonce: otherNonce[:]}, StepBinding},
		{"store path absent", Options{Bundle: bundle, AllowSimulated: true, Store: narHasher{}}, StepSubjects},
		{"no bundle", Options{Bundle: filepath.Join(t.TempDir(), "none"), AllowSimulated: true}, StepBundle},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := Verify(context.Background(), tc.opts)
			if rep.OK || rep.Failed != tc.want {
				t.Fatalf("ok=%t failed=%q, want failure at %s: %+v", rep.OK, rep.Failed, tc.want, rep.Steps)
			}
			after := false
			for _, s := range rep.Steps {
				if after && s.Status != NotRun {
					t.Errorf("step %s after the failure is %s, want %s", s.Step, s.Status, NotRun)
				}
				if s.Step == tc.want {
					after = true
				}
			}
		})
	}

	// Without --measurement the step is skipped, and the verdict says so.
	rep = Verify(context.Background(), Options{Bundle: bundle, AllowSimulated: true})
	for _, s := range rep.Steps {
		if s.Step == StepMeasurement && s.Status != Skipped {
			t.Errorf("measurement without --measurement: %s, want SKIP", s.Status)
		}
	}
}

func TestVerdictNeverPassesAFailure(t *testing.T) {
	r := &Report{OK: false, Failed: StepChain}
	if v := r.Verdict(); !strings.HasPrefix(v, "FAILED at chain") {
		t.Errorf("verdict %q", v)
	}
}

// narHasher is the StoreHasher the CLI gives: Kettle's own NAR hasher.
type narHasher struct{}

func (narHasher) NarSHA256(_ context.Context, p string) ([32]byte, error) {
	h, err := nixinputs.HashPath(p)
	return h.SHA256, err
}

// TestVerifyDependencies: a provenance whose resolvedDependencies list an
// input the manifest lacks, or lack one it has, fails at the dependencies
// step naming the entry, although the bundle is re-attested over the edited
// provenance so that every other link holds.
func TestVerifyDependencies(t *testing.T) {
	nonce := sha256.Sum256([]byte("nonce"))
	a, err := attest.NewAttester(attest.PlatformSimSNP, attest.AttesterOptions{HostData: nonce})
	if err != nil {
		t.Fatal(err)
	}
	good := Verify(context.Background(), Options{Bundle: writeEditedBundle(t, nonce, a, nil), AllowSimulated: true})
	if !good.OK {
		t.Fatalf("unedited bundle failed at %s: %+v", good.Failed, good.Steps)
	}
	if d := stepOf(good, StepDependencies).Detail; d != "3 dependencies match the manifest" {
		t.Errorf("dependencies detail %q", d)
	}
	other := sha256.Sum256([]byte("other"))
	extraSrc := "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-extra"
	for _, tc := range []struct {
		name string
		edit func(*provenance.BuildInfo)
		want string
	}{
		{"extra source", func(b *provenance.BuildInfo) {
			b.Sources = append(b.Sources, provenance.Dependency{Name: extraSrc, SHA256: other})
		}, "resolvedDependencies entry src " + extraSrc + ": the manifest has no leaf"},
		{"missing derivation", func(b *provenance.BuildInfo) { b.Derivations = nil },
			`manifest leaf "drv:` + testDrv + `:`},
		{"changed source digest", func(b *provenance.BuildInfo) { b.Sources[0].SHA256 = other; b.Sources[0].Annotations = nil },
			"resolvedDependencies entry src " + testSrc + ": the manifest has no leaf \"src:" + testSrc + ":"},
		{"rev the manifest lacks", func(b *provenance.BuildInfo) {
			b.Source.Annotations["rev"] = "1111111111111111111111111111111111111111"
		},
			"(annotation rev): the manifest has no leaf \"source:rev:1111111111111111111111111111111111111111"},
		{"flake input the manifest lacks", func(b *provenance.BuildInfo) {
			b.FlakeInputs = []provenance.Dependency{{Name: "nixpkgs", URI: "path:/nixpkgs?narHash=y", SHA256: other}}
		}, "resolvedDependencies entry flake-input nixpkgs: the manifest has no leaf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := Verify(context.Background(), Options{Bundle: writeEditedBundle(t, nonce, a, tc.edit), Nonce: nonce[:], AllowSimulated: true})
			if rep.OK || rep.Failed != StepDependencies {
				t.Fatalf("ok=%t failed=%q, want a failure at %s: %+v", rep.OK, rep.Failed, StepDependencies, rep.Steps)
			}
			for _, s := range rep.Steps {
				if s.Step == StepDependencies {
					break
				}
				if s.Status == Fail {
					t.Errorf("step %s failed before the dependencies step: %s", s.Step, s.Detail)
				}
			}
			if d := stepOf(rep, StepDependencies).Detail; !strings.Contains(d, tc.want) {
				t.Errorf("detail %q does not name %q", d, tc.want)
			}
		})
	}
}

// TestVerifyArtifactBeyondNarSize: an artifact is decompressed no further
// than the narSize its subject signs; one that expands beyond it fails the
// subjects step.
func TestVerifyArtifactBeyondNarSize(t *testing.T) {
	nonce := sha256.Sum256([]byte("nonce"))
	a, err := attest.NewAttester(attest.PlatformSimSNP, attest.AttesterOptions{HostData: nonce})
	if err != nil {
		t.Fatal(err)
	}
	bundle := writeEditedBundle(t, nonce, a, func(b *provenance.BuildInfo) { b.Subjects[0].NarSize = 100 })
	rep := Verify(context.Background(), Options{Bundle: bundle, AllowSimulated: true})
	if rep.OK || rep.Failed != StepSubjects {
		t.Fatalf("ok=%t failed=%q: %+v", rep.OK, rep.Failed, rep.Steps)
	}
	if d := stepOf(rep, StepSubjects).Detail; !strings.Contains(d, "100") {
		t.Errorf("detail %q does not name the limit", d)
	}
}
