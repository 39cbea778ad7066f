package provenance

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// testJSON holds valid contents for the three JSON files of a bundle.
func testJSON(t testing.TB) map[string][]byte {
	t.Helper()
	man, err := testManifest(t).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		FileProvenance: encodeTest(t, testBuildInfo()),
		FileEvidence:   []byte(`{"version":1,"platform":"sim-snp","report":"AAAA"}` + "\n"),
		FileManifest:   man,
	}
}

// testNAR returns n bytes of deterministic, poorly compressible data.
func testNAR(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	// Make part of it compressible so both codecs do real work.
	for i := 0; i < n/2; i++ {
		b[i] = byte(i / 1000)
	}
	return b
}

type testArtifact struct {
	name string
	c    Compression
	nar  []byte
}

func testArtifacts() []testArtifact {
	return []testArtifact{
		{testHash32 + "-hello", CompressionXZ, testNAR(1, 300<<10)},
		{testHash32 + "-hello-doc", CompressionZstd, testNAR(2, 3<<20)},
		{"empty", CompressionZstd, nil},
	}
}

// writeBundle writes a complete bundle to dest.
func writeBundle(t testing.TB, dest string, files map[string][]byte, arts []testArtifact) {
	t.Helper()
	w, err := CreateBundle(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, name := range []string{FileManifest, FileProvenance, FileEvidence} {
		if err := w.AddFile(name, files[name]); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range arts {
		if err := w.AddArtifact(a.name, a.c, func(dst io.Writer) error {
			// Write in odd-sized pieces, as a NAR writer would.
			r := bytes.NewReader(a.nar)
			_, err := io.CopyBuffer(dst, struct{ io.Reader }{r}, make([]byte, 4093))
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

// noTemps fails if a temporary sibling of dest is left in its directory.
func noTemps(t *testing.T, dest string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func checkBundle(t *testing.T, b *Bundle, files map[string][]byte, arts []testArtifact) {
	t.Helper()
	if !bytes.Equal(b.Provenance, files[FileProvenance]) || !bytes.Equal(b.Evidence, files[FileEvidence]) || !bytes.Equal(b.Manifest, files[FileManifest]) {
		t.Error("JSON files differ from what was written")
	}
	if len(b.Artifacts) != len(arts) {
		t.Fatalf("%d artifacts, want %d", len(b.Artifacts), len(arts))
	}
	want := append([]testArtifact(nil), arts...)
	sort.Slice(want, func(i, j int) bool { return want[i].name < want[j].name })
	for i, a := range b.Artifacts {
		w := want[i]
		if a.Name != w.name || a.Compression != w.c || a.File != "artifacts/"+w.name+".nar."+string(w.c) {
			t.Errorf("artifact %d = %+v, want %s (%s)", i, a, w.name, w.c)
		}
		rc, err := b.OpenArtifact(a)
		if err != nil {
			t.Fatalf("OpenArtifact(%s): %v", a.Name, err)
		}
		got, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("reading %s: %v", a.File, err)
		}
		if err := rc.Close(); err != nil {
			t.Errorf("closing %s: %v", a.File, err)
		}
		if !bytes.Equal(got, w.nar) {
			t.Errorf("%s: decompressed NAR differs (%d bytes, want %d)", a.File, len(got), len(w.nar))
		}
	}
}

func TestBundleRoundTrip(t *testing.T) {
	for _, name := range []string{"bundle", "bundle.tar"} {
		t.Run(name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), name)
			files, arts := testJSON(t), testArtifacts()
			writeBundle(t, dest, files, arts)
			noTemps(t, dest)
			fi, err := os.Stat(dest)
			if err != nil {
				t.Fatal(err)
			}
			if fi.IsDir() == strings.HasSuffix(name, ".tar") {
				t.Fatalf("%s: IsDir = %v", dest, fi.IsDir())
			}
			if fi.Mode().Perm()&0o044 != 0o044 {
				t.Errorf("%s has mode %v, want readable by all", dest, fi.Mode())
			}
			b, err := OpenBundle(dest)
			if err != nil {
				t.Fatal(err)
			}
			if b.Path != dest {
				t.Errorf("Path = %q", b.Path)
			}
			checkBundle(t, b, files, arts)
		})
	}
}

func TestBundleWithoutArtifacts(t *testing.T) {
	for _, name := range []string{"b", "b.tar"} {
		dest := filepath.Join(t.TempDir(), name)
		writeBundle(t, dest, testJSON(t), nil)
		b, err := OpenBundle(dest)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Artifacts) != 0 {
			t.Errorf("%s: artifacts %v", name, b.Artifacts)
		}
		if _, err := os.Stat(filepath.Join(dest, DirArtifacts)); name == "b" && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("empty artifacts/ directory written: %v", err)
		}
	}
}

// TestBundleDirExactFiles: a committed directory holds exactly the bundle's
// files.
func TestBundleDirExactFiles(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "bundle")
	writeBundle(t, dest, testJSON(t), testArtifacts())
	var got []string
	err := filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dest, p)
		if d.IsDir() {
			rel += "/"
		}
		got = append(got, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"./", "artifacts/", "artifacts/" + testHash32 + "-hello-doc.nar.zst", "artifacts/" + testHash32 + "-hello.nar.xz",
		"artifacts/empty.nar.zst", "evidence.json", "manifest.json", "provenance.json"}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("bundle holds %q, want %q", got, want)
	}
}

