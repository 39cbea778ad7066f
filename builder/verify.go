package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/attest/azsnp"
	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/provenance"
)

// Step names, in the order DESIGN.md fixes. StepBundle comes first: a bundle
// that cannot be read has no chain to check.
const (
	StepBundle      = "bundle"
	StepChain       = "chain"
	StepTCB         = "tcb"
	StepMeasurement = "measurement"
	StepBinding     = "binding"
	StepProvenance  = "provenance"
	StepManifest    = "manifest"
	StepSubjects    = "subjects"
)

// StepOrder lists every verification step in the order they run.
func StepOrder() []string {
	return []string{StepBundle, StepChain, StepTCB, StepMeasurement, StepBinding, StepProvenance, StepManifest, StepSubjects}
}

// Status is the outcome of one step.
type Status string

// Step outcomes. NotRun marks the steps after a failure: a broken link makes
// everything after it meaningless.
const (
	Pass    Status = "PASS"
	Fail    Status = "FAIL"
	Skipped Status = "SKIP"
	NotRun  Status = "NOT RUN"
)

// StepResult is one line of the verification report.
type StepResult struct {
	Step   string `json:"step"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
}

// VerifyOptions says what the verifier expects of a bundle.
type VerifyOptions struct {
	// Bundle is the bundle directory or .tar file.
	Bundle string
	// Nonce, when set, must equal report_data[32:64].
	Nonce *[32]byte
	// Measurement, when set, must equal the launch measurement in the report.
	Measurement []byte
	// UseStore re-hashes the subjects from the local Nix store instead of
	// the bundle's artifacts/.
	UseStore bool
	// AllowSimulated accepts evidence signed by Kettle's test-only roots.
	AllowSimulated bool
	// AllowUnattested accepts a bundle built with --attest none: the
	// hardware steps are skipped and the verdict says UNATTESTED.
	AllowUnattested bool
	// Policy, when set, is applied at the tcb and measurement steps.
	Policy *attest.Policy
	// Collateral, when set, replaces the evidence's collateral (AMD CRL;
	// Intel TCB info, QE identity and CRLs).
	Collateral map[string][]byte
}

// VerifyReport is the verdict with every step.
type VerifyReport struct {
	Bundle      string          `json:"bundle"`
	OK          bool            `json:"ok"`
	Simulated   bool            `json:"simulated"`
	Unattested  bool            `json:"unattested"`
	Platform    attest.Platform `json:"platform,omitempty"`
	Measurement string          `json:"measurement,omitempty"`
	Subjects    []string        `json:"subjects,omitempty"`
	Steps       []StepResult    `json:"steps"`
	// Failed names the first broken link ("" when OK).
	Failed string `json:"failed,omitempty"`
	// NotChecked lists, in words, the checks verification did not make: for
	// want of a policy, of --measurement or --nonce, or of collateral.
	NotChecked []string `json:"notChecked,omitempty"`
	// Foreign names the tool that made a bundle in another tool's layout
	// (ForeignTool), "" for Kettle's own bundles.
	Foreign string `json:"foreign,omitempty"`
	// Binding says how the evidence binds provenance.json.
	Binding string `json:"binding,omitempty"`
}

// Verdict is the one-line summary of the report.
func (r *VerifyReport) Verdict() string {
	var s string
	switch {
	case r.OK && r.Unattested:
		s = "UNATTESTED (accepted with --allow-unattested): provenance, manifest and subjects hold, but nothing ties this bundle to hardware"
	case r.OK:
		s = "VERIFIED"
		var skipped []string
		for _, st := range r.Steps {
			if st.Status == Skipped {
				skipped = append(skipped, st.Step)
			}
		}
		if len(skipped) > 0 {
			s += " (steps skipped: " + strings.Join(skipped, ", ") + ")"
		}
		if len(r.NotChecked) > 0 {
			s += fmt.Sprintf(" — %d check(s) not made, listed above", len(r.NotChecked))
		}
	case r.Unattested:
		s = "UNATTESTED: FAILED at " + r.Failed
	default:
		s = "FAILED at " + r.Failed
	}
	if r.Simulated {
		s += " — SIMULATED evidence, signed by Kettle's TEST-ONLY key chain, proves nothing about hardware"
	}
	if r.Foreign != "" {
		s += " — FOREIGN bundle made by " + r.Foreign + ": the hardware binds the SHA-256 of its provenance re-serialised as compact JSON, not provenance.json's bytes; it has no input manifest and no artifacts"
	}
	return s
}

// Verify checks a bundle link by link. It returns an error only when it
// could not run at all; a broken link is a report with OK false.
func Verify(ctx context.Context, opts VerifyOptions) *VerifyReport {
	r := &VerifyReport{Bundle: opts.Bundle}
	v := verifier{opts: opts, report: r}
	v.run(ctx)
	return r
}

type verifier struct {
	opts   VerifyOptions
	report *VerifyReport

	bundle   *provenance.Bundle
	foreign  *foreignBundle // a bundle in the foreign tool's layout
	evidence *attest.Evidence
	claims   *attest.Claims
	attested bool  // attest.Verify has run
	attErr   error // and failed thus
	stmt     *provenance.Statement
}

func (v *verifier) run(ctx context.Context) {
	steps := []struct {
		name string
		fn   func(context.Context) (Status, string, error)
	}{
		{StepBundle, v.readBundle},
		{StepChain, v.chain},
		{StepTCB, v.tcb},
		{StepMeasurement, v.measurement},
		{StepBinding, v.binding},
		{StepProvenance, v.provenance},
		{StepManifest, v.manifest},
		{StepSubjects, v.subjects},
	}
	failed := false
	for _, s := range steps {
		if failed {
			v.report.Steps = append(v.report.Steps, StepResult{Step: s.name, Status: NotRun, Detail: "not reached: an earlier link is broken"})
			continue
		}
		status, detail, err := s.fn(ctx)
		if err != nil {
			status, detail = Fail, err.Error()
			failed = true
			v.report.Failed = s.name
		}
		v.report.Steps = append(v.report.Steps, StepResult{Step: s.name, Status: status, Detail: detail})
	}
	v.report.OK = !failed
}

func (v *verifier) readBundle(context.Context) (Status, string, error) {
	b, err := provenance.OpenBundle(v.opts.Bundle)
	if err != nil {
		fb, ev, ferr := openForeignBundle(v.opts.Bundle)
		if ferr != nil {
			return "", "", err // not a foreign bundle either: Kettle's error
		}
		v.foreign, v.bundle, v.evidence = fb, fb.bundle, ev
		v.report.Foreign = ForeignTool
		v.report.Platform = ev.Platform
		detail := fmt.Sprintf("foreign bundle (%s layout): %s and %s with %s evidence, no %s and no %s/",
			ForeignTool, provenance.FileProvenance, provenance.FileEvidence, ev.Platform, provenance.FileManifest, provenance.DirArtifacts)
		if len(fb.ignored) > 0 {
			detail += fmt.Sprintf("; not part of the bundle, ignored: %s", strings.Join(fb.ignored, ", "))
		}
		return Pass, detail, nil
	}
	v.bundle = b
	ev, err := attest.DecodeEvidence(b.Evidence)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", provenance.FileEvidence, err)
	}
	v.evidence = ev
	v.report.Platform = ev.Platform
	v.report.Simulated = ev.Platform.Simulated()
	v.report.Unattested = ev.Platform == attest.PlatformNone
	return Pass, fmt.Sprintf("%s, %s, %s and %d artifact(s); evidence platform %s",
		provenance.FileProvenance, provenance.FileEvidence, provenance.FileManifest, len(b.Artifacts), ev.Platform), nil
}

// attestation runs attest.Verify once; chain and tcb report its two halves.
func (v *verifier) attestation(ctx context.Context) error {
	if v.attested {
		return v.attErr
	}
	v.attested = true
	claims, err := attest.Verify(ctx, v.evidence, attest.VerifyOptions{AllowSimulated: v.opts.AllowSimulated, Collateral: v.opts.Collateral})
	if err != nil {
		v.attErr = err
		if claims != nil { // the chain held: show what the rejected evidence says
			v.report.Measurement = fmt.Sprintf("%x", claims.Measurement)
		}
		return err
	}
	v.claims = claims
	v.report.Simulated = claims.Simulated
	v.report.Measurement = fmt.Sprintf("%x", claims.Measurement)
	return nil
}

func simTag(c *attest.Claims, s string) string {
	if c != nil && c.Simulated {
		return s + " [SIMULATED: Kettle TEST-ONLY root]"
	}
	return s
}

// unattested reports the hardware steps of a bundle built with --attest
// none: a failure unless the verifier allows it, then skipped.
func (v *verifier) unattested() (Status, string, error) {
	if !v.opts.AllowUnattested {
		return "", "", fmt.Errorf("%w (pass --allow-unattested to check the rest of the bundle anyway)", attest.ErrUnattested)
	}
	return Skipped, "UNATTESTED: no hardware report (accepted with --allow-unattested)", nil
}

func (v *verifier) chain(ctx context.Context) (Status, string, error) {
	if v.report.Unattested {
		return v.unattested()
	}
	err := v.attestation(ctx)
	var se *attest.StepError
	if errors.As(err, &se) && se.Step != attest.StepChain {
		// The chain held; the TCB step reports the failure.
		return Pass, "report signature verifies to the vendor root", nil
	}
	if err != nil {
		return "", "", err
	}
	device := ""
	switch v.claims.Device {
	case "":
	case attest.DeviceSimulated:
		device = ", made by Kettle's simulator"
	default:
		device = ", obtained through " + v.claims.Device
	}
	vtpm := ""
	if v.claims.Platform == attest.PlatformAzSNP {
		vtpm = "; the report commits to the HCL runtime claims and their vTPM attestation key, which signed a TPM quote of the 24 SHA-256 PCRs shipped"
	}
	return Pass, simTag(v.claims, fmt.Sprintf("%s report signed by a certificate chain to the %s root%s%s", v.claims.Platform, v.claims.Product, device, vtpm)), nil
}

func (v *verifier) notChecked(s ...string) { v.report.NotChecked = append(v.report.NotChecked, s...) }

func (v *verifier) tcb(ctx context.Context) (Status, string, error) {
	if v.report.Unattested {
		return v.unattested()
	}
	if err := v.attestation(ctx); err != nil {
		return "", "", err
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
		return Skipped, "UNATTESTED: no launch measurement", nil
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
	if v.opts.Measurement != nil {
		if !bytes.Equal(got, v.opts.Measurement) {
			return "", "", fmt.Errorf("launch measurement %x, expected %x", got, v.opts.Measurement)
		}
		details = append(details, fmt.Sprintf("launch measurement %x equals --measurement", got))
	}
	if len(details) == 0 {
		v.notChecked("launch measurement (no --measurement, and no allowed measurements in a --policy)")
		return Skipped, fmt.Sprintf("no --measurement or policy measurements given; the report carries %x", got), nil
	}
	return Pass, strings.Join(details, "; "), nil
}

func (v *verifier) binding(context.Context) (Status, string, error) {
	if v.report.Unattested {
		return Skipped, "UNATTESTED: no report_data binds the provenance", nil
	}
	if v.claims.Platform == attest.PlatformAzSNP {
		return v.azSNPBinding()
	}
	digest := sha256.Sum256(v.bundle.Provenance)
	rd := v.claims.ReportData
	if subtle.ConstantTimeCompare(rd[:32], digest[:]) != 1 {
		return "", "", fmt.Errorf("report_data[0:32] is %x, expected SHA-256(%s) = %x", rd[:32], provenance.FileProvenance, digest)
	}
	nonce := rd[32:]
	if v.opts.Nonce == nil {
		v.notChecked("nonce in report_data[32:64] (no --nonce given)")
		return Pass, fmt.Sprintf("report_data = SHA-256(%s) %x ‖ nonce %x (nonce not checked: no --nonce given)", provenance.FileProvenance, digest, nonce), nil
	}
	if subtle.ConstantTimeCompare(nonce, v.opts.Nonce[:]) != 1 {
		return "", "", fmt.Errorf("report_data[32:64] (nonce) is %x, expected %x", nonce, v.opts.Nonce[:])
	}
	return Pass, fmt.Sprintf("report_data = SHA-256(%s) %x ‖ nonce %x", provenance.FileProvenance, digest, nonce), nil
}

func (v *verifier) provenance(context.Context) (Status, string, error) {
	if v.foreign != nil {
		return v.foreignProvenance()
	}
	st, err := provenance.DecodeStatement(v.bundle.Provenance)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", provenance.FileProvenance, err)
	}
	v.stmt = st
	for _, s := range st.Subjects {
		v.report.Subjects = append(v.report.Subjects, s.Name)
	}
	return Pass, fmt.Sprintf("in-toto Statement v1, SLSA provenance v1, buildType %s, %d subject(s)", st.BuildType, len(st.Subjects)), nil
}

func (v *verifier) manifest(context.Context) (Status, string, error) {
	if v.foreign != nil {
		v.notChecked("input manifest: the foreign bundle has no " + provenance.FileManifest + ", so its inputs cannot be recomputed")
		return Skipped, fmt.Sprintf("foreign bundle: no %s; the Merkle root of the inputs could not be recomputed", provenance.FileManifest), nil
	}
	m, err := provenance.DecodeManifest(v.bundle.Manifest)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", provenance.FileManifest, err)
	}
	if m.Root != v.stmt.ManifestRoot {
		return "", "", fmt.Errorf("%s root %x differs from the root in %s (%x)", provenance.FileManifest, m.Root, provenance.FileProvenance, v.stmt.ManifestRoot)
	}
	if len(m.Leaves) != v.stmt.ManifestLeafCount {
		return "", "", fmt.Errorf("%s has %d leaves, %s says %d", provenance.FileManifest, len(m.Leaves), provenance.FileProvenance, v.stmt.ManifestLeafCount)
	}
	return Pass, fmt.Sprintf("root %x recomputed over %d leaves, equals the provenance's", m.Root, len(m.Leaves)), nil
}

func (v *verifier) subjects(ctx context.Context) (Status, string, error) {
	if v.foreign != nil {
		v.notChecked("subjects: the foreign bundle ships no artifacts and its subjects are not Nix store paths, so their digests could not be recomputed")
		return Skipped, fmt.Sprintf("foreign bundle: no %s/; %d subject digest(s) taken on trust from the bound provenance", provenance.DirArtifacts, len(v.report.Subjects)), nil
	}
	if len(v.stmt.Subjects) == 0 {
		return "", "", fmt.Errorf("%s has no subjects", provenance.FileProvenance)
	}
	if v.opts.UseStore {
		for _, s := range v.stmt.Subjects {
			h, err := nixinputs.HashPath(s.Name)
			if err != nil {
				return "", "", fmt.Errorf("subject %s: %w", s.Name, err)
			}
			if h.SHA256 != s.SHA256 {
				return "", "", fmt.Errorf("subject %s: local store NAR SHA-256 %x, provenance says %x", s.Name, h.SHA256, s.SHA256)
			}
		}
		return Pass, fmt.Sprintf("%d subject(s) equal the NAR hashes of the local store paths", len(v.stmt.Subjects)), nil
	}
	if len(v.bundle.Artifacts) == 0 {
		return "", "", errors.New("the bundle has no artifacts/ to check the subjects against; use --store to re-hash the local store paths")
	}
	byName := map[string]provenance.Artifact{}
	for _, a := range v.bundle.Artifacts {
		byName[a.Name] = a
	}
	seen := map[string]bool{}
	for _, s := range v.stmt.Subjects {
		name := path.Base(s.Name)
		a, ok := byName[name]
		if !ok {
			return "", "", fmt.Errorf("subject %s: no artifact %s/%s.nar.* in the bundle", s.Name, provenance.DirArtifacts, name)
		}
		seen[name] = true
		sum, err := artifactSHA256(v.bundle, a)
		if err != nil {
			return "", "", fmt.Errorf("artifact %s: %w", a.File, err)
		}
		if sum != s.SHA256 {
			return "", "", fmt.Errorf("artifact %s: NAR SHA-256 %x, provenance says %x for %s", a.File, sum, s.SHA256, s.Name)
		}
	}
	var extra []string
	for name, a := range byName {
		if !seen[name] {
			extra = append(extra, a.File)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return "", "", fmt.Errorf("artifacts not named by any subject: %v", extra)
	}
	return Pass, fmt.Sprintf("%d subject(s) equal the NAR SHA-256 of the bundle's artifacts", len(v.stmt.Subjects)), nil
}

func artifactSHA256(b *provenance.Bundle, a provenance.Artifact) ([32]byte, error) {
	var sum [32]byte
	rc, err := b.OpenArtifact(a)
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

// azSNPBinding is the binding step for az-snp evidence: the provenance is
// bound by the vTPM quote's qualifying data. Kettle's own bundles bind
// SHA-256(provenance.json) ‖ nonce there; the foreign tool's bind the
// SHA-256 of the provenance re-serialised as compact JSON in its own key
// order, and no nonce.
func (v *verifier) azSNPBinding() (Status, string, error) {
	q := v.claims.QualifyingData
	fileDigest := sha256.Sum256(v.bundle.Provenance)
	if v.evidence.Foreign {
		v.report.Binding = "quote qualifying data = SHA-256(compact JSON re-serialisation of provenance.json, in its own key order)"
		want, err := azsnp.ForeignBinding(v.bundle.Provenance)
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", provenance.FileProvenance, err)
		}
		if subtle.ConstantTimeCompare(q, want) != 1 {
			return "", "", fmt.Errorf("vTPM quote qualifying data is %x, expected the foreign binding: SHA-256 of %s re-serialised as compact JSON in its own key order = %x", q, provenance.FileProvenance, want)
		}
		if v.opts.Nonce != nil {
			return "", "", fmt.Errorf("--nonce given, but the foreign tool's binding carries no nonce (qualifying data = SHA-256 of the compact provenance %x)", want)
		}
		v.notChecked("nonce: the foreign tool's binding carries none, so the bundle's freshness is not shown")
		return Pass, fmt.Sprintf("foreign binding: vTPM quote qualifying data = SHA-256 of %s re-serialised as compact JSON in its own key order = %x (not SHA-256 of the file's bytes, %x); no nonce", provenance.FileProvenance, want, fileDigest), nil
	}
	v.report.Binding = "quote qualifying data = SHA-256(provenance.json) ‖ nonce"
	if len(q) != 64 || subtle.ConstantTimeCompare(q[:32], fileDigest[:]) != 1 {
		return "", "", fmt.Errorf("vTPM quote qualifying data is %x, expected SHA-256(%s) %x ‖ nonce", q, provenance.FileProvenance, fileDigest)
	}
	nonce := q[32:]
	if v.opts.Nonce == nil {
		v.notChecked("nonce in the quote's qualifying data[32:64] (no --nonce given)")
		return Pass, fmt.Sprintf("vTPM quote qualifying data = SHA-256(%s) %x ‖ nonce %x (nonce not checked: no --nonce given)", provenance.FileProvenance, fileDigest, nonce), nil
	}
	if subtle.ConstantTimeCompare(nonce, v.opts.Nonce[:]) != 1 {
		return "", "", fmt.Errorf("vTPM quote qualifying data[32:64] (nonce) is %x, expected %x", nonce, v.opts.Nonce[:])
	}
	return Pass, fmt.Sprintf("vTPM quote qualifying data = SHA-256(%s) %x ‖ nonce %x", provenance.FileProvenance, fileDigest, nonce), nil
}

// foreignProvenance is the provenance step of a foreign bundle: the
// document must pass the in-toto attestation library's checks; Kettle's
// own buildType and parameters are not expected.
func (v *verifier) foreignProvenance() (Status, string, error) {
	if err := provenance.ValidateInToto(v.bundle.Provenance); err != nil {
		return "", "", fmt.Errorf("%s: %w", provenance.FileProvenance, err)
	}
	var st foreignStatement
	if err := json.Unmarshal(v.bundle.Provenance, &st); err != nil {
		return "", "", fmt.Errorf("%s: %w", provenance.FileProvenance, err)
	}
	for _, s := range st.Subject {
		v.report.Subjects = append(v.report.Subjects, s.Name)
	}
	return Pass, fmt.Sprintf("in-toto Statement v1, SLSA provenance v1 (in-toto library's checks), foreign buildType %s, %d subject(s)",
		st.Predicate.BuildDefinition.BuildType, len(st.Subject)), nil
}
