package rebuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/nar"

	"github.com/kettle-build/kettle/nixinputs"
)

// writeTree makes a tree under a new directory: files maps a relative path
// to its contents; a name ending in "*" is an executable file, a content
// starting with "->" a symbolic link to the rest, and a name ending in "/"
// an (empty) directory.
func writeTree(t testing.TB, files map[string]string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		exec := strings.HasSuffix(name, "*")
		name = strings.TrimSuffix(name, "*")
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(name, "/"):
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(content, "->"):
			if err := os.Symlink(content[2:], p); err != nil {
				t.Fatal(err)
			}
		default:
			perm := os.FileMode(0o644)
			if exec {
				perm = 0o755
			}
			if err := os.WriteFile(p, []byte(content), perm); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

// narOf is Kettle's NAR serialisation of p.
func narOf(t testing.TB, p string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := nixinputs.WriteNAR(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sumHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestListTree(t *testing.T) {
	root := writeTree(t, map[string]string{
		"bin/hello*":      "#!/bin/sh\necho hi\n",
		"share/a-b":       "dash",
		"share/a/b":       "slash",
		"share/empty":     "",
		"share/link":      "->../bin/hello",
		"lib/":            "",
		"share/a.b":       "dot",
		"share/z/deep/er": "deeper",
	})
	list, sum, err := listTree(context.Background(), root, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []listedEntry{
		{".", Entry{Type: "directory"}},
		{"bin", Entry{Type: "directory"}},
		{"bin/hello", Entry{Type: "regular", Size: 18, Executable: true, SHA256: sumHex("#!/bin/sh\necho hi\n")}},
		{"lib", Entry{Type: "directory"}},
		{"share", Entry{Type: "directory"}},
		// NAR order: "a" and everything in it before "a-b" and "a.b".
		{"share/a", Entry{Type: "directory"}},
		{"share/a/b", Entry{Type: "regular", Size: 5, SHA256: sumHex("slash")}},
		{"share/a-b", Entry{Type: "regular", Size: 4, SHA256: sumHex("dash")}},
		{"share/a.b", Entry{Type: "regular", Size: 3, SHA256: sumHex("dot")}},
		{"share/empty", Entry{Type: "regular", SHA256: sumHex("")}},
		{"share/link", Entry{Type: "symlink", Target: "../bin/hello"}},
		{"share/z", Entry{Type: "directory"}},
		{"share/z/deep", Entry{Type: "directory"}},
		{"share/z/deep/er", Entry{Type: "regular", Size: 6, SHA256: sumHex("deeper")}},
	}
	if !reflect.DeepEqual(list, want) {
		t.Errorf("listing:\n got %v\nwant %v", list, want)
	}
	nh, err := nixinputs.HashPath(root)
	if err != nil {
		t.Fatal(err)
	}
	if sum != nh.SHA256 {
		t.Errorf("listing's NAR SHA-256 %x, HashPath says %x", sum, nh.SHA256)
	}
}

func TestListTreeSingleFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("one file"), 0o644); err != nil {
		t.Fatal(err)
	}
	list, _, err := listTree(context.Background(), p, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []listedEntry{{".", Entry{Type: "regular", Size: 8, SHA256: sumHex("one file")}}}
	if !reflect.DeepEqual(list, want) {
		t.Errorf("got %v, want %v", list, want)
	}
}

func TestDiffListings(t *testing.T) {
	attested := writeTree(t, map[string]string{
		"same":          "unchanged",
		"stamp":         "1700000000",
		"exec":          "mode changes",
		"link":          "->a",
		"gone":          "removed in the rebuild",
		"dir/kept":      "x",
		"becomes-file/": "",
		"d/sub/inner":   "only the attested tree has d/sub",
	})
	local := writeTree(t, map[string]string{
		"same":         "unchanged",
		"stamp":        "1800000000",
		"exec*":        "mode changes",
		"link":         "->b",
		"new":          "added by the rebuild",
		"dir/kept":     "x",
		"becomes-file": "now a file",
		"d/":           "",
	})
	la, _, err := listTree(context.Background(), attested, false)
	if err != nil {
		t.Fatal(err)
	}
	ll, _, err := listTree(context.Background(), local, false)
	if err != nil {
		t.Fatal(err)
	}
	diffs, n := diffListings(la, ll, 100)
	var got []string
	for _, d := range diffs {
		got = append(got, d.Path+" "+describe(d.Attested)+" → "+describe(d.Local))
	}
	want := []string{
		"becomes-file directory → regular",
		"d/sub directory → absent",
		"d/sub/inner regular → absent",
		"exec regular → regular+x",
		"gone regular → absent",
		"link symlink:a → symlink:b",
		"new absent → regular",
		"stamp regular → regular",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("differences:\n got %q\nwant %q", got, want)
	}
	if n != len(want) {
		t.Errorf("count %d, want %d", n, len(want))
	}
	// The SHA-256 of the stamp on each side is its content's.
	for _, d := range diffs {
		if d.Path == "stamp" && (d.Attested.SHA256 != sumHex("1700000000") || d.Local.SHA256 != sumHex("1800000000")) {
			t.Errorf("stamp: %+v → %+v", d.Attested, d.Local)
		}
	}

	// max bounds the list, not the count.
	diffs, n = diffListings(la, ll, 3)
	if len(diffs) != 3 || n != len(want) || diffs[0].Path != "becomes-file" {
		t.Errorf("max 3: %d listed (first %q), count %d; want 3, becomes-file, %d", len(diffs), diffs[0].Path, n, len(want))
	}
	// A tree compared with itself has no differences.
	if diffs, n := diffListings(la, la, 10); len(diffs) != 0 || n != 0 {
		t.Errorf("a tree against itself: %v, %d", diffs, n)
	}
}

func describe(e *Entry) string {
	switch {
	case e == nil:
		return "absent"
	case e.Type == "symlink":
		return "symlink:" + e.Target
	case e.Executable:
		return e.Type + "+x"
	}
	return e.Type
}

func TestNARCompare(t *testing.T) {
	ordered := []string{"/", "/a", "/a/b", "/a/b/c", "/a-b", "/a.b", "/a0", "/b", "/b/a"}
	for i := range ordered {
		for j := range ordered {
			got := narCompare(ordered[i], ordered[j])
			if (got < 0) != (i < j) || (got == 0) != (i == j) {
				t.Errorf("narCompare(%q, %q) = %d", ordered[i], ordered[j], got)
			}
		}
	}
	if narCompare(".", "a") >= 0 || narCompare("a/b", "a-b") >= 0 {
		t.Error("relative paths: the root and '/' must sort first")
	}
}

// narWriter writes NAR tokens by hand, for NARs Kettle's serialiser would
// never write.
type narWriter struct{ bytes.Buffer }

func (w *narWriter) str(ss ...string) *narWriter {
	for _, s := range ss {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		w.Write(n[:])
		w.WriteString(s)
		w.Write(make([]byte, (8-len(s)%8)%8))
	}
	return w
}

// entry writes one directory entry holding a regular file.
func (w *narWriter) entry(name, content string) *narWriter {
	return w.str("entry", "(", "name", name, "node", "(", "type", "regular", "contents", content, ")", ")")
}

func dirNAR(build func(w *narWriter)) []byte {
	w := &narWriter{}
	w.str("nix-archive-1", "(", "type", "directory")
	build(w)
	w.str(")")
	return w.Bytes()
}

func TestWalkNARBad(t *testing.T) {
	good := dirNAR(func(w *narWriter) { w.entry("a", "x").entry("b", "y") })
	if _, _, err := listNAR(bytes.NewReader(good), true); err != nil {
		t.Fatalf("the well-formed NAR of the table: %v", err)
	}
	deep := dirNAR(func(w *narWriter) {
		for range 20 {
			w.str("entry", "(", "name", strings.Repeat("d", 250), "node", "(", "type", "directory")
		}
		for range 20 {
			w.str(")", ")")
		}
	})
	for _, tc := range []struct {
		name, want string
		data       []byte
	}{
		{"empty", "not a NAR", nil},
		{"bad magic", "not a NAR", (&narWriter{}).str("nix-archive-2", "(", "type", "regular", "contents", "", ")").Bytes()},
		{"truncated", "reading the NAR", good[:len(good)-8]},
		{"trailing data", "followed by other data", append(append([]byte{}, good...), 0)},
		{"second root", "followed by other data", append(append([]byte{}, good...), good[16:]...)},
		{"repeated name", "does not come after", dirNAR(func(w *narWriter) { w.entry("a", "x").entry("a", "y") })},
		{"out of order", "wrong order", dirNAR(func(w *narWriter) { w.entry("b", "x").entry("a", "y") })},
		{"dot", "does not come after", dirNAR(func(w *narWriter) { w.entry(".", "x") })},
		{"dot dot", "does not come after", dirNAR(func(w *narWriter) { w.entry("..", "x") })},
		{"empty name", "does not come after", dirNAR(func(w *narWriter) { w.entry("", "x") })},
		{"slash in name", "invalid", dirNAR(func(w *narWriter) { w.entry("a/b", "x") })},
		{"NUL in name", "invalid", dirNAR(func(w *narWriter) { w.entry("a\x00b", "x") })},
		{"path too long", "longer than", deep},
		{"no type", "no root node", (&narWriter{}).str("nix-archive-1", "(", "type", ")").Bytes()},
		{"unknown type", "reading the NAR", (&narWriter{}).str("nix-archive-1", "(", "type", "fifo", ")").Bytes()},
		{"bad padding", "reading the NAR", func() []byte {
			b := (&narWriter{}).str("nix-archive-1", "(", "type", "regular", "contents", "abc", ")").Bytes()
			b[len(b)-16-1] = 1 // a padding byte of the contents
			return b
		}()},
		{"huge contents length", "in the NAR", func() []byte {
			w := (&narWriter{}).str("nix-archive-1", "(", "type", "regular", "contents")
			w.Write([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
			return w.Bytes()
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := listNAR(bytes.NewReader(tc.data), true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("listNAR: %v, want an error containing %q", err, tc.want)
			}
			dest := filepath.Join(t.TempDir(), "x")
			if err := unpackNAR(bytes.NewReader(tc.data), dest); err == nil {
				t.Fatal("unpackNAR accepted it")
			}
		})
	}
}

// TestWalkNARStopsEarly: a visitor that fails ends the walk, and go-nix's
// parser goroutine with it, which would otherwise wait for ever: 100 walks
// stopped early leave no goroutine behind.
func TestWalkNARStopsEarly(t *testing.T) {
	data := narOf(t, writeTree(t, map[string]string{"a": "1", "b": "2", "c/d": "3"}))
	stop := errors.New("the visitor stops")
	before := runtime.NumGoroutine()
	defer func() {
		for range 100 {
			if runtime.NumGoroutine() <= before+5 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("%d goroutines before 100 walks stopped early, %d after", before, runtime.NumGoroutine())
	}()
	for range 100 {
		n := 0
		err := walkNAR(bytes.NewReader(data), func(string, *nar.Header, io.Reader) error {
			if n++; n == 2 {
				return stop
			}
			return nil
		})
		if err != stop {
			t.Fatalf("walkNAR: %v, want the visitor's error", err)
		}
	}
}

func TestUnpackNAR(t *testing.T) {
	src := writeTree(t, map[string]string{
		"bin/tool*":   "#!/bin/sh\n",
		"share/x":     "x",
		"share/link":  "->/nix/store/elsewhere",
		"share/dir/":  "",
		"share/a-b/c": "c",
	})
	data := narOf(t, src)
	dest := filepath.Join(t.TempDir(), "unpacked")
	if err := unpackNAR(bytes.NewReader(data), dest); err != nil {
		t.Fatal(err)
	}
	if again := narOf(t, dest); !bytes.Equal(again, data) {
		t.Error("the unpacked tree does not serialise to the NAR it came from")
	}
	// The root may be a single file or a symbolic link.
	for _, root := range []string{"file", "link"} {
		p := filepath.Join(t.TempDir(), root)
		if root == "file" {
			os.WriteFile(p, []byte("data"), 0o755)
		} else {
			os.Symlink("target", p)
		}
		data := narOf(t, p)
		dest := filepath.Join(t.TempDir(), "u")
		if err := unpackNAR(bytes.NewReader(data), dest); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(narOf(t, dest), data) {
			t.Errorf("root %s: round trip differs", root)
		}
	}
	// dest must not exist.
	if err := unpackNAR(bytes.NewReader(data), dest); err == nil {
		t.Error("unpacking over an existing directory succeeded")
	}
}
