package nixcache

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/nixinputs"
	"github.com/nix-community/go-nix/pkg/nixbase32"
)

// testStore is a store directory made by a test, with paths as Nix would
// have them and the information its database would record.
type testStore struct {
	dir   string
	infos map[string]nixinputs.PathInfo // by name: "source", "flat", "built"
}

// newTestStore makes a store with a NAR-hashed source, a flat
// content-addressed file and an input-addressed path that refers to both.
func newTestStore(t *testing.T) *testStore {
	t.Helper()
	s := &testStore{dir: filepath.Join(t.TempDir(), "store"), infos: map[string]nixinputs.PathInfo{}}
	if err := os.Mkdir(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The source: a directory with a file, an executable and a symlink.
	tmp := filepath.Join(s.dir, "tmp-source")
	mustWrite(t, filepath.Join(tmp, "flake.nix"), strings.Repeat("{ outputs = _: { }; }\n", 100), 0o444)
	mustWrite(t, filepath.Join(tmp, "bin", "run"), "#!/bin/sh\necho hi\n", 0o555)
	if err := os.Symlink("bin/run", filepath.Join(tmp, "link")); err != nil {
		t.Fatal(err)
	}
	h := hashPath(t, tmp)
	s.addCA(t, tmp, "source", "fixed:r:sha256:"+nixbase32.EncodeToString(h.SHA256[:]), h)
	// A flat fixed-output file.
	tmp = filepath.Join(s.dir, "tmp-flat")
	contents := "Hello from an attested Kettle build\n"
	mustWrite(t, tmp, contents, 0o444)
	d := sha256.Sum256([]byte(contents))
	s.addCA(t, tmp, "greeting.txt", "fixed:sha256:"+nixbase32.EncodeToString(d[:]), hashPath(t, tmp))
	// An input-addressed path.
	built := filepath.Join(s.dir, "v71nn92j9c3gfb53bfhr3znzs15g1cgp-hello")
	mustWrite(t, filepath.Join(built, "bin", "hello"), "#!"+s.infos["source"].Path+"/bin/run\n"+s.infos["greeting.txt"].Path+"\n", 0o555)
	h = hashPath(t, built)
	s.infos["built"] = nixinputs.PathInfo{
		Path: built, NarHash: h.SHA256, NarSize: h.Size,
		Deriver:    filepath.Join(s.dir, "ngjkx62zw2wq6549ca50xyv8dmhxaj8g-hello.drv"),
		References: []string{s.infos["source"].Path, s.infos["greeting.txt"].Path},
	}
	return s
}

func (s *testStore) addCA(t *testing.T, tmp, name, caString string, h nixinputs.NarHash) {
	t.Helper()
	ca, err := ParseContentAddress(caString)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ca.StorePath(s.dir, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	s.infos[name] = nixinputs.PathInfo{Path: p, NarHash: h.SHA256, NarSize: h.Size, References: []string{}, CA: caString}
}

func hashPath(t *testing.T, p string) nixinputs.NarHash {
	t.Helper()
	h, err := nixinputs.HashPath(p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mustWrite(t *testing.T, p, contents string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(contents), mode); err != nil {
		t.Fatal(err)
	}
}

// writeCache writes all of the store's paths to a new cache.
func (s *testStore) writeCache(t *testing.T, dir string, opts Options) map[string]*NarInfo {
	t.Helper()
	opts.StoreDir = s.dir
	w, err := Create(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*NarInfo{}
	for name, info := range s.infos {
		n, err := w.Add(info)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = n
	}
	return out
}

func TestWriteVerify(t *testing.T) {
	s := newTestStore(t)
	key := testKey(t, "test-1")
	for _, comp := range []string{CompressionXZ, CompressionZstd, CompressionNone} {
		t.Run(comp, func(t *testing.T) {
			dir := t.TempDir()
			written := s.writeCache(t, dir, Options{Compression: comp, Key: &key})
			if n := written["source"]; n.CA == "" || len(n.Sigs) != 1 || !strings.HasSuffix(n.URL, map[string]string{CompressionXZ: ".nar.xz", CompressionZstd: ".nar.zst", CompressionNone: ".nar"}[comp]) {
				t.Errorf("source narinfo: %+v", n)
			}
			got, err := Verify(dir, []PublicKey{key.PublicKey()})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 {
				t.Fatalf("Verify returned %d paths, want 3", len(got))
			}
			for _, v := range got {
				wantCA := v.NarInfo.StorePath != s.infos["built"].Path
				if v.SignedBy != "test-1" || v.ContentAddressed != wantCA {
					t.Errorf("%s: signed by %q, content-addressed %v", v.NarInfo.StorePath, v.SignedBy, v.ContentAddressed)
				}
			}
			// Without the key, only the content-addressed paths are trusted.
			if _, err := Verify(dir, nil); err == nil || !strings.Contains(err.Error(), "neither signed by a trusted key nor content-addressed") {
				t.Errorf("Verify without keys: %v", err)
			}
		})
	}
}

func TestWriteUnsignedCA(t *testing.T) {
	s := newTestStore(t)
	delete(s.infos, "built")
	dir := t.TempDir()
	s.writeCache(t, dir, Options{})
	got, err := Verify(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range got {
		if v.SignedBy != "" || !v.ContentAddressed || len(v.NarInfo.Sigs) != 0 {
			t.Errorf("%+v", v)
		}
	}
}

func TestWriteReproducible(t *testing.T) {
	s := newTestStore(t)
	key := testKey(t, "test-1")
	for _, comp := range []string{CompressionXZ, CompressionZstd} {
		a, b := t.TempDir(), t.TempDir()
		s.writeCache(t, a, Options{Compression: comp, Key: &key})
		s.writeCache(t, b, Options{Compression: comp, Key: &key})
		fa, fb := readTree(t, a), readTree(t, b)
		if len(fa) != 7 {
			t.Errorf("%s: %d files, want 7", comp, len(fa))
		}
		for name, data := range fa {
			if !bytes.Equal(data, fb[name]) {
				t.Errorf("%s: %s differs between two runs", comp, name)
			}
		}
	}
}

// TestCompressionPinned pins the compressed bytes of a fixed NAR: a
// change of encoder or settings shows here, not as caches that differ.
func TestCompressionPinned(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	p := filepath.Join(dir, "00000000000000000000000000000000-x")
	mustWrite(t, p, strings.Repeat("reproducible ", 10000), 0o444)
	h := hashPath(t, p)
	for comp, want := range map[string]string{
		CompressionXZ:   "sha256:1cmg9im5mn8qrf3vnwcw5br8l680xv4938kxasr87vib4cqk204v",
		CompressionZstd: "sha256:06nsgqxdn7hxmmga9gbrxp968w1dgr9fvd1vb6kibgvbca4l9dnf",
	} {
		w, err := Create(t.TempDir(), Options{StoreDir: dir, Compression: comp})
		if err != nil {
			t.Fatal(err)
		}
		n, err := w.Add(nixinputs.PathInfo{Path: p, NarHash: h.SHA256, NarSize: h.Size})
		if err != nil {
			t.Fatal(err)
		}
		if got := nix32Hash(n.FileHash); got != want {
			t.Errorf("%s: FileHash %s, want %s", comp, got, want)
		}
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if fi, err := d.Info(); err != nil || fi.Mode() != 0o644 {
			t.Errorf("%s: mode %v, %v; want -rw-r--r--", p, fi.Mode(), err)
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestAddRefusesWrongInfo(t *testing.T) {
	s := newTestStore(t)
	dir := t.TempDir()
	w, err := Create(dir, Options{StoreDir: s.dir})
	if err != nil {
		t.Fatal(err)
	}
	bad := func(name string, change func(*nixinputs.PathInfo), want string) {
		info := s.infos["source"]
		info.References = append([]string{}, info.References...)
		change(&info)
		if _, err := w.Add(info); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Add error %v, want one mentioning %q", name, err, want)
		}
	}
	bad("NAR hash", func(i *nixinputs.PathInfo) { i.NarHash[0] ^= 1 }, "not the one recorded for it")
	bad("NAR size", func(i *nixinputs.PathInfo) { i.NarSize++ }, "not the one recorded for it")
	bad("CA", func(i *nixinputs.PathInfo) { i.CA = s.infos["greeting.txt"].CA }, "gives the store path")
	bad("other store", func(i *nixinputs.PathInfo) { i.Path = "/nix/store/" + filepath.Base(i.Path) }, "not in the store directory")
	bad("reference", func(i *nixinputs.PathInfo) { i.References = []string{"/elsewhere/x"} }, "reference")
	bad("deriver", func(i *nixinputs.PathInfo) { i.Deriver = s.infos["built"].Path }, "deriver")
	files := readTree(t, dir)
	if len(files) != 1 || files[CacheInfoFile] == nil {
		t.Errorf("a refused path left files behind: %v", files)
	}
	if _, err := Verify(dir, nil); err != nil {
		t.Errorf("Verify of the empty cache: %v", err)
	}
	if _, err := Create(dir, Options{StoreDir: s.dir, Priority: 10}); err == nil {
		t.Error("Create over a cache with another nix-cache-info succeeded")
	}
	if _, err := Create(dir, Options{StoreDir: s.dir}); err != nil {
		t.Errorf("Create over the same cache: %v", err)
	}
}

func TestVerifyRefusesTampering(t *testing.T) {
	s := newTestStore(t)
	key := testKey(t, "test-1")
	other := testKey(t, "other-key")
	wrongKey := testKey(t, "test")
	wrongKey.Name = "test-1"
	trusted := []PublicKey{key.PublicKey()}
	for _, tc := range []struct {
		name   string
		caOnly bool // the cache without the input-addressed path
		keys   []PublicKey
		tamper func(t *testing.T, dir string, n map[string]*NarInfo)
		want   string
	}{
		{"NAR byte flipped", false, trusted, func(t *testing.T, dir string, n map[string]*NarInfo) {
			flip(t, filepath.Join(dir, n["built"].URL), 100)
		}, "FileHash"},
		{"NAR and FileHash swapped", false, trusted, func(t *testing.T, dir string, n map[string]*NarInfo) {
			swapNAR(t, dir, n["built"], func(b []byte) { b[len(b)/2] ^= 1 }, false)
		}, "NAR hash"},
		{"NarHash changed to match a swapped NAR", false, trusted, func(t *testing.T, dir string, n map[string]*NarInfo) {
			swapNAR(t, dir, n["built"], func(b []byte) { b[len(b)-20] ^= 1 }, true)
		}, "does not verify"},
		{"CA NAR swapped", true, nil, func(t *testing.T, dir string, n map[string]*NarInfo) {
			swapNAR(t, dir, n["source"], func(b []byte) { b[len(b)-20] ^= 1 }, true)
		}, "contents hash to"},
		{"flat CA contents swapped", true, nil, func(t *testing.T, dir string, n map[string]*NarInfo) {
			swapNAR(t, dir, n["greeting.txt"], func(b []byte) { b[len(b)-30] ^= 1 }, true) // in the contents
		}, "contents hash to"},
		{"signature flipped", false, trusted, func(t *testing.T, dir string, n map[string]*NarInfo) {
			n["built"].Sigs[0].Sig[3] ^= 1
			writeNarInfo(t, dir, n["built"])
		}, "does not verify"},
		{"wrong key", false, []PublicKey{other.PublicKey()}, nil, "neither signed"},
		{"key of the same name", false, []PublicKey{wrongKey.PublicKey()}, nil, "does not verify"},
		{"CA claimed by a built path", false, nil, func(t *testing.T, dir string, n map[string]*NarInfo) {
			n["built"].CA = s.infos["source"].CA
			writeNarInfo(t, dir, n["built"])
		}, "gives the store path"},
		{"stray file", false, trusted, func(t *testing.T, dir string, n map[string]*NarInfo) {
			mustWrite(t, filepath.Join(dir, "stray"), "x", 0o644)
		}, "not a file of a binary cache"},
		{"unnamed NAR", false, trusted, func(t *testing.T, dir string, n map[string]*NarInfo) {
			mustWrite(t, filepath.Join(dir, "nar", strings.Repeat("0", 52)+".nar"), "x", 0o644)
		}, "no narinfo names"},
		{"missing NAR", false, trusted, func(t *testing.T, dir string, n map[string]*NarInfo) {
			os.Remove(filepath.Join(dir, n["built"].URL))
		}, "no such file"},
		{"truncated NAR", false, trusted, func(t *testing.T, dir string, n map[string]*NarInfo) {
			p := filepath.Join(dir, n["built"].URL)
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)-1], 0o644)
		}, "FileSize"},
		{"narinfo renamed", false, trusted, func(t *testing.T, dir string, n map[string]*NarInfo) {
			old := filepath.Join(dir, narInfoName(n["built"].StorePath))
			os.Rename(old, filepath.Join(dir, strings.Repeat("0", 32)+".narinfo"))
		}, "must be named"},
		{"NAR is a directory", false, trusted, func(t *testing.T, dir string, n map[string]*NarInfo) {
			p := filepath.Join(dir, n["built"].URL)
			os.Remove(p)
			os.Mkdir(p, 0o755)
		}, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Key: &key}
			if tc.keys == nil {
				opts.Key = nil // an unsigned cache
			}
			n := s.writeCache(t, dir, opts)
			if tc.caOnly {
				os.Remove(filepath.Join(dir, narInfoName(n["built"].StorePath)))
				os.Remove(filepath.Join(dir, n["built"].URL))
			}
			if tc.tamper != nil {
				tc.tamper(t, dir, n)
			}
			_, err := Verify(dir, tc.keys)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Verify error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func flip(t *testing.T, p string, off int) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[off%len(data)] ^= 1
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// swapNAR replaces a path's NAR with a changed one, as a host would,
// rewriting the narinfo's URL, FileHash and FileSize, and NarHash too if
// withNarHash.
func swapNAR(t *testing.T, dir string, n *NarInfo, change func([]byte), withNarHash bool) {
	t.Helper()
	p := filepath.Join(dir, n.URL)
	old, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	dec, closeDec, err := newDecompressor(bytes.NewReader(old), n.Compression)
	if err != nil {
		t.Fatal(err)
	}
	var narBuf bytes.Buffer
	if _, err := narBuf.ReadFrom(dec); err != nil {
		t.Fatal(err)
	}
	closeDec()
	nar := narBuf.Bytes()
	change(nar)
	var out bytes.Buffer
	enc, err := newCompressor(&out, n.Compression)
	if err != nil {
		t.Fatal(err)
	}
	enc.Write(nar)
	enc.Close()
	os.Remove(p)
	n.FileHash = sha256.Sum256(out.Bytes())
	n.FileSize = uint64(out.Len())
	ext, _ := narExt(n.Compression)
	n.URL = "nar/" + nixbase32.EncodeToString(n.FileHash[:]) + ext
	if err := os.WriteFile(filepath.Join(dir, n.URL), out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if withNarHash {
		n.NarHash = sha256.Sum256(nar)
	}
	writeNarInfo(t, dir, n)
}

func writeNarInfo(t *testing.T, dir string, n *NarInfo) {
	t.Helper()
	text, err := n.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, narInfoName(n.StorePath)), text, 0o644); err != nil {
		t.Fatal(err)
	}
}

// listFiles lists the files and directories under dir, relative to it.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if rel, _ := filepath.Rel(dir, p); rel != "." {
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func TestOpenNewCacheAppearsOnCommit(t *testing.T) {
	s := newTestStore(t)
	parent := t.TempDir()
	dir := filepath.Join(parent, "sub", "cache")
	for _, commit := range []bool{false, true} {
		w, err := Open(dir, Options{StoreDir: s.dir})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Add(s.infos["source"]); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Fatal("the cache is at its path before Commit")
		}
		if !commit {
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
			if got := listFiles(t, filepath.Dir(dir)); len(got) != 0 {
				t.Fatalf("Abort left %v", got)
			}
			continue
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		w.Abort() // does nothing after Commit
		// cache, nix-cache-info, nar, nar/<file>, <hash>.narinfo
		if got := listFiles(t, filepath.Dir(dir)); len(got) != 5 {
			t.Errorf("after Commit: %v", got)
		}
		if _, err := Verify(dir, nil); err != nil {
			t.Errorf("Verify after Commit: %v", err)
		}
		if _, err := w.Add(s.infos["flat"]); err == nil {
			t.Error("Add after Commit succeeded")
		}
	}
}

func TestOpenExistingCacheAbortRemovesAdded(t *testing.T) {
	s := newTestStore(t)
	dir := t.TempDir()
	w, err := Create(dir, Options{StoreDir: s.dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Add(s.infos["source"]); err != nil {
		t.Fatal(err)
	}
	before := readTree(t, dir)
	w, err = Open(dir, Options{StoreDir: s.dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"source", "greeting.txt", "built"} {
		n, existed, err := w.AddEntry(Entry{Info: s.infos[name]})
		if err != nil {
			t.Fatal(err)
		}
		if existed != (name == "source") || n.StorePath != s.infos[name].Path {
			t.Errorf("%s: existed %t, narinfo of %s", name, existed, n.StorePath)
		}
	}
	if len(readTree(t, dir)) != len(before)+4 {
		t.Fatalf("two paths added %d files, want 4", len(readTree(t, dir))-len(before))
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	after := readTree(t, dir)
	if len(after) != len(before) {
		t.Errorf("after Abort: %d files, want the %d there were", len(after), len(before))
	}
	for name, data := range before {
		if !bytes.Equal(after[name], data) {
			t.Errorf("Abort changed %s", name)
		}
	}
	// Open refuses what is not a cache, and a cache of another kind.
	if _, err := Open(t.TempDir(), Options{StoreDir: s.dir}); err == nil || !strings.Contains(err.Error(), "not a binary cache") {
		t.Errorf("Open of an empty directory: %v", err)
	}
	if _, err := Open(dir, Options{StoreDir: s.dir, Priority: 50}); err == nil || !strings.Contains(err.Error(), "another cache") {
		t.Errorf("Open with another priority: %v", err)
	}
	if _, err := Open(filepath.Join(dir, CacheInfoFile), Options{StoreDir: s.dir}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Open of a file: %v", err)
	}
}

func TestAddEntryRefusesConflict(t *testing.T) {
	s := newTestStore(t)
	dir := t.TempDir()
	w, err := Create(dir, Options{StoreDir: s.dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Add(s.infos["built"]); err != nil {
		t.Fatal(err)
	}
	before := readTree(t, dir)
	other := s.infos["built"]
	other.References = other.References[:1]
	if _, _, err := w.AddEntry(Entry{Info: other}); err == nil || !strings.Contains(err.Error(), "another store object") {
		t.Errorf("a narinfo with other references: %v", err)
	}
	nar := func(w io.Writer) error { _, err := w.Write([]byte("not this one")); return err }
	other = s.infos["built"]
	other.NarHash = sha256.Sum256([]byte("not this one"))
	other.NarSize = uint64(len("not this one"))
	if _, _, err := w.AddEntry(Entry{Info: other, NAR: nar}); err == nil || !strings.Contains(err.Error(), "another store object") {
		t.Errorf("a narinfo with another NAR: %v", err)
	}
	if len(readTree(t, dir)) != len(before) {
		t.Error("a refused path changed the cache")
	}
}

func TestAddEntryFromReaderWithBundle(t *testing.T) {
	s := newTestStore(t)
	dir := t.TempDir()
	key := testKey(t, "test-1")
	w, err := Create(dir, Options{StoreDir: s.dir, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	info := s.infos["built"]
	var narBuf bytes.Buffer
	if err := nixinputs.WriteNAR(&narBuf, info.Path); err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("provenance"))
	bundle := BundleFile(digest)
	fromReader := func(w io.Writer) error { _, err := w.Write(narBuf.Bytes()); return err }
	if _, _, err := w.AddEntry(Entry{Info: info, NAR: fromReader, Bundle: bundle}); err == nil || !strings.Contains(err.Error(), "the bundle its narinfo names") {
		t.Errorf("a narinfo naming a bundle not in the cache: %v", err)
	}
	if _, _, err := w.AddEntry(Entry{Info: info, NAR: fromReader, Bundle: "kettle/bundles/x.tar"}); err == nil || !strings.Contains(err.Error(), BundleField) {
		t.Errorf("a malformed bundle name: %v", err)
	}
	existed, err := w.AddBundle(digest, func(p string) error { return os.WriteFile(p, []byte("bundle"), 0o644) })
	if err != nil || existed {
		t.Fatalf("AddBundle: %t, %v", existed, err)
	}
	if existed, err := w.AddBundle(digest, func(string) error { t.Error("write called for a bundle that exists"); return nil }); err != nil || !existed {
		t.Errorf("AddBundle again: %t, %v", existed, err)
	}
	n, _, err := w.AddEntry(Entry{Info: info, NAR: fromReader, Bundle: bundle})
	if err != nil {
		t.Fatal(err)
	}
	if n.Bundle != bundle {
		t.Errorf("narinfo names bundle %q, want %q", n.Bundle, bundle)
	}
	short := func(w io.Writer) error { _, err := w.Write(narBuf.Bytes()[1:]); return err }
	flat := s.infos["greeting.txt"]
	if _, _, err := w.AddEntry(Entry{Info: flat, NAR: short}); err == nil || !strings.Contains(err.Error(), "not the one recorded") {
		t.Errorf("a NAR that is not the path's: %v", err)
	}
	if _, err := w.Add(s.infos["source"]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Add(flat); err != nil {
		t.Fatal(err)
	}
	r, err := Check(dir, []PublicKey{key.PublicKey()})
	if err != nil || !r.OK() {
		t.Fatalf("Check: %v %v", err, r.Err())
	}
	if len(r.Paths) != 3 || r.Paths[2].NarInfo.Bundle != bundle && r.Paths[0].NarInfo.Bundle != bundle && r.Paths[1].NarInfo.Bundle != bundle {
		t.Errorf("Check found %+v", r.Paths)
	}
}

// TestCheckLayout checks that Check reports every file that is not a
// cache's, and every problem of one path, without stopping at the first.
func TestCheckLayout(t *testing.T) {
	s := newTestStore(t)
	key := testKey(t, "test-1")
	digest := sha256.Sum256([]byte("provenance"))
	bundle := BundleFile(digest)
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, dir string, n map[string]*NarInfo)
		want   string // in Errors, or in the one failing path's error
		inPath bool
	}{
		{"nothing", func(*testing.T, string, map[string]*NarInfo) {}, "", false},
		{"empty log and realisations", func(t *testing.T, dir string, _ map[string]*NarInfo) {
			os.Mkdir(filepath.Join(dir, "log"), 0o755)
			os.Mkdir(filepath.Join(dir, "realisations"), 0o755)
		}, "", false},
		{"a build log", func(t *testing.T, dir string, _ map[string]*NarInfo) {
			mustWrite(t, filepath.Join(dir, "log", "x.drv"), "log", 0o644)
		}, "not empty", false},
		{"temporary file", func(t *testing.T, dir string, _ map[string]*NarInfo) {
			mustWrite(t, filepath.Join(dir, ".tmp-123"), "x", 0o644)
		}, "not a file of a binary cache", false},
		{"narinfo that is a directory", func(t *testing.T, dir string, _ map[string]*NarInfo) {
			os.Mkdir(filepath.Join(dir, strings.Repeat("1", 32)+".narinfo"), 0o755)
		}, "not a file of a binary cache", false},
		{"temporary NAR", func(t *testing.T, dir string, _ map[string]*NarInfo) {
			mustWrite(t, filepath.Join(dir, "nar", ".tmp-1"), "x", 0o644)
		}, "not a NAR file", false},
		{"other file under kettle", func(t *testing.T, dir string, _ map[string]*NarInfo) {
			mustWrite(t, filepath.Join(dir, "kettle", "notes"), "x", 0o644)
		}, "not a file of a binary cache", false},
		{"badly named bundle", func(t *testing.T, dir string, _ map[string]*NarInfo) {
			mustWrite(t, filepath.Join(dir, "kettle", "bundles", "hello.tar"), "x", 0o644)
		}, "not a bundle file", false},
		{"bundle no narinfo names", func(t *testing.T, dir string, _ map[string]*NarInfo) {
			mustWrite(t, filepath.Join(dir, filepath.FromSlash(BundleFile(sha256.Sum256([]byte("other"))))), "x", 0o644)
		}, "no narinfo names this bundle", false},
		{"bundle missing", func(t *testing.T, dir string, _ map[string]*NarInfo) {
			os.Remove(filepath.Join(dir, filepath.FromSlash(bundle)))
		}, "no such bundle", true},
		{"truncated narinfo", func(t *testing.T, dir string, n map[string]*NarInfo) {
			p := filepath.Join(dir, narInfoName(n["built"].StorePath))
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)/2], 0o644)
		}, "the last line does not end in a newline", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := Create(dir, Options{StoreDir: s.dir, Key: &key})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.AddBundle(digest, func(p string) error { return os.WriteFile(p, []byte("b"), 0o644) }); err != nil {
				t.Fatal(err)
			}
			n := map[string]*NarInfo{}
			for name, info := range s.infos {
				if n[name], _, err = w.AddEntry(Entry{Info: info, Bundle: bundle}); err != nil {
					t.Fatal(err)
				}
			}
			tc.tamper(t, dir, n)
			r, err := Check(dir, []PublicKey{key.PublicKey()})
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, p := range r.Paths {
				if p.Err != nil {
					failed = append(failed, p.Err.Error())
				}
			}
			switch {
			case tc.want == "":
				if !r.OK() || len(r.Paths) != 3 {
					t.Errorf("Check: %v, %d paths", r.Err(), len(r.Paths))
				}
			case tc.inPath:
				if len(r.Paths) != 3 || len(failed) == 0 || !strings.Contains(failed[0], tc.want) {
					t.Errorf("errors %v, failed paths %q; want a path error mentioning %q", r.Errors, failed, tc.want)
				}
			default:
				if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Error(), tc.want) || len(failed) != 0 || len(r.Paths) != 3 {
					t.Errorf("errors %v, failed paths %q; want one error mentioning %q and 3 good paths", r.Errors, failed, tc.want)
				}
			}
			if r.OK() == (r.Err() != nil) {
				t.Errorf("OK %t but Err %v", r.OK(), r.Err())
			}
		})
	}
	if _, err := Check(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), CacheInfoFile) {
		t.Errorf("Check of a directory without %s: %v", CacheInfoFile, err)
	}
}
