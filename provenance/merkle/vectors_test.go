package merkle

import (
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/testonly"
)

// The leaves, roots and node hashes of the vector set come from
// github.com/transparency-dev/merkle's testonly package (a test
// dependency), the RFC 6962 / RFC 9162 reference vectors first published
// with the Certificate Transparency C++ log; reference_test.go checks this
// package against that module's proofs for trees of every size up to 130.
// The published proofs below are those of its proof/verify_test.go, which
// the module does not export.

// ctLeafData returns the first n leaves of the vector set.
func ctLeafData(n int) [][]byte { return testonly.LeafInputs()[:n] }

// ctRoot is the published root of the tree of the first size leaves.
func ctRoot(size uint64) [32]byte { return [32]byte(testonly.RootHashes()[size]) }

// ctEmptyRoot is the root of the empty tree, SHA-256("").
func ctEmptyRoot() [32]byte { return [32]byte(testonly.EmptyRootHash()) }

// ctInclusion are the published inclusion proofs; leaf is 1-based as in the
// original vectors.
var ctInclusion = []struct {
	leaf, size uint64
	proof      []string
}{
	{1, 1, nil},
	{1, 8, []string{
		"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
	}},
	{6, 8, []string{
		"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	}},
	{3, 3, []string{
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	}},
	{2, 5, []string{
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
	}},
}

// ctConsistency are the published consistency proofs.
var ctConsistency = []struct {
	size1, size2 uint64
	proof        []string
}{
	{1, 1, nil},
	{1, 8, []string{
		"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
	}},
	{6, 8, []string{
		"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	}},
	{2, 5, []string{
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
	}},
	{6, 7, []string{
		"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		"b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	}},
}

// someHash is an arbitrary hash that is no node of any test tree.
var someHash = mustHash("abacaba000000000000000000000000000000000000000000060061e00123456")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(fmt.Sprintf("bad hex %q in test vectors: %v", s, err))
	}
	return b
}

func mustHash(s string) [32]byte {
	b := mustHex(s)
	if len(b) != HashSize {
		panic(fmt.Sprintf("hash %q in test vectors has %d bytes", s, len(b)))
	}
	return [32]byte(b)
}

func mustHashes(ss []string) [][32]byte {
	out := make([][32]byte, 0, len(ss))
	for _, s := range ss {
		out = append(out, mustHash(s))
	}
	return out
}

func TestEmptyRoot(t *testing.T) {
	want := ctEmptyRoot()
	if got := Root(nil); got != want {
		t.Errorf("Root(nil) = %x, want %x", got, want)
	}
	if got := EmptyRoot(); got != want {
		t.Errorf("EmptyRoot() = %x, want %x", got, want)
	}
}

func TestPublishedRoots(t *testing.T) {
	for size := range len(testonly.LeafInputs()) + 1 {
		if got, want := Root(ctLeafData(size)), ctRoot(uint64(size)); got != want {
			t.Errorf("Root of the first %d leaves = %x, want %x", size, got, want)
		}
	}
	// The root of a one-leaf tree is its leaf hash.
	if got, want := HashLeaf(nil), ctRoot(1); got != want {
		t.Errorf("HashLeaf(\"\") = %x, want %x", got, want)
	}
}

func TestPublishedInclusionProofs(t *testing.T) {
	leaves := testonly.LeafInputs()
	for _, v := range ctInclusion {
		t.Run(fmt.Sprintf("leaf%d_size%d", v.leaf, v.size), func(t *testing.T) {
			index := v.leaf - 1
			want := mustHashes(v.proof)
			got, err := InclusionProof(leaves[:v.size], int(index))
			if err != nil {
				t.Fatalf("InclusionProof: %v", err)
			}
			if !equalHashes(got, want) {
				t.Errorf("InclusionProof(%d of %d) = %x, want %x", index, v.size, got, want)
			}
			root := ctRoot(v.size)
			leafHash := HashLeaf(leaves[index])
			if err := VerifyInclusion(index, v.size, leafHash, want, root); err != nil {
				t.Fatalf("VerifyInclusion of the published proof: %v", err)
			}
			for _, p := range corruptInclusion(index, v.size, leafHash, want, root) {
				if err := VerifyInclusion(p.index, p.size, p.leafHash, p.proof, p.root); err == nil {
					t.Errorf("VerifyInclusion accepted a corrupted proof: %s", p.desc)
				}
			}
		})
	}
}

func TestPublishedConsistencyProofs(t *testing.T) {
	leaves := testonly.LeafInputs()
	for _, v := range ctConsistency {
		t.Run(fmt.Sprintf("%d_to_%d", v.size1, v.size2), func(t *testing.T) {
			want := mustHashes(v.proof)
			got, err := ConsistencyProof(leaves[:v.size2], int(v.size1))
			if err != nil {
				t.Fatalf("ConsistencyProof: %v", err)
			}
			if !equalHashes(got, want) {
				t.Errorf("ConsistencyProof(%d, %d) = %x, want %x", v.size1, v.size2, got, want)
			}
			root1, root2 := ctRoot(v.size1), ctRoot(v.size2)
			if err := VerifyConsistency(v.size1, v.size2, root1, root2, want); err != nil {
				t.Fatalf("VerifyConsistency of the published proof: %v", err)
			}
			if len(want) == 0 {
				return
			}
			for _, p := range corruptConsistency(v.size1, v.size2, root1, root2, want) {
				if err := VerifyConsistency(p.size1, p.size2, p.root1, p.root2, p.proof); err == nil {
					t.Errorf("VerifyConsistency accepted a corrupted proof: %s", p.desc)
				}
			}
		})
	}
}

// node names a node of a tree by level and index within the level, as the
// transparency-dev/merkle proof tests do: node{l, i} covers leaves
// [i·2^l, (i+1)·2^l), cut at the tree size.
type node struct{ level, index uint }

// ephemeral lists nodes whose union is one proof element: a right-edge node
// of an incomplete tree, hashed from the nodes it covers.
type ephemeral []node

// expectedProof turns a list of proof elements (each a node or an
// ephemeral group) into hashes computed directly from the RFC definition.
func expectedProof(t *testing.T, leaves [][]byte, size uint64, elems []any) [][32]byte {
	t.Helper()
	var out [][32]byte
	for _, e := range elems {
		var group []node
		switch e := e.(type) {
		case node:
			group = []node{e}
		case ephemeral:
			group = e
		default:
			t.Fatalf("bad test element %T", e)
		}
		lo, hi := ^uint64(0), uint64(0)
		for _, n := range group {
			a := uint64(n.index) << n.level
			b := min(uint64(n.index+1)<<n.level, size)
			lo, hi = min(lo, a), max(hi, b)
		}
		out = append(out, refMTH(leaves[lo:hi]))
	}
	return out
}

func seqLeaves(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("leaf %d", i))
	}
	return out
}

