package provenance

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/kettle-build/kettle/internal/nixstore"
)

// OutputAuthority says who established the NAR SHA-256 of an output leaf.
type OutputAuthority string

// The authorities of an output leaf (DESIGN.md, "The output leaf").
const (
	// ByKettle: Kettle serialised the path as a NAR and hashed it, and the
	// hash equals the Nix database's.
	ByKettle OutputAuthority = "kettle"
	// ByNixDB: the Nix database's narHash for the path.
	ByNixDB OutputAuthority = "nix-db"
	// ByNone: the output was not valid in the store after the build.
	ByNone OutputAuthority = "none"
)

// OutputAbsent is the value of an output leaf whose authority is ByNone.
const OutputAbsent = "absent"

// UnknownOutputPath stands for the store path of a floating
// content-addressed output that no one reported.
const UnknownOutputPath = "-"

// DrvOutput is one output of one derivation of the closure: the parsed form
// of an output leaf, output:<drv>!<output> <path> by=<authority>:<value>.
type DrvOutput struct {
	Drv    string // the .drv store path
	Output string // the output name, such as "out" or "dev"
	Path   string // the output store path, or UnknownOutputPath
	By     OutputAuthority
	// NarSHA256 is the NAR SHA-256 of Path; zero when By is ByNone.
	NarSHA256 [32]byte
}

// Realised reports whether the output was valid in the store after the
// build, so that the leaf carries its NAR SHA-256.
func (o DrvOutput) Realised() bool { return o.By != ByNone }

// ID is "<drv>!<output>", the name of the output apart from its path: two
// builds of one derivation agree on it.
func (o DrvOutput) ID() string { return o.Drv + "!" + o.Output }

// Leaf returns the manifest leaf of the output.
func (o DrvOutput) Leaf() Leaf {
	value := OutputAbsent
	if o.Realised() {
		value = hex.EncodeToString(o.NarSHA256[:])
	}
	return Leaf{KindOutput, o.ID() + " " + o.Path + " by=" + string(o.By), value}
}

// ParseOutputLeaf returns the fields of an output leaf.
func ParseOutputLeaf(l Leaf) (DrvOutput, error) {
	if l.Kind != KindOutput {
		return DrvOutput{}, fmt.Errorf("leaf kind %q is not %q", l.Kind, KindOutput)
	}
	return parseOutput(l)
}

func parseOutput(l Leaf) (DrvOutput, error) {
	f := strings.Split(l.Name, " ")
	if len(f) != 3 {
		return DrvOutput{}, fmt.Errorf("output name %q is not \"<drv>!<output> <store path> by=<authority>\"", l.Name)
	}
	drv, out, ok := strings.Cut(f[0], "!")
	if !ok {
		return DrvOutput{}, fmt.Errorf("output %q has no '!' between the .drv path and the output name", f[0])
	}
	if err := nixstore.CheckPath(drv); err != nil {
		return DrvOutput{}, fmt.Errorf("output drv path: %w", err)
	}
	if !strings.HasSuffix(drv, ".drv") {
		return DrvOutput{}, fmt.Errorf("output drv path %q does not end in .drv", drv)
	}
	if err := nixstore.CheckOutputName(out); err != nil {
		return DrvOutput{}, fmt.Errorf("output name %q of %s: %w", out, drv, err)
	}
	o := DrvOutput{Drv: drv, Output: out, Path: f[1]}
	if o.Path != UnknownOutputPath {
		if err := nixstore.CheckPath(o.Path); err != nil {
			return DrvOutput{}, fmt.Errorf("output %s store path: %w", o.ID(), err)
		}
		if strings.HasSuffix(o.Path, ".drv") {
			return DrvOutput{}, fmt.Errorf("output %s store path %q is a .drv", o.ID(), o.Path)
		}
	}
	by, ok := strings.CutPrefix(f[2], "by=")
	if !ok {
		return DrvOutput{}, fmt.Errorf("output %s: %q does not start with by=", o.ID(), f[2])
	}
	o.By = OutputAuthority(by)
	switch o.By {
	case ByKettle, ByNixDB:
		sum, err := parseSHA256Hex(l.Value)
		if err != nil {
			return DrvOutput{}, fmt.Errorf("output %s NAR SHA-256: %w", o.ID(), err)
		}
		if o.Path == UnknownOutputPath {
			return DrvOutput{}, fmt.Errorf("output %s is hashed (by=%s) but has no store path", o.ID(), o.By)
		}
		o.NarSHA256 = sum
	case ByNone:
		if l.Value != OutputAbsent {
			return DrvOutput{}, fmt.Errorf("output %s: by=none with value %q, want %q", o.ID(), l.Value, OutputAbsent)
		}
	default:
		return DrvOutput{}, fmt.Errorf("output %s: authority %q is not kettle, nix-db or none", o.ID(), by)
	}
	return o, nil
}

