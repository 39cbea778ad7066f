package merkle

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// refMTH computes the Merkle Tree Hash bottom-up, pairing neighbours level
// by level and carrying a lone last node up unchanged. It is a different
// construction from the recursive split of the RFC (and of Root) that
// yields the same tree, so it checks Root independently.
func refMTH(leaves [][]byte) [32]byte {
	if len(leaves) == 0 {
		return sha256.Sum256(nil)
	}
	level := make([][32]byte, len(leaves))
	for i, l := range leaves {
		level[i] = sha256.Sum256(append([]byte{0}, l...))
	}
	for len(level) > 1 {
		var next [][32]byte
		for i := 0; i+1 < len(level); i += 2 {
			buf := append([]byte{1}, level[i][:]...)
			next = append(next, sha256.Sum256(append(buf, level[i+1][:]...)))
		}
		if len(level)%2 == 1 {
			next = append(next, level[len(level)-1])
		}
		level = next
	}
	return level[0]
}

func TestHashLeafAndChildren(t *testing.T) {
	data := []byte("kettle")
	if got, want := HashLeaf(data), sha256.Sum256(append([]byte{0}, data...)); got != want {
		t.Errorf("HashLeaf = %x, want %x", got, want)
	}
	l, r := HashLeaf([]byte("l")), HashLeaf([]byte("r"))
	buf := append(append([]byte{1}, l[:]...), r[:]...)
	if got, want := HashChildren(l, r), sha256.Sum256(buf); got != want {
		t.Errorf("HashChildren = %x, want %x", got, want)
	}
	if HashChildren(l, r) == HashChildren(r, l) {
		t.Error("HashChildren is symmetric")
	}
}

func TestRootMatchesReference(t *testing.T) {
	for n := 0; n <= 300; n++ {
		leaves := seqLeaves(n)
		if got, want := Root(leaves), refMTH(leaves); got != want {
			t.Fatalf("Root of %d leaves = %x, reference %x", n, got, want)
		}
	}
}

