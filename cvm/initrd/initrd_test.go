package initrd

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// write returns t's archive compressed as c.
func write(t *testing.T, tr *Tree, opt Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := tr.Write(&buf, opt); err != nil {
		t.Fatalf("Write(%v): %v", opt, err)
	}
	return buf.Bytes()
}

// readAll decompresses and parses an archive, returning its headers and the
// contents of its regular files.
func readAll(t *testing.T, b []byte) ([]*Header, map[string]string) {
	t.Helper()
	rc, _, err := Decompress(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	r := NewReader(rc)
	var hs []*Header
	data := make(map[string]string)
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
		if h.Mode&modeType == modeRegular {
			d, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			data[h.Name] = string(d)
		}
	}
	return hs, data
}

func mustAdd(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestExactBytes pins the newc encoding of a small archive byte for byte.
func TestExactBytes(t *testing.T) {
	var tr Tree
	mustAdd(t, tr.AddBytes("/a", []byte("hello"), 0o644))
	mustAdd(t, tr.AddCharDev("dev/console", 0o600, 5, 1))
	got := write(t, &tr, Options{Compression: None, MTime: 0x5f5e100})
	hdr := func(ino, mode, nlink, size, rmaj, rmin uint32, name string) string {
		s := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%s\x00",
			ino, mode, 0, 0, nlink, 0x5f5e100, size, 0, 0, rmaj, rmin, len(name)+1, 0, name)
		return s + strings.Repeat("\x00", int(pad4(int64(len(s)))))
	}
	want := hdr(1, 0o100644, 1, 5, 0, 0, "a") + "hello\x00\x00\x00" +
		hdr(2, 0o40755, 2, 0, 0, 0, "dev") +
		hdr(3, 0o20600, 1, 0, 5, 1, "dev/console") +
		strings.Replace(hdr(0, 0, 1, 0, 0, 0, "TRAILER!!!"), "05f5e100", "00000000", 1)
	if string(got) != want {
		t.Errorf("archive:\n%q\nwant\n%q", got, want)
	}
	if len(got)%4 != 0 {
		t.Errorf("length %d is not a multiple of 4", len(got))
	}
}

// apiTree adds a fixed set of entries in the order perm gives.
func apiTree(t testing.TB, order []int) *Tree {
	adds := []func(*Tree) error{
		func(tr *Tree) error { return tr.AddDir("/etc", 0o755) },
		func(tr *Tree) error { return tr.AddBytes("/etc/hostname", []byte("kettle\n"), 0o644) },
		func(tr *Tree) error {
			return tr.AddBytes("/init", bytes.Repeat([]byte("#!/bin/sh\nexec /bin/kettle agent\n"), 300), 0o755)
		},
		func(tr *Tree) error { return tr.AddSymlink("/bin/sh", "busybox") },
		func(tr *Tree) error {
			return tr.AddBytes("/bin/busybox", bytes.Repeat([]byte{0x7f, 'E', 'L', 'F', 1, 2, 3}, 5000), 0o555)
		},
		func(tr *Tree) error { return tr.AddCharDev("/dev/console", 0o600, 5, 1) },
		func(tr *Tree) error { return tr.AddCharDev("/dev/null", 0o666, 1, 3) },
		func(tr *Tree) error { return tr.AddDir("/tmp", 0o777|fs.ModeSticky) },
		func(tr *Tree) error { return tr.AddDir("/proc", 0o555) },
		func(tr *Tree) error { return tr.AddSymlink("/usr/bin", "../bin") },
		func(tr *Tree) error { return tr.AddBytes("/nix/store/abc-x/lib/libx.so", []byte("lib"), 0o444) },
		func(tr *Tree) error { return tr.AddDir("/nix/store", 0o775|fs.ModeSticky) },
	}
	if order == nil {
		order = make([]int, len(adds))
		for i := range order {
			order[i] = i
		}
	}
	var tr Tree
	for _, i := range order {
		mustAdd(t, adds[i](&tr))
	}
	return &tr
}

// TestGolden pins the output of every compression for one tree, so that a
// change of a compressor's version or settings shows up here.
func TestGolden(t *testing.T) {
	want := map[Compression]string{
		None: "135fd39e8d70583542689c3dad67859190bf1c5159d79d398b9ac12029766fc9",
		Gzip: "9d5c2e3952647f8fff49b4aec82080bf857e587b40730db9d5a1a845796e8ff8",
		XZ:   "0141a6ef43756a5bc765ea91600fcfa793a9f4f99a985ff18b574132bfc33425",
		Zstd: "ae55b919e8de066a549a7bc95af50ebdd2e981fca09d478c12049aed69a82a3d",
	}
	tr := apiTree(t, nil)
	for _, c := range Compressions() {
		b := write(t, tr, Options{Compression: c, MTime: 1})
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want[c] {
			t.Errorf("%s: sha256 %s (%d bytes), want %s", c, got, len(b), want[c])
		}
	}
}

