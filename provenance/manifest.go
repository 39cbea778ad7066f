package provenance

import (
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	"github.com/kettle-build/kettle/provenance/merkle"
)

// The versions of the manifest format: the leaf kinds and their syntax,
// bytewise order, and the RFC 9162 tree over SHA-256. This package reads
// both and writes ManifestVersion.
const (
	ManifestV1 = 1 // inputs only
	ManifestV2 = 2 // adds an output leaf per output of every derivation

	ManifestVersion = ManifestV2
)

// knownManifestVersion reports whether v is a version this package reads.
func knownManifestVersion(v int) bool { return v == ManifestV1 || v == ManifestV2 }

// The fixed values of manifest.json's hashAlgorithm and tree fields.
const (
	ManifestHashAlgorithm = "sha256"
	ManifestTree          = "rfc9162"
)

// MaxManifestLeaves bounds the number of leaves a manifest may hold; a
// closure of a whole NixOS system has tens of thousands.
const MaxManifestLeaves = 4 << 20

// Manifest is the input manifest of a build: its leaves in bytewise order
// without duplicates, and the Merkle tree root over them.
type Manifest struct {
	Version int
	Leaves  []string
	Root    [32]byte

	// checked holds the output leaves as the manifest's check parsed
	// them, for Outputs.
	checked *checkedLeaves
}

// checkedLeaves are the parsed output leaves of a list of leaves that
// checkLeafList has accepted.
type checkedLeaves struct {
	leaves  []string
	outputs []DrvOutput
}

// outputsOf returns the checked outputs of leaves, if c holds those of the
// same leaves. Comparing strings that share their bytes costs next to
// nothing.
func (c *checkedLeaves) outputsOf(leaves []string) ([]DrvOutput, bool) {
	if c == nil || len(c.leaves) != len(leaves) {
		return nil, false
	}
	for i, s := range leaves {
		if s != c.leaves[i] {
			return nil, false
		}
	}
	return append([]DrvOutput(nil), c.outputs...), true
}

// manifestJSON is manifest.json; the field order is the file's.
type manifestJSON struct {
	Version       int      `json:"version"`
	HashAlgorithm string   `json:"hashAlgorithm"`
	Tree          string   `json:"tree"`
	LeafCount     int      `json:"leafCount"`
	Root          string   `json:"root"`
	Leaves        []string `json:"leaves"`
}

// NewManifest returns a manifest of the newest version (ManifestVersion)
// over the leaves; see NewManifestVersion.
func NewManifest(leaves []Leaf) (*Manifest, error) {
	return NewManifestVersion(ManifestVersion, leaves)
}

// NewManifestVersion validates the leaves for the given manifest version,
// sorts them bytewise, drops exact duplicates and computes the root. It
// refuses an empty manifest, two leaves that give different values for the
// same thing (one store path with two digests, say) and, from version 2 on,
// leaves that break the output rules (CheckOutputLeaves).
func NewManifestVersion(version int, leaves []Leaf) (*Manifest, error) {
	if !knownManifestVersion(version) {
		return nil, fmt.Errorf("manifest: version %d, want %d or %d", version, ManifestV1, ManifestV2)
	}
	if len(leaves) == 0 {
		return nil, errors.New("manifest: no leaves")
	}
	strs := make([]string, 0, len(leaves))
	for _, l := range leaves {
		s := l.String()
		parsed, err := parseLeaf(s)
		if err != nil {
			return nil, fmt.Errorf("manifest: leaf %s: %w", quoteLeaf(s), err)
		}
		if parsed != l {
			// A ':' in the value, or a kind with a ':', moves the split.
			return nil, fmt.Errorf("manifest: leaf %s does not read back as kind %q, name %q, value %q", quoteLeaf(s), l.Kind, l.Name, l.Value)
		}
		strs = append(strs, s)
	}
	sort.Strings(strs)
	out := strs[:1]
	for _, s := range strs[1:] {
		if s != out[len(out)-1] {
			out = append(out, s)
		}
	}
	if len(out) > MaxManifestLeaves {
		return nil, fmt.Errorf("manifest: %d leaves, more than the limit of %d", len(out), MaxManifestLeaves)
	}
	checked, err := checkLeafList(version, out)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m := &Manifest{Version: version, Leaves: out, Root: rootOf(out), checked: checked}
	if _, err := m.CheckOutputLeaves(); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return m, nil
}

