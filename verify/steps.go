package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"path"
	"slices"
	"strings"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/provenance"
)

func (v *verifier) readBundle(context.Context) (Status, string, error) {
	b, ev, format, err := openBundle(v.opts.Bundle)
	if err != nil {
		return "", "", err
	}
	v.bundle, v.evidence, v.format = b, ev, format
	if !format.Foreign() {
		v.decoding = startDecoding(b)
	}
	r := v.report
	r.format = format
	r.Foreign = format.Producer
	r.FormatVersion = format.Version
	r.Platform = ev.Platform
	r.Simulated = ev.Platform.Simulated()
	r.Unattested = ev.Platform == attest.PlatformNone
	return Pass, bundleDetail(b, ev, format), nil
}

// unattested is the outcome of a hardware step of a bundle built with
// --attest none: a failure unless the verifier allows such bundles, and a
// failure too when the user asked for a check (named by asked) that only
// evidence could answer; otherwise skipped with the reason.
func (v *verifier) unattested(asked, skipped string) (Status, string, error) {
	if !v.opts.AllowUnattested {
		return "", "", fmt.Errorf("%w (pass --allow-unattested to check the rest of the bundle anyway)", attest.ErrUnattested)
	}
	if asked != "" {
		return "", "", fmt.Errorf("%s given, but the bundle is UNATTESTED: there is no hardware report to check it against", asked)
	}
	return Skipped, "UNATTESTED: " + skipped + " (accepted with --allow-unattested)", nil
}

// chain runs attest.Verify, the one verification of the evidence; the tcb
// step reads its outcome. The chain passes only when attest.Verify says so:
// without error, or with claims and an error of its TCB step.
func (v *verifier) chain(ctx context.Context) (Status, string, error) {
	if v.report.Unattested {
		return v.unattested("", "no hardware report")
	}
	claims, err := attest.Verify(ctx, v.evidence, attest.VerifyOptions{AllowSimulated: v.opts.AllowSimulated, Collateral: v.opts.Collateral})
	v.claims, v.attErr = claims, err
	if claims != nil {
		v.report.Measurement = fmt.Sprintf("%x", claims.Measurement)
		v.report.Simulated = claims.Simulated
	}
	var se *attest.StepError
	if err != nil && !(claims != nil && errors.As(err, &se) && se.Step == attest.StepTCB) {
		return "", "", err
	}
	detail := fmt.Sprintf("%s report signed by a certificate chain to the %s root", claims.Platform, claims.Product)
	if claims.Platform == attest.PlatformAzSNP {
		detail += "; the report commits to the HCL runtime claims and their vTPM attestation key, which signed a TPM quote of the 24 SHA-256 PCRs shipped"
	}
	if claims.Device != "" {
		// evidence.device is not covered by any signature: the producer's
		// word only.
		detail += fmt.Sprintf("; unauthenticated: evidence.device says %q", claims.Device)
	}
	return Pass, simTag(claims, detail), nil
}

func simTag(c *attest.Claims, s string) string {
	if c != nil && c.Simulated {
		return s + " [SIMULATED: Kettle TEST-ONLY root]"
	}
	return s
}

func (v *verifier) tcb(context.Context) (Status, string, error) {
	if v.report.Unattested {
		asked := ""
		if v.opts.Policy != nil {
			asked = "--policy"
		}
		return v.unattested(asked, "no TCB to judge")
	}
	if v.attErr != nil {
		return "", "", v.attErr
	}
	c := v.claims
	v.notChecked(c.NotChecked...)
	detail := fmt.Sprintf("baseline: debug=%t vmpl=%d tcb=%s", c.Debug, c.VMPL, c.TCB)
	if v.opts.Policy == nil {
		v.notChecked("policy: minimum TCB/SVNs, HOST_DATA/MRCONFIGID, VMPL and allowed measurements (no --policy given)")
		return Pass, simTag(c, detail+"; no --policy: only the baseline applies"), nil
	}
	rep, err := v.opts.Policy.CheckTCB(c)
	if err != nil {
		return "", "", err
	}
	v.notChecked(rep.NotChecked...)
	if len(rep.Checked) > 0 {
		detail += "; policy: " + strings.Join(rep.Checked, ", ")
	}
	return Pass, simTag(c, detail), nil
}

