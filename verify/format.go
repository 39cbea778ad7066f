package verify

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/provenance"
)

// ForeignTool names the other attested-build tool whose bundles Kettle
// verifies as they are.
const ForeignTool = "github.com/confidential-dot-ai/kettle"

// ForeignToolFormerly is the name under which the foreign tool was first
// published.
const ForeignToolFormerly = "github.com/lunal-dev/kettle"

// Binding is the rule by which evidence binds provenance.json: what the
// report's report_data (or, behind a vTPM, the quote's qualifying data)
// must hold.
type Binding int

const (
	// BindFileDigestNonce: SHA-256 of provenance.json's bytes ‖ the 32-byte
	// nonce. Kettle's rule.
	BindFileDigestNonce Binding = iota + 1
	// BindCompactJSONDigest: SHA-256 of provenance.json re-serialised as
	// compact JSON in its own key order, alone (32 bytes, zero-padded to
	// 64 in a report_data); no nonce. The foreign tool up to its commit
	// c63a4f3 (v0.1.x, e.g. adf3588).
	BindCompactJSONDigest
	// BindCompactJSONDigestNonce16: that compact digest ‖ a nonce of up to
	// 16 bytes, zero-padded to 48 bytes (and to 64 in a report_data). The
	// foreign tool from c63a4f3 to 5735e31 (unreleased 0.1.1 builds).
	BindCompactJSONDigestNonce16
	// BindFileDigestNonce16: SHA-256 of provenance.json's bytes ‖ the
	// 16-byte nonce (zero when none), 48 bytes, zero-padded to 64 in a
	// report_data. The foreign tool from 5735e31 on (v1.0.0, v1.1.x).
	BindFileDigestNonce16
)

// foreignFormatSpec is one format of the foreign tool.
type foreignFormatSpec struct {
	version   string // as the bundle line shows it
	commits   string // the foreign tool's commits that wrote it
	binding   Binding
	nonceSize int // 0: the format carries no nonce
}

// foreignFormatList returns the foreign tool's formats, oldest first, as
// its source shows them (github.com/confidential-dot-ai/kettle: the
// checksum in src/provenance.rs Provenance::checksum, compact until
// 5735e31 and the file's bytes since; the report data in
// src/commands/attest.rs, the bare checksum until c63a4f3, then 48 bytes
// with a nonce of up to 16 bytes, exactly 16 since 17ca782).
func foreignFormatList() []foreignFormatSpec {
	return []foreignFormatSpec{
		{"v0.1 (compact-JSON binding, 32-byte checksum)", "2253b02..c63a4f3, e.g. adf3588", BindCompactJSONDigest, 0},
		{"v0.1.1 (compact-JSON binding ‖ 16-byte nonce)", "c63a4f3..5735e31", BindCompactJSONDigestNonce16, 16},
		{"v1.x (file-bytes binding ‖ 16-byte nonce)", "5735e31 on: v1.0.0, v1.1.x", BindFileDigestNonce16, 16},
	}
}

// describe says the rule as the report's binding field shows it; where
// names the field that carries it.
func (b Binding) describe(where string) string {
	switch b {
	case BindFileDigestNonce:
		return where + " = SHA-256(" + provenance.FileProvenance + ") ‖ nonce"
	case BindCompactJSONDigest:
		return where + " = SHA-256(compact JSON re-serialisation of " + provenance.FileProvenance + ", in its own key order), zero-padded"
	case BindCompactJSONDigestNonce16:
		return where + " = SHA-256(compact JSON re-serialisation of " + provenance.FileProvenance + ", in its own key order) ‖ 16-byte nonce, zero-padded"
	case BindFileDigestNonce16:
		return where + " = SHA-256(" + provenance.FileProvenance + "'s bytes) ‖ 16-byte nonce, zero-padded"
	}
	return fmt.Sprintf("binding rule %d", int(b))
}

// compact reports whether the rule hashes the compact re-serialisation.
func (b Binding) compact() bool {
	return b == BindCompactJSONDigest || b == BindCompactJSONDigestNonce16
}

// Format is what the bundle step found: who produced the bundle, its layout,
// and the rule by which its evidence binds its provenance. Every later step
// asks it instead of guessing.
type Format struct {
	// Producer is "" for Kettle's own bundles, else the tool that made the
	// bundle (ForeignTool).
	Producer string
	// Version names the producer's format, e.g. "v1.x (file-bytes binding
	// ‖ 16-byte nonce)"; "" for Kettle's own.
	Version string
	// Commits says which of the producer's commits write the format.
	Commits string
	// Binding is how the evidence binds provenance.json.
	Binding Binding
	// NonceSize is the size of the nonce the binding carries, in bytes;
	// 0 when it carries none.
	NonceSize int
	// HasManifest says the bundle carries Kettle's input manifest, so the
	// manifest and dependencies steps run Kettle's checks.
	HasManifest bool
	// Caveat says, for a foreign bundle, what its format cannot show.
	Caveat string
	// Unchecked lists the checks Kettle makes of its own bundles that the
	// format leaves no way to make.
	Unchecked []string
	// Ignored lists files in the bundle's directory that are not part of
	// the format and were not read.
	Ignored []string

	// foreign is the foreign bundle's content beyond its two JSON files.
	foreign *foreignLayout
}