// checkLeafList checks that every leaf is valid in the manifest version,
// that the leaves are in strictly increasing bytewise order, and that no two
// distinct leaves give different values for the same kind and name (for an
// output leaf: the same derivation output). A fod leaf is exempt from the
// last rule: many fixed-output derivations share a name (fetchers call
// theirs "source") and the hash tells them apart.
// It returns the output leaves, parsed.
func checkLeafList(version int, leaves []string) (*checkedLeaves, error) {
	checked := &checkedLeaves{leaves: leaves}
	var prev Leaf
	for i, s := range leaves {
		// parseLeaf, keeping what parseOutput, the validation of an output
		// leaf, returns.
		l, err := splitLeaf(s)
		if err == nil && l.Kind == KindOutput {
			var o DrvOutput
			o, err = parseOutput(l)
			checked.outputs = append(checked.outputs, o)
		} else if err == nil {
			err = l.validate()
		}
		if err == nil {
			err = l.allowedIn(version)
		}
		if err != nil {
			return nil, fmt.Errorf("leaves[%d] %s: %w", i, quoteLeaf(s), err)
		}
		if i > 0 {
			p := leaves[i-1]
			switch {
			case s == p:
				return nil, fmt.Errorf("leaves[%d]: duplicate of leaves[%d] %s", i, i-1, quoteLeaf(s))
			case s < p:
				return nil, fmt.Errorf("leaves[%d]: %s sorts before leaves[%d] %s, want bytewise order", i, quoteLeaf(s), i-1, quoteLeaf(p))
			case l.Kind != KindFOD && l.Kind == prev.Kind && l.Name == prev.Name:
				return nil, fmt.Errorf("leaves[%d]: conflicting leaves %s and %s: one %s with two values", i, quoteLeaf(p), quoteLeaf(s), l.Kind)
			case l.Kind == KindOutput && prev.Kind == KindOutput && outputID(l) == outputID(prev):
				return nil, fmt.Errorf("leaves[%d]: conflicting leaves %s and %s: one derivation output with two leaves", i, quoteLeaf(p), quoteLeaf(s))
			}
		}
		prev = l
	}
	return checked, nil
}

func rootOf(leaves []string) [32]byte {
	return merkle.RootFromLeafHashes(leafHashes(leaves))
}

func leafHashes(leaves []string) [][32]byte {
	return merkle.LeafHashes(leaves)
}

// Marshal returns manifest.json: deterministic, indented JSON ending in a
// newline. It refuses a manifest that DecodeManifest would not accept.
func (m *Manifest) Marshal() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	return encodeJSON(manifestJSON{
		Version:       m.Version,
		HashAlgorithm: ManifestHashAlgorithm,
		Tree:          ManifestTree,
		LeafCount:     len(m.Leaves),
		Root:          hex.EncodeToString(m.Root[:]),
		Leaves:        m.Leaves,
	})
}

// check validates a manifest that may have been built by hand.
func (m *Manifest) check() error {
	if !knownManifestVersion(m.Version) {
		return fmt.Errorf("manifest: version %d, want %d or %d", m.Version, ManifestV1, ManifestV2)
	}
	if len(m.Leaves) == 0 {
		return errors.New("manifest: no leaves")
	}
	if len(m.Leaves) > MaxManifestLeaves {
		return fmt.Errorf("manifest: %d leaves, more than the limit of %d", len(m.Leaves), MaxManifestLeaves)
	}
	if err := m.checkLeaves(); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return nil
}

// DecodeManifest reads manifest.json strictly: unknown or duplicate fields,
// another version, hash algorithm or tree, a leafCount that is not the
// number of leaves, leaves out of order, duplicated or invalid, a root that
// is not the root of the leaves, and trailing data are all errors that name
// the field, not the file: the caller says what it decoded.
func DecodeManifest(data []byte) (*Manifest, error) {
	o, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	return decodeManifest(o)
}