// TestBundleTarLayout: a tar bundle is deterministic, in a fixed order, and
// holds nothing but regular files.
func TestBundleTarLayout(t *testing.T) {
	dir := t.TempDir()
	files, arts := testJSON(t), testArtifacts()
	a, b := filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar")
	writeBundle(t, a, files, arts)
	time.Sleep(10 * time.Millisecond) // a different clock must not matter
	reversed := append([]testArtifact(nil), arts...)
	reverse(reversed)
	writeBundle(t, b, files, reversed)
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if !bytes.Equal(da, db) {
		t.Error("two tar bundles of the same content differ")
	}
	tr := tar.NewReader(bytes.NewReader(da))
	var names []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		if hdr.Typeflag != tar.TypeReg || hdr.Mode != 0o644 || hdr.Uid != 0 || hdr.Gid != 0 || hdr.ModTime.Unix() != 0 || hdr.Uname != "" {
			t.Errorf("entry %s: type %q mode %o uid %d gid %d mtime %v uname %q", hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, hdr.ModTime, hdr.Uname)
		}
	}
	want := []string{FileProvenance, FileEvidence, FileManifest, "artifacts/" + testHash32 + "-hello-doc.nar.zst", "artifacts/" + testHash32 + "-hello.nar.xz", "artifacts/empty.nar.zst"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("tar entries %q, want %q", names, want)
	}
}

func TestCreateBundleRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "exists.tar")
	os.WriteFile(file, []byte("x"), 0o644)
	sub := filepath.Join(dir, "exists")
	os.Mkdir(sub, 0o755)
	link := filepath.Join(dir, "dangling")
	os.Symlink(filepath.Join(dir, "nowhere"), link)
	for _, p := range []string{file, sub, link, dir} {
		if w, err := CreateBundle(p); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Errorf("CreateBundle(%s) = %v, %v; want an error saying it exists", p, w, err)
		}
	}
	if _, err := CreateBundle(filepath.Join(dir, "no", "such", "dir", "b")); err == nil {
		t.Error("CreateBundle in a missing directory succeeded")
	}
	if _, err := CreateBundle(""); err == nil {
		t.Error("CreateBundle(\"\") succeeded")
	}
	if data, _ := os.ReadFile(file); string(data) != "x" {
		t.Error("existing file was modified")
	}
}

func TestBundleAbort(t *testing.T) {
	for _, name := range []string{"b", "b.tar"} {
		dest := filepath.Join(t.TempDir(), name)
		w, err := CreateBundle(dest)
		if err != nil {
			t.Fatal(err)
		}
		files := testJSON(t)
		for n, data := range files {
			if err := w.AddFile(n, data); err != nil {
				t.Fatal(err)
			}
		}
		a := testArtifacts()[0]
		if err := w.AddArtifact(a.name, a.c, func(dst io.Writer) error { _, err := dst.Write(a.nar); return err }); err != nil {
			t.Fatal(err)
		}
		// Before Commit there is nothing at dest, only a hidden temporary.
		if _, err := os.Lstat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s exists before Commit: %v", dest, err)
		}
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after Abort: %v", dest, err)
		}
		noTemps(t, dest)
		if err := w.Abort(); err != nil {
			t.Errorf("second Abort: %v", err)
		}
		if err := w.AddFile(FileProvenance, files[FileProvenance]); err == nil {
			t.Error("AddFile after Abort succeeded")
		}
		if err := w.Commit(); err == nil {
			t.Error("Commit after Abort succeeded")
		}
		if _, err := os.Lstat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after Commit of an aborted writer", dest)
		}
	}
}

func TestBundleAbortAfterCommitKeepsBundle(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "b.tar")
	w, err := CreateBundle(dest)
	if err != nil {
		t.Fatal(err)
	}
	for n, data := range testJSON(t) {
		w.AddFile(n, data)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenBundle(dest); err != nil {
		t.Errorf("bundle gone after Abort following Commit: %v", err)
	}
	if err := w.Commit(); err == nil {
		t.Error("second Commit succeeded")
	}
}