func (v *verifier) measurement(context.Context) (Status, string, error) {
	if v.report.Unattested {
		asked := ""
		switch {
		case v.opts.Measurement != nil:
			asked = "--measurement"
		case v.opts.Image != nil:
			asked = "--image"
		}
		return v.unattested(asked, "no launch measurement")
	}
	got := v.claims.Measurement
	var details []string
	if v.opts.Policy != nil {
		ok, detail, err := v.opts.Policy.CheckMeasurement(v.claims)
		if err != nil {
			return "", "", err
		}
		if ok {
			details = append(details, detail)
		}
	}
	if v.opts.Image != nil {
		shape, err := v.opts.Image.Match(got)
		if err != nil {
			return "", "", fmt.Errorf("launch measurement %x: %w", got, err)
		}
		details = append(details, fmt.Sprintf("launch measurement %x is the image's %s", got, shape))
	}
	if v.opts.Measurement != nil {
		if !bytes.Equal(got, v.opts.Measurement) {
			return "", "", fmt.Errorf("launch measurement %x, expected %x", got, v.opts.Measurement)
		}
		details = append(details, fmt.Sprintf("launch measurement %x equals --measurement", got))
	}
	if len(details) == 0 {
		v.notChecked("launch measurement (no --measurement or --image, and no allowed measurements in a --policy)")
		return Skipped, fmt.Sprintf("no --measurement, --image or policy measurements given; the report carries %x", got), nil
	}
	return Pass, strings.Join(details, "; "), nil
}

// binding checks that the evidence binds provenance.json by the bundle
// format's rule, in report_data or, behind a vTPM, in the quote's
// qualifying data: a digest of the provenance, then the format's nonce,
// then zeros to the end of the field.
func (v *verifier) binding(context.Context) (Status, string, error) {
	if v.report.Unattested {
		asked := ""
		if v.opts.Nonce != nil {
			asked = "--nonce"
		}
		return v.unattested(asked, "no report_data binds the provenance")
	}
	f := v.format
	where, bound := "report_data", v.claims.ReportData[:]
	if v.claims.QualifyingData != nil {
		// The foreign tool's attestation library zero-pads what it is
		// given to 50 bytes for az-snp quotes (attestation-rs 026cbda,
		// src/platforms/az_snp/attest.rs), and passed it unpadded before:
		// the zeros after the nonce may be of any length.
		where, bound = "vTPM quote qualifying data", v.claims.QualifyingData
	}
	v.report.Binding = f.Binding.describe(where)
	if v.opts.Nonce != nil && len(v.opts.Nonce) != f.NonceSize {
		if f.NonceSize == 0 {
			return "", "", fmt.Errorf("--nonce given, but the %s binding carries no nonce", f.name())
		}
		return "", "", fmt.Errorf("--nonce is %d bytes, but the %s binding carries a %d-byte nonce", len(v.opts.Nonce), f.name(), f.NonceSize)
	}
	fileDigest := sha256.Sum256(v.bundle.Provenance)
	digest, what := fileDigest[:], "SHA-256("+provenance.FileProvenance+")"
	if f.Binding.compact() {
		var err error
		if digest, err = attest.CompactJSONDigest(v.bundle.Provenance); err != nil {
			return "", "", fmt.Errorf("%s: %w", provenance.FileProvenance, err)
		}
		what = "SHA-256 of " + provenance.FileProvenance + " re-serialised as compact JSON in its own key order"
	}
	if !f.Foreign() {
		// Kettle's own rule, with its own messages.
		if len(bound) != 64 || subtle.ConstantTimeCompare(bound[:32], fileDigest[:]) != 1 {
			head := bound
			if len(head) > 32 {
				head = head[:32]
			}
			return "", "", fmt.Errorf("%s[0:32] is %x, expected SHA-256(%s) = %x", where, head, provenance.FileProvenance, fileDigest)
		}
	} else if len(bound) < 32+f.NonceSize || subtle.ConstantTimeCompare(bound[:32], digest) != 1 {
		return "", "", fmt.Errorf("%s is %x, expected the foreign binding of format %s: %s = %x, then %s, then zeros", where, bound, f.Version, what, digest, f.nonceWords())
	}
	nonce := bound[32 : 32+f.NonceSize]
	if rest := bound[32+f.NonceSize:]; !isZero(rest) {
		return "", "", fmt.Errorf("%s[%d:%d] is %x, expected zeros after the %s", where, 32+f.NonceSize, len(bound), rest, f.nonceWords())
	}
	detail := fmt.Sprintf("%s = %s = %x", where, what, digest)
	if f.Foreign() {
		detail = fmt.Sprintf("foreign binding (format %s): %s", f.Version, detail)
		if f.Binding.compact() {
			detail += fmt.Sprintf(" (not SHA-256 of the file's bytes, %x)", fileDigest)
		}
	}
	switch {
	case f.NonceSize == 0:
		v.notChecked("nonce: the " + f.name() + " binding carries none, so the bundle's freshness is not shown")
		return Pass, detail + "; no nonce", nil
	case v.opts.Nonce == nil:
		v.notChecked(fmt.Sprintf("nonce in %s[32:%d] (no --nonce given)", where, 32+f.NonceSize))
		return Pass, fmt.Sprintf("%s ‖ nonce %x (nonce not checked: no --nonce given)", detail, nonce), nil
	case subtle.ConstantTimeCompare(nonce, v.opts.Nonce) != 1:
		return "", "", fmt.Errorf("%s[32:%d] (nonce) is %x, expected %x", where, 32+f.NonceSize, nonce, v.opts.Nonce)
	}
	return Pass, fmt.Sprintf("%s ‖ nonce %x", detail, nonce), nil
}