// TestInclusionProofShape checks which nodes make up inclusion proofs, for
// trees of up to 95 leaves, against the node lists of transparency-dev/merkle
// (proof/proof_test.go TestInclusion).
func TestInclusionProofShape(t *testing.T) {
	type e = ephemeral
	for _, tc := range []struct {
		size, index uint64
		want        []any
	}{
		{1, 0, nil},
		{2, 0, []any{node{0, 1}}},
		{2, 1, []any{node{0, 0}}},
		{3, 1, []any{node{0, 0}, node{0, 2}}},
		{7, 0, []any{node{0, 1}, node{1, 1}, e{{0, 6}, {1, 2}}}},
		{7, 1, []any{node{0, 0}, node{1, 1}, e{{0, 6}, {1, 2}}}},
		{7, 2, []any{node{0, 3}, node{1, 0}, e{{0, 6}, {1, 2}}}},
		{7, 3, []any{node{0, 2}, node{1, 0}, e{{0, 6}, {1, 2}}}},
		{7, 4, []any{node{0, 5}, node{0, 6}, node{2, 0}}},
		{7, 5, []any{node{0, 4}, node{0, 6}, node{2, 0}}},
		{7, 6, []any{node{1, 2}, node{2, 0}}},
		{4, 2, []any{node{0, 3}, node{1, 0}}},
		{5, 3, []any{node{0, 2}, node{1, 0}, node{0, 4}}},
		{6, 3, []any{node{0, 2}, node{1, 0}, node{1, 2}}},
		{6, 4, []any{node{0, 5}, node{2, 0}}},
		{15, 10, []any{node{0, 11}, node{1, 4}, e{{0, 14}, {1, 6}}, node{3, 0}}},
		{31, 24, []any{node{0, 25}, node{1, 13}, e{{0, 30}, {1, 14}}, node{3, 2}, node{4, 0}}},
		{95, 81, []any{node{0, 80}, node{1, 41}, node{2, 21}, e{{0, 94}, {1, 46}, {2, 22}}, node{4, 4}, node{6, 0}}},
	} {
		t.Run(fmt.Sprintf("%d_%d", tc.size, tc.index), func(t *testing.T) {
			leaves := seqLeaves(int(tc.size))
			want := expectedProof(t, leaves, tc.size, tc.want)
			got, err := InclusionProof(leaves, int(tc.index))
			if err != nil {
				t.Fatalf("InclusionProof: %v", err)
			}
			if !equalHashes(got, want) {
				t.Errorf("InclusionProof(%d of %d) = %x, want %x", tc.index, tc.size, got, want)
			}
		})
	}
}

