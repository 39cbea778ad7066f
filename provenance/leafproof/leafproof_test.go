package leafproof

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	"github.com/kettle-build/kettle/provenance"
	"github.com/kettle-build/kettle/provenance/merkle"
)

// storePath returns a valid store path whose hash part depends on i.
func storePath(i int, name string) string {
	const alphabet = "0123456789abcdfghijklmnpqrsvwxyz" // Nix's base-32
	var hash [32]byte
	for j := range hash {
		hash[j] = alphabet[(i*7+j*13+i/32)%32]
	}
	return "/nix/store/" + string(hash[:]) + "-" + name
}

// testManifest returns a manifest of n src leaves.
func testManifest(t testing.TB, n int) *provenance.Manifest {
	t.Helper()
	leaves := make([]provenance.Leaf, n)
	for i := range leaves {
		leaves[i] = provenance.SrcLeaf(storePath(i, fmt.Sprintf("src-%d", i)), sha256.Sum256([]byte{byte(i), byte(i >> 8)}))
	}
	m, err := provenance.NewManifestVersion(provenance.ManifestV1, leaves)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Leaves) != n {
		t.Fatalf("test manifest has %d leaves, want %d", len(m.Leaves), n)
	}
	return m
}

func proofOf(t testing.TB, m *provenance.Manifest, i int) *Proof {
	t.Helper()
	index, path, err := m.Prove(m.Leaves[i])
	if err != nil {
		t.Fatal(err)
	}
	return &Proof{Leaf: m.Leaves[i], Index: uint64(index), TreeSize: uint64(len(m.Leaves)), Root: m.Root, AuditPath: path}
}

// TestRFC9162Vectors checks the proof check on the RFC 6962 / RFC 9162
// vector set of github.com/transparency-dev/merkle: for every tree of the
// vector set's leaves (extended to 40) and every leaf, the reference tree's
// inclusion proof passes checkLeafHash against the published root
// (testonly.RootHashes for the first eight sizes), and its corruptions fail
// it exactly when the reference verifier refuses them.
func TestRFC9162Vectors(t *testing.T) {
	leaves := testonly.LeafInputs()
	for i := len(leaves); i < 40; i++ {
		leaves = append(leaves, []byte(fmt.Sprintf("leaf %d", i)))
	}
	tree := testonly.New(rfc6962.DefaultHasher)
	tree.AppendData(leaves...)
	published := testonly.RootHashes()
	for size := uint64(1); size <= uint64(len(leaves)); size++ {
		root := [32]byte(tree.HashAt(size))
		if size < uint64(len(published)) && root != [32]byte(published[size]) {
			t.Fatalf("reference root of %d leaves %x is not the published %x", size, root, published[size])
		}
		for index := uint64(0); index < size; index++ {
			raw, err := tree.InclusionProof(index, size)
			if err != nil {
				t.Fatal(err)
			}
			path := make([][32]byte, len(raw))
			for i, h := range raw {
				path[i] = [32]byte(h)
			}
			leafHash := merkle.HashLeaf(leaves[index])
			if err := checkLeafHash(root, leafHash, index, size, path); err != nil {
				t.Fatalf("reference proof of leaf %d of %d refused: %v", index, size, err)
			}
			if PathLen(index, size) != len(path) {
				t.Errorf("PathLen(%d, %d) = %d, the reference proof has %d hashes", index, size, PathLen(index, size), len(path))
			}
			for _, c := range corruptions(index, size, leafHash, root, path) {
				ours := checkLeafHash(c.root, c.leafHash, c.index, c.size, c.path)
				var theirs error
				pathSlices := make([][]byte, len(c.path))
				for i := range c.path {
					pathSlices[i] = c.path[i][:]
				}
				theirs = proof.VerifyInclusion(rfc6962.DefaultHasher, c.index, c.size, c.leafHash[:], pathSlices, c.root[:])
				if ours == nil && theirs != nil {
					t.Errorf("leaf %d of %d, %s: accepted, the reference verifier refuses it: %v", index, size, c.desc, theirs)
				}
				if ours == nil && c.size == size {
					t.Errorf("leaf %d of %d, %s: accepted", index, size, c.desc)
				}
			}
		}
	}
}

type corruption struct {
	desc        string
	root        [32]byte
	leafHash    [32]byte
	index, size uint64
	path        [][32]byte
}

