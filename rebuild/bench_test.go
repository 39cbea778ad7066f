package rebuild

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/kettle-build/kettle/nixinputs"
)

// benchTree writes files of size bytes each, 100 to a directory.
func benchTree(b *testing.B, files, size int) string {
	b.Helper()
	root := filepath.Join(b.TempDir(), "out")
	rng := rand.New(rand.NewSource(1))
	data := make([]byte, size)
	for i := range files {
		p := filepath.Join(root, fmt.Sprintf("d%03d", i/100), fmt.Sprintf("f%05d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		rng.Read(data)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return root
}

// BenchmarkListTree lists a tree from its NAR serialisation, hashing every
// file: the cost of naming the differing files of an output, per side.
func BenchmarkListTree(b *testing.B) {
	for _, c := range []struct{ files, size int }{{10000, 1 << 10}, {16, 4 << 20}} {
		root := benchTree(b, c.files, c.size)
		name := fmt.Sprintf("%dx%dKiB", c.files, c.size>>10)
		b.Run(name+"/list", func(b *testing.B) {
			b.SetBytes(int64(c.files * c.size))
			for range b.N {
				if _, _, err := listTree(context.Background(), root, false); err != nil {
					b.Fatal(err)
				}
			}
		})
		// The NAR hash alone, which every output compared costs anyway.
		b.Run(name+"/hash", func(b *testing.B) {
			b.SetBytes(int64(c.files * c.size))
			for range b.N {
				if _, err := nixinputs.HashPath(root); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDiffListings compares two listings of 100,000 entries that
// differ in one in a hundred.
func BenchmarkDiffListings(b *testing.B) {
	const n = 100000
	a, l := make([]listedEntry, n), make([]listedEntry, n)
	for i := range n {
		a[i] = listedEntry{fmt.Sprintf("d%03d/f%06d", i/1000, i), Entry{Type: "regular", Size: 1, SHA256: "00"}}
		l[i] = a[i]
		if i%100 == 0 {
			l[i].SHA256 = "01"
		}
	}
	b.ResetTimer()
	for range b.N {
		if _, count := diffListings(a, l, DefaultMaxFiles); count != n/100 {
			b.Fatalf("%d differ, want %d", count, n/100)
		}
	}
}
