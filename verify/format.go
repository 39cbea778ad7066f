package verify

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/provenance"
)

// ForeignTool names the other attested-build tool whose bundles Kettle
// verifies as they are.
const ForeignTool = "github.com/lunal-dev/kettle"

// Binding is the rule by which evidence binds provenance.json: what the
// report's report_data (or, for az-snp, the vTPM quote's qualifying data)
// must hold.
type Binding int

const (
	// BindFileDigestNonce: SHA-256 of provenance.json's bytes ‖ the 32-byte
	// nonce. Kettle's rule.
	BindFileDigestNonce Binding = iota + 1
	// BindCompactJSONDigest: SHA-256 of provenance.json re-serialised as
	// compact JSON in its own key order, and no nonce. The foreign tool's
	// rule in its az-snp bundles.
	BindCompactJSONDigest
)

// String describes the rule as the report's binding field shows it; where
// names the field that carries it.
func (b Binding) describe(where string) string {
	switch b {
	case BindFileDigestNonce:
		return where + " = SHA-256(" + provenance.FileProvenance + ") ‖ nonce"
	case BindCompactJSONDigest:
		return where + " = SHA-256(compact JSON re-serialisation of " + provenance.FileProvenance + ", in its own key order)"
	}
	return fmt.Sprintf("binding rule %d", int(b))
}

// Format is what the bundle step found: who produced the bundle, its layout,
// and the rule by which its evidence binds its provenance. Every later step
// asks it instead of guessing.
type Format struct {
	// Producer is "" for Kettle's own bundles, else the tool that made the
	// bundle (ForeignTool).
	Producer string
	// Binding is how the evidence binds provenance.json.
	Binding Binding
	// HasManifest says the bundle carries Kettle's input manifest, so the
	// manifest and dependencies steps can run.
	HasManifest bool
	// Caveat says, for a foreign bundle, what its format cannot show.
	Caveat string
	// Ignored lists files in the bundle's directory that are not part of
	// the format and were not read.
	Ignored []string
}

// Foreign reports whether another tool made the bundle.
func (f *Format) Foreign() bool { return f.Producer != "" }

// kettleFormat is the format of Kettle's own bundles.
func kettleFormat() *Format {
	return &Format{Binding: BindFileDigestNonce, HasManifest: true}
}

// foreignFormat is the foreign tool's az-snp layout: provenance.json and
// evidence.json, no manifest, no artifacts.
func foreignFormat(ignored []string) *Format {
	return &Format{
		Producer: ForeignTool,
		Binding:  BindCompactJSONDigest,
		Caveat:   "the hardware binds the SHA-256 of its provenance re-serialised as compact JSON, not provenance.json's bytes; it has no input manifest and no artifacts",
		Ignored:  ignored,
	}
}

// openBundle reads the bundle at p: Kettle's layout first, then the foreign
// tool's. When neither fits, the error is Kettle's.
func openBundle(p string) (*provenance.Bundle, *attest.Evidence, *Format, error) {
	b, err := provenance.OpenBundle(p)
	if err != nil {
		fb, ev, format, ferr := openForeignBundle(p)
		if ferr != nil {
			return nil, nil, nil, err
		}
		return fb, ev, format, nil
	}
	ev, err := attest.DecodeEvidence(b.Evidence)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", provenance.FileEvidence, err)
	}
	if ev.Foreign {
		return nil, nil, nil, fmt.Errorf("%s: evidence in the foreign tool's shape in a Kettle bundle (with %s)", provenance.FileEvidence, provenance.FileManifest)
	}
	return b, ev, kettleFormat(), nil
}

// openForeignBundle opens dir as a bundle in the foreign tool's layout: a
// directory with provenance.json and evidence.json
// ({"platform":"az-snp","evidence":{…}}), no manifest.json and no
// artifacts. Other files (a README) are listed, not read. It fails unless
// the evidence is in the foreign tool's shape, so that a broken Kettle
// bundle keeps its own error.
func openForeignBundle(dir string) (*provenance.Bundle, *attest.Evidence, *Format, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	var ignored []string
	for _, e := range entries {
		switch e.Name() {
		case provenance.FileProvenance, provenance.FileEvidence:
		case provenance.FileManifest, provenance.DirArtifacts:
			return nil, nil, nil, fmt.Errorf("%s: a Kettle bundle file", e.Name())
		default:
			ignored = append(ignored, e.Name())
		}
	}
	slices.Sort(ignored)
	b := &provenance.Bundle{Path: dir}
	if b.Evidence, err = readJSONFile(dir, provenance.FileEvidence); err != nil {
		return nil, nil, nil, err
	}
	ev, err := attest.DecodeEvidence(b.Evidence)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", provenance.FileEvidence, err)
	}
	if !ev.Foreign {
		return nil, nil, nil, errors.New("not evidence in the foreign tool's shape")
	}
	if b.Provenance, err = readJSONFile(dir, provenance.FileProvenance); err != nil {
		return nil, nil, nil, err
	}
	return b, ev, foreignFormat(ignored), nil
}

// readJSONFile reads dir/name: a regular file, opened once, at most
// provenance.MaxJSONFileSize bytes.
func readJSONFile(dir, name string) ([]byte, error) {
	return inputfile.Read(filepath.Join(dir, name), provenance.MaxJSONFileSize)
}

// foreignStatement is what the report shows of a foreign provenance.
type foreignStatement struct {
	Subject []struct {
		Name string `json:"name"`
	} `json:"subject"`
	Predicate struct {
		BuildDefinition struct {
			BuildType string `json:"buildType"`
		} `json:"buildDefinition"`
	} `json:"predicate"`
}

// bundleDetail is the bundle step's line.
func bundleDetail(b *provenance.Bundle, ev *attest.Evidence, f *Format) string {
	if !f.Foreign() {
		return fmt.Sprintf("%s, %s, %s and %d artifact(s); evidence platform %s",
			provenance.FileProvenance, provenance.FileEvidence, provenance.FileManifest, len(b.Artifacts), ev.Platform)
	}
	detail := fmt.Sprintf("foreign bundle (%s layout): %s and %s with %s evidence, no %s and no %s/",
		f.Producer, provenance.FileProvenance, provenance.FileEvidence, ev.Platform, provenance.FileManifest, provenance.DirArtifacts)
	if len(f.Ignored) > 0 {
		detail += "; not part of the bundle, ignored: " + strings.Join(f.Ignored, ", ")
	}
	return detail
}