func corruptions(index, size uint64, leafHash, root [32]byte, path [][32]byte) []corruption {
	other := merkle.HashLeaf([]byte("another leaf"))
	cs := []corruption{
		{"wrong root", other, leafHash, index, size, path},
		{"wrong leaf", root, other, index, size, path},
		{"index + 1", root, leafHash, index + 1, size, path},
		{"size + 1", root, leafHash, index, size + 1, path},
		{"extra hash", root, leafHash, index, size, append(append([][32]byte(nil), path...), other)},
	}
	if index > 0 {
		cs = append(cs, corruption{"index - 1", root, leafHash, index - 1, size, path})
	}
	if len(path) > 0 {
		cs = append(cs,
			corruption{"truncated", root, leafHash, index, size, path[:len(path)-1]},
			corruption{"first hash changed", root, leafHash, index, size, append([][32]byte{other}, path[1:]...)})
	}
	return cs
}

// TestManifestProofsAgainstReference: the proofs of provenance.Manifest.Prove
// for every leaf of manifests of 1 to 70 leaves are the reference tree's,
// and Check accepts them.
func TestManifestProofsAgainstReference(t *testing.T) {
	for n := 1; n <= 70; n++ {
		m := testManifest(t, n)
		tree := testonly.New(rfc6962.DefaultHasher)
		for _, l := range m.Leaves {
			tree.AppendData([]byte(l))
		}
		if got := [32]byte(tree.Hash()); got != m.Root {
			t.Fatalf("manifest of %d leaves: root %x, reference %x", n, m.Root, got)
		}
		for i := range m.Leaves {
			p := proofOf(t, m, i)
			ref, err := tree.InclusionProof(uint64(i), uint64(n))
			if err != nil {
				t.Fatal(err)
			}
			if len(ref) != len(p.AuditPath) {
				t.Fatalf("leaf %d of %d: %d hashes, reference %d", i, n, len(p.AuditPath), len(ref))
			}
			for j := range ref {
				if [32]byte(ref[j]) != p.AuditPath[j] {
					t.Fatalf("leaf %d of %d: hash %d is %x, reference %x", i, n, j, p.AuditPath[j], ref[j])
				}
			}
			if err := Check(m.Root, p); err != nil {
				t.Fatalf("leaf %d of %d: %v", i, n, err)
			}
		}
	}
}

