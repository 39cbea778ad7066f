package provenance

import (
	"slices"
	"strings"
	"testing"
)

const testBB = "/nix/store/" + testHash32 + "-bb.drv"

func TestOutputLeafRoundTrip(t *testing.T) {
	for _, o := range []DrvOutput{
		{testDrv, "out", testOut, ByKettle, digest("a")},
		{testDrv, "dev", testOut + "-dev", ByNixDB, digest("b")},
		{testDrv, "lib", testOut + "-lib", ByNone, [32]byte{}},
		{testDrv, "out", UnknownOutputPath, ByNone, [32]byte{}},
	} {
		l := o.Leaf()
		parsed, err := ParseLeaf(l.String())
		if err != nil {
			t.Fatalf("ParseLeaf(%q): %v", l, err)
		}
		got, err := ParseOutputLeaf(parsed)
		if err != nil || got != o {
			t.Errorf("ParseOutputLeaf(%q) = %+v, %v; want %+v", l, got, err, o)
		}
		if got.Realised() != (o.By != ByNone) {
			t.Errorf("%q: Realised = %t", l, got.Realised())
		}
	}
}

func TestParseOutputLeafBad(t *testing.T) {
	h := ":" + testHex
	for _, tc := range []struct{ name, leaf, want string }{
		{"two fields", "output:" + testDrv + "!out " + testOut + h, `is not "<drv>!<output> <store path> by=<authority>"`},
		{"four fields", "output:" + testDrv + "!out " + testOut + " by=kettle x" + h, `is not "<drv>!<output>`},
		{"no bang", "output:" + testDrv + " " + testOut + " by=kettle" + h, "no '!'"},
		{"drv not in store", "output:/tmp/x.drv!out " + testOut + " by=kettle" + h, "output drv path"},
		{"drv without .drv", "output:" + testOut + "!out " + testOut + " by=kettle" + h, "does not end in .drv"},
		{"empty output name", "output:" + testDrv + "! " + testOut + " by=kettle" + h, "output name"},
		{"bad output name", "output:" + testDrv + "!o/ut " + testOut + " by=kettle" + h, "output name"},
		{"path not in store", "output:" + testDrv + "!out /usr/bin/x by=kettle" + h, "store path"},
		{"path is a drv", "output:" + testDrv + "!out " + testDrv + " by=kettle" + h, "is a .drv"},
		{"no by=", "output:" + testDrv + "!out " + testOut + " kettle" + h, "does not start with by="},
		{"unknown authority", "output:" + testDrv + "!out " + testOut + " by=me" + h, `authority "me"`},
		{"hash not hex", "output:" + testDrv + "!out " + testOut + " by=kettle:" + strings.Repeat("Z", 64), "NAR SHA-256"},
		{"hash short", "output:" + testDrv + "!out " + testOut + " by=nix-db:abcd", "NAR SHA-256"},
		{"hashed without path", "output:" + testDrv + "!out - by=kettle" + h, "has no store path"},
		{"absent with hash", "output:" + testDrv + "!out " + testOut + " by=none" + h, `want "absent"`},
		{"kettle absent", "output:" + testDrv + "!out " + testOut + " by=kettle:absent", "NAR SHA-256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ParseLeaf(tc.leaf)
			if err == nil {
				t.Fatalf("ParseLeaf(%q) = %+v, want an error", tc.leaf, l)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestManifestVersionRules(t *testing.T) {
	out := DrvOutput{testDrv, "out", testOut, ByKettle, digest("o")}.Leaf()
	git := FODLeaf("source", "git", "sha1", strings.Repeat("a", 40), "-")
	if _, err := NewManifestVersion(ManifestV1, []Leaf{DrvLeaf(testDrv, digest("d")), out}); err == nil || !strings.Contains(err.Error(), "kind output needs manifest version 2") {
		t.Errorf("version 1 with an output leaf: %v", err)
	}
	if _, err := NewManifestVersion(ManifestV1, []Leaf{git}); err == nil || !strings.Contains(err.Error(), "fod mode=git needs manifest version 2") {
		t.Errorf("version 1 with a git fod: %v", err)
	}
	if _, err := NewManifestVersion(ManifestV2, []Leaf{git}); err != nil {
		t.Errorf("version 2 with a git fod: %v", err)
	}
	m, err := NewManifestVersion(ManifestV1, []Leaf{DrvLeaf(testDrv, digest("d"))})
	if err != nil || m.Version != ManifestV1 {
		t.Fatalf("version 1 without output leaves: %+v, %v", m, err)
	}
	if outs, err := m.CheckOutputLeaves(); err != nil || outs != nil {
		t.Errorf("CheckOutputLeaves of version 1 = %v, %v", outs, err)
	}
	if _, err := NewManifestVersion(3, []Leaf{out}); err == nil {
		t.Error("version 3 accepted")
	}
}

func TestCheckOutputLeaves(t *testing.T) {
	drv, bb := DrvLeaf(testDrv, digest("d")), DrvLeaf(testBB, digest("bb"))
	hello := DrvOutput{testDrv, "out", testOut, ByKettle, digest("o")}
	for _, tc := range []struct {
		name   string
		leaves []Leaf
		want   string
	}{
		{"drv without output", []Leaf{drv, bb, hello.Leaf()}, "drv leaf " + testBB + " has no output leaf"},
		{"output without drv", []Leaf{hello.Leaf()}, "the manifest has no drv leaf for " + testDrv},
		{"one output twice", []Leaf{drv, hello.Leaf(), DrvOutput{testDrv, "out", testOut, ByNixDB, digest("o")}.Leaf()}, "one derivation output with two leaves"},
		{"one path twice", []Leaf{drv, bb, hello.Leaf(), DrvOutput{testBB, "out", testOut, ByNixDB, digest("o")}.Leaf()}, "both name " + testOut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewManifest(tc.leaves)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewManifest: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	m, err := NewManifest([]Leaf{drv, bb, hello.Leaf(), DrvOutput{testBB, "out", UnknownOutputPath, ByNone, [32]byte{}}.Leaf()})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := m.CheckOutputLeaves()
	if err != nil || len(outs) != 2 {
		t.Fatalf("CheckOutputLeaves = %v, %v", outs, err)
	}

	st := &Statement{BuildInfo: BuildInfo{Subjects: []Subject{{Name: testOut, Output: "out", SHA256: digest("o")}}}}
	if _, err := CheckSubjectOutputs(st, m); err != nil {
		t.Errorf("CheckSubjectOutputs: %v", err)
	}
	for _, tc := range []struct {
		name    string
		subject Subject
		want    string
	}{
		{"no leaf", Subject{Name: testOut + "-x", SHA256: digest("o")}, "has no output leaf"},
		{"other digest", Subject{Name: testOut, Output: "out", SHA256: digest("p")}, "has NAR SHA-256"},
		{"other output name", Subject{Name: testOut, Output: "dev", SHA256: digest("o")}, `is output "out", the subject says "dev"`},
	} {
		st := &Statement{BuildInfo: BuildInfo{Subjects: []Subject{tc.subject}}}
		if _, err := CheckSubjectOutputs(st, m); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: CheckSubjectOutputs = %v, want %q", tc.name, err, tc.want)
		}
	}
	nixdb, err := NewManifest([]Leaf{drv, DrvOutput{testDrv, "out", testOut, ByNixDB, digest("o")}.Leaf()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckSubjectOutputs(st, nixdb); err == nil || !strings.Contains(err.Error(), "by=nix-db, want by=kettle") {
		t.Errorf("subject hashed by nix-db: %v", err)
	}
}

// TestOutputsFollowLeaves: Outputs returns the output leaves of the
// manifest's Leaves as they are, not as they were when it was checked.
func TestOutputsFollowLeaves(t *testing.T) {
	hello := DrvOutput{testDrv, "out", testOut, ByKettle, digest("o")}
	m, err := NewManifest([]Leaf{DrvLeaf(testDrv, digest("d")), hello.Leaf()})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := m.Outputs()
	if err != nil || len(outs) != 1 || outs[0] != hello {
		t.Fatalf("Outputs = %v, %v", outs, err)
	}
	outs[0].Output = "changed by the caller"
	if again, _ := m.Outputs(); again[0] != hello {
		t.Errorf("Outputs shares its result: %v", again)
	}

	other := hello
	other.NarSHA256 = digest("p")
	m.Leaves = slices.Clone(m.Leaves)
	for i, l := range m.Leaves {
		if l == hello.Leaf().String() {
			m.Leaves[i] = other.Leaf().String()
		}
	}
	if outs, err := m.Outputs(); err != nil || len(outs) != 1 || outs[0] != other {
		t.Errorf("Outputs after a leaf changed = %v, %v; want %v", outs, err, other)
	}
	m.Leaves = append(m.Leaves, "output:x")
	if _, err := m.Outputs(); err == nil {
		t.Error("Outputs of a bad leaf added after the check succeeded")
	}
}
