// Package leafproof checks the RFC 9162 inclusion proof of one manifest leaf
// offline, with nothing of the manifest but its root: the leaf, its index,
// the tree size and the audit path. It also reads the proof as
// `kettle manifest prove --json` prints it.
//
// A root does not commit to the size of its tree, so a proof is checked for
// the tree size given; the size that counts is the manifest's leaf count
// that the attested provenance signs with the root.
package leafproof

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strings"

	"github.com/kettle-build/kettle/internal/strictjson"
	"github.com/kettle-build/kettle/provenance"
	"github.com/kettle-build/kettle/provenance/merkle"
)

// MaxJSONSize bounds a proof's JSON: a leaf (a URL or store path and a
// digest) and at most MaxAuditPath hashes fit in a few KiB.
const MaxJSONSize = 64 << 10

// MaxAuditPath is the longest audit path of a manifest, ⌈log2⌉ of the
// largest leaf count a manifest may hold (provenance.MaxManifestLeaves,
// 2^22).
const MaxAuditPath = 22

// Proof is the inclusion proof of one leaf in a manifest of TreeSize leaves
// whose root is Root: the leaf is at Index, and AuditPath runs from the
// leaf's sibling up to the root (RFC 9162 §2.1.3.1).
type Proof struct {
	Leaf      string
	Index     uint64
	TreeSize  uint64
	Root      [32]byte
	AuditPath [][32]byte
}

// proofJSON is the JSON of `kettle manifest prove --json`, field for field.
// Pointers tell a missing field from a zero one.
type proofJSON struct {
	Leaf      *string   `json:"leaf"`
	Index     *uint64   `json:"index"`
	TreeSize  *uint64   `json:"treeSize"`
	Root      *string   `json:"root"`
	AuditPath *[]string `json:"auditPath"`
}

// Decode reads a proof as `kettle manifest prove --json` prints it:
// exactly the fields leaf, index, treeSize, root and auditPath, digests as
// 64 lower-case hex digits, and nothing else. Errors name the field. The
// proof is not checked; Check does that.
func Decode(data []byte) (*Proof, error) {
	if len(data) > MaxJSONSize {
		return nil, fmt.Errorf("%d bytes, more than the %d a proof may have", len(data), MaxJSONSize)
	}
	var j proofJSON
	if err := strictjson.Unmarshal(data, &j); err != nil {
		return nil, err
	}
	switch {
	case j.Leaf == nil:
		return nil, errors.New("leaf: missing")
	case j.Index == nil:
		return nil, errors.New("index: missing")
	case j.TreeSize == nil:
		return nil, errors.New("treeSize: missing")
	case j.Root == nil:
		return nil, errors.New("root: missing")
	case j.AuditPath == nil:
		return nil, errors.New("auditPath: missing (an empty path is [])")
	}
	p := &Proof{Leaf: *j.Leaf, Index: *j.Index, TreeSize: *j.TreeSize}
	var err error
	if p.Root, err = parseLowerHash(*j.Root); err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	if len(*j.AuditPath) > MaxAuditPath {
		return nil, fmt.Errorf("auditPath: %d hashes, more than the %d of the largest manifest", len(*j.AuditPath), MaxAuditPath)
	}
	p.AuditPath = make([][32]byte, len(*j.AuditPath))
	for i, s := range *j.AuditPath {
		if p.AuditPath[i], err = parseLowerHash(s); err != nil {
			return nil, fmt.Errorf("auditPath[%d]: %w", i, err)
		}
	}
	return p, nil
}

// Marshal returns the proof as `kettle manifest prove --json` prints it.
func (p *Proof) Marshal() ([]byte, error) {
	path := make([]string, len(p.AuditPath))
	for i, h := range p.AuditPath {
		path[i] = hex.EncodeToString(h[:])
	}
	root := hex.EncodeToString(p.Root[:])
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(proofJSON{&p.Leaf, &p.Index, &p.TreeSize, &root, &path}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ParseHash parses a digest given on a command line: 64 hex digits, in
// either case.
func ParseHash(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("%q is %d characters, want 64 hex digits", shorten(s), len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%q is not hex: %w", shorten(s), err)
	}
	return h, nil
}

// ParseAuditPath parses an audit path given on a command line: the hashes
// `kettle manifest prove` prints as path[0], path[1], …, in that order,
// separated by commas. The empty string is the empty path (of a manifest
// with one leaf).
func ParseAuditPath(s string) ([][32]byte, error) {
	if s == "" {
		return [][32]byte{}, nil
	}
	fields := strings.Split(s, ",")
	if len(fields) > MaxAuditPath {
		return nil, fmt.Errorf("%d hashes, more than the %d of the largest manifest", len(fields), MaxAuditPath)
	}
	path := make([][32]byte, len(fields))
	for i, f := range fields {
		h, err := ParseHash(f)
		if err != nil {
			return nil, fmt.Errorf("hash %d: %w", i, err)
		}
		path[i] = h
	}
	return path, nil
}

// Check checks that p proves p.Leaf to be leaf p.Index of the manifest of
// p.TreeSize leaves with root root. It refuses, with the reason, a leaf
// that is not a valid manifest leaf, a tree size no manifest has, an index
// outside the tree, an audit path of the wrong length for the index and
// size, and a proof that leads to another root. p.Root is not used: the
// root to check against is the caller's, from attested provenance.
func Check(root [32]byte, p *Proof) error {
	if _, err := provenance.ParseLeaf(p.Leaf); err != nil {
		return err
	}
	return checkLeafHash(root, merkle.HashLeaf([]byte(p.Leaf)), p.Index, p.TreeSize, p.AuditPath)
}

// checkLeafHash is Check for the leaf whose hash is leafHash.
func checkLeafHash(root, leafHash [32]byte, index, size uint64, path [][32]byte) error {
	if size == 0 || size > provenance.MaxManifestLeaves {
		return fmt.Errorf("tree size %d: a manifest has 1 to %d leaves", size, provenance.MaxManifestLeaves)
	}
	if index >= size {
		return fmt.Errorf("index %d is outside a manifest of %d leaves (indices 0 to %d)", index, size, size-1)
	}
	if want := PathLen(index, size); len(path) != want {
		return fmt.Errorf("the audit path has %d hashes; leaf %d of a manifest of %d leaves needs exactly %d", len(path), index, size, want)
	}
	got, err := merkle.RootFromInclusionProof(index, size, leafHash, path)
	if err != nil {
		return err
	}
	if got != root {
		return fmt.Errorf("%w: the proof of this leaf at index %d of %d leads to root %x, not %x: the leaf, its index or the proof is not the manifest's", merkle.ErrRootMismatch, index, size, got, root)
	}
	return nil
}

// PathLen is the number of hashes in the audit path of leaf index of a
// tree of size leaves (index < size): one per level of the leaf's subtree
// below the root, RFC 9162 §2.1.3.1.
func PathLen(index, size uint64) int {
	n := 0
	for size > 1 {
		k := uint64(1) << (bits.Len64(size-1) - 1) // the largest power of two below size
		if index < k {
			size = k
		} else {
			index, size = index-k, size-k
		}
		n++
	}
	return n
}

func parseLowerHash(s string) ([32]byte, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return [32]byte{}, fmt.Errorf("%q is not 64 lower-case hex digits", shorten(s))
		}
	}
	return ParseHash(s)
}

// shorten cuts a long argument for an error message.
func shorten(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