// TestConsistencyProofShape is TestInclusionProofShape for consistency
// proofs (transparency-dev/merkle proof/proof_test.go TestConsistency).
func TestConsistencyProofShape(t *testing.T) {
	type e = ephemeral
	for _, tc := range []struct {
		size1, size2 uint64
		want         []any
	}{
		{1, 2, []any{node{0, 1}}},
		{1, 4, []any{node{0, 1}, node{1, 1}}},
		{1, 6, []any{node{0, 1}, node{1, 1}, node{1, 2}}},
		{2, 3, []any{node{0, 2}}},
		{2, 8, []any{node{1, 1}, node{2, 1}}},
		{3, 7, []any{node{0, 2}, node{0, 3}, node{1, 0}, e{{0, 6}, {1, 2}}}},
		{4, 7, []any{e{{0, 6}, {1, 2}}}},
		{5, 7, []any{node{0, 4}, node{0, 5}, node{0, 6}, node{2, 0}}},
		{6, 7, []any{node{1, 2}, node{0, 6}, node{2, 0}}},
		{7, 8, []any{node{0, 6}, node{0, 7}, node{1, 2}, node{2, 0}}},
		{1, 1, nil},
		{2, 2, nil},
		{3, 3, nil},
		{4, 4, nil},
		{5, 5, nil},
		{7, 7, nil},
		{8, 8, nil},
		{2, 4, []any{node{1, 1}}},
		{3, 5, []any{node{0, 2}, node{0, 3}, node{1, 0}, node{0, 4}}},
		{3, 6, []any{node{0, 2}, node{0, 3}, node{1, 0}, node{1, 2}}},
		{4, 6, []any{node{1, 2}}},
		{1, 7, []any{node{0, 1}, node{1, 1}, e{{0, 6}, {1, 2}}}},
		{10, 15, []any{node{1, 4}, node{1, 5}, e{{0, 14}, {1, 6}}, node{3, 0}}},
		{24, 31, []any{node{3, 2}, e{{0, 30}, {1, 14}, {2, 6}}, node{4, 0}}},
		{81, 95, []any{node{0, 80}, node{0, 81}, node{1, 41}, node{2, 21}, e{{0, 94}, {1, 46}, {2, 22}}, node{4, 4}, node{6, 0}}},
	} {
		t.Run(fmt.Sprintf("%d_%d", tc.size1, tc.size2), func(t *testing.T) {
			leaves := seqLeaves(int(tc.size2))
			want := expectedProof(t, leaves, tc.size2, tc.want)
			got, err := ConsistencyProof(leaves, int(tc.size1))
			if err != nil {
				t.Fatalf("ConsistencyProof: %v", err)
			}
			if !equalHashes(got, want) {
				t.Errorf("ConsistencyProof(%d, %d) = %x, want %x", tc.size1, tc.size2, got, want)
			}
			if err := VerifyConsistency(tc.size1, tc.size2, refMTH(leaves[:tc.size1]), refMTH(leaves), got); err != nil {
				t.Errorf("VerifyConsistency: %v", err)
			}
		})
	}
}

