package nixinputs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/nix-community/go-nix/pkg/nar"
)

// makeTree builds a directory exercising what NAR serialisation must get
// right: executables, empty files and directories, symlinks (relative,
// absolute, dangling), bytewise name order, names starting with "..", a file
// larger than the hashing buffers and sizes that are not multiples of 8.
func makeTree(tb testing.TB) string {
	tb.Helper()
	root := filepath.Join(tb.TempDir(), "tree")
	rng := rand.New(rand.NewSource(1))
	big := make([]byte, 3*narChunkSize+12345)
	rng.Read(big)
	files := map[string]string{
		"a":                 "hello\n",
		"a-b":               "dash",
		"a.b":               "dot",
		"a0":                "zero",
		"B":                 "upper case sorts first",
		"é":                 "unicode",
		"empty":             "",
		"..foo/..bar":       "dot-dot names are legal",
		"...":               "three dots",
		"sub/deeper/file":   "deep\n",
		"sub/deeper/x y":    "space",
		"d/inside":          "dir named d sorts before d-b",
		"d-b":               "dash after dir",
		"d.b":               "dot after dir",
		"big":               string(big),
		"seven":             "1234567",
		"exe":               "#!/bin/sh\necho hi\n",
		"other-exec-bits":   "group/other x only",
		"sub/.hidden":       "hidden",
		"sub/deeper/.a/..b": "x",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(os.Chmod(filepath.Join(root, "exe"), 0o755))
	must(os.Chmod(filepath.Join(root, "other-exec-bits"), 0o655))
	must(os.Mkdir(filepath.Join(root, "emptydir"), 0o755))
	must(os.Symlink("a", filepath.Join(root, "link")))
	must(os.Symlink("/etc/passwd", filepath.Join(root, "abslink")))
	must(os.Symlink("does/not/exist", filepath.Join(root, "dangling")))
	must(os.Symlink("../a", filepath.Join(root, "sub", "up")))
	return root
}

// narEntry is one node of a NAR as go-nix's reader sees it.
type narEntry struct {
	Path, Type, Target, Content string
	Exec                        bool
}

func readNAR(tb testing.TB, data []byte) []narEntry {
	tb.Helper()
	r, err := nar.NewReader(bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	var out []narEntry
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatalf("go-nix nar.Reader: %v", err)
		}
		e := narEntry{Path: h.Path, Type: h.Type.String(), Target: h.LinkTarget, Exec: h.Executable}
		if h.Type == nar.TypeRegular {
			b, err := io.ReadAll(r)
			if err != nil {
				tb.Fatal(err)
			}
			e.Content = string(b)
		}
		out = append(out, e)
	}
	return out
}

// walkTree lists a directory the way a NAR should describe it.
func walkTree(tb testing.TB, root string) []narEntry {
	tb.Helper()
	var out []narEntry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		e := narEntry{Path: "/" + filepath.ToSlash(rel)}
		if rel == "." {
			e.Path = "/"
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Type = "symlink"
			e.Target, err = os.Readlink(p)
		case fi.IsDir():
			e.Type = "directory"
		default:
			e.Type = "regular"
			e.Exec = fi.Mode()&0o100 != 0
			var b []byte
			b, err = os.ReadFile(p)
			e.Content = string(b)
		}
		out = append(out, e)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestWriteNARMatchesTree(t *testing.T) {
	root := makeTree(t)
	var buf bytes.Buffer
	if err := WriteNAR(&buf, root); err != nil {
		t.Fatal(err)
	}
	got := readNAR(t, buf.Bytes())
	want := walkTree(t, root)
	// NAR order is bytewise per directory level; WalkDir's lexical order is
	// the same for these names, but compare as sets plus order of paths.
	if len(got) != len(want) {
		t.Fatalf("NAR has %d entries, tree has %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, trunc(got[i]), trunc(want[i]))
		}
	}

	h, err := HashPath(root)
	if err != nil {
		t.Fatal(err)
	}
	if h.SHA256 != sha256.Sum256(buf.Bytes()) || h.Size != uint64(buf.Len()) {
		t.Errorf("HashPath = %x/%d, want the SHA-256 and size of WriteNAR's output (%d bytes)", h.SHA256, h.Size, buf.Len())
	}
}

func trunc(e narEntry) narEntry {
	if len(e.Content) > 40 {
		e.Content = e.Content[:40] + "…"
	}
	return e
}

// narString renders a NAR string token independently of the encoder.
func narString(s string) []byte {
	b := make([]byte, 8, 8+len(s)+8)
	binary.LittleEndian.PutUint64(b, uint64(len(s)))
	b = append(b, s...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

func narTokens(ss ...string) []byte {
	var b []byte
	for _, s := range ss {
		b = append(b, narString(s)...)
	}
	return b
}

func TestNARKnownBytes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "l")
	if err := os.Symlink("f", link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want []byte
	}{
		{file, narTokens("nix-archive-1", "(", "type", "regular", "executable", "", "contents", "hi\n", ")")},
		{link, narTokens("nix-archive-1", "(", "type", "symlink", "target", "f", ")")},
		{dir, narTokens("nix-archive-1", "(", "type", "directory",
			"entry", "(", "name", "f", "node", "(", "type", "regular", "executable", "", "contents", "hi\n", ")", ")",
			"entry", "(", "name", "l", "node", "(", "type", "symlink", "target", "f", ")", ")",
			")")},
	} {
		var buf bytes.Buffer
		if err := WriteNAR(&buf, tc.path); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), tc.want) {
			t.Errorf("WriteNAR(%s) =\n%q\nwant\n%q", tc.path, buf.Bytes(), tc.want)
		}
		h, err := HashPath(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if h.SHA256 != sha256.Sum256(tc.want) || h.Size != uint64(len(tc.want)) {
			t.Errorf("HashPath(%s) disagrees with the known NAR bytes", tc.path)
		}
	}
}

func TestHashPathErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := HashPath(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing path: error %v", err)
	}
	if _, err := HashPath(""); err == nil {
		t.Error("HashPath(\"\") succeeded")
	}
	// A trailing slash does not make HashPath follow a symlink.
	tree := makeTree(t)
	viaSlash, err := HashPath(filepath.Join(tree, "link") + "/")
	if err != nil {
		t.Fatal(err)
	}
	if plain, _ := HashPath(filepath.Join(tree, "link")); viaSlash != plain {
		t.Error("HashPath(link/) differs from HashPath(link)")
	}
	fifo := filepath.Join(dir, "sub", "fifo")
	if err := os.Mkdir(filepath.Dir(fifo), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	_, err = HashPath(dir)
	if err == nil || !strings.Contains(err.Error(), fifo) || !strings.Contains(err.Error(), "cannot archive") {
		t.Errorf("fifo: error %v, want it to name %s", err, fifo)
	}
	if err := WriteNAR(io.Discard, dir); err == nil || !strings.Contains(err.Error(), fifo) {
		t.Errorf("WriteNAR fifo: error %v", err)
	}
	// A failing writer.
	if err := WriteNAR(failWriter{}, tree); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteNAR to a failing writer: error %v", err)
	}
	if os.Geteuid() != 0 {
		unreadable := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(unreadable, []byte("x"), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := HashPath(unreadable); err == nil || !strings.Contains(err.Error(), unreadable) {
			t.Errorf("unreadable file: error %v", err)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestHashPaths(t *testing.T) {
	root := makeTree(t)
	var paths []string
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		paths = append(paths, filepath.Join(root, e.Name()))
	}
	paths = append(paths, root, paths[0]) // a duplicate
	for _, workers := range []int{0, 1, 3, 100} {
		got, err := HashPaths(context.Background(), paths, workers)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(paths)-1 {
			t.Errorf("workers=%d: %d results for %d distinct paths", workers, len(got), len(paths)-1)
		}
		for _, p := range paths {
			want, err := HashPath(p)
			if err != nil {
				t.Fatal(err)
			}
			if got[p] != want {
				t.Errorf("workers=%d: HashPaths[%s] = %x, HashPath = %x", workers, p, got[p].SHA256, want.SHA256)
			}
		}
	}
	if got, err := HashPaths(context.Background(), nil, 0); err != nil || len(got) != 0 {
		t.Errorf("HashPaths(nil) = %v, %v", got, err)
	}

	bad := append(append([]string(nil), paths...), filepath.Join(root, "nope"))
	sort.Strings(bad)
	if _, err := HashPaths(context.Background(), bad, 2); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing path: error %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := HashPaths(ctx, paths, 2); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v, want context.Canceled", err)
	}
}

func TestNarHashFormats(t *testing.T) {
	h := NarHash{SHA256: sha256.Sum256([]byte("x"))}
	for _, s := range []string{h.Hex(), h.SRI(), h.Nix32(), "sha256:" + h.Nix32()} {
		got, err := ParseHash(s)
		if err != nil || got != h.SHA256 {
			t.Errorf("ParseHash(%q) = %x, %v", s, got, err)
		}
	}
	if h.Hex() != strings.ToLower(h.Hex()) || len(h.Hex()) != 64 || len(h.Nix32()) != 52 || !strings.HasPrefix(h.SRI(), "sha256-") {
		t.Errorf("formats: %s %s %s", h.Hex(), h.Nix32(), h.SRI())
	}
}