// Foreign reports whether another tool made the bundle.
func (f *Format) Foreign() bool { return f.Producer != "" }

// kettleFormat is the format of Kettle's own bundles.
func kettleFormat() *Format {
	return &Format{Binding: BindFileDigestNonce, NonceSize: 32, HasManifest: true}
}

// recogniseForeignFormat tells the foreign tool's formats apart by content:
// by the size of the qualifying data of a vTPM quote (32 bytes until
// c63a4f3, more since), and by which digest of provenance.json the bound data
// begins with, the file's bytes' or its compact re-serialisation's. The
// bound data is read before any signature is checked; it only picks the
// rule, which the binding step then checks against the verified claims. A
// bundle that fits no rule gets the newest, whose check then fails.
func recogniseForeignFormat(prov []byte, ev *attest.Evidence, layout *foreignLayout) *Format {
	formats := foreignFormatList()
	spec := formats[len(formats)-1]
	if bound, err := ev.UnverifiedBoundData(); err == nil && len(bound) >= 32 {
		file := sha256.Sum256(prov)
		compact, cerr := attest.CompactJSONDigest(prov)
		switch {
		case len(bound) == 32:
			// Only the oldest format gave the vTPM its bare checksum.
			spec = formats[0]
		case bytes.Equal(bound[:32], file[:]):
			spec = formats[2]
		case cerr == nil && bytes.Equal(bound[:32], compact):
			spec = formats[1]
			if len(bound) == 32 || isZero(bound[32:]) {
				spec = formats[0]
			}
		}
	}
	f := &Format{
		Producer:  ForeignTool,
		Version:   spec.version,
		Commits:   spec.commits,
		Binding:   spec.binding,
		NonceSize: spec.nonceSize,
		Ignored:   layout.unknown,
		foreign:   layout,
		Unchecked: []string{
			"input manifest: the format has no " + provenance.FileManifest + ", so the inputs themselves cannot be re-hashed; only the provenance's own input Merkle root is recomputed",
			"NAR subjects: the subjects are SHA-256 digests of raw files, not Nix store paths, so --store cannot re-hash them",
		},
	}
	if spec.binding.compact() {
		f.Caveat = "the hardware binds the SHA-256 of its provenance re-serialised as compact JSON, not provenance.json's bytes (whitespace is not bound)"
	} else {
		f.Caveat = "the hardware binds provenance.json's bytes and a 16-byte nonce, as the foreign tool's v1.x writes them"
	}
	if spec.nonceSize == 0 {
		f.Unchecked = append(f.Unchecked, "freshness: the format's binding carries no nonce")
	}
	return f
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// openBundle reads the bundle at p: Kettle's layout first, then the foreign
// tool's. When neither fits, the error is Kettle's, unless the evidence is
// in the foreign tool's shape.
func openBundle(p string) (*provenance.Bundle, *attest.Evidence, *Format, error) {
	b, err := provenance.OpenBundle(p)
	if err != nil {
		fb, ev, format, ferr := openForeignBundle(p)
		if ferr != nil {
			if _, ok := ferr.(*foreignError); ok {
				return nil, nil, nil, ferr
			}
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

// bundleDetail is the bundle step's line.
func bundleDetail(b *provenance.Bundle, ev *attest.Evidence, f *Format) string {
	if !f.Foreign() {
		return fmt.Sprintf("%s, %s, %s and %d artifact(s); evidence platform %s",
			provenance.FileProvenance, provenance.FileEvidence, provenance.FileManifest, len(b.Artifacts), ev.Platform)
	}
	l := f.foreign
	detail := fmt.Sprintf("foreign bundle of %s (formerly %s), format %s, written by its commits %s: %s and %s with %s evidence",
		f.Producer, ForeignToolFormerly, f.Version, f.Commits, provenance.FileProvenance, provenance.FileEvidence, evidencePlatformName(ev))
	if l.producerVersion != "" {
		detail += fmt.Sprintf("; the provenance names the tool's version %q", l.producerVersion)
	}
	var files []string
	for _, a := range l.artifacts {
		files = append(files, a.rel)
	}
	for _, lf := range l.lockFiles {
		files = append(files, lf.rel)
	}
	if len(files) > 0 {
		detail += "; also " + strings.Join(files, ", ")
	}
	if len(f.Ignored) > 0 {
		detail += "; not part of the format, listed and not read: " + strings.Join(f.Ignored, ", ")
	}
	return detail
}

// evidencePlatformName names the evidence's platform as the producer's
// envelope spells it, with Kettle's name beside it when they differ.
func evidencePlatformName(ev *attest.Evidence) string {
	if ev.ForeignPlatform != "" && ev.ForeignPlatform != string(ev.Platform) {
		return fmt.Sprintf("%s (read as %s)", ev.ForeignPlatform, ev.Platform)
	}
	return string(ev.Platform)
}