// TestVerifyInclusionSingleEntry: the root of a one-leaf tree is its leaf
// hash and the proof is empty.
func TestVerifyInclusionSingleEntry(t *testing.T) {
	h := HashLeaf([]byte("data"))
	if err := VerifyInclusion(0, 1, h, nil, h); err != nil {
		t.Errorf("one-leaf tree: %v", err)
	}
	if err := VerifyInclusion(0, 1, h, nil, someHash); err == nil {
		t.Error("one-leaf tree with a wrong root verified")
	}
	if err := VerifyInclusion(0, 1, someHash, nil, h); err == nil {
		t.Error("one-leaf tree with a wrong leaf verified")
	}
}

func TestVerifyInclusionBadSizes(t *testing.T) {
	empty := ctEmptyRoot()
	for _, p := range []struct{ index, size uint64 }{{0, 0}, {1, 0}, {1, 1}, {2, 1}, {8, 8}, {1 << 63, 5}} {
		for _, root := range [][32]byte{empty, someHash} {
			if err := VerifyInclusion(p.index, p.size, someHash, nil, root); err == nil {
				t.Errorf("VerifyInclusion(%d, %d) with an out-of-range index verified", p.index, p.size)
			}
		}
	}
}

func TestVerifyConsistencyEdgeCases(t *testing.T) {
	root1, root2 := HashLeaf([]byte("don't care 1")), HashLeaf([]byte("don't care 2"))
	empty := ctEmptyRoot()
	for _, tc := range []struct {
		size1, size2 uint64
		root1, root2 [32]byte
		proof        [][32]byte
		wantErr      bool
	}{
		{0, 0, empty, empty, nil, false},
		{0, 1, empty, root2, nil, false},
		{1, 1, root2, root2, nil, false},
		{0, 0, root1, root2, nil, true},
		{1, 1, root1, root2, nil, true},
		{0, 0, root1, root1, nil, true}, // not the empty tree's root
		{0, 5, root1, root2, nil, true}, // not the empty tree's root
		{1, 0, root1, root2, nil, true}, // time travel
		{2, 1, root1, root2, nil, true},
		{1, 2, root1, root2, nil, true}, // empty proof
		{0, 0, empty, empty, [][32]byte{empty}, true},
		{0, 1, empty, root2, [][32]byte{empty}, true},
		{1, 1, root2, root2, [][32]byte{empty}, true},
	} {
		err := VerifyConsistency(tc.size1, tc.size2, tc.root1, tc.root2, tc.proof)
		if (err != nil) != tc.wantErr {
			t.Errorf("VerifyConsistency(%d, %d, %x, %x, %d hashes) = %v, want error %v", tc.size1, tc.size2, tc.root1[:4], tc.root2[:4], len(tc.proof), err, tc.wantErr)
		}
	}
}

func TestProofBadArguments(t *testing.T) {
	leaves := seqLeaves(5)
	for _, i := range []int{-1, 5, 6} {
		if _, err := InclusionProof(leaves, i); err == nil {
			t.Errorf("InclusionProof(5 leaves, %d) succeeded", i)
		}
	}
	if _, err := InclusionProof(nil, 0); err == nil {
		t.Error("InclusionProof of an empty tree succeeded")
	}
	for _, m := range []int{-1, 6} {
		if _, err := ConsistencyProof(leaves, m); err == nil {
			t.Errorf("ConsistencyProof(5 leaves, %d) succeeded", m)
		}
	}
	for _, m := range []int{0, 5} {
		p, err := ConsistencyProof(leaves, m)
		if err != nil || len(p) != 0 {
			t.Errorf("ConsistencyProof(5 leaves, %d) = %x, %v; want an empty proof", m, p, err)
		}
	}
}

func equalHashes(a, b [][32]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
