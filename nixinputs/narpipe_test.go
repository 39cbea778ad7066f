package nixinputs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// refNAR serialises root independently of the encoder, with os.ReadDir and
// os.ReadFile, for comparison.
func refNAR(tb testing.TB, root string) []byte {
	tb.Helper()
	var out bytes.Buffer
	tok := func(ss ...string) { out.Write(narTokens(ss...)) }
	var node func(p string)
	node = func(p string) {
		fi, err := os.Lstat(p)
		if err != nil {
			tb.Fatal(err)
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				tb.Fatal(err)
			}
			tok("(", "type", "symlink", "target", target, ")")
		case fi.IsDir():
			ents, err := os.ReadDir(p)
			if err != nil {
				tb.Fatal(err)
			}
			tok("(", "type", "directory")
			for _, e := range ents {
				tok("entry", "(", "name", e.Name(), "node")
				node(filepath.Join(p, e.Name()))
				tok(")")
			}
			tok(")")
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				tb.Fatal(err)
			}
			tok("(", "type", "regular")
			if fi.Mode()&0o100 != 0 {
				tok("executable", "")
			}
			tok("contents")
			out.Write(narString(string(data)))
			tok(")")
		}
	}
	tok("nix-archive-1")
	node(root)
	return out.Bytes()
}

// makeBigTree builds a tree of many files of mixed sizes, so that file
// contents start and end at every kind of place relative to chunk boundaries
// and the readers work on many chunks at once.
func makeBigTree(tb testing.TB) string {
	tb.Helper()
	root := filepath.Join(tb.TempDir(), "big")
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 1000; i++ {
		dir := filepath.Join(root, fmt.Sprintf("d%d", i%37), fmt.Sprintf("e%d", i%5))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		var size int
		switch i % 300 {
		case 7:
			size = narChunkSize + rng.Intn(3*narChunkSize)
		case 8:
			size = narChunkSize - 3
		default:
			size = rng.Intn(9000)
		}
		data := make([]byte, size)
		rng.Read(data)
		mode := os.FileMode(0o644)
		if i%9 == 0 {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", i)), data, mode); err != nil {
			tb.Fatal(err)
		}
		if i%50 == 0 {
			if err := os.Symlink(fmt.Sprintf("f%d", i), filepath.Join(dir, fmt.Sprintf("l%d", i))); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return root
}

func TestHashPathMatchesReference(t *testing.T) {
	for _, root := range []string{makeTree(t), makeBigTree(t)} {
		want := refNAR(t, root)
		h, err := HashPath(root)
		if err != nil {
			t.Fatal(err)
		}
		if h.SHA256 != sha256.Sum256(want) || h.Size != uint64(len(want)) {
			t.Errorf("HashPath(%s) = %x/%d, want %x/%d", root, h.SHA256, h.Size, sha256.Sum256(want), len(want))
		}
		var buf bytes.Buffer
		if err := WriteNAR(&buf, root); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("WriteNAR(%s) differs from the reference at byte %d", root, firstDiff(buf.Bytes(), want))
		}
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(tb testing.TB) int {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Skipf("cannot count open files: %v", err)
	}
	return len(ents)
}

// TestNARErrorsCloseFiles checks that a failure anywhere in the pipeline
// (walker, reader, consumer) is reported with the path and leaves no file
// open.
func TestNARErrorsCloseFiles(t *testing.T) {
	root := makeBigTree(t)
	// A fifo late in the tree: the walker fails after laying out many files.
	fifo := filepath.Join(root, "d9", "zz-fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	before := openFDs(t)
	for i := 0; i < 3; i++ {
		if _, err := HashPath(root); err == nil || !strings.Contains(err.Error(), fifo) {
			t.Errorf("HashPath: error %v, want it to name %s", err, fifo)
		}
		if err := WriteNAR(failWriter{}, root); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("WriteNAR to a failing writer: error %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := HashPaths(ctx, []string{root}, 1); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled: error %v", err)
		}
		if err := WriteNAR(&limitWriter{n: 3 * narChunkSize}, root); err == nil {
			t.Error("WriteNAR to a writer failing mid-way succeeded")
		}
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d files open before, %d after", before, after)
	}
}

// limitWriter fails once n bytes have been written.
type limitWriter struct{ n int }

func (w *limitWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errors.New("limit reached")
	}
	w.n -= len(p)
	return len(p), nil
}

// TestHashPathShrunkFile reads a sysfs file, whose size as reported by fstat
// (a page) exceeds its contents: the readers must report it as a file that
// shrank, naming it.
func TestHashPathShrunkFile(t *testing.T) {
	const p = "/sys/kernel/mm/transparent_hugepage/enabled"
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		t.Skipf("%s is not available", p)
	}
	data, err := os.ReadFile(p)
	if err != nil || int64(len(data)) >= fi.Size() {
		t.Skipf("%s: %d bytes of %d, %v", p, len(data), fi.Size(), err)
	}
	before := openFDs(t)
	_, err = HashPath(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "shrank") {
		t.Errorf("HashPath(%s): error %v, want a shrunk-file error naming it", p, err)
	}
	if err := WriteNAR(io.Discard, p); err == nil || !strings.Contains(err.Error(), "shrank") {
		t.Errorf("WriteNAR(%s): error %v", p, err)
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d files open before, %d after", before, after)
	}
}

// TestNARCancelStopsGoroutines cancels hashing part-way, from the consumer
// and from outside, and checks that the pipeline's goroutine is gone and its
// files closed once the call returns.
func TestNARCancelStopsGoroutines(t *testing.T) {
	root := makeBigTree(t)
	before, fds := runtime.NumGoroutine(), openFDs(t)
	nh := newNarHasher()
	for i := 0; i < 10; i++ {
		// Cancelled by the consumer from its first chunk on, while the
		// producer is well into the tree.
		ctx, cancel := context.WithCancel(context.Background())
		_, err := nh.pool.run(ctx, root, func([]byte) error {
			cancel()
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled after chunk 1: error %v, want context.Canceled", err)
		}

		// Cancelled from another goroutine while HashPaths runs.
		ctx, cancel = context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := HashPaths(ctx, []string{root, filepath.Join(root, "d1"), filepath.Join(root, "d2")}, 2)
			done <- err
		}()
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("HashPaths cancelled: error %v", err)
		}
	}
	// A goroutine that has returned may be counted for a moment longer.
	for i := 0; runtime.NumGoroutine() > before && i < 500; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after cancelling:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
	if after := openFDs(t); after != fds {
		t.Errorf("%d files open before, %d after", fds, after)
	}
}
