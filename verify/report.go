package verify

import (
	"fmt"
	"strings"

	"github.com/kettle-build/kettle/attest"
)

// Step names one link of the verification, in the order DESIGN.md fixes.
type Step string

// The steps, as reports name them. StepOrder lists them in the order they run.
const (
	StepBundle       Step = "bundle"
	StepChain        Step = "chain"
	StepTCB          Step = "tcb"
	StepMeasurement  Step = "measurement"
	StepBinding      Step = "binding"
	StepProvenance   Step = "provenance"
	StepManifest     Step = "manifest"
	StepDependencies Step = "dependencies"
	StepOutputs      Step = "outputs"
	StepSubjects     Step = "subjects"
)

// Status is the outcome of one step.
type Status string

// Step outcomes. NotRun marks the steps after a failure: a broken link makes
// everything after it meaningless.
const (
	Pass    Status = "PASS"
	Fail    Status = "FAIL"
	Skipped Status = "SKIP"
	// Warn: the step's check holds, with warnings (Report.Warnings).
	Warn   Status = "WARN"
	NotRun Status = "NOT RUN"
)

// StepResult is one line of the verification report.
type StepResult struct {
	Step   Step   `json:"step"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
}

// Report is the verdict with every step.
type Report struct {
	Bundle      string          `json:"bundle"`
	OK          bool            `json:"ok"`
	Simulated   bool            `json:"simulated"`
	Unattested  bool            `json:"unattested"`
	Platform    attest.Platform `json:"platform,omitempty"`
	Measurement string          `json:"measurement,omitempty"`
	Subjects    []string        `json:"subjects,omitempty"`
	// ManifestRoot is the root of the manifest the manifest step checked,
	// lower-case hex: what a reader of the bundle after verification can
	// compare its manifest with.
	ManifestRoot string       `json:"manifestRoot,omitempty"`
	Steps        []StepResult `json:"steps"`
	// Failed names the first broken link ("" when OK).
	Failed Step `json:"failed,omitempty"`
	// NotChecked lists, in words, the checks verification did not make: for
	// want of a policy, of --measurement or --nonce, or of collateral.
	NotChecked []string `json:"notChecked,omitempty"`
	// Foreign names the tool that made a bundle in another tool's layout,
	// "" for Kettle's own bundles.
	Foreign string `json:"foreign,omitempty"`
	// FormatVersion names the foreign tool's format of the bundle.
	FormatVersion string `json:"formatVersion,omitempty"`
	// Binding says how the evidence binds provenance.json.
	Binding string `json:"binding,omitempty"`
	// Warnings lists, field by field, what did not fail verification but
	// would under --strict.
	Warnings []Warning `json:"warnings,omitempty"`

	format *Format // what the bundle step read; nil when it failed
}

// Verdict is the one-line summary of the report.
func (r *Report) Verdict() string {
	var s string
	switch {
	case r.OK && r.Unattested:
		s = "UNATTESTED (accepted with --allow-unattested): provenance, manifest and subjects hold, but nothing ties this bundle to hardware"
	case r.OK:
		s = "VERIFIED"
		var skipped []string
		for _, st := range r.Steps {
			if st.Status == Skipped {
				skipped = append(skipped, string(st.Step))
			}
		}
		if len(skipped) > 0 {
			s += " (steps skipped: " + strings.Join(skipped, ", ") + ")"
		}
		if len(r.NotChecked) > 0 {
			s += fmt.Sprintf(" — %d check(s) not made, listed above", len(r.NotChecked))
		}
	case r.Unattested:
		s = "UNATTESTED: FAILED at " + string(r.Failed)
	default:
		s = "FAILED at " + string(r.Failed)
	}
	if r.Simulated {
		s += " — SIMULATED evidence, signed by Kettle's TEST-ONLY key chain, proves nothing about hardware"
	}
	if len(r.Warnings) > 0 {
		s += fmt.Sprintf(" — %d warning(s), listed above (--strict fails them)", len(r.Warnings))
	}
	if f := r.format; f != nil && f.Foreign() {
		s += " — FOREIGN bundle made by " + f.Producer + ", format " + f.Version + ": " + f.Caveat
		if len(f.Unchecked) > 0 {
			s += "; checks Kettle could not make for this format: " + strings.Join(f.Unchecked, "; ")
		}
	}
	return s
}