// TestBundleCrash kills a process in the middle of writing an artifact; the
// destination must not exist afterwards.
func TestBundleCrash(t *testing.T) {
	if dest := os.Getenv("KETTLE_TEST_CRASH_BUNDLE"); dest != "" {
		w, err := CreateBundle(dest)
		if err != nil {
			os.Exit(2)
		}
		for n, data := range testJSON(t) {
			if err := w.AddFile(n, data); err != nil {
				os.Exit(2)
			}
		}
		w.AddArtifact("crash", CompressionZstd, func(dst io.Writer) error {
			dst.Write(testNAR(3, 1<<20))
			os.Exit(3) // die mid-write, without Abort or Commit
			return nil
		})
		os.Exit(2)
	}
	for _, name := range []string{"b", "b.tar"} {
		dest := filepath.Join(t.TempDir(), name)
		cmd := exec.Command(os.Args[0], "-test.run=^TestBundleCrash$")
		cmd.Env = append(os.Environ(), "KETTLE_TEST_CRASH_BUNDLE="+dest)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("crashing child: %v\n%s", err, out)
		}
		if _, err := os.Lstat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after a crash mid-write: %v", dest, err)
		}
		if _, err := OpenBundle(dest); err == nil {
			t.Errorf("OpenBundle(%s) succeeded after a crash", dest)
		}
		// What is left is hidden and named as a temporary.
		left, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), "*"))
		for _, l := range left {
			if base := filepath.Base(l); !strings.HasPrefix(base, "."+name+".tmp-") {
				t.Errorf("crash left %s, which is not a hidden temporary", l)
			}
		}
	}
}

func TestBundleCommitRequiresAllFiles(t *testing.T) {
	for _, missing := range []string{FileProvenance, FileEvidence, FileManifest} {
		dest := filepath.Join(t.TempDir(), "b")
		w, err := CreateBundle(dest)
		if err != nil {
			t.Fatal(err)
		}
		for n, data := range testJSON(t) {
			if n != missing {
				w.AddFile(n, data)
			}
		}
		err = w.Commit()
		if err == nil || !strings.Contains(err.Error(), "missing "+missing) {
			t.Errorf("Commit without %s: %v", missing, err)
		}
		if _, err := os.Lstat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after a failed Commit", dest)
		}
		w.Abort()
		noTemps(t, dest)
	}
}

// TestBundleCommitDestinationAppeared: something created at the destination
// while the bundle was written is neither replaced nor merged into.
func TestBundleCommitDestinationAppeared(t *testing.T) {
	for _, name := range []string{"b", "b.tar"} {
		dest := filepath.Join(t.TempDir(), name)
		w, err := CreateBundle(dest)
		if err != nil {
			t.Fatal(err)
		}
		for n, data := range testJSON(t) {
			w.AddFile(n, data)
		}
		if name == "b" {
			os.Mkdir(dest, 0o755) // an empty directory, which rename(2) would replace
		} else {
			os.WriteFile(dest, []byte("mine"), 0o644)
		}
		if err := w.Commit(); err == nil || !strings.Contains(err.Error(), "appeared") {
			t.Errorf("%s: Commit over something new: %v", name, err)
		}
		if name == "b" {
			if entries, _ := os.ReadDir(dest); len(entries) != 0 {
				t.Errorf("the directory that appeared now holds %d entries", len(entries))
			}
		} else if data, _ := os.ReadFile(dest); string(data) != "mine" {
			t.Errorf("the file that appeared was replaced")
		}
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
		noTemps(t, dest)
	}
}

