package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/provenance"
)

// nix32 is the alphabet of the hash part of a store path.
const nix32 = "0123456789abcdfghijklmnpqrsvwxyz"

// benchStorePath returns a store path whose hash part is derived from seed.
func benchStorePath(seed, name string) string {
	sum := sha256.Sum256([]byte(seed))
	var hash [32]byte
	for i := range hash {
		hash[i] = nix32[sum[i]%32]
	}
	return "/nix/store/" + string(hash[:]) + "-" + name
}

// writeLargeBundle assembles, as writeManifestBundle does, the bundle of a
// closure the size of bench/genflake.sh's: n leaf derivations with one
// inputSrcs path each, n/100 groups and the top derivation, one output per
// derivation in a version 2 manifest, one subject whose NAR is the bundle's
// only artifact, and sim-snp evidence over the provenance.
func writeLargeBundle(tb testing.TB, n int) string {
	tb.Helper()
	out := tb.TempDir()
	if err := os.WriteFile(filepath.Join(out, "closure"), []byte("deps\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	var nar bytes.Buffer
	if err := nixinputs.WriteNAR(&nar, out); err != nil {
		tb.Fatal(err)
	}
	narSum := sha256.Sum256(nar.Bytes())
	top := benchStorePath("out top", fmt.Sprintf("closure-%d", n))

	inputs := provenance.Inputs{
		Source:      provenance.SourceInput{URL: "path:/tmp/closure?lastModified=1796169289&narHash=sha256-uSlB0UGwDiU9%2BX%2B5aKS5ykyd582EpigZQv6DCHw3qQo%3D", NarHash: sha256.Sum256([]byte("src"))},
		FlakeInputs: []provenance.FlakeInput{{Path: "busybox", URL: "path:/bin/busybox?narHash=sha256-IRgPFZw3aLnmyUbEtxvUCiKahqBavMvyPBDIRuDf72k%3D", NarHash: sha256.Sum256([]byte("busybox"))}},
		Toolchain: []provenance.Tool{
			{Name: "nix", Version: "2.8.0", SHA256: sha256.Sum256([]byte("nix"))},
			{Name: "kettle", Version: "bench", SHA256: sha256.Sum256([]byte("kettle"))},
		},
	}
	addDrv := func(name, outPath string, narHash [32]byte, by provenance.OutputAuthority) {
		drv := benchStorePath("drv "+name, name+".drv")
		inputs.Derivations = append(inputs.Derivations, provenance.DerivationInput{Path: drv, ATermSHA256: sha256.Sum256([]byte("Derive " + name))})
		inputs.Outputs = append(inputs.Outputs, provenance.DrvOutput{Drv: drv, Output: "out", Path: outPath, By: by, NarSHA256: narHash})
	}
	for i := range n {
		name := fmt.Sprintf("leaf-%d", i)
		addDrv(name, benchStorePath("out "+name, name), sha256.Sum256([]byte("nar "+name)), provenance.ByNixDB)
		src := benchStorePath("src "+name, name+".mtree")
		inputs.Sources = append(inputs.Sources, provenance.StoreSource{Path: src, NarHash: sha256.Sum256([]byte("nar " + src))})
	}
	for g := range n / 100 {
		name := fmt.Sprintf("group-%d", g)
		addDrv(name, benchStorePath("out "+name, name), sha256.Sum256([]byte("nar "+name)), provenance.ByNixDB)
	}
	addDrv(path.Base(top)[33:], top, narSum, provenance.ByKettle)

	m, err := provenance.NewManifest(inputs.Leaves())
	if err != nil {
		tb.Fatal(err)
	}
	manJSON, err := m.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	info := provenance.BuildInfo{
		FlakeRef: "path:/tmp/closure", Attribute: "default", System: "x86_64-linux",
		Subjects:          []provenance.Subject{{Name: top, Output: "out", SHA256: narSum, NarSize: uint64(nar.Len())}},
		ManifestRoot:      m.Root,
		ManifestLeafCount: len(m.Leaves),
		ManifestVersion:   m.Version,
		NixVersion:        "2.8.0", KettleVersion: "bench",
		BuilderID:    "https://github.com/kettle-build/kettle/builder/sim-snp",
		InvocationID: "bench", StartedOn: start, FinishedOn: start.Add(time.Minute),
	}
	info.SetInputs(&inputs)
	prov, err := provenance.EncodeStatement(info)
	if err != nil {
		tb.Fatal(err)
	}
	a, err := attest.NewAttester(attest.PlatformSimSNP, attest.AttesterOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	ev, err := a.Attest(context.Background(), attest.ReportData(sha256.Sum256(prov), [32]byte{}))
	if err != nil {
		tb.Fatal(err)
	}
	evJSON, err := ev.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	dest := filepath.Join(tb.TempDir(), "b")
	w, err := provenance.CreateBundle(dest)
	if err != nil {
		tb.Fatal(err)
	}
	for name, data := range map[string][]byte{provenance.FileProvenance: prov, provenance.FileEvidence: evJSON, provenance.FileManifest: manJSON} {
		if err := w.AddFile(name, data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.AddArtifact(path.Base(top), provenance.CompressionZstd, func(dst io.Writer) error {
		return nixinputs.WriteNAR(dst, out)
	}); err != nil {
		tb.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		tb.Fatal(err)
	}
	return dest
}

// TestVerifyLargeBundle checks that the bundle BenchmarkVerifyLargeBundle
// times verifies, so that the benchmark measures a whole verification.
func TestVerifyLargeBundle(t *testing.T) {
	if testing.Short() {
		t.Skip("large bundle")
	}
	bundle := writeLargeBundle(t, 3000)
	rep := Verify(context.Background(), Options{Bundle: bundle, AllowSimulated: true})
	if !rep.OK {
		t.Fatalf("failed at %s: %+v", rep.Failed, rep.Steps)
	}
	if d := stepOf(rep, StepManifest).Detail; !bytes.Contains([]byte(d), []byte("over 9066 leaves")) {
		t.Errorf("manifest step %q, want 9066 leaves (3031 drv, 3000 src, 3031 output, source, flake input, 2 toolchain)", d)
	}
}

// BenchmarkVerifyLargeBundle times Verify of the bundle of a 3000-derivation
// closure (bench/genflake.sh's shape) whose subject's NAR is its only
// artifact: the cost of reading and checking the JSON files, which
// `kettle verify --store` of such a bundle pays.
func BenchmarkVerifyLargeBundle(b *testing.B) {
	bundle := writeLargeBundle(b, 3000)
	for _, name := range []string{provenance.FileProvenance, provenance.FileManifest} {
		fi, err := os.Stat(filepath.Join(bundle, name))
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: %d bytes", name, fi.Size())
	}
	opts := Options{Bundle: bundle, AllowSimulated: true}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime(b)
	for range b.N {
		if rep := Verify(context.Background(), opts); !rep.OK {
			b.Fatalf("failed at %s: %+v", rep.Failed, rep.Steps)
		}
	}
	// CPU time is steadier than wall time on a shared machine.
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
