package report

import (
	"cmp"
	"fmt"
	"slices"
)

// Version is the version of the report's JSON; it changes only when a
// field changes meaning or goes away.
const Version = 1

// Status is the outcome for a bundle or one of its outputs.
type Status string

// The outcomes. A bundle is Unverified when its verification failed (none
// of its outputs was compared), Differs when any output differs, NotBuilt
// when none differs but some output could not be built or compared, and
// Reproduced when every output was rebuilt bit for bit.
const (
	Reproduced Status = "reproduced"
	Differs    Status = "differs"
	NotBuilt   Status = "not-built"
	Unverified Status = "unverified"
)

// statuses lists the outcomes in the order every view shows them.
func statuses() []Status { return []Status{Reproduced, Differs, NotBuilt, Unverified} }

// Label is the status as the table and the page write it.
func (s Status) Label() string {
	switch s {
	case Reproduced:
		return "reproduced"
	case Differs:
		return "differ"
	case NotBuilt:
		return "not built"
	}
	return string(s)
}

// Counts counts bundles, or outputs, by outcome. Every bundle or output is
// counted exactly once.
type Counts struct {
	Reproduced int `json:"reproduced"`
	Differs    int `json:"differs"`
	NotBuilt   int `json:"notBuilt"`
	Unverified int `json:"unverified"`
}

// Of returns the count of one outcome.
func (c Counts) Of(s Status) int {
	switch s {
	case Reproduced:
		return c.Reproduced
	case Differs:
		return c.Differs
	case NotBuilt:
		return c.NotBuilt
	case Unverified:
		return c.Unverified
	}
	return 0
}

// Total is the number of bundles or outputs counted.
func (c Counts) Total() int { return c.Reproduced + c.Differs + c.NotBuilt + c.Unverified }

func (c *Counts) add(s Status) {
	switch s {
	case Reproduced:
		c.Reproduced++
	case Differs:
		c.Differs++
	case NotBuilt:
		c.NotBuilt++
	case Unverified:
		c.Unverified++
	}
}

// Report is the reproducibility report over a set of rebuilt bundles.
// Every list is sorted, so the same results give the same report.
type Report struct {
	Version int `json:"version"`
	// Title names the report on the page; empty in JSON when not given.
	Title   string `json:"title,omitempty"`
	Bundles Counts `json:"bundles"`
	Outputs Counts `json:"outputs"`
	// Platforms has one row per builder platform, by platform name.
	Platforms []PlatformRow `json:"platforms"`
	// Differing lists each output that differs in at least one bundle.
	Differing []DifferingOutput `json:"differing"`
	// SharedInputs is nil when the bundles' manifests were not read.
	SharedInputs *SharedInputs `json:"sharedInputs"`
	// Results has one row per bundle, by bundle path.
	Results []BundleRow `json:"results"`
}

// PlatformRow counts the bundles and outputs of one builder platform (the
// platform of the bundle's evidence: sev-snp, tdx, sim-snp, none, …).
type PlatformRow struct {
	Platform string `json:"platform"`
	Bundles  Counts `json:"bundles"`
	Outputs  Counts `json:"outputs"`
}

// DifferingOutput is one output store path that differs from its attested
// hash in one or more bundles.
type DifferingOutput struct {
	Name      string `json:"name"`
	StorePath string `json:"storePath"`
	Drv       string `json:"drv"`
	// Bundles are the paths of the bundles in which it differs, sorted.
	Bundles []string `json:"bundles"`
	// Platforms are the builder platforms of those bundles, sorted, once each.
	Platforms []string `json:"platforms"`
	// DifferingFiles is the union of the files the rebuilds found
	// differing, sorted; DifferingCount is the largest count a rebuild
	// reported (it may list fewer files than it counted).
	DifferingFiles []string `json:"differingFiles"`
	DifferingCount int      `json:"differingCount"`
}

// BundleRow is one bundle of the report.
type BundleRow struct {
	Bundle           string `json:"bundle"`
	ProvenanceSHA256 string `json:"provenanceSha256"`
	Platform         string `json:"platform"`
	BuilderID        string `json:"builderId"`
	FlakeRef         string `json:"flakeRef"`
	Attribute        string `json:"attribute"`
	System           string `json:"system"`
	Status           Status `json:"status"`
	// Reason says why the bundle did not verify, or why its first output
	// that was not reproduced was not.
	Reason  string `json:"reason,omitempty"`
	Outputs Counts `json:"outputs"`
	// FirstDiffering is the first derivation whose output differs, from a
	// deep rebuild.
	FirstDiffering string `json:"firstDiffering,omitempty"`
}

// Input is one rebuilt bundle: what the rebuild found and the leaves of
// the bundle's manifest (nil when the manifests are not read).
type Input struct {
	Result Result
	Leaves []string
}

// Options shape a report.
type Options struct {
	Title string
	// Top bounds the shared inputs listed; 0 lists them all.
	Top int
	// Inputs says the Inputs carry their manifest leaves, so that the
	// report ranks the inputs the differing bundles share.
	Inputs bool
}

