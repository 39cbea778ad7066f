package builder

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/provenance"
)

// ForeignTool names the other attested-build tool whose bundles Kettle
// verifies as they are.
const ForeignTool = "github.com/lunal-dev/kettle"

// foreignBundle is a bundle in the foreign tool's layout: a directory with
// provenance.json and evidence.json ({"platform":"az-snp","evidence":{…}}),
// no manifest.json and no artifacts. Other files (a README) are listed, not
// read.
type foreignBundle struct {
	bundle  *provenance.Bundle
	ignored []string
}

// openForeignBundle opens dir as a foreign bundle. It fails unless the
// evidence is az-snp evidence in the foreign tool's shape, so that a broken
// Kettle bundle keeps its own error.
func openForeignBundle(dir string) (*foreignBundle, *attest.Evidence, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	fb := &foreignBundle{bundle: &provenance.Bundle{Path: dir}}
	for _, e := range entries {
		switch e.Name() {
		case provenance.FileProvenance, provenance.FileEvidence:
		case provenance.FileManifest, provenance.DirArtifacts:
			return nil, nil, fmt.Errorf("%s: a Kettle bundle file", e.Name())
		default:
			fb.ignored = append(fb.ignored, e.Name())
		}
	}
	sort.Strings(fb.ignored)
	read := func(name string) ([]byte, error) {
		p := filepath.Join(dir, name)
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: not a regular file", name)
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, provenance.MaxJSONFileSize+1))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(data) > provenance.MaxJSONFileSize {
			return nil, fmt.Errorf("%s: larger than the limit of %d bytes", name, provenance.MaxJSONFileSize)
		}
		return data, nil
	}
	if fb.bundle.Evidence, err = read(provenance.FileEvidence); err != nil {
		return nil, nil, err
	}
	ev, err := attest.DecodeEvidence(fb.bundle.Evidence)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", provenance.FileEvidence, err)
	}
	if !ev.Foreign {
		return nil, nil, errors.New("not evidence in the foreign tool's shape")
	}
	if fb.bundle.Provenance, err = read(provenance.FileProvenance); err != nil {
		return nil, nil, err
	}
	return fb, ev, nil
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