func TestBundleWriterErrors(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "b")
	w, err := CreateBundle(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	files := testJSON(t)
	for _, tc := range []struct {
		name    string
		err     error
		wantErr string
	}{
		{"unknown file", w.AddFile("notes.json", []byte("{}")), `"notes.json" is not one of`},
		{"path", w.AddFile("../provenance.json", []byte("{}")), "is not one of"},
		{"not JSON", w.AddFile(FileEvidence, []byte("evidence")), "evidence.json: not JSON"},
		{"trailing data", w.AddFile(FileEvidence, append(append([]byte(nil), files[FileEvidence]...), "x"...)), "evidence.json: trailing data"},
		{"first add", w.AddFile(FileManifest, files[FileManifest]), ""},
		{"added twice", w.AddFile(FileManifest, files[FileManifest]), "manifest.json added twice"},
		{"artifact traversal", w.AddArtifact("../x", CompressionXZ, nil), "not a valid Nix name"},
		{"artifact slash", w.AddArtifact("a/b", CompressionXZ, nil), "not a valid Nix name"},
		{"artifact hidden", w.AddArtifact(".x", CompressionXZ, nil), "not a valid Nix name"},
		{"artifact empty", w.AddArtifact("", CompressionXZ, nil), "not a valid Nix name"},
		{"artifact compression", w.AddArtifact("x", "gz", nil), `unknown compression "gz"`},
		{"artifact write error", w.AddArtifact("x", CompressionZstd, func(w io.Writer) error {
			w.Write([]byte("partial"))
			return errors.New("disk on fire")
		}), "artifacts/x.nar.zst: disk on fire"},
		{"artifact after error", w.AddArtifact("x", CompressionXZ, func(w io.Writer) error { return nil }), ""},
		{"artifact twice", w.AddArtifact("x", CompressionZstd, func(w io.Writer) error { return nil }), "artifact x added twice"},
	} {
		switch {
		case tc.wantErr == "" && tc.err != nil:
			t.Errorf("%s: %v", tc.name, tc.err)
		case tc.wantErr != "" && (tc.err == nil || !strings.Contains(tc.err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, tc.err, tc.wantErr)
		}
	}
	// The failed artifact left nothing behind.
	if _, err := os.Stat(filepath.Join(w.tmp, DirArtifacts, "x.nar.zst")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial artifact left in the staging directory: %v", err)
	}
	if _, err := ParseCompression("gzip"); err == nil {
		t.Error("ParseCompression(gzip) succeeded")
	}
	for s, want := range map[string]Compression{"xz": CompressionXZ, "zst": CompressionZstd, "zstd": CompressionZstd} {
		if c, err := ParseCompression(s); err != nil || c != want {
			t.Errorf("ParseCompression(%q) = %q, %v", s, c, err)
		}
	}
}

// goodDirBundle writes a directory bundle and returns its path.
func goodDirBundle(t *testing.T) string {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "bundle")
	writeBundle(t, dest, testJSON(t), testArtifacts()[:1])
	return dest
}

func TestOpenBundleDirBad(t *testing.T) {
	big := func(p string) {
		f, _ := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
		f.Truncate(MaxJSONFileSize + 1)
		f.Close()
	}
	for _, tc := range []struct {
		name    string
		mutate  func(dir string)
		wantErr string
	}{
		{"missing provenance", func(d string) { os.Remove(filepath.Join(d, FileProvenance)) }, "missing provenance.json"},
		{"missing two", func(d string) {
			os.Remove(filepath.Join(d, FileEvidence))
			os.Remove(filepath.Join(d, FileManifest))
		}, "missing evidence.json, manifest.json"},
		{"unknown file", func(d string) { os.WriteFile(filepath.Join(d, "README"), nil, 0o644) }, "README: unknown file"},
		{"unknown directory", func(d string) { os.Mkdir(filepath.Join(d, "extra"), 0o755) }, "extra: unknown file"},
		{"hidden file", func(d string) { os.WriteFile(filepath.Join(d, ".DS_Store"), nil, 0o644) }, ".DS_Store: unknown file"},
		{"symlinked provenance", func(d string) {
			p := filepath.Join(d, FileProvenance)
			os.Rename(p, filepath.Join(filepath.Dir(d), "elsewhere.json"))
			os.Symlink(filepath.Join(filepath.Dir(d), "elsewhere.json"), p)
		}, "provenance.json: not a regular file"},
		{"directory as provenance", func(d string) {
			os.Remove(filepath.Join(d, FileProvenance))
			os.Mkdir(filepath.Join(d, FileProvenance), 0o755)
		}, "provenance.json: not a regular file"},
		{"artifacts is a file", func(d string) {
			os.RemoveAll(filepath.Join(d, DirArtifacts))
			os.WriteFile(filepath.Join(d, DirArtifacts), nil, 0o644)
		}, "artifacts: not a directory"},
		{"artifacts is a symlink", func(d string) {
			os.Rename(filepath.Join(d, DirArtifacts), filepath.Join(filepath.Dir(d), "arts"))
			os.Symlink(filepath.Join(filepath.Dir(d), "arts"), filepath.Join(d, DirArtifacts))
		}, "artifacts: not a directory"},
		{"unknown artifact", func(d string) { os.WriteFile(filepath.Join(d, DirArtifacts, "x.nar.gz"), nil, 0o644) }, "artifacts/x.nar.gz: unknown file"},
		{"artifact bad name", func(d string) { os.WriteFile(filepath.Join(d, DirArtifacts, ".x.nar.xz"), nil, 0o644) }, "artifacts/.x.nar.xz: unknown file"},
		{"artifact symlink", func(d string) {
			os.Symlink("/etc/passwd", filepath.Join(d, DirArtifacts, "x.nar.xz"))
		}, "artifacts/x.nar.xz: not a regular file"},
		{"artifact subdirectory", func(d string) { os.Mkdir(filepath.Join(d, DirArtifacts, "x.nar.xz"), 0o755) }, "artifacts/x.nar.xz: not a regular file"},
		{"same artifact twice", func(d string) {
			os.WriteFile(filepath.Join(d, DirArtifacts, testHash32+"-hello.nar.zst"), nil, 0o644)
		}, "two artifacts named " + testHash32 + "-hello"},
		{"trailing garbage in provenance", func(d string) { appendFile(filepath.Join(d, FileProvenance), "garbage") }, "provenance.json: trailing data"},
		{"second object in manifest", func(d string) { appendFile(filepath.Join(d, FileManifest), "{}") }, "manifest.json: trailing data"},
		{"evidence not JSON", func(d string) { os.WriteFile(filepath.Join(d, FileEvidence), []byte("\x00\x01"), 0o644) }, "evidence.json: not JSON"},
		{"evidence empty", func(d string) { os.WriteFile(filepath.Join(d, FileEvidence), nil, 0o644) }, "evidence.json: empty"},
		{"evidence duplicate key", func(d string) {
			os.WriteFile(filepath.Join(d, FileEvidence), []byte(`{"version":1,"version":2}`), 0o644)
		}, "evidence.json: version: duplicate key"},
		{"provenance too large", func(d string) { big(filepath.Join(d, FileProvenance)) }, "provenance.json: 67108865 bytes, larger than the limit of 67108864 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := goodDirBundle(t)
			tc.mutate(dir)
			b, err := OpenBundle(dir)
			if err == nil {
				t.Fatalf("OpenBundle succeeded: %+v", b.Artifacts)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "bundle "+dir+": ") {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}

func appendFile(p, s string) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		panic(err)
	}
	f.WriteString(s)
	f.Close()
}

func TestOpenBundleNotABundle(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenBundle(filepath.Join(dir, "none")); err == nil {
		t.Error("OpenBundle of a missing path succeeded")
	}
	if _, err := OpenBundle("/dev/null"); err == nil || !strings.Contains(err.Error(), "neither a directory nor a regular file") {
		t.Errorf("OpenBundle(/dev/null): %v", err)
	}
	p := filepath.Join(dir, "x.tar")
	os.WriteFile(p, []byte(strings.Repeat("not a tar ", 100)), 0o644)
	if _, err := OpenBundle(p); err == nil || !strings.Contains(err.Error(), "not a valid tar archive") {
		t.Errorf("OpenBundle of a text file: %v", err)
	}
	os.WriteFile(p, nil, 0o644)
	if _, err := OpenBundle(p); err == nil || !strings.Contains(err.Error(), "end-of-archive") {
		t.Errorf("OpenBundle of an empty file: %v", err)
	}
}

// rawEntry is one entry of a hand-made tar archive.
type rawEntry struct {
	hdr  tar.Header
	data string
}

func reg(name, data string) rawEntry {
	return rawEntry{tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data))}, data}
}