// provenance decodes provenance.json: Kettle's strictly, with its
// buildType; a foreign one through the in-toto attestation library's
// checks, each field it refuses a warning: the hardware binds the document
// as it is.
func (v *verifier) provenance(context.Context) (Status, string, error) {
	if v.format.Foreign() {
		st, err := decodeForeignStatement(v.bundle.Provenance)
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", provenance.FileProvenance, err)
		}
		v.foreign = st
		for _, s := range st.Subject {
			v.report.Subjects = append(v.report.Subjects, s.Name)
		}
		findings := inTotoFindings(v.bundle.Provenance)
		for _, w := range findings {
			v.warn(w)
		}
		verdict := "in-toto Statement v1, SLSA provenance v1 (in-toto library's checks)"
		if len(findings) > 0 {
			verdict = fmt.Sprintf("in-toto Statement v1, SLSA provenance v1 by its types, with %d field(s) the in-toto library refuses (warnings)", len(findings))
		}
		return Pass, fmt.Sprintf("%s, foreign buildType %s, %d subject(s)", verdict, st.Predicate.BuildDefinition.BuildType, len(st.Subject)), nil
	}
	v.decoding.wait()
	st, err := v.decoding.stmt, v.decoding.stmtErr
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", provenance.FileProvenance, err)
	}
	v.stmt = st
	for _, s := range st.Subjects {
		v.report.Subjects = append(v.report.Subjects, s.Name)
	}
	return Pass, fmt.Sprintf("in-toto Statement v1, SLSA provenance v1, buildType %s, %d subject(s)", st.BuildType, len(st.Subjects)), nil
}

// manifestRoot recomputes the input manifest's root and compares it with
// the one the provenance carries.
func (v *verifier) manifestRoot(context.Context) (Status, string, error) {
	if !v.format.HasManifest {
		return v.foreignMerkleRoot()
	}
	v.decoding.wait()
	m, err := v.decoding.manifest, v.decoding.manErr
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", provenance.FileManifest, err)
	}
	if m.Root != v.stmt.ManifestRoot {
		return "", "", fmt.Errorf("%s root %x differs from the root in %s (%x)", provenance.FileManifest, m.Root, provenance.FileProvenance, v.stmt.ManifestRoot)
	}
	if m.Version != v.stmt.ManifestVersion {
		return "", "", fmt.Errorf("%s is version %d, %s says manifest version %d", provenance.FileManifest, m.Version, provenance.FileProvenance, v.stmt.ManifestVersion)
	}
	if len(m.Leaves) != v.stmt.ManifestLeafCount {
		return "", "", fmt.Errorf("%s has %d leaves, %s says %d", provenance.FileManifest, len(m.Leaves), provenance.FileProvenance, v.stmt.ManifestLeafCount)
	}
	v.manifest = m
	v.report.ManifestRoot = fmt.Sprintf("%x", m.Root)
	return Pass, fmt.Sprintf("root %x recomputed over %d leaves, equals the provenance's", m.Root, len(m.Leaves)), nil
}

// dependencies checks that the provenance's resolvedDependencies and the
// manifest record the same inputs.
func (v *verifier) dependencies(context.Context) (Status, string, error) {
	if !v.format.HasManifest {
		return v.foreignLockFiles()
	}
	n, err := provenance.CheckDependencies(v.stmt, v.manifest)
	if err != nil {
		return "", "", err
	}
	return Pass, fmt.Sprintf("%d dependencies match the manifest", n), nil
}