func TestStructure(t *testing.T) {
	hs, data := readAll(t, write(t, apiTree(t, nil), Options{Compression: Zstd, MTime: 315532800}))
	var names, lines []string
	for i, h := range hs {
		names = append(names, h.Name)
		lines = append(lines, h.String())
		if h.Ino != uint32(i+1) {
			t.Errorf("%s: inode %d, want %d", h.Name, h.Ino, i+1)
		}
		if h.MTime != 315532800 || h.UID != 0 || h.GID != 0 || h.DevMajor != 0 || h.DevMinor != 0 {
			t.Errorf("%s: metadata %+v", h.Name, h)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("names not sorted: %q", names)
	}
	want := []string{
		"drwxr-xr-x 2 0 0 0 315532800 1 bin",
		"-r-xr-xr-x 1 0 0 35000 315532800 2 bin/busybox",
		"lrwxrwxrwx 1 0 0 7 315532800 3 bin/sh -> busybox",
		"drwxr-xr-x 2 0 0 0 315532800 4 dev",
		"crw------- 1 0 0 5,1 315532800 5 dev/console",
		"crw-rw-rw- 1 0 0 1,3 315532800 6 dev/null",
		"drwxr-xr-x 2 0 0 0 315532800 7 etc",
		"-rw-r--r-- 1 0 0 7 315532800 8 etc/hostname",
		"-rwxr-xr-x 1 0 0 9900 315532800 9 init",
		"drwxr-xr-x 3 0 0 0 315532800 10 nix",
		"drwxrwxr-t 3 0 0 0 315532800 11 nix/store",
		"drwxr-xr-x 3 0 0 0 315532800 12 nix/store/abc-x",
		"drwxr-xr-x 2 0 0 0 315532800 13 nix/store/abc-x/lib",
		"-r--r--r-- 1 0 0 3 315532800 14 nix/store/abc-x/lib/libx.so",
		"dr-xr-xr-x 2 0 0 0 315532800 15 proc",
		"drwxrwxrwt 2 0 0 0 315532800 16 tmp",
		"drwxr-xr-x 2 0 0 0 315532800 17 usr",
		"lrwxrwxrwx 1 0 0 6 315532800 18 usr/bin -> ../bin",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("listing:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if data["etc/hostname"] != "kettle\n" {
		t.Errorf("etc/hostname = %q", data["etc/hostname"])
	}
}

// TestAPIOrder: the same entries added in any order give the same bytes.
func TestAPIOrder(t *testing.T) {
	ref := apiTree(t, nil)
	rng := rand.New(rand.NewSource(1))
	for _, c := range Compressions() {
		want := write(t, ref, Options{Compression: c})
		for i := 0; i < 5; i++ {
			order := rng.Perm(12)
			if got := write(t, apiTree(t, order), Options{Compression: c}); !bytes.Equal(got, want) {
				t.Fatalf("%s: order %v gives other bytes", c, order)
			}
		}
	}
}

func TestMTimeOnlyChangesMTimes(t *testing.T) {
	tr := apiTree(t, nil)
	a, _ := readAll(t, write(t, tr, Options{Compression: None, MTime: 0}))
	b, _ := readAll(t, write(t, tr, Options{Compression: None, MTime: 12345}))
	for i := range a {
		if b[i].MTime != 12345 {
			t.Errorf("%s: mtime %d", b[i].Name, b[i].MTime)
		}
		b[i].MTime = 0
		if *a[i] != *b[i] {
			t.Errorf("%+v != %+v", a[i], b[i])
		}
	}
}

// A node of a host tree for the property tests.
type node struct {
	name   string
	kind   byte // 'd', 'f', 'l'
	perm   fs.FileMode
	data   string
	target string
}

func randomNodes(rng *rand.Rand) []node {
	nodes := []node{{name: "top", kind: 'd', perm: 0o755}}
	dirs := []string{"top"}
	perms := []fs.FileMode{0o644, 0o755, 0o444, 0o555, 0o600, 0o700}
	for i := 0; i < 60; i++ {
		parent := dirs[rng.Intn(len(dirs))]
		name := fmt.Sprintf("%s/%c%d", parent, "abcXY-_.é"[rng.Intn(9)], i)
		switch r := rng.Intn(10); {
		case r < 2:
			nodes = append(nodes, node{name: name, kind: 'd', perm: []fs.FileMode{0o755, 0o555, 0o700}[rng.Intn(3)]})
			dirs = append(dirs, name)
		case r < 3:
			nodes = append(nodes, node{name: name, kind: 'l', target: fmt.Sprintf("../t%d", rng.Intn(5))})
		default:
			data := strings.Repeat(fmt.Sprintf("file %d ", rng.Intn(4)), rng.Intn(3000))
			nodes = append(nodes, node{name: name, kind: 'f', perm: perms[rng.Intn(len(perms))], data: data})
		}
	}
	return nodes
}

// materialize creates nodes under dir in the order given, with the
// metadata that must not matter chosen by rng: mtimes, owners (when root),
// inode numbers (by creating and removing other files in between), and hard
// links between files of equal contents and mode.
func materialize(t *testing.T, dir string, nodes []node, order []int, rng *rand.Rand) {
	t.Helper()
	byData := make(map[string]string)
	for i, k := range order {
		n := nodes[k]
		p := filepath.Join(dir, filepath.FromSlash(n.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if rng.Intn(2) == 0 {
			spacer := filepath.Join(dir, fmt.Sprintf("spacer%d", i))
			mustAdd(t, os.WriteFile(spacer, nil, 0o644))
			defer os.Remove(spacer)
		}
		switch n.kind {
		case 'd':
			mustAdd(t, os.MkdirAll(p, 0o755))
		case 'l':
			mustAdd(t, os.Symlink(n.target, p))
		case 'f':
			key := fmt.Sprint(n.perm, n.data)
			if first, ok := byData[key]; ok && rng.Intn(2) == 0 {
				mustAdd(t, os.Link(first, p))
				continue
			}
			mustAdd(t, os.WriteFile(p, []byte(n.data), 0o600))
			mustAdd(t, os.Chmod(p, n.perm))
			byData[key] = p
		}
	}
	// Owners, mtimes, then directory modes, deepest first.
	for k := len(nodes) - 1; k >= 0; k-- {
		n := nodes[k]
		p := filepath.Join(dir, filepath.FromSlash(n.name))
		if os.Getuid() == 0 {
			mustAdd(t, os.Lchown(p, rng.Intn(5000), rng.Intn(5000)))
		}
		if n.kind != 'l' {
			mt := time.Unix(rng.Int63n(2e9), 0)
			mustAdd(t, os.Chtimes(p, mt, mt))
		}
		if n.kind == 'd' {
			mustAdd(t, os.Chmod(p, n.perm))
		}
	}
}

// TestHostTreeProperty: the same tree created on disk in another order,
// with other mtimes, owners, inode numbers and hard links, gives the same
// bytes.
func TestHostTreeProperty(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewSource(seed))
		nodes := randomNodes(rng)
		var want map[Compression][]byte
		for copyNo := 0; copyNo < 3; copyNo++ {
			dir := t.TempDir()
			order := rng.Perm(len(nodes))
			slices.SortStableFunc(order, func(a, b int) int { // parents first
				return strings.Count(nodes[a].name, "/") - strings.Count(nodes[b].name, "/")
			})
			materialize(t, dir, nodes, order, rng)
			var tr Tree
			mustAdd(t, tr.AddTree("/nix/store/x", filepath.Join(dir, "top")))
			mustAdd(t, tr.AddCharDev("dev/console", 0o600, 5, 1))
			got := make(map[Compression][]byte)
			for _, c := range Compressions() {
				got[c] = write(t, &tr, Options{Compression: c})
			}
			if want == nil {
				want = got
				hs, _ := readAll(t, got[None])
				if len(hs) != len(nodes)+4 { // + nix, nix/store, dev, dev/console
					t.Fatalf("seed %d: %d entries for %d nodes", seed, len(hs), len(nodes))
				}
				continue
			}
			for _, c := range Compressions() {
				if !bytes.Equal(got[c], want[c]) {
					t.Errorf("seed %d copy %d: %s archive differs", seed, copyNo, c)
				}
			}
		}
	}
}

func TestHardLinksAreSeparateFiles(t *testing.T) {
	dir := t.TempDir()
	mustAdd(t, os.WriteFile(filepath.Join(dir, "a"), []byte("same"), 0o644))
	mustAdd(t, os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "b")))
	var tr Tree
	mustAdd(t, tr.AddTree("/", dir))
	hs, data := readAll(t, write(t, &tr, Options{Compression: None}))
	if len(hs) != 2 || hs[0].NLink != 1 || hs[1].NLink != 1 || hs[0].Ino == hs[1].Ino {
		t.Fatalf("headers %+v %+v", hs[0], hs[1])
	}
	if data["a"] != "same" || data["b"] != "same" {
		t.Errorf("contents %q", data)
	}
}