// makeTar builds an archive from entries.
func makeTar(t testing.TB, entries []rawEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("WriteHeader(%s): %v", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func goodEntries(t testing.TB) []rawEntry {
	files := testJSON(t)
	return []rawEntry{
		reg(FileProvenance, string(files[FileProvenance])),
		reg(FileEvidence, string(files[FileEvidence])),
		reg(FileManifest, string(files[FileManifest])),
	}
}

func openTarBytes(t *testing.T, data []byte) (*Bundle, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "b.tar")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return OpenBundle(p)
}

// TestOpenBundleTarByTar: an archive made by tar(1)-like tools, with "./"
// prefixes, directory entries and record padding, is accepted.
func TestOpenBundleTarByTar(t *testing.T) {
	files := testJSON(t)
	art := makeXZ(t, []byte("nar"))
	entries := []rawEntry{
		{tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755}, ""},
		reg("./"+FileManifest, string(files[FileManifest])),
		{tar.Header{Typeflag: tar.TypeDir, Name: "./artifacts/", Mode: 0o755}, ""},
		reg("./artifacts/x.nar.xz", string(art)),
		reg("./"+FileEvidence, string(files[FileEvidence])),
		reg("./"+FileProvenance, string(files[FileProvenance])),
	}
	data := makeTar(t, entries)
	data = append(data, make([]byte, 10240-len(data)%10240)...) // GNU tar's record padding
	b, err := openTarBytes(t, data)
	if err != nil {
		t.Fatal(err)
	}
	checkBundle(t, b, files, []testArtifact{{"x", CompressionXZ, []byte("nar")}})
}

func makeXZ(t testing.TB, data []byte) []byte {
	t.Helper()
	return compress(t, CompressionXZ, data)
}