// outputs checks a version 2 manifest's output leaves: every derivation has
// one, every subject is one and, with DeepHash and a store, every realised
// output's store path re-hashes to its leaf.
func (v *verifier) outputs(ctx context.Context) (Status, string, error) {
	if v.format.Foreign() {
		return Skipped, "the bundle's format has no output leaves", nil
	}
	if v.manifest.Version < provenance.ManifestV2 {
		if v.opts.DeepHash {
			return "", "", fmt.Errorf("--deep-hash given, but %s is version %d, which has no output leaves", provenance.FileManifest, v.manifest.Version)
		}
		return Skipped, fmt.Sprintf("manifest version %d has no output leaves", v.manifest.Version), nil
	}
	outs, err := provenance.CheckSubjectOutputs(v.stmt, v.manifest)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", provenance.FileManifest, err)
	}
	by := map[provenance.OutputAuthority]int{}
	for _, o := range outs {
		by[o.By]++
	}
	drvs := 0
	for i, o := range outs {
		if i == 0 || o.Drv != outs[i-1].Drv {
			drvs++
		}
	}
	detail := fmt.Sprintf("%d outputs of %d derivations (by=kettle %d, by=nix-db %d, absent %d); every subject is one", len(outs), drvs, by[provenance.ByKettle], by[provenance.ByNixDB], by[provenance.ByNone])
	if !v.opts.DeepHash {
		return Pass, detail, nil
	}
	if v.opts.Store == nil {
		return "", "", errors.New("--deep-hash re-hashes the outputs in the local store, but no store was given (--store)")
	}
	n := 0
	for _, o := range outs {
		if !o.Realised() {
			continue
		}
		sum, err := v.opts.Store.NarSHA256(ctx, o.Path)
		if err != nil {
			return "", "", fmt.Errorf("output %s: %w", o.ID(), err)
		}
		if sum != o.NarSHA256 {
			return "", "", fmt.Errorf("output %s: the NAR SHA-256 of %s in %s is %x, the manifest says %x (by=%s)", o.ID(), o.Path, storeName(v.opts.Store), sum, o.NarSHA256, o.By)
		}
		n++
	}
	return Pass, fmt.Sprintf("%s; all %d realised outputs re-hashed in %s (--deep-hash) equal their leaves", detail, n, storeName(v.opts.Store)), nil
}

// subjects recomputes every subject's NAR SHA-256 from the bundle's
// artifacts or, with a StoreHasher, from the local store.
func (v *verifier) subjects(ctx context.Context) (Status, string, error) {
	if v.format.Foreign() {
		return v.foreignArtifacts()
	}
	if len(v.stmt.Subjects) == 0 {
		return "", "", fmt.Errorf("%s has no subjects", provenance.FileProvenance)
	}
	if v.opts.Store != nil {
		for _, s := range v.stmt.Subjects {
			sum, err := v.opts.Store.NarSHA256(ctx, s.Name)
			if err != nil {
				return "", "", fmt.Errorf("subject %s: %w", s.Name, err)
			}
			if sum != s.SHA256 {
				return "", "", fmt.Errorf("subject %s: NAR SHA-256 in %s %x, provenance says %x", s.Name, storeName(v.opts.Store), sum, s.SHA256)
			}
		}
		return Pass, fmt.Sprintf("%d subject(s) equal the NAR hashes of their paths in %s", len(v.stmt.Subjects), storeName(v.opts.Store)), nil
	}
	if len(v.bundle.Artifacts) == 0 {
		return "", "", errors.New("the bundle has no artifacts/ to check the subjects against; use --store to re-hash the local store paths")
	}
	byName := map[string]provenance.Artifact{}
	for _, a := range v.bundle.Artifacts {
		byName[a.Name] = a
	}
	for _, s := range v.stmt.Subjects {
		name := path.Base(s.Name)
		a, ok := byName[name]
		if !ok {
			return "", "", fmt.Errorf("subject %s: no artifact %s/%s.nar.* in the bundle", s.Name, provenance.DirArtifacts, name)
		}
		delete(byName, name)
		sum, err := artifactSHA256(v.bundle, a, s.NarSize)
		if err != nil {
			return "", "", fmt.Errorf("artifact %s: %w", a.File, err)
		}
		if sum != s.SHA256 {
			return "", "", fmt.Errorf("artifact %s: NAR SHA-256 %x, provenance says %x for %s", a.File, sum, s.SHA256, s.Name)
		}
	}
	if len(byName) > 0 {
		var extra []string
		for _, name := range slices.Sorted(maps.Keys(byName)) {
			extra = append(extra, byName[name].File)
		}
		return "", "", fmt.Errorf("artifacts not named by any subject: %v", extra)
	}
	return Pass, fmt.Sprintf("%d subject(s) equal the NAR SHA-256 of the bundle's artifacts", len(v.stmt.Subjects)), nil
}

// artifactSHA256 is the SHA-256 of an artifact's NAR. Decompression stops
// at the byte after narSize, the size the provenance signs, so that a small
// artifact that expands without end costs no more than the real NAR would.
func artifactSHA256(b *provenance.Bundle, a provenance.Artifact, narSize uint64) ([32]byte, error) {
	var sum [32]byte
	limit := int64(math.MaxInt64)
	if narSize < math.MaxInt64 {
		limit = int64(narSize)
	}
	rc, err := b.OpenArtifactLimit(a, limit)
	if err != nil {
		return sum, err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
