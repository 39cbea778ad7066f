package tlog

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkAppend appends b.N staged bundles in one Append, as `kettle log
// append` does with many bundles: tessera sequences them in batches of up
// to 256 and the call waits for the checkpoint that covers them.
func BenchmarkAppend(b *testing.B) {
	key := testKey(b, "example.org/bench-log")
	dir := newLog(b, key)
	ctx := context.Background()
	l, err := Open(ctx, dir, key)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(ctx)
	src := filepath.Join(b.TempDir(), "src.tar")
	items := make([]Item, b.N)
	for i := range items {
		if err := os.WriteFile(src, bundleTar(b, i), 0o644); err != nil {
			b.Fatal(err)
		}
		s, err := l.Stage(src)
		if err != nil {
			b.Fatal(err)
		}
		items[i] = Item{Bundle: s, Verdict: Verdict{Reason: "bench"}}
	}
	b.ResetTimer()
	if _, err := l.Append(ctx, items, AppendOptions{AllowUnverified: true}); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkStage copies a bundle into the log and reads it back, the part
// of an append before verification.
func BenchmarkStage(b *testing.B) {
	key := testKey(b, "example.org/bench-log")
	dir := newLog(b, key)
	ctx := context.Background()
	l, err := Open(ctx, dir, key)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(ctx)
	src := filepath.Join(b.TempDir(), "src.tar")
	if err := os.WriteFile(src, bundleTar(b, 1), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s, err := l.Stage(src)
		if err != nil {
			b.Fatal(err)
		}
		s.Discard()
	}
}

// BenchmarkAppendOne is one `kettle log append` of one bundle: open (with
// the structural check of the log), stage, append, wait for the
// checkpoint, close. The checkpoint wait dominates: tessera publishes at
// most every 100 ms.
func BenchmarkAppendOne(b *testing.B) {
	key := testKey(b, "example.org/bench-log")
	dir := newLog(b, key)
	src := filepath.Join(b.TempDir(), "src.tar")
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if err := os.WriteFile(src, bundleTar(b, i), 0o644); err != nil {
			b.Fatal(err)
		}
		i++
		l, err := Open(ctx, dir, key)
		if err != nil {
			b.Fatal(err)
		}
		s, err := l.Stage(src)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.Append(ctx, []Item{{Bundle: s, Verdict: Verdict{Reason: "bench"}}}, AppendOptions{AllowUnverified: true}); err != nil {
			b.Fatal(err)
		}
		if err := l.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProve makes and checks the inclusion proof of a random entry
// of the 10 000-entry log, reading the checkpoint and tiles from disk.
func BenchmarkProve(b *testing.B) {
	big(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	for b.Loop() {
		if _, err := Prove(ctx, bigLog.dir, r.Uint64N(bigSize)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConsistency makes the consistency proof from a random size of
// the 10 000-entry log to its checkpoint, and checks it.
func BenchmarkConsistency(b *testing.B) {
	big(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 8))
	for b.Loop() {
		if _, _, err := Consistency(ctx, bigLog.dir, r.Uint64N(bigSize+1), nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify verifies the whole 10 000-entry log, stored bundles
// re-hashed.
func BenchmarkVerify(b *testing.B) {
	big(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := Verify(ctx, bigLog.dir, VerifyOptions{Verifier: bigLog.key.Verifier}); err != nil {
			b.Fatal(err)
		}
	}
}