func TestSplitPoint(t *testing.T) {
	for n, want := range map[int]int{2: 1, 3: 2, 4: 2, 5: 4, 8: 4, 9: 8, 1000: 512, 1024: 512, 1025: 1024} {
		if got := splitPoint(n); got != want {
			t.Errorf("splitPoint(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestInclusionProperty: for every tree of 1 to 70 leaves, the proof of
// every leaf verifies, and flipping any single bit of the proof, the leaf
// hash or the root, or changing the index or the size, makes it fail.
func TestInclusionProperty(t *testing.T) {
	for size := 1; size <= 70; size++ {
		leaves := seqLeaves(size)
		root := Root(leaves)
		for index := 0; index < size; index++ {
			proof, err := InclusionProof(leaves, index)
			if err != nil {
				t.Fatalf("InclusionProof(%d of %d): %v", index, size, err)
			}
			leafHash := HashLeaf(leaves[index])
			if err := VerifyInclusion(uint64(index), uint64(size), leafHash, proof, root); err != nil {
				t.Fatalf("VerifyInclusion(%d of %d): %v", index, size, err)
			}
			for _, p := range corruptInclusion(uint64(index), uint64(size), leafHash, proof, root) {
				if err := VerifyInclusion(p.index, p.size, p.leafHash, p.proof, p.root); err == nil {
					t.Fatalf("leaf %d of %d: a corrupted proof verified: %s", index, size, p.desc)
				}
			}
			for i := range proof {
				for bit := 0; bit < 8*HashSize; bit += bitStride(size) {
					bad := append([][32]byte(nil), proof...)
					bad[i][bit/8] ^= 1 << (bit % 8)
					if err := VerifyInclusion(uint64(index), uint64(size), leafHash, bad, root); err == nil {
						t.Fatalf("leaf %d of %d: proof with bit %d of hash %d flipped verified", index, size, bit, i)
					}
				}
			}
			for bit := 0; bit < 8*HashSize; bit += bitStride(size) {
				badLeaf, badRoot := leafHash, root
				badLeaf[bit/8] ^= 1 << (bit % 8)
				badRoot[bit/8] ^= 1 << (bit % 8)
				if VerifyInclusion(uint64(index), uint64(size), badLeaf, proof, root) == nil {
					t.Fatalf("leaf %d of %d: leaf hash with bit %d flipped verified", index, size, bit)
				}
				if VerifyInclusion(uint64(index), uint64(size), leafHash, proof, badRoot) == nil {
					t.Fatalf("leaf %d of %d: root with bit %d flipped verified", index, size, bit)
				}
			}
		}
	}
}

// TestConsistencyProperty: for every pair of sizes 1 ≤ m ≤ n ≤ 70 the
// consistency proof verifies, and a proof with a flipped bit, or against the
// wrong sizes or roots, fails.
func TestConsistencyProperty(t *testing.T) {
	const maxSize = 70
	leaves := seqLeaves(maxSize)
	roots := make([][32]byte, maxSize+1)
	for n := 0; n <= maxSize; n++ {
		roots[n] = Root(leaves[:n])
	}
	for n := 1; n <= maxSize; n++ {
		for m := 0; m <= n; m++ {
			proof, err := ConsistencyProof(leaves[:n], m)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", m, n, err)
			}
			if err := VerifyConsistency(uint64(m), uint64(n), roots[m], roots[n], proof); err != nil {
				t.Fatalf("VerifyConsistency(%d, %d): %v", m, n, err)
			}
			if len(proof) == 0 {
				continue
			}
			for _, p := range corruptConsistency(uint64(m), uint64(n), roots[m], roots[n], proof) {
				if err := VerifyConsistency(p.size1, p.size2, p.root1, p.root2, p.proof); err == nil {
					t.Fatalf("%d to %d: a corrupted proof verified: %s", m, n, p.desc)
				}
			}
			for i := range proof {
				for bit := 0; bit < 8*HashSize; bit += bitStride(n) {
					bad := append([][32]byte(nil), proof...)
					bad[i][bit/8] ^= 1 << (bit % 8)
					if err := VerifyConsistency(uint64(m), uint64(n), roots[m], roots[n], bad); err == nil {
						t.Fatalf("%d to %d: proof with bit %d of hash %d flipped verified", m, n, bit, i)
					}
				}
			}
			for bit := 0; bit < 8*HashSize; bit += 7 {
				r1, r2 := roots[m], roots[n]
				r1[bit/8] ^= 1 << (bit % 8)
				r2[bit/8] ^= 1 << (bit % 8)
				if VerifyConsistency(uint64(m), uint64(n), r1, roots[n], proof) == nil {
					t.Fatalf("%d to %d: old root with bit %d flipped verified", m, n, bit)
				}
				if VerifyConsistency(uint64(m), uint64(n), roots[m], r2, proof) == nil {
					t.Fatalf("%d to %d: new root with bit %d flipped verified", m, n, bit)
				}
			}
		}
	}
}

// bitStride says which bits the property tests flip: every bit for trees
// of up to 16 leaves, and for larger ones every fifth bit, which still
// touches every byte of a hash.
func bitStride(size int) int {
	if size <= 16 {
		return 1
	}
	return 5
}

type inclusionProbe struct {
	index, size    uint64
	leafHash, root [32]byte
	proof          [][32]byte
	desc           string
}

// corruptInclusion returns variations of a valid inclusion proof that must
// all fail, after transparency-dev/merkle's corruptInclusionProof.
func corruptInclusion(index, size uint64, leafHash [32]byte, proof [][32]byte, root [32]byte) []inclusionProbe {
	var zero [32]byte
	empty := EmptyRoot()
	probes := []inclusionProbe{
		{index + 1, size, leafHash, root, proof, "index + 1"},
		{index ^ 2, size, leafHash, root, proof, "index ^ 2"},
		{index, size * 2, leafHash, root, proof, "size * 2"},
		{index, size, HashLeaf([]byte("WrongLeaf")), root, proof, "wrong leaf"},
		{index, size, leafHash, empty, proof, "empty root"},
		{index, size, leafHash, someHash, proof, "random root"},
		{index, size, leafHash, root, append(append([][32]byte(nil), proof...), zero), "trailing garbage"},
		{index, size, leafHash, root, append(append([][32]byte(nil), proof...), root), "trailing root"},
		{index, size, leafHash, root, append([][32]byte{zero}, proof...), "preceding garbage"},
		{index, size, leafHash, root, append([][32]byte{root}, proof...), "preceding root"},
	}
	if index > 0 {
		probes = append(probes, inclusionProbe{index - 1, size, leafHash, root, proof, "index - 1"})
	}
	if size > 1 {
		probes = append(probes, inclusionProbe{index, size / 2, leafHash, root, proof, "size / 2"})
	}
	if n := len(proof); n > 0 {
		probes = append(probes, inclusionProbe{index, size, leafHash, root, proof[:n-1], "removed component"})
		probes = append(probes, inclusionProbe{index, size, leafHash, root, proof[1:], "removed first component"})
	}
	if len(proof) > 1 {
		ins := append([][32]byte{proof[0], someHash}, proof[1:]...)
		probes = append(probes, inclusionProbe{index, size, leafHash, root, ins, "inserted component"})
		sw := append([][32]byte(nil), proof...)
		sw[0], sw[1] = sw[1], sw[0]
		if sw[0] != sw[1] {
			probes = append(probes, inclusionProbe{index, size, leafHash, root, sw, "swapped components"})
		}
	}
	// Drop probes that came out equal to the genuine proof (size / 2 of a
	// one-leaf tree and the like).
	out := probes[:0]
	for _, p := range probes {
		if p.index == index && p.size == size && p.leafHash == leafHash && p.root == root && equalHashes(p.proof, proof) {
			continue
		}
		out = append(out, p)
	}
	return out
}

type consistencyProbe struct {
	size1, size2 uint64
	root1, root2 [32]byte
	proof        [][32]byte
	desc         string
}

// corruptConsistency returns variations of a valid non-empty consistency
// proof that must all fail, after transparency-dev/merkle's
// corruptConsistencyProof.
func corruptConsistency(size1, size2 uint64, root1, root2 [32]byte, proof [][32]byte) []consistencyProbe {
	var zero [32]byte
	wrong := HashLeaf([]byte("WrongRoot"))
	ext := func(h ...[32]byte) [][32]byte { return append(append([][32]byte(nil), proof...), h...) }
	pre := func(h ...[32]byte) [][32]byte { return append(h, proof...) }
	probes := []consistencyProbe{
		{size1 - 1, size2, root1, root2, proof, "size1 - 1"},
		{size1 + 1, size2, root1, root2, proof, "size1 + 1"},
		{size1 ^ 2, size2, root1, root2, proof, "size1 ^ 2"},
		{size1, size2 * 2, root1, root2, proof, "size2 * 2"},
		{size1, size2 / 2, root1, root2, proof, "size2 / 2"},
		{size1, size2, wrong, root2, proof, "wrong root1"},
		{size1, size2, root1, wrong, proof, "wrong root2"},
		{size1, size2, root2, root1, proof, "swapped roots"},
		{size1, size2, root1, root2, nil, "empty proof"},
		{size1, size2, root1, root2, ext(zero), "trailing garbage"},
		{size1, size2, root1, root2, ext(root1), "trailing root1"},
		{size1, size2, root1, root2, ext(root2), "trailing root2"},
		{size1, size2, root1, root2, pre(zero), "preceding garbage"},
		{size1, size2, root1, root2, pre(root1), "preceding root1"},
		{size1, size2, root1, root2, pre(root2), "preceding root2"},
		{size1, size2, root1, root2, pre(proof[0]), "preceding proof[0]"},
		{size1, size2, root1, root2, proof[:len(proof)-1], "truncated proof"},
	}
	return probes
}

// FuzzVerifyInclusion feeds arbitrary indices, sizes and proof bytes to
// VerifyInclusion for a fixed tree: it must never panic, and it must accept
// exactly the genuine proof.
func FuzzVerifyInclusion(f *testing.F) {
	const size = 13
	leaves := seqLeaves(size)
	root := Root(leaves)
	f.Add(uint64(3), uint64(size), []byte{})
	f.Add(uint64(12), uint64(size), bytes.Repeat([]byte{7}, 64))
	p, _ := InclusionProof(leaves, 5)
	var genuine []byte
	for _, h := range p {
		genuine = append(genuine, h[:]...)
	}
	f.Add(uint64(5), uint64(size), genuine)
	f.Fuzz(func(t *testing.T, index, sz uint64, raw []byte) {
		var proof [][32]byte
		for len(raw) >= HashSize {
			proof = append(proof, [32]byte(raw[:HashSize]))
			raw = raw[HashSize:]
		}
		leaf := HashLeaf(leaves[index%size])
		err := VerifyInclusion(index, sz, leaf, proof, root)
		if err != nil {
			return
		}
		if index >= size {
			t.Fatalf("VerifyInclusion(%d, %d) accepted leaf %d of a %d-leaf tree", index, sz, index, size)
		}
		if sz != size {
			// A root does not commit to its tree's size: with the right
			// last sibling, a proof shaped for another size can end at
			// the same root (fuzz finding, kept as a seed; any RFC 9162
			// verifier does the same). It still proves only what is true,
			// that this leaf is in this tree; the size a verifier uses is
			// the one signed with the root (manifestLeafCount).
			return
		}
		want, perr := InclusionProof(leaves, int(index))
		if perr != nil || !equalHashes(proof, want) {
			t.Fatalf("VerifyInclusion(%d, %d) accepted a proof that is not the tree's: %x", index, sz, proof)
		}
	})
}

// FuzzVerifyConsistency does the same for consistency proofs from any
// prefix of a fixed tree.
func FuzzVerifyConsistency(f *testing.F) {
	const size = 11
	leaves := seqLeaves(size)
	roots := make([][32]byte, size+1)
	for n := range roots {
		roots[n] = Root(leaves[:n])
	}
	f.Add(uint64(3), uint64(size), []byte{})
	p, _ := ConsistencyProof(leaves, 6)
	var genuine []byte
	for _, h := range p {
		genuine = append(genuine, h[:]...)
	}
	f.Add(uint64(6), uint64(size), genuine)
	f.Fuzz(func(t *testing.T, m, n uint64, raw []byte) {
		var proof [][32]byte
		for len(raw) >= HashSize {
			proof = append(proof, [32]byte(raw[:HashSize]))
			raw = raw[HashSize:]
		}
		if n > size || m > size {
			// Out of range for this tree: only must not panic.
			_ = VerifyConsistency(m, n, someHash, roots[size], proof)
			return
		}
		if err := VerifyConsistency(m, n, roots[m], roots[n], proof); err != nil {
			return
		}
		want, perr := ConsistencyProof(leaves[:n], int(m))
		if perr != nil || !equalHashes(proof, want) {
			t.Fatalf("VerifyConsistency(%d, %d) accepted a proof that is not the tree's: %x", m, n, proof)
		}
	})
}

func BenchmarkRoot(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		leaves := make([][]byte, n)
		for i := range leaves {
			leaves[i] = []byte(fmt.Sprintf("drv:/nix/store/%032d-pkg-%d.drv:%064x", i, i, i))
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				Root(leaves)
			}
		})
	}
}

func BenchmarkInclusionProof(b *testing.B) {
	hashes := LeafHashes(seqLeaves(10000))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := InclusionProofFromLeafHashes(hashes, i%len(hashes)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLeafHashes: LeafHashes is HashLeaf of each leaf, in order, for lists
// short enough for one goroutine and long enough for several.
func TestLeafHashes(t *testing.T) {
	for _, n := range []int{0, 1, 7, 2048, 2049, 10000} {
		leaves := make([]string, n)
		for i := range leaves {
			leaves[i] = strings.Repeat("x", i%97) + strconv.Itoa(i)
		}
		got := LeafHashes(leaves)
		if len(got) != n {
			t.Fatalf("n=%d: %d hashes", n, len(got))
		}
		for i, l := range leaves {
			if got[i] != HashLeaf([]byte(l)) {
				t.Fatalf("n=%d: hash %d differs from HashLeaf", n, i)
			}
		}
	}
}
