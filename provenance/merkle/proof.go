package merkle

import "fmt"

// InclusionProof returns the audit path PATH(index, D[n]) of RFC 9162
// §2.1.3.1 for the leaf at index in a tree of len(leaves) leaves: the
// sibling hashes from the leaf up to the root.
func InclusionProof(leaves [][]byte, index int) ([][32]byte, error) {
	return InclusionProofFromLeafHashes(LeafHashes(leaves), index)
}

// InclusionProofFromLeafHashes is InclusionProof for a tree whose leaf hashes
// are given.
func InclusionProofFromLeafHashes(hashes [][32]byte, index int) ([][32]byte, error) {
	if index < 0 || index >= len(hashes) {
		return nil, fmt.Errorf("merkle: leaf index %d is outside a tree of size %d", index, len(hashes))
	}
	proof := make([][32]byte, 0, bitsFor(len(hashes)))
	return path(proof, hashes, index), nil
}

// path appends PATH(m, D[n]) to proof. The recursion appends the sibling
// subtree's hash after the path inside the chosen half, so the result runs
// from the leaf to the root as the RFC defines it.
func path(proof [][32]byte, hashes [][32]byte, m int) [][32]byte {
	if len(hashes) <= 1 {
		return proof
	}
	k := splitPoint(len(hashes))
	if m < k {
		return append(path(proof, hashes[:k], m), subtreeRoot(hashes[k:]))
	}
	return append(path(proof, hashes[k:], m-k), subtreeRoot(hashes[:k]))
}

// ConsistencyProof returns PROOF(oldSize, D[n]) of RFC 9162 §2.1.4.1, which
// proves that the tree of the first oldSize leaves is a prefix of the tree
// of all len(leaves) leaves. The proof is empty when oldSize is 0 or
// len(leaves), as there is nothing to prove.
func ConsistencyProof(leaves [][]byte, oldSize int) ([][32]byte, error) {
	return ConsistencyProofFromLeafHashes(LeafHashes(leaves), oldSize)
}

// ConsistencyProofFromLeafHashes is ConsistencyProof for a tree whose leaf
// hashes are given.
func ConsistencyProofFromLeafHashes(hashes [][32]byte, oldSize int) ([][32]byte, error) {
	if oldSize < 0 || oldSize > len(hashes) {
		return nil, fmt.Errorf("merkle: old tree size %d is outside 0..%d", oldSize, len(hashes))
	}
	if oldSize == 0 || oldSize == len(hashes) {
		return [][32]byte{}, nil
	}
	proof := make([][32]byte, 0, bitsFor(len(hashes))+1)
	return subproof(proof, hashes, oldSize, true), nil
}

// subproof appends SUBPROOF(m, D[n], b) to proof.
func subproof(proof [][32]byte, hashes [][32]byte, m int, b bool) [][32]byte {
	n := len(hashes)
	if m == n {
		if b {
			return proof
		}
		return append(proof, subtreeRoot(hashes))
	}
	k := splitPoint(n)
	if m <= k {
		return append(subproof(proof, hashes[:k], m, b), subtreeRoot(hashes[k:]))
	}
	return append(subproof(proof, hashes[k:], m-k, false), subtreeRoot(hashes[:k]))
}

// bitsFor is ⌈log2(n)⌉, the length of the longest audit path in a tree of
// n leaves.
func bitsFor(n int) int {
	c := 0
	for s := 1; s < n; s <<= 1 {
		c++
	}
	return c
}
