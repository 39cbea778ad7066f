package merkle

import (
	"errors"
	"fmt"
)

// ErrRootMismatch is returned (wrapped) when a proof is well-formed for the
// given sizes but leads to a root other than the expected one.
var ErrRootMismatch = errors.New("merkle: computed root does not match the expected root")

// VerifyInclusion checks that leafHash is the hash of the leaf at index in
// the tree of the given size whose root is root, following RFC 9162
// §2.1.3.2 step by step.
func VerifyInclusion(index, size uint64, leafHash [32]byte, proof [][32]byte, root [32]byte) error {
	got, err := RootFromInclusionProof(index, size, leafHash, proof)
	if err != nil {
		return err
	}
	if got != root {
		return fmt.Errorf("%w: inclusion proof for leaf %d of %d gives %x, want %x", ErrRootMismatch, index, size, got, root)
	}
	return nil
}

// RootFromInclusionProof runs the inclusion verification of RFC 9162
// §2.1.3.2 and returns the root it arrives at, or an error if the proof does
// not have the shape a tree of the given size requires.
func RootFromInclusionProof(index, size uint64, leafHash [32]byte, proof [][32]byte) ([32]byte, error) {
	// 1. leaf_index must be smaller than tree_size.
	if index >= size {
		return [32]byte{}, fmt.Errorf("merkle: leaf index %d is outside a tree of size %d", index, size)
	}
	// 2. fn = leaf_index, sn = tree_size - 1; 3. r = hash.
	fn, sn := index, size-1
	r := leafHash
	// 4. For each value p in the inclusion path:
	for i, p := range proof {
		// a. If sn is 0, the path is too long.
		if sn == 0 {
			return [32]byte{}, fmt.Errorf("merkle: inclusion proof for leaf %d of %d has %d hashes, too many (at most %d)", index, size, len(proof), i)
		}
		// b. A left sibling, or the last node of its level.
		if fn&1 == 1 || fn == sn {
			r = HashChildren(p, r)
			// ii. Climb over levels where this node has no right sibling.
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = HashChildren(r, p)
		}
		// c. Up one level.
		fn >>= 1
		sn >>= 1
	}
	// 5. The path must reach the root exactly.
	if sn != 0 {
		return [32]byte{}, fmt.Errorf("merkle: inclusion proof for leaf %d of %d has %d hashes, too few", index, size, len(proof))
	}
	return r, nil
}

// VerifyConsistency checks that the tree of oldSize leaves with root oldRoot
// is a prefix of the tree of newSize leaves with root newRoot, following
// RFC 9162 §2.1.4.2 step by step.
//
// The cases the RFC's algorithm leaves out are settled as an RFC 9162 log
// would: equal sizes need an empty proof and equal roots; an old size of 0
// needs an empty proof and the empty tree's root as oldRoot; an old size
// larger than the new one never verifies.
func VerifyConsistency(oldSize, newSize uint64, oldRoot, newRoot [32]byte, proof [][32]byte) error {
	switch {
	case oldSize > newSize:
		return fmt.Errorf("merkle: old tree size %d is larger than new tree size %d", oldSize, newSize)
	case oldSize == newSize:
		if len(proof) != 0 {
			return fmt.Errorf("merkle: consistency proof between equal sizes %d must be empty, has %d hashes", oldSize, len(proof))
		}
		if oldRoot != newRoot {
			return fmt.Errorf("%w: trees of equal size %d have different roots %x and %x", ErrRootMismatch, oldSize, oldRoot, newRoot)
		}
		if oldSize == 0 && oldRoot != EmptyRoot() {
			return fmt.Errorf("%w: root %x of size 0 is not the empty tree's root", ErrRootMismatch, oldRoot)
		}
		return nil
	case oldSize == 0:
		if len(proof) != 0 {
			return fmt.Errorf("merkle: consistency proof from the empty tree must be empty, has %d hashes", len(proof))
		}
		if oldRoot != EmptyRoot() {
			return fmt.Errorf("%w: old root %x of size 0 is not the empty tree's root", ErrRootMismatch, oldRoot)
		}
		return nil
	}

	// 1. An empty path cannot prove anything between different sizes.
	if len(proof) == 0 {
		return fmt.Errorf("merkle: consistency proof from %d to %d is empty", oldSize, newSize)
	}
	// 2. If first is an exact power of 2, prepend first_hash to the path.
	path := proof
	if oldSize&(oldSize-1) == 0 {
		path = make([][32]byte, 0, len(proof)+1)
		path = append(path, oldRoot)
		path = append(path, proof...)
	}
	// 3. fn = first - 1, sn = second - 1.
	fn, sn := oldSize-1, newSize-1
	// 4. While LSB(fn) is set, shift both right.
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	// 5. fr = sr = the first value of the path.
	fr, sr := path[0], path[0]
	// 6. For each subsequent value c:
	for _, c := range path[1:] {
		// a. If sn is 0, the path is too long.
		if sn == 0 {
			return fmt.Errorf("merkle: consistency proof from %d to %d has %d hashes, too many", oldSize, newSize, len(proof))
		}
		// b.
		if fn&1 == 1 || fn == sn {
			fr = HashChildren(c, fr)
			sr = HashChildren(c, sr)
			// ii. Climb over levels where this node has no right sibling.
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			sr = HashChildren(sr, c)
		}
		// c. Up one level.
		fn >>= 1
		sn >>= 1
	}
	// 7. Both roots must match and sn must be 0.
	if sn != 0 {
		return fmt.Errorf("merkle: consistency proof from %d to %d has %d hashes, too few", oldSize, newSize, len(proof))
	}
	if fr != oldRoot {
		return fmt.Errorf("%w: consistency proof from %d to %d gives old root %x, want %x", ErrRootMismatch, oldSize, newSize, fr, oldRoot)
	}
	if sr != newRoot {
		return fmt.Errorf("%w: consistency proof from %d to %d gives new root %x, want %x", ErrRootMismatch, oldSize, newSize, sr, newRoot)
	}
	return nil
}