// decodeManifest is DecodeManifest of the document whose top-level object
// is o.
func decodeManifest(o *jsonObject) (*Manifest, error) {
	version, err := o.int("version")
	if err != nil {
		return nil, err
	}
	if !knownManifestVersion(version) {
		return nil, fmt.Errorf("version: %d, want %d or %d", version, ManifestV1, ManifestV2)
	}
	if err := wantString(o, "hashAlgorithm", ManifestHashAlgorithm); err != nil {
		return nil, err
	}
	if err := wantString(o, "tree", ManifestTree); err != nil {
		return nil, err
	}
	count, err := o.int("leafCount")
	if err != nil {
		return nil, err
	}
	rootHex, err := o.str("root")
	if err != nil {
		return nil, err
	}
	root, err := parseSHA256Hex(rootHex)
	if err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	raw, err := o.arr("leaves")
	if err != nil {
		return nil, err
	}
	if err := o.end(); err != nil {
		return nil, err
	}
	if raw.len() == 0 {
		return nil, errors.New("leaves: empty")
	}
	if raw.len() > MaxManifestLeaves {
		return nil, fmt.Errorf("leaves: %d leaves, more than the limit of %d", raw.len(), MaxManifestLeaves)
	}
	if count != raw.len() {
		return nil, fmt.Errorf("leafCount: %d, but there are %d leaves", count, raw.len())
	}
	leaves := make([]string, raw.len())
	for i := range leaves {
		if leaves[i], err = raw.str(i); err != nil {
			return nil, err
		}
	}
	m := &Manifest{Version: version, Leaves: leaves, Root: root}
	if err := m.checkLeaves(); err != nil {
		return nil, err
	}
	return m, nil
}

// checkLeaves checks the order, syntax and consistency of the leaves and the
// root, naming manifest.json's fields in its errors.
func (m *Manifest) checkLeaves() error {
	checked, err := checkLeafList(m.Version, m.Leaves)
	if err != nil {
		return err
	}
	if got := rootOf(m.Leaves); got != m.Root {
		return fmt.Errorf("root: %x is not the root of the leaves, which is %x", m.Root, got)
	}
	m.checked = checked
	return nil
}

// Index returns the position of leaf in the manifest.
func (m *Manifest) Index(leaf string) (int, bool) {
	i := sort.SearchStrings(m.Leaves, leaf)
	if i < len(m.Leaves) && m.Leaves[i] == leaf {
		return i, true
	}
	return 0, false
}

// Prove returns the position of leaf in the manifest and its RFC 9162
// inclusion proof against m.Root; merkle.VerifyInclusion checks it with
// merkle.HashLeaf([]byte(leaf)) and len(m.Leaves) as the tree size.
func (m *Manifest) Prove(leaf string) (index int, proof [][32]byte, err error) {
	i, ok := m.Index(leaf)
	if !ok {
		return 0, nil, fmt.Errorf("manifest: leaf %s is not in the manifest", quoteLeaf(leaf))
	}
	proof, err = merkle.InclusionProofFromLeafHashes(leafHashes(m.Leaves), i)
	if err != nil {
		return 0, nil, fmt.Errorf("manifest: %w", err)
	}
	return i, proof, nil
}

// VerifyLeaf checks that leaf is at index in a manifest of leafCount leaves
// with the given root, using an inclusion proof from Prove.
func VerifyLeaf(root [32]byte, leafCount int, leaf string, index int, proof [][32]byte) error {
	if index < 0 || leafCount <= 0 {
		return fmt.Errorf("manifest: leaf index %d or leaf count %d out of range", index, leafCount)
	}
	if err := merkle.VerifyInclusion(uint64(index), uint64(leafCount), merkle.HashLeaf([]byte(leaf)), proof, root); err != nil {
		return fmt.Errorf("manifest: leaf %s: %w", quoteLeaf(leaf), err)
	}
	return nil
}

func wantString(o *jsonObject, key, want string) error {
	s, err := o.str(key)
	if err != nil {
		return err
	}
	if s != want {
		return fmt.Errorf("%s: %q, want %q", o.field(key), s, want)
	}
	return nil
}

// parseSHA256Hex parses 64 lower-case hex digits.
func parseSHA256Hex(s string) ([32]byte, error) {
	var out [32]byte
	if len(s) != 64 || !isLowerHex(s) {
		return out, fmt.Errorf("%q is not 64 lower-case hex digits", s)
	}
	var buf [64]byte // hex.Decode takes bytes; a conversion would allocate
	copy(buf[:], s)
	hex.Decode(out[:], buf[:])
	return out, nil
}