// Build aggregates the results into a report. Two results of the same
// bundle (the same provenance digest) are refused: counting a bundle twice
// would skew every figure.
func Build(inputs []Input, opts Options) (*Report, error) {
	seen := make(map[string]string, len(inputs))
	for _, in := range inputs {
		r := in.Result
		if prev, ok := seen[r.ProvenanceSHA256]; ok {
			return nil, fmt.Errorf("%s and %s are the same bundle (provenance SHA-256 %s): give each bundle once", prev, r.Bundle, r.ProvenanceSHA256)
		}
		seen[r.ProvenanceSHA256] = r.Bundle
	}
	rep := &Report{Version: Version, Title: opts.Title}
	rep.Results = bundleRows(inputs)
	rep.Platforms = platformRows(rep.Results)
	for _, row := range rep.Results {
		rep.Bundles.add(row.Status)
		rep.Outputs = addCounts(rep.Outputs, row.Outputs)
	}
	rep.Differing = differingOutputs(inputs)
	if opts.Inputs {
		rep.SharedInputs = sharedInputs(inputs, opts.Top)
	}
	return rep, nil
}

// BundleStatus classifies a result: see Status.
func BundleStatus(r Result) Status {
	if !r.Verified {
		return Unverified
	}
	st := Reproduced
	if len(r.Outputs) == 0 {
		st = NotBuilt
	}
	for _, o := range r.Outputs {
		switch Status(o.Status) {
		case Differs:
			return Differs
		case Reproduced:
		default:
			st = NotBuilt
		}
	}
	return st
}

// outputStatus is an output's outcome in the report: the rebuild's, or
// Unverified for every output of a bundle that did not verify.
func outputStatus(r Result, o OutputResult) Status {
	if !r.Verified {
		return Unverified
	}
	switch s := Status(o.Status); s {
	case Reproduced, Differs:
		return s
	}
	return NotBuilt
}

func bundleRows(inputs []Input) []BundleRow {
	rows := make([]BundleRow, 0, len(inputs))
	for _, in := range inputs {
		r := in.Result
		row := BundleRow{
			Bundle:           r.Bundle,
			ProvenanceSHA256: r.ProvenanceSHA256,
			Platform:         r.Platform,
			BuilderID:        r.BuilderID,
			FlakeRef:         r.FlakeRef,
			Attribute:        r.Attribute,
			System:           r.System,
			Status:           BundleStatus(r),
			Reason:           r.Reason,
		}
		for _, o := range r.Outputs {
			s := outputStatus(r, o)
			row.Outputs.add(s)
			if row.Reason == "" && s != Reproduced && o.Reason != "" {
				row.Reason = o.Name + ": " + o.Reason
			}
		}
		if r.Deep != nil {
			row.FirstDiffering = r.Deep.FirstDiffering
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b BundleRow) int {
		return cmp.Or(cmp.Compare(a.Bundle, b.Bundle), cmp.Compare(a.ProvenanceSHA256, b.ProvenanceSHA256))
	})
	return rows
}

func platformRows(rows []BundleRow) []PlatformRow {
	by := map[string]*PlatformRow{}
	for _, row := range rows {
		p := by[row.Platform]
		if p == nil {
			p = &PlatformRow{Platform: row.Platform}
			by[row.Platform] = p
		}
		p.Bundles.add(row.Status)
		p.Outputs = addCounts(p.Outputs, row.Outputs)
	}
	out := make([]PlatformRow, 0, len(by))
	for _, p := range by {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b PlatformRow) int { return cmp.Compare(a.Platform, b.Platform) })
	return out
}

func addCounts(a, b Counts) Counts {
	return Counts{a.Reproduced + b.Reproduced, a.Differs + b.Differs, a.NotBuilt + b.NotBuilt, a.Unverified + b.Unverified}
}

// differingOutputs groups the differing outputs of verified bundles by
// store path, output name and derivation: one derivation rebuilt from
// several bundles is one row.
func differingOutputs(inputs []Input) []DifferingOutput {
	type key struct{ path, name, drv string }
	by := map[key]*DifferingOutput{}
	files := map[key]map[string]bool{}
	platforms := map[key]map[string]bool{}
	for _, in := range inputs {
		r := in.Result
		for _, o := range r.Outputs {
			if outputStatus(r, o) != Differs {
				continue
			}
			k := key{o.StorePath, o.Name, o.Drv}
			d := by[k]
			if d == nil {
				d = &DifferingOutput{Name: o.Name, StorePath: o.StorePath, Drv: o.Drv}
				by[k] = d
				files[k] = map[string]bool{}
				platforms[k] = map[string]bool{}
			}
			d.Bundles = append(d.Bundles, r.Bundle)
			platforms[k][r.Platform] = true
			for _, f := range o.DifferingFiles {
				files[k][f] = true
			}
			d.DifferingCount = max(d.DifferingCount, o.DifferingCount, len(o.DifferingFiles))
		}
	}
	out := make([]DifferingOutput, 0, len(by))
	for k, d := range by {
		slices.Sort(d.Bundles)
		d.Platforms = sortedKeys(platforms[k])
		d.DifferingFiles = sortedKeys(files[k])
		d.DifferingCount = max(d.DifferingCount, len(d.DifferingFiles))
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b DifferingOutput) int {
		return cmp.Or(cmp.Compare(len(b.Bundles), len(a.Bundles)), cmp.Compare(a.StorePath, b.StorePath), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Drv, b.Drv))
	})
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
