package verify

import (
	"context"
	"fmt"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/provenance"
)

// StoreHasher re-hashes local store paths for the subjects step (kettle
// verify --store). The CLI fills it with Kettle's NAR hasher.
type StoreHasher interface {
	// NarSHA256 returns the SHA-256 of the NAR serialisation of the store
	// path.
	NarSHA256(ctx context.Context, storePath string) ([32]byte, error)
}

// NamedStore is a StoreHasher that says what it hashes ("the binary cache
// /srv/cache", say) for the report; any other is "the local store".
type NamedStore interface {
	StoreHasher
	StoreName() string
}

func storeName(s StoreHasher) string {
	if n, ok := s.(NamedStore); ok {
		return n.StoreName()
	}
	return "the local store"
}

// MeasurementSet is a published set of launch measurements, one per VM
// shape of an image.
type MeasurementSet interface {
	// Match names the shape whose measurement got is, or fails.
	Match(got []byte) (shape string, err error)
}

// Options say what the verifier expects of a bundle.
type Options struct {
	// Bundle is the bundle directory or .tar file.
	Bundle string
	// Nonce, when set, must equal the nonce the evidence binds, in the
	// size of the bundle's format: 32 bytes (report_data[32:64]) for
	// Kettle's bundles, 16 for the foreign tool's since its c63a4f3. A
	// nonce of another size, or one given for a format that carries none,
	// fails the binding step.
	Nonce []byte
	// Measurement, when set, must equal the launch measurement in the report.
	Measurement []byte
	// Image, when set, must know the report's launch measurement as one of
	// its VM shapes (a CVM image's measurement.json).
	Image MeasurementSet
	// Store, when set, re-hashes the subjects from the local store instead
	// of the bundle's artifacts/.
	Store StoreHasher
	// DeepHash, with Store, re-hashes the store path of every output leaf
	// of a version 2 manifest, not only the subjects; every one must be in
	// the local store and equal its leaf.
	DeepHash bool
	// AllowSimulated accepts evidence signed by Kettle's test-only roots.
	AllowSimulated bool
	// AllowUnattested accepts a bundle built with --attest none: the
	// hardware steps are skipped and the verdict says UNATTESTED.
	AllowUnattested bool
	// Policy, when set, is applied at the tcb and measurement steps.
	Policy *attest.Policy
	// Strict turns every warning (a field of a foreign provenance the
	// in-toto library refuses, a file no subject names) into a failure of
	// the step that found it.
	Strict bool
	// Collateral, when set, replaces the evidence's collateral (AMD CRL;
	// Intel TCB info, QE identity and CRLs).
	Collateral map[string][]byte
}

// StepOrder lists every verification step in the order they run.
func StepOrder() []Step {
	var v verifier
	table := v.steps()
	order := make([]Step, len(table))
	for i, s := range table {
		order[i] = s.name
	}
	return order
}

// Verify checks a bundle link by link. A broken link is a report with OK
// false that names it; the steps after it are NOT RUN.
func Verify(ctx context.Context, opts Options) *Report {
	v := &verifier{opts: opts, report: &Report{Bundle: opts.Bundle}}
	v.run(ctx)
	v.decoding.wait() // a step that failed early leaves no decoding running
	return v.report
}

// verifier carries what one verification has established so far; each step
// reads what the steps before it left.
type verifier struct {
	opts   Options
	report *Report

	// bundle step
	bundle   *provenance.Bundle
	evidence *attest.Evidence
	format   *Format
	decoding *decoding // of a Kettle bundle's statement and manifest
	// chain step: attest.Verify, run once
	claims *attest.Claims
	attErr error
	// provenance and manifest steps
	stmt     *provenance.Statement
	manifest *provenance.Manifest
	foreign  *foreignStatement // a foreign bundle's provenance
	// warnings of the step running
	warnings []Warning
}

// stepFunc runs one step. An error fails the step with its text as the
// detail.
type stepFunc func(context.Context) (Status, string, error)

// steps is the one table of the verification's steps, in order.
func (v *verifier) steps() []struct {
	name Step
	run  stepFunc
} {
	return []struct {
		name Step
		run  stepFunc
	}{
		{StepBundle, v.readBundle},
		{StepChain, v.chain},
		{StepTCB, v.tcb},
		{StepMeasurement, v.measurement},
		{StepBinding, v.binding},
		{StepProvenance, v.provenance},
		{StepManifest, v.manifestRoot},
		{StepDependencies, v.dependencies},
		{StepOutputs, v.outputs},
		{StepSubjects, v.subjects},
	}
}

func (v *verifier) run(ctx context.Context) {
	failed := false
	for _, s := range v.steps() {
		if failed {
			v.report.Steps = append(v.report.Steps, StepResult{Step: s.name, Status: NotRun, Detail: "not reached: an earlier link is broken"})
			continue
		}
		v.warnings = nil
		status, detail, err := s.run(ctx)
		if err == nil && len(v.warnings) > 0 {
			if v.opts.Strict {
				err = fmt.Errorf("--strict: %d warning(s), the first: %s", len(v.warnings), v.warnings[0])
			} else if status == Pass {
				status = Warn
			}
		}
		v.report.Warnings = append(v.report.Warnings, v.warnings...)
		if err != nil {
			status, detail = Fail, err.Error()
			failed = true
			v.report.Failed = s.name
		}
		v.report.Steps = append(v.report.Steps, StepResult{Step: s.name, Status: status, Detail: detail})
	}
	v.report.OK = !failed
}

// warn records a warning of the step running.
func (v *verifier) warn(w Warning) { v.warnings = append(v.warnings, w) }

func (v *verifier) notChecked(s ...string) { v.report.NotChecked = append(v.report.NotChecked, s...) }
