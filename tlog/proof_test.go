package tlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// leafRoots returns the RFC 9162 root of every prefix of the leaves,
// computed here from the entries' texts with the merkle library alone.
func leafRoots(t testing.TB, entries [][]byte) [][]byte {
	t.Helper()
	cr := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	roots := [][]byte{rfc6962.DefaultHasher.EmptyRoot()}
	for _, e := range entries {
		if err := cr.Append(rfc6962.DefaultHasher.HashLeaf(e), nil); err != nil {
			t.Fatal(err)
		}
		r, err := cr.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, r)
	}
	return roots
}

func entryTexts(t testing.TB, entries []Entry) [][]byte {
	t.Helper()
	out := make([][]byte, len(entries))
	for i := range entries {
		text, err := entries[i].Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = text
	}
	return out
}

func TestProveEveryEntry(t *testing.T) {
	dir, key := base(t)
	ctx := context.Background()
	res, err := checkLog(t, dir, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range res.Entries {
		p, err := Prove(ctx, dir, uint64(i))
		if err != nil {
			t.Fatalf("Prove(%d): %v", i, err)
		}
		q, err := ParseInclusionProof(p.Marshal())
		if err != nil {
			t.Fatalf("ParseInclusionProof(Marshal()) of entry %d: %v", i, err)
		}
		got, cp, err := CheckInclusion(q, key.Verifier)
		if err != nil {
			t.Fatalf("CheckInclusion(%d): %v", i, err)
		}
		if got.Index != uint64(i) || got.ProvenanceSHA256 != e.ProvenanceSHA256 || cp.Size != 263 {
			t.Fatalf("entry %d: the proof is of %+v in a tree of %d", i, got, cp.Size)
		}
		found, err := Find(ctx, dir, e.ProvenanceSHA256)
		if err != nil || found.Index != uint64(i) {
			t.Fatalf("Find(entry %d): %v, %v", i, found, err)
		}
	}
	if _, err := Prove(ctx, dir, 263); err == nil || !strings.Contains(err.Error(), "no entry 263") {
		t.Errorf("Prove past the end: %v", err)
	}
	if _, err := Find(ctx, dir, [32]byte{1}); err == nil || !strings.Contains(err.Error(), "no entry logs provenance") {
		t.Errorf("Find of an unlogged provenance: %v", err)
	}
}

// TestConsistencyPairs: the proof between two sizes of the base log, made
// from its tiles, holds between the roots recomputed from the entries.
func TestConsistencyPairs(t *testing.T) {
	dir, key := base(t)
	ctx := context.Background()
	res, err := checkLog(t, dir, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	roots := leafRoots(t, entryTexts(t, res.Entries))
	pairs := [][2]uint64{{0, 0}, {0, 263}, {1, 1}, {1, 2}, {255, 256}, {256, 257}, {256, 263}, {260, 263}, {263, 263}, {1, 263}, {100, 200}}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		a, b := r.Uint64N(264), r.Uint64N(264)
		pairs = append(pairs, [2]uint64{min(a, b), max(a, b)})
	}
	for _, p := range pairs {
		hashes, oldRoot, newRoot, err := ConsistencyBetween(ctx, dir, p[0], p[1])
		if err != nil {
			t.Fatalf("%v: %v", p, err)
		}
		if !bytes.Equal(oldRoot, roots[p[0]]) || !bytes.Equal(newRoot, roots[p[1]]) {
			t.Fatalf("%v: the tiles' roots are not the entries'", p)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, p[0], p[1], hashes, roots[p[0]], roots[p[1]]); err != nil {
			t.Fatalf("%v: %v", p, err)
		}
	}
	// Against the current checkpoint, from a size and from a checkpoint.
	cp, _, err := Consistency(ctx, dir, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := CheckConsistency(cp, signText(t, key, fmt.Sprintf("%s\n100\n%s\n", key.Signer.Name(), b64(roots[100]))), key.Verifier); err != nil {
		t.Fatal(err)
	}
	p, oldRoot, err := Consistency(ctx, dir, 0, baseLog.cp1)
	if err != nil {
		t.Fatal(err)
	}
	if p.OldSize != 260 || !bytes.Equal(oldRoot, roots[260]) {
		t.Errorf("from the old checkpoint: size %d", p.OldSize)
	}
	q, err := ParseConsistencyProof(p.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	old, cur, err := CheckConsistency(q, baseLog.cp1, key.Verifier)
	if err != nil || old.Size != 260 || cur.Size != 263 {
		t.Fatalf("CheckConsistency: %v", err)
	}
	if _, _, err := Consistency(ctx, dir, 264, nil); err == nil || !strings.Contains(err.Error(), "lost entries") {
		t.Errorf("Consistency from a larger size: %v", err)
	}
}

// TestCheckProofTampered: a proof whose entry, index, hashes or
// checkpoint were changed, or checked with another key, fails.
func TestCheckProofTampered(t *testing.T) {
	dir, key := base(t)
	ctx := context.Background()
	p, err := Prove(ctx, dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	other := testKey(t, key.Signer.Name())
	for _, tc := range []struct {
		name string
		edit func(*InclusionProof)
		key  *SigningKey
		want string
	}{
		{"other key", func(*InclusionProof) {}, other, "proof's checkpoint: not signed by the log's key"},
		{"entry edited", func(p *InclusionProof) {
			p.Entry = bytes.Replace(p.Entry, []byte("test bundle"), []byte("test bundlE"), 1)
		}, key, "is not in the checkpoint's tree"},
		{"entry malformed", func(p *InclusionProof) { p.Entry = p.Entry[1:] }, key, "proof's extra data: entry line 1"},
		{"index", func(p *InclusionProof) { p.Index = 101 }, key, "is not in the checkpoint's tree"},
		{"index past the tree", func(p *InclusionProof) { p.Index = 263 }, key, "index 263, but the checkpoint's tree has 263 entries"},
		{"hash", func(p *InclusionProof) { p.Hashes[2] = bytes.Repeat([]byte{1}, 32) }, key, "is not in the checkpoint's tree"},
		{"hash dropped", func(p *InclusionProof) { p.Hashes = p.Hashes[1:] }, key, "is not in the checkpoint's tree"},
		{"checkpoint edited", func(p *InclusionProof) {
			p.Checkpoint = bytes.Replace(p.Checkpoint, []byte("\n263\n"), []byte("\n264\n"), 1)
		}, key, "does not verify: the checkpoint was altered"},
		{"older checkpoint", func(p *InclusionProof) { p.Checkpoint = baseLog.cp1 }, key, "is not in the checkpoint's tree of 260 entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := ParseInclusionProof(p.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(q)
			if _, _, err := CheckInclusion(q, tc.key.Verifier); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckInclusion: %v, want %q", err, tc.want)
			}
		})
	}
	c, _, err := Consistency(ctx, dir, 0, baseLog.cp1)
	if err != nil {
		t.Fatal(err)
	}
	c.Hashes[0][0] ^= 1
	if _, _, err := CheckConsistency(c, baseLog.cp1, key.Verifier); err == nil || !strings.Contains(err.Error(), "rewrote its history") {
		t.Errorf("CheckConsistency of an altered proof: %v", err)
	}
	c.Hashes[0][0] ^= 1
	c.OldSize = 259
	if _, _, err := CheckConsistency(c, baseLog.cp1, key.Verifier); err == nil || !strings.Contains(err.Error(), "from a tree of 259 entries, but the old checkpoint's has 260") {
		t.Errorf("CheckConsistency with another old size: %v", err)
	}
}

// TestProveRefusesAlteredLog: Prove checks the proof it makes, so a log
// whose tiles or entries were altered yields an error.
func TestProveRefusesAlteredLog(t *testing.T) {
	dir, _ := copyLog(t)
	edit(t, dir, "tile/0/000", func(b []byte) []byte { b[32*4] ^= 1; return b })
	if _, err := Prove(context.Background(), dir, 5); err == nil || !strings.Contains(err.Error(), "the log's own files do not prove entry 5") {
		t.Errorf("Prove on an altered tile: %v", err)
	}
	dir, _ = copyLog(t)
	edit(t, dir, "tile/entries/001.p/7", func(b []byte) []byte { return bytes.Replace(b, []byte("test bundle"), []byte("TEST bundle"), 1) })
	if _, err := Prove(context.Background(), dir, 256); err == nil || !strings.Contains(err.Error(), "do not prove entry 256") {
		t.Errorf("Prove of an altered entry: %v", err)
	}
}

func TestParseProofBadInput(t *testing.T) {
	dir, _ := base(t)
	p, err := Prove(context.Background(), dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	good := string(p.Marshal())
	lines := strings.SplitN(good, "\n", 5)
	for _, tc := range []struct{ name, text, want string }{
		{"empty", "", "no empty line"},
		{"other header", strings.Replace(good, ProofHeader, "c2sp.org/tlog-proof@v2", 1), "proof line 1: want"},
		{"no extra", strings.Replace(good, lines[1]+"\n", "", 1), "proof line 2: want \"extra"},
		{"extra not base64", strings.Replace(good, lines[1], "extra !!", 1), "proof line 2: extra: not standard base64"},
		{"extra unpadded", strings.Replace(good, lines[1], strings.TrimRight(lines[1], "="), 1), "proof line 2: extra"},
		{"index leading zero", strings.Replace(good, "index 3", "index 03", 1), "proof line 3: index: want a decimal"},
		{"index sign", strings.Replace(good, "index 3", "index +3", 1), "proof line 3: index"},
		{"index missing", strings.Replace(good, "index 3\n", "", 1), "proof line 3: want \"index"},
		{"short hash", strings.Replace(good, lines[3], "AAAA", 1), "proof line 4: a hash of 3 bytes, want 32"},
		{"bad hash", strings.Replace(good, lines[3], "not base64!", 1), "proof line 4: not standard base64"},
		{"too long", good + strings.Repeat("x", MaxProofSize), "more than the limit"},
		{"too many hashes", strings.Replace(good, "index 3\n", "index 3\n"+strings.Repeat(lines[3]+"\n", 130), 1), "more than any tree"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseInclusionProof([]byte(tc.text)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseInclusionProof: %v, want %q", err, tc.want)
			}
		})
	}
	c, _, err := Consistency(context.Background(), dir, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	cgood := string(c.Marshal())
	for _, tc := range []struct{ name, text, want string }{
		{"empty", "", "no empty line"},
		{"no old line", strings.Replace(cgood, "old 5", "new 5", 1), "proof line 1: want \"old <size>\""},
		{"old leading zero", strings.Replace(cgood, "old 5", "old 05", 1), "proof line 1: old: want a decimal"},
		{"bad hash", strings.Replace(cgood, "old 5\n", "old 5\nxx\n", 1), "proof line 2: not standard base64"},
	} {
		t.Run("consistency/"+tc.name, func(t *testing.T) {
			if _, err := ParseConsistencyProof([]byte(tc.text)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseConsistencyProof: %v, want %q", err, tc.want)
			}
		})
	}
	if !IsInclusionProof([]byte(good)) || IsInclusionProof([]byte(cgood)) {
		t.Error("IsInclusionProof does not tell the two apart")
	}
}

// proofSeed is a small inclusion proof for the fuzz corpus.
func proofSeed() []byte {
	h := sha256.Sum256([]byte("x"))
	p := &InclusionProof{Index: 1, Entry: []byte(goodEntry), Hashes: [][]byte{h[:]}, Checkpoint: []byte("log\n2\nAAAA\n\n— log AAAA\n")}
	return p.Marshal()
}

// FuzzParseInclusionProof: an accepted proof marshals back to the same
// bytes.
func FuzzParseInclusionProof(f *testing.F) {
	f.Add(proofSeed())
	f.Add([]byte(ProofHeader + "\nextra AA==\nindex 0\n\ncp\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseInclusionProof(data)
		if err != nil {
			return
		}
		if out := p.Marshal(); !bytes.Equal(out, data) {
			t.Fatalf("Marshal(ParseInclusionProof(%q)) = %q", data, out)
		}
		for _, h := range p.Hashes {
			if len(h) != sha256.Size {
				t.Fatalf("a hash of %d bytes", len(h))
			}
		}
	})
}

// FuzzParseConsistencyProof: an accepted proof marshals back to the same
// bytes.
func FuzzParseConsistencyProof(f *testing.F) {
	h := sha256.Sum256([]byte("x"))
	f.Add((&ConsistencyProof{OldSize: 3, Hashes: [][]byte{h[:], h[:]}, Checkpoint: []byte("log\n5\nAAAA\n\n— log AAAA\n")}).Marshal())
	f.Add([]byte("old 0\n\ncp"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseConsistencyProof(data)
		if err != nil {
			return
		}
		if out := p.Marshal(); !bytes.Equal(out, data) {
			t.Fatalf("Marshal(ParseConsistencyProof(%q)) = %q", data, out)
		}
	})
}
