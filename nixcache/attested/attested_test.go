package attested

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/nixcache"
	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/provenance"
	"github.com/kettle-build/kettle/verify"
)

// The store paths of the tests: app refers to dep and to itself.
const (
	depPath = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-dep"
	appPath = "/nix/store/zyxwvsrqpnmlkjihgfdcba9876543210-app"
	srcPath = "/nix/store/00000000000000000000000000000000-builder.sh"
)

// output is a store path of a test bundle: its contents are a directory
// made from files.
type output struct {
	path  string
	files map[string]string
}

var (
	dep = output{depPath, map[string]string{"data": "the dependency\n"}}
	app = output{appPath, map[string]string{"bin/app": "#!" + depPath + "/data\nexec " + appPath + "/bin/app\n"}}
)

// nar returns the NAR of an output's contents.
func (o output) nar(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	for name, data := range o.files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if err := nixinputs.WriteNAR(&b, dir); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// bundleOpts say how makeBundle deviates from a good bundle.
type bundleOpts struct {
	noArtifacts bool
	// tamper edits provenance.json after it is attested.
	tamper func([]byte) []byte
	// version is the manifest's; 0 means provenance.ManifestVersion.
	version int
	// closure are outputs of the closure that are not subjects: a version
	// 2 manifest has an output leaf (by=nix-db) for each.
	closure []output
}

// drvOf makes up the .drv store path of an output.
func drvOf(o output) string {
	base := path.Base(o.path)
	return "/nix/store/d" + base[1:] + ".drv"
}

// makeBundle assembles a Kettle bundle of the outputs, as Build does but
// without nix: sim-snp evidence over the provenance, the outputs' NARs in
// artifacts/, a manifest with one src leaf (srcPath, not carried) and, in
// version 2, an output leaf of every subject (by=kettle) and of every
// output of opts.closure (by=nix-db).
func makeBundle(t *testing.T, opts bundleOpts, outs ...output) string {
	t.Helper()
	if opts.version == 0 {
		opts.version = provenance.ManifestVersion
	}
	inputs := provenance.Inputs{
		Source:    provenance.SourceInput{URL: "path:/src?narHash=x", NarHash: sha256.Sum256([]byte("src"))},
		Sources:   []provenance.StoreSource{{Path: srcPath, NarHash: sha256.Sum256([]byte("builder.sh"))}},
		Toolchain: []provenance.Tool{{Name: "nix", Version: "2.8.0", SHA256: sha256.Sum256([]byte("nix"))}},
	}
	nars := map[string][]byte{}
	for i, o := range slices.Concat(outs, opts.closure) {
		nar := o.nar(t)
		nars[o.path] = nar
		inputs.Derivations = append(inputs.Derivations, provenance.DerivationInput{Path: drvOf(o), ATermSHA256: sha256.Sum256([]byte(o.path))})
		if opts.version >= provenance.ManifestV2 {
			by := provenance.ByKettle
			if i >= len(outs) {
				by = provenance.ByNixDB
			}
			inputs.Outputs = append(inputs.Outputs, provenance.DrvOutput{Drv: drvOf(o), Output: "out", Path: o.path, By: by, NarSHA256: sha256.Sum256(nar)})
		}
	}
	m, err := provenance.NewManifestVersion(opts.version, inputs.Leaves())
	if err != nil {
		t.Fatal(err)
	}
	manJSON, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	info := provenance.BuildInfo{
		FlakeRef: "path:/src", Attribute: outs[0].path[44:], System: "x86_64-linux",
		ManifestRoot: m.Root, ManifestLeafCount: len(m.Leaves), ManifestVersion: opts.version,
		NixVersion: "2.8.0", KettleVersion: "test", BuilderID: "https://github.com/kettle-build/kettle/builder/sim-snp",
		InvocationID: "test", StartedOn: start, FinishedOn: start.Add(time.Second),
	}
	for _, o := range outs {
		nar := nars[o.path]
		info.Subjects = append(info.Subjects, provenance.Subject{Name: o.path, Output: "out", SHA256: sha256.Sum256(nar), NarSize: uint64(len(nar))})
	}
	info.SetInputs(&inputs)
	prov, err := provenance.EncodeStatement(info)
	if err != nil {
		t.Fatal(err)
	}
	a, err := attest.NewAttester(attest.PlatformSimSNP, attest.AttesterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := a.Attest(context.Background(), attest.ReportData(sha256.Sum256(prov), [32]byte{}))
	if err != nil {
		t.Fatal(err)
	}
	evJSON, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if opts.tamper != nil {
		prov = opts.tamper(prov)
	}
	dest := filepath.Join(t.TempDir(), "b.bundle")
	w, err := provenance.CreateBundle(dest)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{provenance.FileProvenance: prov, provenance.FileEvidence: evJSON, provenance.FileManifest: manJSON} {
		if err := w.AddFile(name, data); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range outs {
		if opts.noArtifacts {
			break
		}
		nar := nars[o.path]
		if err := w.AddArtifact(path.Base(o.path), provenance.CompressionZstd, func(dst io.Writer) error {
			_, err := dst.Write(nar)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return dest
}

// testKey is a fixed signing key.
func testKey(t *testing.T) *nixcache.SecretKey {
	t.Helper()
	k, err := nixcache.GenerateKey("attested-test-1", bytes.NewReader(bytes.Repeat([]byte{1}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return &k
}

func exportOpts(t *testing.T, dir string, bundles ...string) ExportOptions {
	return ExportOptions{Bundles: bundles, Dir: dir, Key: testKey(t), Verify: verify.Options{AllowSimulated: true}}
}

func verifyOpts(t *testing.T) VerifyOptions {
	return VerifyOptions{Keys: []nixcache.PublicKey{testKey(t).PublicKey()}, Verify: verify.Options{AllowSimulated: true}}
}

// snapshot reads every file under dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestExportVerify(t *testing.T) {
	appBundle, depBundle := makeBundle(t, bundleOpts{}, app), makeBundle(t, bundleOpts{}, dep)
	parent := t.TempDir()
	dir := filepath.Join(parent, "cache")

	// app alone names a store path no bundle attests: refused, and no
	// cache, not even a staging directory, is left.
	_, err := Export(context.Background(), exportOpts(t, dir, appBundle))
	if err == nil || !strings.Contains(err.Error(), "names store paths none of the bundles attests (/nix/store/0123456789abcdfghijklmnpqrsvwxyz)") {
		t.Fatalf("export of app alone: %v", err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Fatalf("a refused export left %v", entries)
	}

	rep, err := Export(context.Background(), exportOpts(t, dir, appBundle, depBundle))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Created || len(rep.Paths) != 2 || rep.Paths[0].StorePath != depPath || rep.Paths[1].StorePath != appPath {
		t.Fatalf("export: %+v", rep)
	}
	if got := rep.Paths[1].References; !slices.Equal(got, []string{depPath, appPath}) || rep.Paths[1].ReferencesFrom != "NAR scan" {
		t.Errorf("app's references %q from %s, want dep and itself from the NAR scan", got, rep.Paths[1].ReferencesFrom)
	}
	for _, p := range rep.Paths {
		if !p.BundleVerified || !p.Signed || p.AttestedAs != "subject" || !strings.HasPrefix(p.From, "artifacts/") || !strings.HasSuffix(p.URL, ".nar.xz") {
			t.Errorf("path %+v", p)
		}
	}
	vr, err := Verify(context.Background(), dir, verifyOpts(t))
	if err != nil {
		t.Fatal(err)
	}
	if !vr.OK || len(vr.Paths) != 2 || len(vr.Bundles) != 2 {
		t.Fatalf("verify: %+v", vr)
	}

	// Exporting again adds nothing and changes nothing.
	before := snapshot(t, dir)
	rep, err = Export(context.Background(), exportOpts(t, dir, depBundle, appBundle))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created || len(rep.Paths) != 2 || rep.Paths[0].From != FromCache || rep.Paths[1].From != FromCache {
		t.Errorf("export again: %+v", rep)
	}
	if after := snapshot(t, dir); !mapsEqual(before, after) {
		t.Errorf("exporting again changed the cache")
	}

	// A bundle that attests dep with another NAR is refused, and the cache
	// is left as it was, app2's path too.
	app2 := output{"/nix/store/11111111111111111111111111111111-app2", map[string]string{"x": "no references"}}
	other := makeBundle(t, bundleOpts{}, app2, output{depPath, map[string]string{"data": "another dependency\n"}})
	if _, err := Export(context.Background(), exportOpts(t, dir, other)); err == nil || !strings.Contains(err.Error(), "the cache has it with NAR hash") {
		t.Errorf("export of another dep: %v", err)
	}
	if after := snapshot(t, dir); !mapsEqual(before, after) {
		t.Errorf("a refused export changed the cache")
	}

	// A bundle with a new path is added to the existing cache, with zstd.
	opts := exportOpts(t, dir, makeBundle(t, bundleOpts{}, app2))
	opts.Compression = nixcache.CompressionZstd // nix-cache-info does not say: NAR files of both kinds may be in one cache
	if rep, err = Export(context.Background(), opts); err != nil || len(rep.Paths) != 1 || rep.Created {
		t.Fatalf("adding app2: %+v, %v", rep, err)
	}
	if vr, err = Verify(context.Background(), dir, verifyOpts(t)); err != nil || !vr.OK || len(vr.Paths) != 3 || len(vr.Bundles) != 3 {
		t.Errorf("verify after adding app2: %+v, %v", vr, err)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestExportRefuses(t *testing.T) {
	tampered := makeBundle(t, bundleOpts{tamper: func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"attribute": "`), []byte(`"attribute": "x`), 1)
	}}, dep)
	for _, tc := range []struct {
		name    string
		bundles []string
		want    string
	}{
		{"no bundles", nil, "no bundles"},
		{"missing bundle", []string{filepath.Join(t.TempDir(), "none")}, "no such file"},
		{"not a bundle", []string{t.TempDir()}, "missing"},
		{"tampered provenance", []string{tampered}, "does not verify: FAILED at binding"},
		{"not carried", []string{makeBundle(t, bundleOpts{noArtifacts: true}, dep)}, "does not verify: FAILED at subjects"},
		{"the same bundle twice", func() []string { b := makeBundle(t, bundleOpts{}, dep); return []string{b, b} }(), "have the same provenance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			_, err := Export(context.Background(), exportOpts(t, filepath.Join(parent, "cache"), tc.bundles...))
			t.Logf("Export says: %v", err)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Errorf("a refused export left %v", entries)
			}
		})
	}

	// Allowed, a bundle that does not verify is exported and said to be;
	// Verify then refuses the cache.
	t.Run("allow unverified", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "cache")
		opts := exportOpts(t, dir, tampered)
		opts.AllowUnverified = true
		rep, err := Export(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Paths) != 1 || rep.Paths[0].BundleVerified || rep.Bundles[0].Verified || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "UNVERIFIED") {
			t.Errorf("report %+v", rep)
		}
		vr, err := Verify(context.Background(), dir, verifyOpts(t))
		if err != nil {
			t.Fatal(err)
		}
		if vr.OK || vr.Paths[0].OK || !strings.Contains(vr.Paths[0].Error, "does not verify: FAILED at binding") || vr.Bundles[0].OK {
			t.Errorf("verify of an unverified bundle's cache: %+v", vr)
		}
	})

	// Without the local store, a path the bundle attests but does not carry
	// cannot be exported.
	t.Run("src not carried", func(t *testing.T) {
		needsSrc := output{"/nix/store/22222222222222222222222222222222-x", map[string]string{"f": srcPath}}
		_, err := Export(context.Background(), exportOpts(t, filepath.Join(t.TempDir(), "cache"), makeBundle(t, bundleOpts{}, needsSrc)))
		if err == nil || !strings.Contains(err.Error(), srcPath+" (attested by the src leaf of bundle") || !strings.Contains(err.Error(), "--store") {
			t.Errorf("error %v", err)
		}
	})
}

// TestVerifyRefuses changes a good cache of app and dep as a host could,
// and checks that Verify names what broke.
func TestVerifyRefuses(t *testing.T) {
	appBundle, depBundle := makeBundle(t, bundleOpts{}, app), makeBundle(t, bundleOpts{}, dep)
	good := filepath.Join(t.TempDir(), "cache")
	rep, err := Export(context.Background(), exportOpts(t, good, appBundle, depBundle))
	if err != nil {
		t.Fatal(err)
	}
	appInfo, depInfo := rep.Paths[1], rep.Paths[0]
	key := testKey(t)
	narinfo := func(t *testing.T, dir string, p ExportPath) *nixcache.NarInfo {
		data, err := os.ReadFile(filepath.Join(dir, p.NarInfo))
		if err != nil {
			t.Fatal(err)
		}
		n, err := nixcache.ParseNarInfo(data)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	write := func(t *testing.T, dir string, n *nixcache.NarInfo) {
		text, err := n.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, path.Base(n.StorePath)[:32]+".narinfo"), text, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, dir string)
		path   string // the path whose line must fail with want; "" for the directory
		want   string
	}{
		{"NarHash changed", func(t *testing.T, dir string) {
			n := narinfo(t, dir, appInfo)
			n.NarHash[0] ^= 1
			write(t, dir, n)
		}, appPath, "does not verify"},
		{"NAR byte flipped", func(t *testing.T, dir string) {
			p := filepath.Join(dir, appInfo.URL)
			data, _ := os.ReadFile(p)
			data[len(data)/2] ^= 1
			os.WriteFile(p, data, 0o644)
		}, appPath, "file hash"},
		{"signature flipped", func(t *testing.T, dir string) {
			n := narinfo(t, dir, appInfo)
			n.Sigs[0].Sig[0] ^= 1
			write(t, dir, n)
		}, appPath, "signature by key \"attested-test-1\" does not verify"},
		{"signed by the key, but another NAR than the bundle's", func(t *testing.T, dir string) {
			// A writer with the key serves dep with other contents.
			n := narinfo(t, dir, depInfo)
			os.Remove(filepath.Join(dir, n.URL))
			w, err := nixcache.Create(dir, nixcache.Options{Key: key})
			if err != nil {
				t.Fatal(err)
			}
			os.Remove(filepath.Join(dir, depInfo.NarInfo))
			nar := output{depPath, map[string]string{"data": "evil\n"}}.nar(t)
			if _, _, err := w.AddEntry(nixcache.Entry{Info: nixinputs.PathInfo{Path: depPath, NarHash: sha256.Sum256(nar), NarSize: uint64(len(nar))},
				NAR: func(w io.Writer) error { _, err := w.Write(nar); return err }, Bundle: n.Bundle}); err != nil {
				t.Fatal(err)
			}
		}, depPath, "does not verify: FAILED at subjects"},
		{"no bundle named", func(t *testing.T, dir string) {
			n := narinfo(t, dir, depInfo)
			n.Bundle = ""
			write(t, dir, n)
		}, depPath, "names no bundle"},
		{"another bundle named", func(t *testing.T, dir string) {
			n := narinfo(t, dir, depInfo)
			n.Bundle = appInfo.BundleFile
			write(t, dir, n)
		}, depPath, "does not attest this path"},
		{"bundle swapped", func(t *testing.T, dir string) {
			os.Rename(filepath.Join(dir, depInfo.BundleFile), filepath.Join(dir, appInfo.BundleFile))
		}, appPath, "not the one its name says"},
		{"bundle with artifacts", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, appInfo.BundleFile))
			b, _ := readBundle(appBundle)
			w, _ := provenance.CreateBundle(filepath.Join(dir, appInfo.BundleFile))
			w.AddFile(provenance.FileProvenance, b.pb.Provenance)
			w.AddFile(provenance.FileEvidence, b.pb.Evidence)
			w.AddFile(provenance.FileManifest, b.pb.Manifest)
			w.AddArtifact(path.Base(appPath), provenance.CompressionXZ, func(w io.Writer) error { _, err := w.Write(app.nar(t)); return err })
			if err := w.Commit(); err != nil {
				t.Fatal(err)
			}
		}, appPath, "carries artifacts"},
		{"reference missing", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, depInfo.NarInfo))
			os.Remove(filepath.Join(dir, depInfo.URL))
			os.Remove(filepath.Join(dir, depInfo.BundleFile))
		}, appPath, "refers to " + depPath + ", which is not in the cache"},
		{"truncated narinfo", func(t *testing.T, dir string) {
			p := filepath.Join(dir, depInfo.NarInfo)
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)-10], 0o644)
		}, "", "no narinfo names this NAR file"},
		{"unknown file", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "index.html"), []byte("hi"), 0o644)
		}, "", "index.html: not a file of a binary cache"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache")
			if err := os.CopyFS(dir, os.DirFS(good)); err != nil {
				t.Fatal(err)
			}
			tc.tamper(t, dir)
			vr, err := Verify(context.Background(), dir, verifyOpts(t))
			if err != nil {
				t.Fatal(err)
			}
			if vr.OK {
				t.Fatal("Verify accepted it")
			}
			var got []string
			if tc.path == "" {
				got = vr.Errors
			}
			for _, p := range vr.Paths {
				if p.StorePath == tc.path && !p.OK {
					got = append(got, p.Error)
				}
			}
			t.Logf("Verify says: %q %q", got, vr.Errors)
			if len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), tc.want) {
				t.Errorf("failures %q, errors %q; want one mentioning %q", got, vr.Errors, tc.want)
			}
		})
	}
}

// TestExportFailureLeavesExistingCache makes an export to an existing cache
// fail after it has written a file, and checks that the file is removed.
func TestExportFailureLeavesExistingCache(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	if _, err := Export(context.Background(), exportOpts(t, dir, makeBundle(t, bundleOpts{}, dep))); err != nil {
		t.Fatal(err)
	}
	x := makeBundle(t, bundleOpts{}, output{"/nix/store/33333333333333333333333333333333-x", map[string]string{"f": "x"}})
	appBundle := makeBundle(t, bundleOpts{}, app)
	b, err := readBundle(appBundle)
	if err != nil {
		t.Fatal(err)
	}
	// The cache already has a file where app's bundle goes, with other
	// contents: x's bundle is written first, then the export fails.
	os.WriteFile(filepath.Join(dir, filepath.FromSlash(b.file)), []byte("not this bundle"), 0o644)
	before := snapshot(t, dir)
	_, err = Export(context.Background(), exportOpts(t, dir, x, appBundle))
	if err == nil || !strings.Contains(err.Error(), "it is not a copy of bundle "+appBundle) {
		t.Fatalf("export: %v", err)
	}
	if after := snapshot(t, dir); !mapsEqual(before, after) {
		t.Errorf("the failed export left files: %d before, %d after", len(before), len(after))
	}
	// Without that file, app goes into the cache, referring to the dep it
	// already has.
	os.Remove(filepath.Join(dir, filepath.FromSlash(b.file)))
	rep, err := Export(context.Background(), exportOpts(t, dir, x, appBundle))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Paths) != 2 {
		t.Errorf("paths %+v", rep.Paths)
	}
	if vr, err := Verify(context.Background(), dir, verifyOpts(t)); err != nil || !vr.OK {
		t.Errorf("verify: %+v, %v", vr, err)
	}
}

// BenchmarkExport exports one output of 8 MiB of text, from a bundle's
// zstd artifact to a new cache, references found by the NAR scan.
func BenchmarkExport(b *testing.B) {
	t := &testing.T{}
	var text strings.Builder
	for i := 0; text.Len() < 8<<20; i++ {
		text.WriteString("line " + strings.Repeat("x", i%61) + " of a file in the output\n")
	}
	big := output{"/nix/store/44444444444444444444444444444444-big", map[string]string{"f": text.String()}}
	bundle := makeBundle(t, bundleOpts{}, big)
	for _, comp := range []string{nixcache.CompressionXZ, nixcache.CompressionZstd} {
		b.Run(comp, func(b *testing.B) {
			b.SetBytes(int64(text.Len()))
			for range b.N {
				opts := exportOpts(t, filepath.Join(b.TempDir(), "cache"), bundle)
				opts.Compression = comp
				if _, err := Export(context.Background(), opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestManifestVersions checks what each manifest version attests: version
// 1 its subjects and sources, version 2 also every output of the closure.
func TestManifestVersions(t *testing.T) {
	v1 := makeBundle(t, bundleOpts{version: provenance.ManifestV1}, app)
	v2 := makeBundle(t, bundleOpts{closure: []output{dep}}, app)
	for _, tc := range []struct {
		name, bundle string
		want         map[string]string // store path → what attests it
	}{
		{"version 1", v1, map[string]string{appPath: "subject", srcPath: "src leaf"}},
		{"version 2", v2, map[string]string{appPath: "subject", srcPath: "src leaf", depPath: "output leaf (by=nix-db)"}},
	} {
		b, err := readBundle(tc.bundle)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for p, c := range b.claims {
			got[p] = c.what
		}
		if !mapsEqual(got, tc.want) {
			t.Errorf("%s: claims %v, want %v", tc.name, got, tc.want)
		}
		if d := b.claims[appPath].deriver; tc.bundle == v2 && d != drvOf(app) || tc.bundle == v1 && d != "" {
			t.Errorf("%s: app's deriver %q", tc.name, d)
		}
	}

	// Version 1 does not attest dep: the scan finds it unknown. Version 2
	// does, but does not carry it: it needs the local store.
	_, err := Export(context.Background(), exportOpts(t, filepath.Join(t.TempDir(), "cache"), v1))
	if err == nil || !strings.Contains(err.Error(), "names store paths none of the bundles attests") {
		t.Errorf("export of version 1: %v", err)
	}
	_, err = Export(context.Background(), exportOpts(t, filepath.Join(t.TempDir(), "cache"), v2))
	if err == nil || !strings.Contains(err.Error(), depPath+" (attested by the output leaf (by=nix-db) of bundle "+v2+") is not carried by any bundle: give --store") {
		t.Errorf("export of version 2: %v", err)
	}
	// With dep's own bundle, version 2's app is exported with its deriver.
	dir := filepath.Join(t.TempDir(), "cache")
	rep, err := Export(context.Background(), exportOpts(t, dir, v2, makeBundle(t, bundleOpts{}, dep)))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Paths) != 2 || rep.Paths[0].AttestedAs != "output leaf (by=nix-db)" || rep.Paths[0].Bundle != v2 {
		t.Errorf("paths %+v", rep.Paths)
	}
	data, err := os.ReadFile(filepath.Join(dir, rep.Paths[1].NarInfo))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := nixcache.ParseNarInfo(data); err != nil || n.Deriver != path.Base(drvOf(app)) {
		t.Errorf("app's narinfo: %+v, %v", n, err)
	}
	// dep is attested by v2's output leaf, its NAR carried by dep's bundle:
	// the narinfo names v2, and Verify checks it against v2's leaf. dep's
	// own bundle names no path, so it is not copied.
	if rep.Bundles[1].File != "" {
		t.Errorf("dep's bundle copied as %s, though it names no path", rep.Bundles[1].File)
	}
	if vr, err := Verify(context.Background(), dir, verifyOpts(t)); err != nil || !vr.OK || len(vr.Bundles) != 1 {
		t.Errorf("verify: %+v, %v", vr, err)
	}
}
