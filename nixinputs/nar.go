package nixinputs

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"runtime"
	"sort"
	"sync"

	"github.com/nix-community/go-nix/pkg/nixbase32"
)

// NarHash is the SHA-256 of a path's NAR serialisation and the NAR's size in
// bytes, the pair Nix records as narHash and narSize.
type NarHash struct {
	SHA256 [32]byte
	Size   uint64
}

// Hex returns the digest in lower-case hexadecimal.
func (h NarHash) Hex() string { return hex.EncodeToString(h.SHA256[:]) }

// SRI returns the digest as a Subresource Integrity string, "sha256-<base64>",
// the form `nix hash path` prints by default.
func (h NarHash) SRI() string { return "sha256-" + base64.StdEncoding.EncodeToString(h.SHA256[:]) }

// Nix32 returns the digest in Nix's base-32, exactly as
// `nix hash path --base32` prints it (without the "sha256:" prefix).
func (h NarHash) Nix32() string { return nixbase32.EncodeToString(h.SHA256[:]) }

// narHasher computes NAR hashes, reusing its chunks from one path to the
// next. It is not safe for concurrent use; HashPaths gives each worker its
// own.
type narHasher struct {
	pool *narPool
}

func newNarHasher() *narHasher {
	return &narHasher{pool: newNarPool()}
}

func (nh *narHasher) hash(ctx context.Context, path string) (NarHash, error) {
	h := sha256.New()
	size, err := nh.pool.run(ctx, path, func(b []byte) error {
		h.Write(b)
		return nil
	})
	if err != nil {
		return NarHash{}, fmt.Errorf("hashing %s: %w", path, err)
	}
	var out NarHash
	h.Sum(out.SHA256[:0])
	out.Size = size
	return out, nil
}

// HashPath returns the NAR hash of the file, directory or symlink at path
// (symlinks are archived, not followed), equal to what `nix hash path`
// prints for it and to the narHash Nix records for a store path.
func HashPath(path string) (NarHash, error) {
	return newNarHasher().hash(context.Background(), path)
}

// HashPaths hashes several paths in parallel, with at most workers at once
// (0 or less means runtime.GOMAXPROCS(0)). It stops at the first error.
// Duplicate paths are hashed once.
func HashPaths(ctx context.Context, paths []string, workers int) (map[string]NarHash, error) {
	uniq := make([]string, 0, len(paths))
	seen := make(map[string]bool, len(paths))
	for _, p := range paths {
		if !seen[p] {
			seen[p] = true
			uniq = append(uniq, p)
		}
	}
	// Deterministic order, so that the first error reported for a given input
	// tends to be the same one.
	sort.Strings(uniq)
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if workers > len(uniq) {
		workers = len(uniq)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		out      = make(map[string]NarHash, len(uniq))
		firstErr error
		wg       sync.WaitGroup
	)
	jobs := make(chan string)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nh := newNarHasher()
			for p := range jobs {
				h, err := nh.hash(ctx, p)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
						cancel()
					}
				} else {
					out[p] = h
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, p := range uniq {
		select {
		case jobs <- p:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// WriteNAR writes the NAR serialisation of path to w.
func WriteNAR(w io.Writer, path string) error {
	_, err := newNarPool().run(context.Background(), path, func(b []byte) error {
		_, err := w.Write(b)
		return err
	})
	if err != nil {
		return fmt.Errorf("writing NAR of %s: %w", path, err)
	}
	return nil
}