// TestCheckBad: each wrong proof is refused, and the error says why.
func TestCheckBad(t *testing.T) {
	m := testManifest(t, 13)
	good := proofOf(t, m, 5)
	other := proofOf(t, m, 6)
	with := func(f func(p *Proof)) *Proof {
		p := *good
		p.AuditPath = append([][32]byte(nil), good.AuditPath...)
		f(&p)
		return &p
	}
	wrongRoot := m.Root
	wrongRoot[0] ^= 1
	for _, tc := range []struct {
		name string
		root [32]byte
		p    *Proof
		want string
	}{
		{"wrong root", wrongRoot, good, "leads to root"},
		{"wrong leaf", m.Root, with(func(p *Proof) { p.Leaf = other.Leaf }), "leads to root"},
		{"leaf not a manifest leaf", m.Root, with(func(p *Proof) { p.Leaf = "src:x:y" }), "src path"},
		{"leaf of no kind", m.Root, with(func(p *Proof) { p.Leaf = "hello" }), "want kind:name:value"},
		{"wrong index", m.Root, with(func(p *Proof) { p.Index = 4 }), "leads to root"},
		{"index of another shape", m.Root, with(func(p *Proof) { p.Index = 12 }), "needs exactly 2"},
		{"index outside the tree", m.Root, with(func(p *Proof) { p.Index = 13 }), "outside a manifest of 13 leaves"},
		{"wrong size", m.Root, with(func(p *Proof) { p.TreeSize = 7 }), "needs exactly 3"},
		{"wrong size, same path length", m.Root, with(func(p *Proof) { p.TreeSize = 17 }), "needs exactly 5"},
		{"size 0", m.Root, with(func(p *Proof) { p.TreeSize = 0 }), "tree size 0"},
		{"size beyond any manifest", m.Root, with(func(p *Proof) { p.TreeSize = provenance.MaxManifestLeaves + 1 }), "a manifest has 1 to"},
		{"truncated proof", m.Root, with(func(p *Proof) { p.AuditPath = p.AuditPath[:len(p.AuditPath)-1] }), "has 3 hashes; leaf 5 of a manifest of 13 leaves needs exactly 4"},
		{"extra hash", m.Root, with(func(p *Proof) { p.AuditPath = append(p.AuditPath, m.Root) }), "has 5 hashes"},
		{"empty proof", m.Root, with(func(p *Proof) { p.AuditPath = nil }), "has 0 hashes"},
		{"hash changed", m.Root, with(func(p *Proof) { p.AuditPath[2][31] ^= 0x80 }), "leads to root"},
		{"hashes swapped", m.Root, with(func(p *Proof) { p.AuditPath[0], p.AuditPath[1] = p.AuditPath[1], p.AuditPath[0] }), "leads to root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.root, tc.p)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
	if err := Check(m.Root, good); err != nil {
		t.Errorf("the genuine proof: %v", err)
	}
}

// TestSizeNotCommitted documents why the tree size must be the one the
// provenance signs: a root does not commit to its size, so the proof of a
// leaf in the left, complete half of a tree holds for every size that
// keeps that half and the path's length (leaf 5 of 13: sizes 9 to 16).
func TestSizeNotCommitted(t *testing.T) {
	m := testManifest(t, 13)
	p := proofOf(t, m, 5)
	for size := uint64(1); size <= 40; size++ {
		q := *p
		q.TreeSize = size
		err := Check(m.Root, &q)
		if want := size >= 9 && size <= 16; (err == nil) != want {
			t.Errorf("leaf 5 of 13 checked as of %d leaves: %v, want accepted %v", size, err, want)
		}
	}
}

func TestParseAuditPath(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		in   string
		n    int
		want string // "" when it parses
	}{
		{"", 0, ""},
		{h, 1, ""},
		{h + "," + strings.ToUpper(h), 2, ""},
		{h + ",", 0, "hash 1"},
		{"," + h, 0, "hash 0"},
		{h + " " + h, 0, "129 characters"},
		{h[:63], 0, "63 characters"},
		{h + "0", 0, "65 characters"},
		{strings.Repeat("zz", 32), 0, "not hex"},
		{strings.TrimSuffix(strings.Repeat(h+",", MaxAuditPath+1), ","), 0, "more than the 22"},
	} {
		path, err := ParseAuditPath(tc.in)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("ParseAuditPath(%.20q…): %v", tc.in, err)
		case tc.want == "" && len(path) != tc.n:
			t.Errorf("ParseAuditPath(%.20q…): %d hashes, want %d", tc.in, len(path), tc.n)
		case tc.want != "" && err == nil:
			t.Errorf("ParseAuditPath(%.20q…) accepted", tc.in)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("ParseAuditPath(%.20q…): error %q does not say %q", tc.in, err, tc.want)
		}
	}
}

