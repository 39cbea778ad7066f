package builder

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
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "hello"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var nar bytes.Buffer
	if err := nixinputs.WriteNAR(&nar, out); err != nil {
		t.Fatal(err)
	}
	narSum := sha256.Sum256(nar.Bytes())

	drv := "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-demo.drv"
	leaves := append(provenance.SourceLeaves("path:/src?narHash=x", "", sha256.Sum256([]byte("src"))),
		provenance.DrvLeaf(drv, sha256.Sum256([]byte("Derive(...)"))),
		provenance.ToolchainLeaf("nix", "2.8.0", sha256.Sum256([]byte("nix"))),
	)
	m, err := provenance.NewManifest(leaves)
	if err != nil {
		t.Fatal(err)
	}
	manJSON, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	prov, err := provenance.EncodeStatement(provenance.BuildInfo{
		FlakeRef: "path:/src", Attribute: "default", System: "x86_64-linux",
		Source:            provenance.Dependency{Name: "source", URI: "path:/src?narHash=x", SHA256: sha256.Sum256([]byte("src"))},
		Derivations:       []provenance.Dependency{{Name: drv, SHA256: sha256.Sum256([]byte("Derive(...)"))}},
		Subjects:          []provenance.Subject{{Name: fakeOutput, Output: "out", SHA256: narSum, NarSize: uint64(nar.Len())}},
		ManifestRoot:      m.Root,
		ManifestLeafCount: len(m.Leaves),
		ManifestVersion:   provenance.ManifestVersion,
		NixVersion:        "2.8.0", KettleVersion: "test",
		BuilderID:    BuilderIDBase + "sim-snp",
		InvocationID: "test", StartedOn: start, FinishedOn: start.Add(time.Second),
	})
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

	good := VerifyOptions{Bundle: bundle, Nonce: &nonce, Measurement: measurement, AllowSimulated: true}
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
		opts VerifyOptions
		want string
	}{
		{"simulated not allowed", VerifyOptions{Bundle: bundle}, StepChain},
		{"wrong measurement", VerifyOptions{Bundle: bundle, AllowSimulated: true, Measurement: make([]byte, 48)}, StepMeasurement},
		{"wrong nonce", VerifyOptions{Bundle: bundle, AllowSimulated: true, Nonce: &otherNonce}, StepBinding},
		{"store path absent", VerifyOptions{Bundle: bundle, AllowSimulated: true, UseStore: true}, StepSubjects},
		{"no bundle", VerifyOptions{Bundle: filepath.Join(t.TempDir(), "none"), AllowSimulated: true}, StepBundle},
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
	rep = Verify(context.Background(), VerifyOptions{Bundle: bundle, AllowSimulated: true})
	for _, s := range rep.Steps {
		if s.Step == StepMeasurement && s.Status != Skipped {
			t.Errorf("measurement without --measurement: %s, want SKIP", s.Status)
		}
	}
}

func TestVerdictNeverPassesAFailure(t *testing.T) {
	r := &VerifyReport{OK: false, Failed: StepChain}
	if v := r.Verdict(); !strings.HasPrefix(v, "FAILED at chain") {
		t.Errorf("verdict %q", v)
	}
}
