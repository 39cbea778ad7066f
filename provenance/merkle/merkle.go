// Package merkle implements the Merkle Tree Hash of RFC 9162 (Certificate
// Transparency 2.0, the same tree as RFC 6962) with its inclusion and
// consistency proofs, over SHA-256.
//
// A leaf is hashed as SHA-256(0x00 ‖ data) and an interior node as
// SHA-256(0x01 ‖ left ‖ right); a tree of n > 1 leaves is split at k, the
// largest power of two smaller than n. The root of the empty tree is
// SHA-256 of the empty string. Proofs produced here verify with any RFC 9162
// verifier, and VerifyInclusion and VerifyConsistency follow the algorithms
// of RFC 9162 §2.1.3.2 and §2.1.4.2 step by step.
//
// The algorithms are written out here rather than taken from a library: they
// are a few dozen lines, they must match the RFC exactly (which the tests
// check against the published certificate-transparency vectors), and keeping
// them local spares every verifier of a Kettle bundle a dependency whose
// API is shaped for large, storage-backed logs rather than for a tree held
// in memory.
package merkle

import (
	"crypto/sha256"
	"math/bits"
	"runtime"
	"sync"
)

// HashSize is the size in bytes of every hash in the tree.
const HashSize = sha256.Size

// Domain-separation prefixes of RFC 9162 §2.1.1.
const (
	leafPrefix = 0x00
	nodePrefix = 0x01
)

// HashLeaf returns the hash of a leaf, SHA-256(0x00 ‖ data).
func HashLeaf(data []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{leafPrefix})
	h.Write(data)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// LeafHashes returns HashLeaf of every leaf, in order. A long list is hashed
// on up to GOMAXPROCS goroutines, each reusing one buffer, so that a manifest
// of tens of thousands of leaves costs what its bytes cost to hash.
func LeafHashes[L ~string | ~[]byte](leaves []L) [][32]byte {
	hashes := make([][32]byte, len(leaves))
	const perWorker = 2048 // below this, starting a goroutine costs more than it saves
	workers := min(runtime.GOMAXPROCS(0), (len(leaves)+perWorker-1)/perWorker)
	if workers <= 1 {
		hashLeavesInto(hashes, leaves)
		return hashes
	}
	var wg sync.WaitGroup
	chunk := (len(leaves) + workers - 1) / workers
	for start := 0; start < len(leaves); start += chunk {
		end := min(start+chunk, len(leaves))
		wg.Add(1)
		go func() {
			defer wg.Done()
			hashLeavesInto(hashes[start:end], leaves[start:end])
		}()
	}
	wg.Wait()
	return hashes
}

func hashLeavesInto[L ~string | ~[]byte](hashes [][32]byte, leaves []L) {
	buf := []byte{leafPrefix}
	for i, l := range leaves {
		buf = append(buf[:1], l...)
		hashes[i] = sha256.Sum256(buf)
	}
}

// HashChildren returns the hash of an interior node, SHA-256(0x01 ‖ l ‖ r).
func HashChildren(l, r [32]byte) [32]byte {
	var buf [1 + 2*HashSize]byte
	buf[0] = nodePrefix
	copy(buf[1:], l[:])
	copy(buf[1+HashSize:], r[:])
	return sha256.Sum256(buf[:])
}

// EmptyRoot returns the root of the empty tree, SHA-256 of the empty string.
func EmptyRoot() [32]byte {
	return sha256.Sum256(nil)
}

// Root returns the Merkle Tree Hash of the leaves (RFC 9162 §2.1.1).
func Root(leaves [][]byte) [32]byte {
	return RootFromLeafHashes(LeafHashes(leaves))
}

// RootFromLeafHashes returns the Merkle Tree Hash of a tree whose leaf
// hashes are given.
func RootFromLeafHashes(hashes [][32]byte) [32]byte {
	if len(hashes) == 0 {
		return EmptyRoot()
	}
	return subtreeRoot(hashes)
}

// subtreeRoot is MTH(D[n]) for n ≥ 1 given the leaf hashes of D[n].
func subtreeRoot(hashes [][32]byte) [32]byte {
	if len(hashes) == 1 {
		return hashes[0]
	}
	k := splitPoint(len(hashes))
	return HashChildren(subtreeRoot(hashes[:k]), subtreeRoot(hashes[k:]))
}

// splitPoint returns k, the largest power of two smaller than n (n ≥ 2).
func splitPoint(n int) int {
	return 1 << (bits.Len(uint(n-1)) - 1)
}
