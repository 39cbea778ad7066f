package provenance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/provenance/merkle"
)

func testLeaves() []Leaf {
	return append(SourceLeaves(testURL, testRev, digest("source")),
		FlakeInputLeaf("nixpkgs", "github:NixOS/nixpkgs/"+testRev, digest("nixpkgs")),
		DrvLeaf(testDrv, digest("drv")),
		DrvLeaf("/nix/store/"+testHash32+"-bb.drv", digest("bb")),
		DrvOutput{testDrv, "out", testOut, ByKettle, digest("hello")}.Leaf(),
		DrvOutput{"/nix/store/" + testHash32 + "-bb.drv", "out", "/nix/store/" + testHash32 + "-bb", ByNixDB, digest("bb-out")}.Leaf(),
		SrcLeaf(testSrc, digest("src")),
		FODLeaf("source", "recursive", "sha256", testHex, "https://example.org/x.tar.gz"),
		FODLeaf("source", "recursive", "sha256", strings.Repeat("1", 64), "https://example.org/y.tar.gz"),
		ToolchainLeaf("nix", "2.8.0", digest("nix")),
		ToolchainLeaf("kettle", "v0.1.0", digest("kettle")),
	)
}

func testManifest(t testing.TB) *Manifest {
	t.Helper()
	m, err := NewManifest(testLeaves())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNewManifest(t *testing.T) {
	leaves := testLeaves()
	// Duplicates are dropped, order does not matter.
	in := append(append([]Leaf(nil), leaves...), leaves[3], leaves[0])
	for i, j := 0, len(in)-1; i < j; i, j = i+1, j-1 {
		in[i], in[j] = in[j], in[i]
	}
	m, err := NewManifest(in)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range leaves {
		want = append(want, l.String())
	}
	sort.Strings(want)
	if strings.Join(m.Leaves, "\n") != strings.Join(want, "\n") {
		t.Errorf("Leaves = %q, want %q", m.Leaves, want)
	}
	var data [][]byte
	for _, l := range want {
		data = append(data, []byte(l))
	}
	if m.Root != merkle.Root(data) {
		t.Errorf("Root = %x, want the RFC 9162 root %x", m.Root, merkle.Root(data))
	}
	if m.Version != ManifestVersion {
		t.Errorf("Version = %d", m.Version)
	}
}

// TestManifestBytewiseOrder: the order is that of the bytes, not of a
// locale or of Unicode code points in UTF-16.
func TestManifestBytewiseOrder(t *testing.T) {
	m, err := NewManifest([]Leaf{
		{KindToolchain, "nix 2.\u00e9", testHex},
		{KindToolchain, "nix 2.Z", testHex},
		{KindToolchain, "nix 2.a", testHex},
		{KindToolchain, "nix 2.\U0001F600", testHex},
		{KindToolchain, "nix 2.\uFFFD", testHex},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(m.Leaves); i++ {
		if !(m.Leaves[i-1] < m.Leaves[i]) {
			t.Errorf("leaves %q and %q are not in bytewise order", m.Leaves[i-1], m.Leaves[i])
		}
	}
	if !strings.HasSuffix(m.Leaves[len(m.Leaves)-1], "\U0001F600:"+testHex) {
		t.Errorf("the 4-byte UTF-8 leaf is not last: %q", m.Leaves)
	}
}

func TestNewManifestErrors(t *testing.T) {
	d := digest("x")
	for _, tc := range []struct {
		name    string
		leaves  []Leaf
		wantErr string
	}{
		{"empty", nil, "no leaves"},
		{"invalid leaf", []Leaf{DrvLeaf("hello.drv", d)}, "absolute"},
		{"colon in value", []Leaf{{KindToolchain, "nix 2.8", "ab:" + testHex}}, "does not read back"},
		{"colon in kind", []Leaf{{"toolchain:nix 2.8", "x", testHex}}, "does not read back"},
		{"unknown kind", []Leaf{{"input", "y", testHex}}, `kind "input"`},
		{"same drv, two hashes", []Leaf{DrvLeaf(testDrv, d), DrvLeaf(testDrv, digest("y"))}, "conflicting leaves"},
		{"two revs", append(SourceLeaves(testURL, testRev, d), Leaf{KindSource, RevName, strings.Repeat("1", 40)}), "conflicting leaves"},
		{"two nix binaries", []Leaf{ToolchainLeaf("nix", "2.8", d), ToolchainLeaf("nix", "2.8", digest("y"))}, "conflicting leaves"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewManifest(tc.leaves)
			if err == nil {
				t.Fatalf("NewManifest = %+v, want an error", m)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}

// TestManifestMarshalGolden pins the exact bytes of manifest.json.
func TestManifestMarshalGolden(t *testing.T) {
	m, err := NewManifest([]Leaf{ToolchainLeaf("nix", "2.8.0", digest("nix")), SrcLeaf(testSrc, digest("src"))})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{
  "version": 2,
  "hashAlgorithm": "sha256",
  "tree": "rfc9162",
  "leafCount": 2,
  "root": "%x",
  "leaves": [
    %q,
    %q
  ]
}
`, m.Root, m.Leaves[0], m.Leaves[1])
	if string(got) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", got, want)
	}
	if !strings.HasPrefix(m.Leaves[0], "src:") {
		t.Errorf("leaves not sorted: %q", m.Leaves)
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m := testManifest(t)
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Root != m.Root || strings.Join(got.Leaves, "\n") != strings.Join(m.Leaves, "\n") || got.Version != m.Version {
		t.Errorf("DecodeManifest(Marshal(m)) = %+v, want %+v", got, m)
	}
	again, _ := got.Marshal()
	if !bytes.Equal(again, data) {
		t.Error("Marshal is not stable across a round trip")
	}
	// Compact JSON with the fields in another order decodes to the same.
	var generic map[string]any
	if err := json.Unmarshal(data, &generic); err != nil {
		t.Fatal(err)
	}
	compact, _ := json.Marshal(generic)
	if got2, err := DecodeManifest(compact); err != nil || got2.Root != m.Root {
		t.Errorf("DecodeManifest of compact JSON: %v", err)
	}
}

func TestManifestMarshalRefusesBadManifest(t *testing.T) {
	m := testManifest(t)
	for name, mutate := range map[string]func(*Manifest){
		"version":   func(m *Manifest) { m.Version = 3 },
		"no leaves": func(m *Manifest) { m.Leaves = nil },
		"root":      func(m *Manifest) { m.Root[0] ^= 1 },
		"unsorted":  func(m *Manifest) { m.Leaves[0], m.Leaves[1] = m.Leaves[1], m.Leaves[0] },
		"invalid":   func(m *Manifest) { m.Leaves[0] = "bogus" },
	} {
		c := *m
		c.Leaves = append([]string(nil), m.Leaves...)
		mutate(&c)
		if _, err := c.Marshal(); err == nil {
			t.Errorf("%s: Marshal of a bad manifest succeeded", name)
		}
	}
}

func TestManifestProve(t *testing.T) {
	m := testManifest(t)
	for want, leaf := range m.Leaves {
		i, proof, err := m.Prove(leaf)
		if err != nil {
			t.Fatalf("Prove(%q): %v", leaf, err)
		}
		if i != want {
			t.Errorf("Prove(%q) index = %d, want %d", leaf, i, want)
		}
		if err := merkle.VerifyInclusion(uint64(i), uint64(len(m.Leaves)), merkle.HashLeaf([]byte(leaf)), proof, m.Root); err != nil {
			t.Errorf("proof of %q does not verify: %v", leaf, err)
		}
		if err := VerifyLeaf(m.Root, len(m.Leaves), leaf, i, proof); err != nil {
			t.Errorf("VerifyLeaf(%q): %v", leaf, err)
		}
		if err := VerifyLeaf(m.Root, len(m.Leaves), leaf+"0", i, proof); err == nil {
			t.Errorf("VerifyLeaf accepted a changed leaf")
		}
		if j, ok := m.Index(leaf); !ok || j != want {
			t.Errorf("Index(%q) = %d, %v", leaf, j, ok)
		}
	}
	if _, _, err := m.Prove("drv:/nix/store/none.drv:" + testHex); err == nil || !strings.Contains(err.Error(), "not in the manifest") {
		t.Errorf("Prove of a missing leaf: %v", err)
	}
	if _, ok := m.Index(""); ok {
		t.Error("Index(\"\") found a leaf")
	}
	if err := VerifyLeaf(m.Root, 0, m.Leaves[0], -1, nil); err == nil {
		t.Error("VerifyLeaf accepted a negative index")
	}
}

// goodManifestJSON is a valid manifest.json for the table tests below.
func goodManifestJSON(t testing.TB) (string, *Manifest) {
	t.Helper()
	m := testManifest(t)
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(data), m
}

// manifestWith returns the JSON of the test manifest with one field
// replaced by a raw JSON value (or removed when raw is "").
func manifestWith(t testing.TB, key, raw string) string {
	t.Helper()
	good, m := goodManifestJSON(t)
	_ = good
	fields := []struct{ k, v string }{
		{"version", fmt.Sprint(m.Version)},
		{"hashAlgorithm", `"sha256"`},
		{"tree", `"rfc9162"`},
		{"leafCount", fmt.Sprint(len(m.Leaves))},
		{"root", fmt.Sprintf("%q", fmt.Sprintf("%x", m.Root))},
		{"leaves", mustJSON(t, m.Leaves)},
	}
	var parts []string
	found := false
	for _, f := range fields {
		if f.k == key {
			found = true
			if raw == "" {
				continue
			}
			f.v = raw
		}
		parts = append(parts, fmt.Sprintf("%q:%s", f.k, f.v))
	}
	if !found {
		parts = append(parts, fmt.Sprintf("%q:%s", key, raw))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecodeManifestBad(t *testing.T) {
	good, m := goodManifestJSON(t)
	leaves := m.Leaves
	swapped := append([]string(nil), leaves...)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	dup := append(append([]string(nil), leaves...), leaves[len(leaves)-1])
	otherRoot := fmt.Sprintf("%q", fmt.Sprintf("%x", digest("other")))
	conflict := []string{"drv:" + testDrv + ":" + testHex, "drv:" + testDrv + ":" + strings.Repeat("f", 64)}
	conflictRoot := rootOf(conflict)

	for _, tc := range []struct {
		name, doc, wantErr string
	}{
		{"empty", "", "empty"},
		{"white space only", " \n", "empty"},
		{"not JSON", "manifest", "not JSON"},
		{"array", "[]", "not a JSON object"},
		{"string", `"x"`, "not a JSON object"},
		{"truncated", good[:len(good)/2], "not JSON"},
		{"trailing garbage", good + "x", "trailing data"},
		{"trailing object", good + "{}", "trailing data"},
		{"trailing NUL", good + "\x00", "trailing data"},
		{"invalid UTF-8", strings.Replace(good, "nixpkgs", "nix\xffpkgs", 1), "UTF-8"},
		{"unknown field", manifestWith(t, "comment", `"hi"`), "comment: unknown field"},
		{"field name case", strings.Replace(good, `"version"`, `"Version"`, 1), "version: missing"},
		{"duplicate field", strings.Replace(good, `"version": 2,`, `"version": 2, "version": 2,`, 1), "version: duplicate key"},
		{"duplicate nested key", `{"version":1,"x":{"a":1,"a":2}}`, "x.a: duplicate key"},
		{"missing version", manifestWith(t, "version", ""), "version: missing"},
		{"version 3", manifestWith(t, "version", "3"), "version: 3, want 1 or 2"},
		{"version 0", manifestWith(t, "version", "0"), "version: 0, want 1 or 2"},
		{"output leaf in version 1", manifestWith(t, "version", "1"), "kind output needs manifest version 2, this is version 1"},
		{"version string", manifestWith(t, "version", `"1"`), "version: got a string"},
		{"version float", manifestWith(t, "version", "1.0"), "version: 1.0 is not a non-negative integer"},
		{"version exponent", manifestWith(t, "version", "1e0"), "not a non-negative integer"},
		{"version negative", manifestWith(t, "version", "-1"), "not a non-negative integer"},
		{"version null", manifestWith(t, "version", "null"), "version: got null"},
		{"hash algorithm", manifestWith(t, "hashAlgorithm", `"sha512"`), `hashAlgorithm: "sha512", want "sha256"`},
		{"hash algorithm missing", manifestWith(t, "hashAlgorithm", ""), "hashAlgorithm: missing"},
		{"tree", manifestWith(t, "tree", `"rfc6962-bis"`), `tree: "rfc6962-bis", want "rfc9162"`},
		{"leafCount mismatch", manifestWith(t, "leafCount", "3"), "leafCount: 3, but there are"},
		{"leafCount huge", manifestWith(t, "leafCount", "99999999999999999999999"), "leafCount: 99999999999999999999999 is out of range"},
		{"leafCount too large for int", manifestWith(t, "leafCount", "4294967296"), "leafCount: 4294967296 is too large"},
		{"leafCount missing", manifestWith(t, "leafCount", ""), "leafCount: missing"},
		{"root upper case", manifestWith(t, "root", strings.ToUpper(fmt.Sprintf("%q", fmt.Sprintf("%x", m.Root)))), "root: "},
		{"root short", manifestWith(t, "root", `"abcd"`), "not 64 lower-case hex"},
		{"root not hex", manifestWith(t, "root", fmt.Sprintf("%q", strings.Repeat("z", 64))), "not 64 lower-case hex"},
		{"root number", manifestWith(t, "root", "12"), "root: got a number"},
		{"root mismatch", manifestWith(t, "root", otherRoot), "root: " + fmt.Sprintf("%x", digest("other")) + " is not the root of the leaves"},
		{"leaves missing", manifestWith(t, "leaves", ""), "leaves: missing"},
		{"leaves null", manifestWith(t, "leaves", "null"), "leaves: got null, want an array"},
		{"leaves empty", manifestWith(t, "leaves", "[]"), "leaves: empty"},
		{"leaves object", manifestWith(t, "leaves", "{}"), "want an array"},
		{"leaf not a string", manifestWith(t, "leaves", mustJSON(t, append([]any{1}, toAny(leaves[1:])...))), "leaves[0]: got a number, want a string"},
		{"leaves unsorted", manifestWith(t, "leaves", mustJSON(t, swapped)), "leaves[1]: " + quoteLeaf(swapped[1]) + " sorts before leaves[0]"},
		{"leaves duplicated", strings.Replace(manifestWith(t, "leaves", mustJSON(t, dup)), fmt.Sprintf(`"leafCount":%d`, len(leaves)), fmt.Sprintf(`"leafCount":%d`, len(dup)), 1), fmt.Sprintf("leaves[%d]: duplicate of leaves[%d]", len(leaves), len(leaves)-1)},
		{"invalid leaf", manifestWith(t, "leaves", strings.Replace(mustJSON(t, leaves), "drv:", "derivation:", 1)), `kind "derivation"`},
		{"conflicting leaves", fmt.Sprintf(`{"version":1,"hashAlgorithm":"sha256","tree":"rfc9162","leafCount":2,"root":"%x","leaves":%s}`, conflictRoot, mustJSON(t, conflict)), "leaves[1]: conflicting leaves"},
		{"deeply nested", "{\"version\":" + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "}", "nested deeper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeManifest([]byte(tc.doc))
			if err == nil {
				t.Fatalf("DecodeManifest = %+v, want an error", got)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
			if strings.HasPrefix(err.Error(), "manifest") {
				t.Errorf("error %q names the manifest, which the caller does", err)
			}
		})
	}
}

func FuzzDecodeManifest(f *testing.F) {
	good, _ := goodManifestJSON(f)
	f.Add([]byte(good))
	f.Add([]byte(manifestWith(f, "version", "2")))
	f.Add([]byte(manifestWith(f, "leaves", "[]")))
	f.Add([]byte(good + "x"))
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeManifest(data)
		if err != nil {
			if m != nil {
				t.Fatalf("DecodeManifest returned a manifest with error %v", err)
			}
			return
		}
		// Whatever decodes is a valid manifest: it marshals, the root is
		// the root of the leaves, and a round trip is the identity.
		if m.Root != rootOf(m.Leaves) {
			t.Fatalf("decoded root %x is not the root of the leaves", m.Root)
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a decoded manifest: %v", err)
		}
		m2, err := DecodeManifest(out)
		if err != nil {
			t.Fatalf("DecodeManifest(Marshal(m)): %v", err)
		}
		if m2.Root != m.Root || strings.Join(m2.Leaves, "\n") != strings.Join(m.Leaves, "\n") {
			t.Fatal("round trip changed the manifest")
		}
		for _, leaf := range m.Leaves {
			i, proof, err := m.Prove(leaf)
			if err != nil || VerifyLeaf(m.Root, len(m.Leaves), leaf, i, proof) != nil {
				t.Fatalf("cannot prove leaf %q: %v", leaf, err)
			}
		}
	})
}

// benchLeaves returns the leaves of n derivations with one output each.
func benchLeaves(n int) []Leaf {
	leaves := make([]Leaf, 0, 2*n)
	for i := 0; i < n; i++ {
		drv := fmt.Sprintf("/nix/store/%s-pkg-%d.drv", testHash32, i)
		leaves = append(leaves, DrvLeaf(drv, digest(fmt.Sprint(i))),
			DrvOutput{drv, "out", fmt.Sprintf("/nix/store/%s-pkg-%d", testHash32, i), ByNixDB, digest(fmt.Sprint("out", i))}.Leaf())
	}
	return leaves
}

func BenchmarkNewManifest(b *testing.B) {
	leaves := benchLeaves(10000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := NewManifest(leaves); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeManifest(b *testing.B) {
	m, err := NewManifest(benchLeaves(10000))
	if err != nil {
		b.Fatal(err)
	}
	data, _ := m.Marshal()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeManifest(data); err != nil {
			b.Fatal(err)
		}
	}
}