// outputID is the "<drv>!<output>" of a valid output leaf.
func outputID(l Leaf) string {
	id, _, _ := strings.Cut(l.Name, " ")
	return id
}

// Outputs returns the manifest's output leaves, parsed, in manifest order
// (by derivation, then output name). A version 1 manifest has none.
func (m *Manifest) Outputs() ([]DrvOutput, error) {
	var outs []DrvOutput
	for i, s := range m.Leaves {
		if !strings.HasPrefix(s, string(KindOutput)+":") {
			continue
		}
		l, err := parseLeaf(s)
		if err != nil {
			return nil, fmt.Errorf("leaves[%d]: %w", i, err)
		}
		o, err := parseOutput(l)
		if err != nil {
			return nil, fmt.Errorf("leaves[%d]: %w", i, err)
		}
		outs = append(outs, o)
	}
	return outs, nil
}

// CheckOutputLeaves checks rules 1 and 2 of a version 2 manifest: every drv
// leaf has an output leaf and every output leaf names a drv leaf, and no two
// output leaves name one store path. It returns the outputs; a version 1
// manifest has none and passes.
func (m *Manifest) CheckOutputLeaves() ([]DrvOutput, error) {
	if m.Version < ManifestV2 {
		return nil, nil
	}
	outs, err := m.Outputs()
	if err != nil {
		return nil, err
	}
	drvs := map[string]bool{} // drv leaf → has an output leaf
	for _, s := range m.Leaves {
		if rest, ok := strings.CutPrefix(s, string(KindDrv)+":"); ok {
			drvs[rest[:strings.LastIndexByte(rest, ':')]] = false
		}
	}
	byPath := map[string]string{}
	for _, o := range outs {
		if _, ok := drvs[o.Drv]; !ok {
			return nil, fmt.Errorf("output leaf of %s: the manifest has no drv leaf for %s", o.ID(), o.Drv)
		}
		drvs[o.Drv] = true
		if o.Path == UnknownOutputPath {
			continue
		}
		if other, dup := byPath[o.Path]; dup {
			return nil, fmt.Errorf("output leaves of %s and %s both name %s", other, o.ID(), o.Path)
		}
		byPath[o.Path] = o.ID()
	}
	for drv, has := range drvs {
		if !has {
			return nil, fmt.Errorf("drv leaf %s has no output leaf (manifest version %d lists every output of every derivation)", drv, m.Version)
		}
	}
	return outs, nil
}

// CheckSubjectOutputs checks rule 3 of a version 2 manifest: every subject
// of st has an output leaf of its store path, hashed by Kettle, with the
// subject's digest. It returns the outputs of the manifest.
func CheckSubjectOutputs(st *Statement, m *Manifest) ([]DrvOutput, error) {
	outs, err := m.CheckOutputLeaves()
	if err != nil {
		return nil, err
	}
	byPath := make(map[string]DrvOutput, len(outs))
	for _, o := range outs {
		byPath[o.Path] = o
	}
	for _, s := range st.Subjects {
		o, ok := byPath[s.Name]
		switch {
		case !ok:
			return nil, fmt.Errorf("subject %s has no output leaf in the manifest", s.Name)
		case s.Output != "" && o.Output != s.Output:
			return nil, fmt.Errorf("subject %s: its output leaf (%s) is output %q, the subject says %q", s.Name, o.ID(), o.Output, s.Output)
		case o.By != ByKettle:
			return nil, fmt.Errorf("subject %s: its output leaf (%s) says by=%s, want by=%s", s.Name, o.ID(), o.By, ByKettle)
		case o.NarSHA256 != s.SHA256:
			return nil, fmt.Errorf("subject %s: its output leaf (%s) has NAR SHA-256 %x, the subject %x", s.Name, o.ID(), o.NarSHA256, s.SHA256)
		}
	}
	return outs, nil
}