// compress compresses data the way AddArtifact does.
func compress(t testing.TB, c Compression, data []byte) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "artifact")
	if err := writeCompressed(p, c, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenBundleTarBad(t *testing.T) {
	good := goodEntries(t)
	with := func(extra ...rawEntry) []byte { return makeTar(t, append(append([]rawEntry(nil), good...), extra...)) }
	without := func(i int) []byte {
		e := append(append([]rawEntry(nil), good[:i]...), good[i+1:]...)
		return makeTar(t, e)
	}
	goodTar := with()
	trailing := append(append([]byte(nil), goodTar...), "garbage"...)
	// Padded to the record size, with a non-zero byte in the padding.
	padded := append(append([]byte(nil), goodTar...), make([]byte, tarRecordSize-len(goodTar)%tarRecordSize)...)
	padded[len(padded)-1] = 1
	overPadded := append(append([]byte(nil), goodTar...), make([]byte, tarRecordSize-len(goodTar)%tarRecordSize+tarRecordSize)...)
	threeZeroBlocks := append(append([]byte(nil), goodTar...), make([]byte, 512)...)
	inMarker := append([]byte(nil), goodTar...)
	inMarker[len(inMarker)-1] = 1
	dataPadding := with(reg("artifacts/x.nar.xz", "abc"))
	dataPadding[len(goodTar)-1024+512+3] = 1 // the byte after "abc"
	withBig := with(reg("artifacts/x.nar.xz", strings.Repeat("x", 1<<20)))
	tooLarge := func() []byte {
		// A provenance.json entry that claims one byte more than the limit,
		// followed by that many zero bytes and the end marker.
		d := makeTar(t, good[1:])
		d = d[:len(d)-1024]
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: FileProvenance, Mode: 0o644, Size: MaxJSONFileSize + 1})
		d = append(d, buf.Bytes()[:512]...)
		return append(d, make([]byte, (MaxJSONFileSize+1+511)&^511+1024)...)
	}
	for _, tc := range []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"missing provenance", without(0), "missing provenance.json"},
		{"missing manifest", without(2), "missing manifest.json"},
		{"unknown file", with(reg("README", "hi")), `README: unknown file`},
		{"duplicate entry", with(good[1]), "evidence.json: duplicate entry"},
		{"duplicate via ./", with(reg("./"+FileEvidence, "{}")), "evidence.json: duplicate entry"},
		{"traversal", with(reg("../provenance.json", "{}")), `entry "../provenance.json": path escapes the bundle`},
		{"absolute", with(reg("/etc/provenance.json", "{}")), "path escapes the bundle"},
		{"traversal inside", with(reg("artifacts/../../x.nar.xz", "")), "path escapes the bundle"},
		{"unclean", with(reg("artifacts//x.nar.xz", "")), "not a clean relative path"},
		{"dot dot in artifacts", with(reg("artifacts/../manifest.json", "{}")), "path escapes the bundle"},
		{"backslash", with(reg(`artifacts\x.nar.xz`, "")), "path escapes the bundle"},
		{"symlink", with(rawEntry{tar.Header{Typeflag: tar.TypeSymlink, Name: "artifacts/x.nar.xz", Linkname: "/etc/passwd"}, ""}), "not a regular file"},
		{"hard link", with(rawEntry{tar.Header{Typeflag: tar.TypeLink, Name: "artifacts/x.nar.xz", Linkname: FileManifest}, ""}), "not a regular file"},
		{"fifo", with(rawEntry{tar.Header{Typeflag: tar.TypeFifo, Name: "artifacts/x.nar.xz"}, ""}), "not a regular file"},
		{"char device", with(rawEntry{tar.Header{Typeflag: tar.TypeChar, Name: "artifacts/x.nar.xz"}, ""}), "not a regular file"},
		{"unknown directory", with(rawEntry{tar.Header{Typeflag: tar.TypeDir, Name: "extra/", Mode: 0o755}, ""}), "unknown directory"},
		{"unknown artifact", with(reg("artifacts/x.nar.bz2", "")), "artifacts/x.nar.bz2: unknown file"},
		{"nested artifact", with(reg("artifacts/a/x.nar.xz", "")), "unknown file"},
		{"artifact twice", with(reg("artifacts/x.nar.xz", ""), reg("artifacts/x.nar.zst", "")), "two artifacts named x"},
		{"trailing garbage", trailing, "1031 bytes after the last entry: want the end-of-archive marker"},
		{"garbage in padding", padded, fmt.Sprintf("trailing data at byte %d after the end of the archive", len(padded)-1)},
		{"garbage in the end marker", inMarker, "not a valid tar archive after entry 3"},
		{"more than a record of padding", overPadded, "after the last entry: want the end-of-archive marker (1024 zero bytes), or it padded with zeros to a multiple of 10240 bytes"},
		{"three zero blocks", threeZeroBlocks, "1536 bytes after the last entry"},
		{"garbage in an entry's padding", dataPadding, fmt.Sprintf("artifacts/x.nar.xz: non-zero byte at %d in the padding after its data", len(goodTar)-1024+512+3)},
		{"no end marker", goodTar[:len(goodTar)-1024], "no end-of-archive marker"},
		{"half an end marker", goodTar[:len(goodTar)-512], "no end-of-archive marker"},
		{"truncated in data", goodTar[:700], "runs past the end of the archive"},
		{"truncated in header", goodTar[:300], "not a valid tar archive"},
		{"truncated entry", withBig[:len(goodTar)+4096], "runs past the end of the archive"},
		{"provenance too large", tooLarge(), "provenance.json: 67108865 bytes, larger than the limit"},
		{"trailing garbage inside JSON", makeTar(t, append([]rawEntry{reg(FileProvenance, string(testJSON(t)[FileProvenance])+"x")}, good[1:]...)), "provenance.json: trailing data"},
		{"JSON not an object", makeTar(t, append([]rawEntry{reg(FileProvenance, "[]")}, good[1:]...)), "provenance.json: not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := openTarBytes(t, tc.data)
			if err == nil {
				t.Fatalf("OpenBundle succeeded: %+v", b.Artifacts)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "bundle ") {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}

// TestOpenBundleTarHuge: a valid archive followed by 2 GiB of zeros, and a
// 4 GiB file of zeros, are refused from their size alone (both sparse, so
// that a test that read them would read 2 and 4 GiB).
func TestOpenBundleTarHuge(t *testing.T) {
	good := makeTar(t, goodEntries(t))
	p := filepath.Join(t.TempDir(), "b.tar")
	for _, tc := range []struct {
		name string
		data []byte
		size int64
		want string
	}{
		{"2 GiB of zeros after a bundle", good, int64(len(good)) + 2<<30, fmt.Sprintf("%d bytes after the last entry", 2<<30+1024)},
		{"4 GiB of zeros", nil, 4 << 30, fmt.Sprintf("%d bytes after the last entry", int64(4<<30))},
	} {
		if err := os.WriteFile(p, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, tc.size); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenBundle(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestOpenArtifactCorrupt(t *testing.T) {
	for _, c := range []Compression{CompressionXZ, CompressionZstd} {
		t.Run(string(c), func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "b")
			nar := testNAR(7, 200<<10)
			writeBundle(t, dest, testJSON(t), []testArtifact{{"x", c, nar}})
			p := filepath.Join(dest, DirArtifacts, "x"+c.Suffix())
			good, _ := os.ReadFile(p)
			for name, bad := range map[string][]byte{
				"flipped byte":   flip(good, len(good)/2),
				"truncated":      good[:len(good)-9],
				"trailing data":  append(append([]byte(nil), good...), "garbage"...),
				"not compressed": nar[:1000],
			} {
				os.WriteFile(p, bad, 0o644)
				b, err := OpenBundle(dest)
				if err != nil {
					t.Fatal(err)
				}
				rc, err := b.OpenArtifact(b.Artifacts[0])
				if err == nil {
					_, err = io.Copy(io.Discard, rc)
					rc.Close()
				}
				if err == nil {
					t.Errorf("%s: reading a corrupt %s artifact succeeded", name, c)
				}
			}
		})
	}
	dest := filepath.Join(t.TempDir(), "b.tar")
	writeBundle(t, dest, testJSON(t), nil)
	b, err := OpenBundle(dest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.OpenArtifact(Artifact{Name: "x", File: "artifacts/x.nar.xz", Compression: CompressionXZ}); err == nil {
		t.Error("OpenArtifact of an artifact not in the bundle succeeded")
	}
}

func flip(b []byte, i int) []byte {
	out := append([]byte(nil), b...)
	out[i] ^= 0x55
	return out
}

func FuzzOpenBundleTar(f *testing.F) {
	good := goodEntries(f)
	f.Add(makeTar(f, good))
	f.Add(makeTar(f, append(append([]rawEntry(nil), good...), reg("artifacts/x.nar.xz", string(makeXZ(f, []byte("nar")))))))
	f.Add(makeTar(f, append([]rawEntry{{tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755}, ""}}, good...)))
	f.Add(makeTar(f, good[:2]))
	f.Add(makeTar(f, []rawEntry{reg(FileProvenance, "{}"), reg(FileEvidence, "{}"), reg(FileManifest, "{}"), reg("artifacts/a.nar.zst", "")}))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, fmt.Sprintf("f%d.tar", rand.Int63()))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(p)
		b, err := OpenBundle(p)
		if err != nil {
			if b != nil {
				t.Fatalf("OpenBundle returned a bundle with error %v", err)
			}
			return
		}
		// What opens is a complete, well-formed bundle.
		for _, name := range jsonFiles() {
			if err := checkJSON(*b.jsonField(name)); err != nil {
				t.Fatalf("%s accepted but not well-formed: %v", name, err)
			}
		}
		for i, a := range b.Artifacts {
			if !validArtifactName(a.Name) || a.File != DirArtifacts+"/"+a.Name+a.Compression.Suffix() || (i > 0 && a.Name <= b.Artifacts[i-1].Name) {
				t.Fatalf("bad artifact list %+v", b.Artifacts)
			}
			e := b.entries[a.File]
			if e.offset < 0 || e.offset+e.size > int64(len(data)) {
				t.Fatalf("artifact %s lies outside the archive: %+v", a.File, e)
			}
			if rc, err := b.OpenArtifact(a); err == nil {
				io.Copy(io.Discard, io.LimitReader(rc, 1<<20))
				rc.Close()
			}
		}
		// Opening is deterministic.
		b2, err := OpenBundle(p)
		if err != nil {
			t.Fatalf("second OpenBundle: %v", err)
		}
		if !bytes.Equal(b2.Provenance, b.Provenance) || !bytes.Equal(b2.Evidence, b.Evidence) || !bytes.Equal(b2.Manifest, b.Manifest) || fmt.Sprint(b2.Artifacts) != fmt.Sprint(b.Artifacts) {
			t.Fatal("a second OpenBundle gives another result")
		}
	})
}