func TestSetIDBits(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "su")
	mustAdd(t, os.WriteFile(p, []byte("x"), 0o755))
	mustAdd(t, os.Chmod(p, 0o755|fs.ModeSetuid|fs.ModeSetgid))
	sub := filepath.Join(dir, "shared")
	mustAdd(t, os.Mkdir(sub, 0o755))
	mustAdd(t, os.Chmod(sub, 0o775|fs.ModeSetgid|fs.ModeSticky))
	dirInfo, err := os.Stat(dir)
	mustAdd(t, err)
	var tr Tree
	mustAdd(t, tr.AddTree("t", dir))
	mustAdd(t, tr.AddFile("explicit2", p, 0o711|fs.ModeSetuid))
	hs, _ := readAll(t, write(t, &tr, Options{Compression: None}))
	got := make(map[string]uint32)
	for _, h := range hs {
		got[h.Name] = h.Mode
	}
	want := map[string]uint32{
		"t":         modeDir | uint32(dirInfo.Mode().Perm()),
		"t/su":      modeRegular | 0o755,
		"t/shared":  modeDir | 0o1775,
		"explicit2": modeRegular | 0o4711,
	}
	for name, m := range want {
		if got[name] != m {
			t.Errorf("%s: mode %#o, want %#o", name, got[name], m)
		}
	}
}

func TestAddErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	mustAdd(t, os.WriteFile(file, []byte("x"), 0o644))
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	fifoDir := filepath.Join(t.TempDir(), "withfifo")
	mustAdd(t, os.Mkdir(fifoDir, 0o755))
	mustAdd(t, syscall.Mkfifo(filepath.Join(fifoDir, "p"), 0o644))
	base := func() *Tree {
		var tr Tree
		mustAdd(t, tr.AddSymlink("bin", "usr/bin"))
		mustAdd(t, tr.AddDir("etc", 0o755))
		mustAdd(t, tr.AddBytes("etc/motd", nil, 0o644))
		return &tr
	}
	tests := []struct {
		name string
		add  func(*Tree) error
		want string
	}{
		{"empty", func(tr *Tree) error { return tr.AddDir("", 0o755) }, "root directory"},
		{"root", func(tr *Tree) error { return tr.AddDir("/", 0o755) }, "root directory"},
		{"dot", func(tr *Tree) error { return tr.AddDir(".", 0o755) }, "root directory"},
		{"dotdot", func(tr *Tree) error { return tr.AddBytes("a/../b", nil, 0o644) }, "not a clean path"},
		{"escape", func(tr *Tree) error { return tr.AddBytes("../b", nil, 0o644) }, "not a clean path"},
		{"double slash", func(tr *Tree) error { return tr.AddBytes("a//b", nil, 0o644) }, "not a clean path"},
		{"two leading slashes", func(tr *Tree) error { return tr.AddBytes("//b", nil, 0o644) }, "not a clean path"},
		{"trailing slash", func(tr *Tree) error { return tr.AddDir("a/", 0o755) }, "not a clean path"},
		{"NUL", func(tr *Tree) error { return tr.AddBytes("a\x00b", nil, 0o644) }, "NUL"},
		{"too long", func(tr *Tree) error { return tr.AddBytes(strings.Repeat("a", 4096), nil, 0o644) }, "longer than 4095"},
		{"trailer", func(tr *Tree) error { return tr.AddBytes("TRAILER!!!", nil, 0o644) }, "end marker"},
		{"twice", func(tr *Tree) error { return tr.AddBytes("etc/motd", nil, 0o644) }, "added twice"},
		{"file over dir", func(tr *Tree) error { return tr.AddBytes("etc", nil, 0o644) }, "added twice"},
		{"dir modes", func(tr *Tree) error { return tr.AddDir("etc", 0o700) }, "directory added with mode"},
		{"under symlink", func(tr *Tree) error { return tr.AddBytes("bin/sh", nil, 0o755) }, "parent bin is not a directory"},
		{"under file", func(tr *Tree) error { return tr.AddDir("etc/motd/x", 0o755) }, "parent etc/motd is not a directory"},
		{"unix setuid bit", func(tr *Tree) error { return tr.AddFile("x", file, 0o4755) }, "bits other than"},
		{"type bits", func(tr *Tree) error { return tr.AddDir("d", fs.ModeDir|0o755) }, "bits other than"},
		{"empty target", func(tr *Tree) error { return tr.AddSymlink("l", "") }, "empty symbolic link target"},
		{"long target", func(tr *Tree) error { return tr.AddSymlink("l", strings.Repeat("x", 4096)) }, "longer than 4095"},
		{"NUL target", func(tr *Tree) error { return tr.AddSymlink("l", "a\x00") }, "NUL"},
		{"major", func(tr *Tree) error { return tr.AddCharDev("dev/x", 0o600, 4096, 0) }, "out of range"},
		{"minor", func(tr *Tree) error { return tr.AddCharDev("dev/x", 0o600, 1, 1<<20) }, "out of range"},
		{"file is dir", func(tr *Tree) error { return tr.AddFile("x", dir, 0o644) }, "not a regular file"},
		{"file is fifo", func(tr *Tree) error { return tr.AddFile("x", fifo, 0o644) }, "not a regular file"},
		{"file missing", func(tr *Tree) error { return tr.AddFile("x", filepath.Join(dir, "nope"), 0o644) }, "no such file"},
		{"tree missing", func(tr *Tree) error { return tr.AddTree("x", filepath.Join(dir, "nope")) }, "no such file"},
		{"tree fifo", func(tr *Tree) error { return tr.AddTree("x", fifoDir) }, "cannot copy"},
		{"tree file to root", func(tr *Tree) error { return tr.AddTree("/", file) }, "not a directory"},
		{"tree over file", func(tr *Tree) error { return tr.AddTree("etc/motd", dir) }, "added twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.add(base())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestDirectoryMerging(t *testing.T) {
	var tr Tree
	mustAdd(t, tr.AddBytes("nix/store/a/x", nil, 0o644))
	mustAdd(t, tr.AddDir("nix/store", 0o775|fs.ModeSticky)) // replaces the implicit one
	mustAdd(t, tr.AddDir("nix/store", 0o775|fs.ModeSticky)) // same again
	mustAdd(t, tr.AddBytes("nix/store/b/y", nil, 0o644))
	hs, _ := readAll(t, write(t, &tr, Options{Compression: None}))
	for _, h := range hs {
		if h.Name == "nix/store" && (h.Mode != modeDir|0o1775 || h.NLink != 4) {
			t.Errorf("nix/store: %v", h)
		}
	}
}

func TestFileChangedBeforeWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	mustAdd(t, os.WriteFile(p, []byte("four"), 0o644))
	var tr Tree
	mustAdd(t, tr.AddTree("d", dir))
	mustAdd(t, os.WriteFile(p, []byte("five!"), 0o644))
	err := tr.Write(io.Discard, Options{Compression: None})
	if err == nil || !strings.Contains(err.Error(), "changed since it was added") || !strings.Contains(err.Error(), "d/f") {
		t.Errorf("error %v", err)
	}
	mustAdd(t, os.Remove(p))
	if err := tr.Write(io.Discard, Options{Compression: None}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v, want ErrNotExist", err)
	}
}

