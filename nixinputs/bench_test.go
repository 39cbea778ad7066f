package nixinputs

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Benchmarks. Those named …/nix run the nix tool on the same input, so that
// one `go test -bench` prints Kettle's figure next to Nix's:
//
//	go test -run '^$' -bench . ./nixinputs/

// BenchmarkHashPath hashes $(go env GOROOT)/src; the nix sub-benchmark runs
// `nix hash path` on it.
func BenchmarkHashPath(b *testing.B) {
	src := filepath.Join(goRoot(), "src")
	if !dirExists(src) {
		b.Skipf("%s is missing", src)
	}
	h, err := HashPath(src) // also warms the page cache
	if err != nil {
		b.Fatal(err)
	}
	b.Run("kettle", func(b *testing.B) {
		b.SetBytes(int64(h.Size))
		for i := 0; i < b.N; i++ {
			if _, err := HashPath(src); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("nix", func(b *testing.B) {
		if _, err := exec.LookPath("nix"); err != nil {
			b.Skip("nix is not on PATH")
		}
		b.SetBytes(int64(h.Size))
		for i := 0; i < b.N; i++ {
			cmd := exec.Command("nix", "hash", "path", src)
			cmd.Env = append(os.Environ(), nixEnv()...)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("nix hash path: %v\n%s", err, out)
			}
		}
	})
}

// BenchmarkHashPaths hashes the directories of $(go env GOROOT)/src in
// parallel, as Kettle hashes a build's input sources.
func BenchmarkHashPaths(b *testing.B) {
	src := filepath.Join(goRoot(), "src")
	entries, err := os.ReadDir(src)
	if err != nil {
		b.Skip(err)
	}
	var paths []string
	for _, e := range entries {
		paths = append(paths, filepath.Join(src, e.Name()))
	}
	hs, err := HashPaths(context.Background(), paths, 0)
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for _, h := range hs {
		size += int64(h.Size)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := HashPaths(context.Background(), paths, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWalkClosure walks a generated closure of 3000 derivations laid
// out as a chroot store (no nix needed).
func BenchmarkWalkClosure(b *testing.B) {
	s := newFakeStore(b)
	root, _ := s.genClosure(b, 3000)
	opts := WalkOptions{StoreRoot: s.root}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := WalkClosure(context.Background(), []string{root}, opts)
		if err != nil {
			b.Fatal(err)
		}
		if len(c.Derivations) != 3000 {
			b.Fatalf("walked %d derivations", len(c.Derivations))
		}
	}
}

// BenchmarkWalkStoreClosure instantiates 3000 derivations in the real store
// and compares WalkClosure with `nix show-derivation -r` on them.
func BenchmarkWalkStoreClosure(b *testing.B) {
	realNix(b)
	root := instantiateClosure(b, 3000, "bench")
	b.Run("kettle", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			c, err := WalkClosure(context.Background(), []string{root}, WalkOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if len(c.Derivations) != 3000 {
				b.Fatalf("walked %d derivations", len(c.Derivations))
			}
		}
	})
	b.Run("nix", func(b *testing.B) {
		// `nix show-derivation` became `nix derivation show` in Nix 2.15;
		// the old name remains as an alias for a while.
		args := []string{"show-derivation", "-r", root}
		for i := 0; i < b.N; i++ {
			cmd := exec.Command("nix", args...)
			cmd.Env = append(os.Environ(), nixEnv()...)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("nix %v: %v\n%.500s", args, err, out)
			}
		}
	})
}

// BenchmarkParseDerivation parses one typical .drv.
func BenchmarkParseDerivation(b *testing.B) {
	deps := []string{fakeStorePath("s", "a.drv"), fakeStorePath("s", "b.drv")}
	d := simpleDrv("s", "hello-2.12", deps...)
	d.env = map[string]string{"buildPhase": "make -j$NIX_BUILD_CORES\nmake check\n", "src": fakeStorePath("s", "hello.tar.gz")}
	data := []byte(d.aterm())
	path := fakeStorePath("s", "hello-2.12.drv")
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		if _, err := ParseDerivation(path, data); err != nil {
			b.Fatal(err)
		}
	}
}