func TestMaxAuditPath(t *testing.T) {
	if got := PathLen(0, provenance.MaxManifestLeaves); got != MaxAuditPath {
		t.Errorf("the longest audit path of a manifest has %d hashes, MaxAuditPath is %d", got, MaxAuditPath)
	}
	if got := PathLen(0, provenance.MaxManifestLeaves-1); got != MaxAuditPath {
		t.Errorf("PathLen(0, max-1) = %d, want %d", got, MaxAuditPath)
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	m := testManifest(t, 9)
	for i := range m.Leaves {
		p := proofOf(t, m, i)
		data, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(data)
		if err != nil {
			t.Fatalf("Decode(Marshal) of leaf %d: %v\n%s", i, err, data)
		}
		if !equalProofs(got, p) {
			t.Fatalf("round trip of leaf %d: %+v, want %+v", i, got, p)
		}
		if err := Check(m.Root, got); err != nil {
			t.Fatal(err)
		}
	}
}

func equalProofs(a, b *Proof) bool {
	if a.Leaf != b.Leaf || a.Index != b.Index || a.TreeSize != b.TreeSize || a.Root != b.Root || len(a.AuditPath) != len(b.AuditPath) {
		return false
	}
	for i := range a.AuditPath {
		if a.AuditPath[i] != b.AuditPath[i] {
			return false
		}
	}
	return true
}

// TestDecodeBad: every malformed proof JSON is refused naming the field.
func TestDecodeBad(t *testing.T) {
	h := strings.Repeat("ab", 32)
	leaf := `"src:/nix/store/00000000000000000000000000000000-x:` + h + `"`
	obj := func(fields ...string) string { return "{" + strings.Join(fields, ",") + "}" }
	var (
		fLeaf  = `"leaf":` + leaf
		fIndex = `"index":1`
		fSize  = `"treeSize":2`
		fRoot  = `"root":"` + h + `"`
		fPath  = `"auditPath":["` + h + `"]`
	)
	good := obj(fLeaf, fIndex, fSize, fRoot, fPath)
	if _, err := Decode([]byte(good)); err != nil {
		t.Fatalf("the good proof: %v", err)
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "empty"},
		{"not an object", `[]`, "cannot unmarshal array"},
		{"missing leaf", obj(fIndex, fSize, fRoot, fPath), "leaf: missing"},
		{"missing index", obj(fLeaf, fSize, fRoot, fPath), "index: missing"},
		{"missing treeSize", obj(fLeaf, fIndex, fRoot, fPath), "treeSize: missing"},
		{"missing root", obj(fLeaf, fIndex, fSize, fPath), "root: missing"},
		{"missing auditPath", obj(fLeaf, fIndex, fSize, fRoot), "auditPath: missing"},
		{"null auditPath", obj(fLeaf, fIndex, fSize, fRoot, `"auditPath":null`), "auditPath: missing"},
		{"unknown field", obj(fLeaf, fIndex, fSize, fRoot, fPath, `"extra":1`), `unknown field "extra"`},
		{"duplicate field", obj(fLeaf, fIndex, fIndex, fSize, fRoot, fPath), "index"},
		{"trailing data", good + "{}", "trailing data"},
		{"negative index", obj(fLeaf, `"index":-1`, fSize, fRoot, fPath), "index"},
		{"fractional index", obj(fLeaf, `"index":1.5`, fSize, fRoot, fPath), "index"},
		{"index as a string", obj(fLeaf, `"index":"1"`, fSize, fRoot, fPath), "index"},
		{"non-hex root", obj(fLeaf, fIndex, fSize, `"root":"`+strings.Repeat("zz", 32)+`"`, fPath), "root:"},
		{"upper-case root", obj(fLeaf, fIndex, fSize, `"root":"`+strings.ToUpper(h)+`"`, fPath), "root: "},
		{"short root", obj(fLeaf, fIndex, fSize, `"root":"`+h[:62]+`"`, fPath), "root: "},
		{"non-hex path hash", obj(fLeaf, fIndex, fSize, fRoot, `"auditPath":["`+h+`","xx"]`), "auditPath[1]"},
		{"path hash a number", obj(fLeaf, fIndex, fSize, fRoot, `"auditPath":[1]`), "auditPath"},
		{"path too long", obj(fLeaf, fIndex, fSize, fRoot, `"auditPath":[`+strings.TrimSuffix(strings.Repeat(`"`+h+`",`, MaxAuditPath+1), ",")+`]`), "auditPath: 23 hashes"},
		{"too large", `{"leaf":"` + strings.Repeat("a", MaxJSONSize) + `"}`, "more than the"},
		{"invalid UTF-8", "{\"leaf\":\"\xff\"}", "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// FuzzDecode: Decode never panics, and what it accepts survives Marshal
// and Decode unchanged; Check of a decoded proof never panics.
func FuzzDecode(f *testing.F) {
	m := testManifest(f, 5)
	for i := range m.Leaves {
		data, err := proofOf(f, m, i).Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"leaf":"x","index":0,"treeSize":1,"root":"` + strings.Repeat("0", 64) + `","auditPath":[]}`))
	f.Add([]byte(`{"leaf":"x","index":18446744073709551615,"treeSize":18446744073709551615,"root":"","auditPath":[]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(data)
		if err != nil {
			return
		}
		_ = Check(m.Root, p)
		again, err := p.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a decoded proof: %v", err)
		}
		q, err := Decode(again)
		if err != nil {
			t.Fatalf("Decode(Marshal(p)): %v\n%s", err, again)
		}
		if !equalProofs(p, q) {
			t.Fatalf("round trip changed the proof: %+v → %+v", p, q)
		}
	})
}
