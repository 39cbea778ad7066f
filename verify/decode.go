package verify

import (
	"sync"

	"github.com/kettle-build/kettle/provenance"
)

// decoding is the decoding of a Kettle bundle's provenance.json and
// manifest.json, started when the bundle is read so that it runs while the
// hardware steps check the evidence. The provenance and manifest steps wait
// for their half and report its outcome, so the report is the one that
// decoding each file in its own step would give: only the time differs.
type decoding struct {
	wg       sync.WaitGroup
	stmt     *provenance.Statement
	stmtErr  error
	manifest *provenance.Manifest
	manErr   error
}

// startDecoding decodes b's statement and manifest side by side. The two
// touch different parts of b, and nothing else reads them until wait.
func startDecoding(b *provenance.Bundle) *decoding {
	d := &decoding{}
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		d.stmt, d.stmtErr = b.DecodeStatement()
	}()
	go func() {
		defer d.wg.Done()
		d.manifest, d.manErr = b.DecodeManifest()
	}()
	return d
}

// wait returns when both files are decoded.
func (d *decoding) wait() {
	if d != nil {
		d.wg.Wait()
	}
}