func BenchmarkOpenArtifact(b *testing.B) {
	for _, c := range []Compression{CompressionXZ, CompressionZstd} {
		b.Run(string(c), func(b *testing.B) {
			dest := filepath.Join(b.TempDir(), "b.tar")
			nar := testNAR(9, 8<<20)
			writeBundle(b, dest, testJSON(b), []testArtifact{{"x", c, nar}})
			bd, err := OpenBundle(dest)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(nar)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rc, err := bd.OpenArtifact(bd.Artifacts[0])
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, rc)
				rc.Close()
			}
		})
	}
}

// TestBundleDecode: the bundle's methods decode the trees OpenBundle
// parsed to what the functions decode from the bytes, and decode the bytes
// afresh once a caller has changed them.
func TestBundleDecode(t *testing.T) {
	files := testJSON(t)
	dir := goodDirBundle(t)
	open := func() *Bundle {
		t.Helper()
		b, err := OpenBundle(dir)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	b := open()
	st, err := b.DecodeStatement()
	if err != nil {
		t.Fatal(err)
	}
	want, err := DecodeStatement(files[FileProvenance])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("Bundle.DecodeStatement = %+v, DecodeStatement %+v", st, want)
	}
	m, err := b.DecodeManifest()
	if err != nil {
		t.Fatal(err)
	}
	wantM, err := DecodeManifest(files[FileManifest])
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != wantM.Version || m.Root != wantM.Root || !slices.Equal(m.Leaves, wantM.Leaves) {
		t.Errorf("Bundle.DecodeManifest = %+v, DecodeManifest %+v", m, wantM)
	}
	// A second call decodes the bytes.
	if st2, err := b.DecodeStatement(); err != nil || !reflect.DeepEqual(st2, want) {
		t.Errorf("second Bundle.DecodeStatement: %v", err)
	}

	// Changed bytes are decoded, not the tree of the old ones.
	b = open()
	b.Provenance = bytes.Replace(b.Provenance, []byte(`"attribute": "`), []byte(`"attribute": "x`), 1)
	b.Manifest[0] = '['
	if st, err := b.DecodeStatement(); err != nil || st.Attribute != "x"+want.Attribute || !bytes.Equal(st.Raw, b.Provenance) {
		t.Errorf("changed provenance: %v", err)
	}
	if _, err := b.DecodeManifest(); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("changed manifest: %v", err)
	}
}

// TestOpenBundleFirstBadFile: with more than one JSON file at fault, which
// OpenBundle checks side by side, the error is the first file's in the
// order of jsonFiles, every time.
func TestOpenBundleFirstBadFile(t *testing.T) {
	dir := goodDirBundle(t)
	appendFile(filepath.Join(dir, FileManifest), "x")
	appendFile(filepath.Join(dir, FileEvidence), "x")
	for range 20 {
		if _, err := OpenBundle(dir); err == nil || !strings.Contains(err.Error(), FileEvidence+": trailing data") {
			t.Fatalf("OpenBundle: %v, want the error of %s", err, FileEvidence)
		}
	}
	appendFile(filepath.Join(dir, FileProvenance), "x")
	if _, err := OpenBundle(dir); err == nil || !strings.Contains(err.Error(), FileProvenance+": trailing data") {
		t.Fatalf("OpenBundle: %v, want the error of %s", err, FileProvenance)
	}
}