func TestUnknownCompression(t *testing.T) {
	var tr Tree
	if err := tr.Write(io.Discard, Options{}); err == nil {
		t.Error("no error for an empty Compression")
	}
	if _, err := ParseCompression("bzip2"); err == nil {
		t.Error("no error for bzip2")
	}
	for _, c := range Compressions() {
		if got, err := ParseCompression(string(c)); err != nil || got != c {
			t.Errorf("ParseCompression(%q) = %q, %v", c, got, err)
		}
	}
}

func TestEmptyTree(t *testing.T) {
	var tr Tree
	for _, c := range Compressions() {
		hs, _ := readAll(t, write(t, &tr, Options{Compression: c}))
		if len(hs) != 0 {
			t.Errorf("%s: %d entries", c, len(hs))
		}
	}
}

// TestCompressorChunking: a compressor's output does not depend on how its
// input is split into writes.
func TestCompressorChunking(t *testing.T) {
	plain := write(t, apiTree(t, nil), Options{Compression: None})
	plain = bytes.Repeat(plain, 8)
	for _, c := range Compressions() {
		var want []byte
		for _, chunk := range []int{1, 7, 4096, 1 << 20} {
			var buf bytes.Buffer
			w, err := newCompressor(&buf, c)
			mustAdd(t, err)
			for i := 0; i < len(plain); i += chunk {
				_, err := w.Write(plain[i:min(i+chunk, len(plain))])
				mustAdd(t, err)
			}
			mustAdd(t, w.Close())
			if want == nil {
				want = buf.Bytes()
			} else if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("%s: writes of %d bytes give other output", c, chunk)
			}
		}
	}
}
