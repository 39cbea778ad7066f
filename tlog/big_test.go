package tlog

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// bigSize is the size of the large log, and bigBatch the bundles per
// append; a checkpoint is saved after each append.
const (
	bigSize  = 10000
	bigBatch = 1000
)

// bigLog is a log of bigSize bundles, made once per test binary.
var bigLog struct {
	once        sync.Once
	err         error
	tmp, dir    string
	key         *SigningKey
	checkpoints [][]byte // after each append: sizes bigBatch, 2·bigBatch, …
	stage       time.Duration
	append      time.Duration
}

// buildLog appends bundles 0..n-1 to a new log at dir in batches of
// bigBatch, bundle replace standing in for bundle k when k >= 0, and
// returns the checkpoint after each batch and the time spent staging and
// appending.
func buildLog(t testing.TB, dir string, key *SigningKey, n, k, replace int) (cps [][]byte, stage, app time.Duration) {
	t.Helper()
	ctx := context.Background()
	if err := Init(ctx, dir, key); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(filepath.Dir(dir), "src.tar")
	for first := 0; first < n; first += bigBatch {
		l, err := Open(ctx, dir, key)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var items []Item
		for i := first; i < min(first+bigBatch, n); i++ {
			b := i
			if i == k {
				b = replace
			}
			if err := os.WriteFile(src, bundleTar(t, b), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := l.Stage(src)
			if err != nil {
				t.Fatal(err)
			}
			items = append(items, Item{Bundle: s, Verdict: Verdict{Reason: "test bundle"}})
		}
		stage += time.Since(start)
		start = time.Now()
		if _, err := l.Append(ctx, items, AppendOptions{AllowUnverified: true}); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		app += time.Since(start)
		cps = append(cps, l.Checkpoint())
	}
	return cps, stage, app
}

func big(t testing.TB) {
	t.Helper()
	bigLog.once.Do(func() {
		if bigLog.tmp, bigLog.err = os.MkdirTemp("", "tlog-big-"); bigLog.err != nil {
			return
		}
		bigLog.key = testKey(t, "example.org/big-log")
		bigLog.dir = filepath.Join(bigLog.tmp, "log")
		bigLog.checkpoints, bigLog.stage, bigLog.append = buildLog(t, bigLog.dir, bigLog.key, bigSize, -1, 0)
	})
	if bigLog.err != nil {
		t.Fatal(bigLog.err)
	}
}

// TestTenThousand: a log of 10 000 bundles verifies; consistency between
// random pairs of its sizes holds against roots recomputed from the
// entries; every saved checkpoint is consistent with the last; and a
// rewrite of one entry is caught, in place (without the key) and by the
// log's owner (a new log signed with the same key).
func TestTenThousand(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the 10 000-entry log takes a while")
	}
	big(t)
	ctx := context.Background()
	dir, key := bigLog.dir, bigLog.key
	t.Logf("staged %d bundles in %v (%.0f/s), appended them in %d appends in %v (%.0f appends/s)",
		bigSize, bigLog.stage, bigSize/bigLog.stage.Seconds(), bigSize/bigBatch, bigLog.append, bigSize/bigLog.append.Seconds())

	start := time.Now()
	res, err := Verify(ctx, dir, VerifyOptions{Verifier: key.Verifier, OldCheckpoint: bigLog.checkpoints[0]})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("verified the whole log (%d entries, every stored bundle re-hashed, %d stale partial tiles checked) in %v", res.Size, res.StalePartials, time.Since(start))
	if res.Size != bigSize {
		t.Fatalf("size %d", res.Size)
	}
	texts := entryTexts(t, res.Entries)
	roots := leafRoots(t, texts)

	r := rand.New(rand.NewPCG(3, 4))
	const pairs = 300
	start = time.Now()
	for range pairs {
		a, b := r.Uint64N(bigSize+1), r.Uint64N(bigSize+1)
		m, n := min(a, b), max(a, b)
		hashes, oldRoot, newRoot, err := ConsistencyBetween(ctx, dir, m, n)
		if err != nil {
			t.Fatalf("%d → %d: %v", m, n, err)
		}
		if !bytes.Equal(oldRoot, roots[m]) || !bytes.Equal(newRoot, roots[n]) {
			t.Fatalf("%d → %d: the tiles' roots are not the entries'", m, n)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, m, n, hashes, roots[m], roots[n]); err != nil {
			t.Fatalf("%d → %d: %v", m, n, err)
		}
	}
	t.Logf("%d consistency proofs between random sizes: %v per proof (made from the tiles and checked)", pairs, time.Since(start)/pairs)

	start = time.Now()
	for range pairs {
		i := r.Uint64N(bigSize)
		p, err := Prove(ctx, dir, i)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p.Entry, texts[i]) {
			t.Fatalf("the proof of entry %d carries another entry", i)
		}
	}
	t.Logf("%d inclusion proofs: %v per proof (made from the tiles and checked against the signed checkpoint)", pairs, time.Since(start)/pairs)

	for i, cp := range bigLog.checkpoints {
		p, _, err := Consistency(ctx, dir, 0, cp)
		if err != nil {
			t.Fatalf("saved checkpoint %d: %v", i, err)
		}
		q, err := ParseConsistencyProof(p.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := CheckConsistency(q, cp, key.Verifier); err != nil {
			t.Fatalf("saved checkpoint %d: %v", i, err)
		}
	}

	t.Run("rewrite in place", func(t *testing.T) {
		// Entry 5000 lies in tile/entries/019 at position 136.
		const k = 5000
		rel := "tile/entries/019"
		orig, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(orig, texts[k])
		if i < 0 {
			t.Fatal("entry 5000 is not in tile/entries/019")
		}
		altered := bytes.Clone(orig)
		j := i + bytes.Index(texts[k], []byte("test bundle"))
		altered[j] = 'T'
		if err := os.WriteFile(filepath.Join(dir, rel), altered, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(filepath.Join(dir, rel), orig, 0o644)
		_, err = Verify(ctx, dir, VerifyOptions{Verifier: key.Verifier})
		if err == nil || !strings.Contains(err.Error(), "tile/0/019: hash 136 is not the leaf hash of entry 5000 (tile/entries/019)") {
			t.Fatalf("Verify of a log with entry 5000 rewritten: %v", err)
		}
		if _, err := Prove(ctx, dir, k); err == nil {
			t.Error("Prove of the rewritten entry succeeded")
		}
	})

	t.Run("rewrite by the owner", func(t *testing.T) {
		// The owner makes a log of 6000 entries with the same key, entry
		// 5000 replaced: it verifies on its own, but not against the
		// checkpoints a reader saved of the real log after 5000 entries.
		const k, n = 5000, 6000
		other := filepath.Join(t.TempDir(), "log")
		buildLog(t, other, key, n, k, 99999)
		if _, err := Verify(ctx, other, VerifyOptions{Verifier: key.Verifier}); err != nil {
			t.Fatalf("the rewritten log does not verify on its own: %v", err)
		}
		for i, cp := range bigLog.checkpoints {
			size := uint64((i + 1) * bigBatch)
			if size > n {
				break
			}
			_, err := Verify(ctx, other, VerifyOptions{Verifier: key.Verifier, OldCheckpoint: cp, skipBundleDigests: true})
			_, _, cerr := Consistency(ctx, other, 0, cp)
			if size <= k {
				if err != nil || cerr != nil {
					t.Errorf("checkpoint of %d entries, before the rewrite: %v, %v", size, err, cerr)
				}
				continue
			}
			want := fmt.Sprintf("the log rewrote its history: its first %d entries hash to", size)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Verify against the checkpoint of %d entries: %v", size, err)
			}
			if cerr == nil || !strings.Contains(cerr.Error(), "rewrote its history") {
				t.Errorf("Consistency from the checkpoint of %d entries: %v", size, cerr)
			}
		}
		// Random old sizes of the real log: the rewritten log's proofs
		// hold exactly for the sizes up to the rewritten entry.
		for range 100 {
			m := r.Uint64N(n + 1)
			hashes, _, newRoot, err := ConsistencyBetween(ctx, other, m, n)
			if err != nil {
				t.Fatal(err)
			}
			err = proof.VerifyConsistency(rfc6962.DefaultHasher, m, n, hashes, roots[m], newRoot)
			if (err == nil) != (m <= k) {
				t.Fatalf("proof from the real log's root at %d to the rewritten log: %v", m, err)
			}
		}
	})
}
