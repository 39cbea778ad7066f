package merkle

import (
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
)

// The tests of this file check the package against
// github.com/transparency-dev/merkle, the RFC 6962 / RFC 9162 reference
// implementation of the Certificate Transparency ecosystem: its vector set
// (testonly.LeafInputs and the published root and node hashes), its
// in-memory reference tree (testonly.Tree, whose proofs come from its proof
// package) and its verifier (proof.VerifyInclusion, VerifyConsistency).

// refSize is the largest tree the exhaustive comparisons build: every
// shape of subtree up to 128 leaves, and a few beyond.
const refSize = 130

// refLeaves extends the eight leaves of the vector set to n leaves.
func refLeaves(n int) [][]byte {
	leaves := testonly.LeafInputs()
	for i := len(leaves); i < n; i++ {
		leaves = append(leaves, []byte(fmt.Sprintf("reference leaf %d", i)))
	}
	return leaves[:n]
}

// refTree is testonly.Tree over leaves.
func refTree(leaves [][]byte) *testonly.Tree {
	tree := testonly.New(rfc6962.DefaultHasher)
	tree.AppendData(leaves...)
	return tree
}

func toSlices(hashes [][32]byte) [][]byte {
	out := make([][]byte, len(hashes))
	for i := range hashes {
		out[i] = hashes[i][:]
	}
	return out
}

func fromSlices(t *testing.T, hashes [][]byte) [][32]byte {
	t.Helper()
	out := make([][32]byte, len(hashes))
	for i, h := range hashes {
		if len(h) != HashSize {
			t.Fatalf("reference hash %d has %d bytes", i, len(h))
		}
		out[i] = [32]byte(h)
	}
	return out
}

// TestVectorNodeHashes: the root of every complete subtree of the vector
// set is the published node hash.
func TestVectorNodeHashes(t *testing.T) {
	leaves := testonly.LeafInputs()
	for level, row := range testonly.NodeHashes() {
		for i, want := range row {
			lo, hi := i<<level, (i+1)<<level
			if got := Root(leaves[lo:hi]); got != [32]byte(want) {
				t.Errorf("node (level %d, index %d) = %x, want %x", level, i, got, want)
			}
		}
	}
	if got, want := EmptyRoot(), [32]byte(rfc6962.DefaultHasher.EmptyRoot()); got != want {
		t.Errorf("EmptyRoot = %x, the reference hasher's %x", got, want)
	}
}

// TestInclusionAgainstReference compares the inclusion proof of every leaf
// of every tree of 1 to refSize leaves with the reference tree's, and checks
// that each verifier accepts the other's proofs and refuses the same
// corrupted ones.
func TestInclusionAgainstReference(t *testing.T) {
	leaves := refLeaves(refSize)
	tree := refTree(leaves)
	hashes := LeafHashes(leaves)
	for size := uint64(1); size <= refSize; size++ {
		root := RootFromLeafHashes(hashes[:size])
		if want := [32]byte(tree.HashAt(size)); root != want {
			t.Fatalf("root of %d leaves = %x, reference %x", size, root, want)
		}
		for index := uint64(0); index < size; index++ {
			got, err := InclusionProofFromLeafHashes(hashes[:size], int(index))
			if err != nil {
				t.Fatalf("InclusionProof(%d of %d): %v", index, size, err)
			}
			ref, err := tree.InclusionProof(index, size)
			if err != nil {
				t.Fatalf("reference InclusionProof(%d of %d): %v", index, size, err)
			}
			if want := fromSlices(t, ref); !equalHashes(got, want) {
				t.Fatalf("InclusionProof(%d of %d) = %x, reference %x", index, size, got, want)
			}
			if err := VerifyInclusion(index, size, hashes[index], got, root); err != nil {
				t.Fatalf("VerifyInclusion(%d of %d): %v", index, size, err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, hashes[index][:], toSlices(got), root[:]); err != nil {
				t.Fatalf("the reference verifier refuses our proof of %d of %d: %v", index, size, err)
			}
			if size > 40 && index%7 != 0 {
				continue // the corruptions of every seventh leaf of the larger trees
			}
			for _, p := range corruptInclusion(index, size, hashes[index], got, root) {
				ours := VerifyInclusion(p.index, p.size, p.leafHash, p.proof, p.root)
				theirs := proof.VerifyInclusion(rfc6962.DefaultHasher, p.index, p.size, p.leafHash[:], toSlices(p.proof), p.root[:])
				if (ours == nil) != (theirs == nil) {
					t.Errorf("leaf %d of %d, %s: VerifyInclusion = %v, the reference verifier %v", index, size, p.desc, ours, theirs)
				}
				if ours == nil && p.size == size {
					t.Errorf("leaf %d of %d, %s: accepted", index, size, p.desc)
				}
			}
		}
	}
}

// TestConsistencyAgainstReference does the same for the consistency proofs
// between every pair of sizes up to 70.
func TestConsistencyAgainstReference(t *testing.T) {
	const n = 70
	leaves := refLeaves(n)
	tree := refTree(leaves)
	hashes := LeafHashes(leaves)
	roots := make([][32]byte, n+1)
	for size := range roots {
		roots[size] = RootFromLeafHashes(hashes[:size])
	}
	for size2 := uint64(1); size2 <= n; size2++ {
		for size1 := uint64(0); size1 <= size2; size1++ {
			got, err := ConsistencyProofFromLeafHashes(hashes[:size2], int(size1))
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", size1, size2, err)
			}
			ref, err := tree.ConsistencyProof(size1, size2)
			if err != nil {
				t.Fatalf("reference ConsistencyProof(%d, %d): %v", size1, size2, err)
			}
			if want := fromSlices(t, ref); !equalHashes(got, want) {
				t.Fatalf("ConsistencyProof(%d, %d) = %x, reference %x", size1, size2, got, want)
			}
			r1, r2 := roots[size1], roots[size2]
			if err := VerifyConsistency(size1, size2, r1, r2, got); err != nil {
				t.Fatalf("VerifyConsistency(%d, %d): %v", size1, size2, err)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, toSlices(got), r1[:], r2[:]); err != nil {
				t.Fatalf("the reference verifier refuses our consistency proof %d → %d: %v", size1, size2, err)
			}
			if len(got) == 0 || size2%5 != 0 {
				continue
			}
			for _, p := range corruptConsistency(size1, size2, r1, r2, got) {
				if err := VerifyConsistency(p.size1, p.size2, p.root1, p.root2, p.proof); err == nil {
					t.Errorf("%d → %d, %s: accepted", size1, size2, p.desc)
				}
				if err := proof.VerifyConsistency(rfc6962.DefaultHasher, p.size1, p.size2, toSlices(p.proof), p.root1[:], p.root2[:]); err == nil {
					t.Errorf("%d → %d, %s: the reference verifier accepts it, and so the probe is not a corruption", size1, size2, p.desc)
				}
			}
		}
	}
}
