package report

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/kettle-build/kettle/rebuild"
)

// Version is the version of the report's JSON; it changes only when a
// field changes meaning or goes away.
const Version = 1

// Status is the outcome for a bundle or one of its outputs.
type Status string

// The outcomes. A bundle is Unverified when it did not verify (whatever a
// rebuild of it found), Differs when any of its outputs differs, NotBuilt
// when none differs but some output was not compared (not built, or with
// no attested hash to compare with: rebuild's not-built and not-attested),
// and Reproduced when every output was rebuilt bit for bit. An output has
// the same outcomes, Unverified for every output of a bundle that did not
// verify.
const (
	Reproduced Status = "reproduced"
	Differs    Status = "differs"
	NotBuilt   Status = "not-built"
	Unverified Status = "unverified"
)

// statuses lists the outcomes in the order every view shows them.
func statuses() []Status { return []Status{Reproduced, Differs, NotBuilt, Unverified} }

// Label is the status of one bundle or output as the table and the page
// write it.
func (s Status) Label() string {
	if s == NotBuilt {
		return "not built"
	}
	return string(s)
}

// Count writes n of the status: "1 differs", "2 differ", "0 not built".
func (s Status) Count(n int) string {
	if s == Differs && n != 1 {
		return fmt.Sprintf("%d differ", n)
	}
	return fmt.Sprintf("%d %s", n, s.Label())
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
// hash in one or more bundles: a top-level output (a provenance subject),
// or with a deep rebuild an output of a derivation where reproducibility
// is first lost.
type DifferingOutput struct {
	Name      string `json:"name"`
	StorePath string `json:"storePath"`
	Drv       string `json:"drv"`
	// TopLevel: a provenance subject of a bundle in which it differs.
	// FirstDiffering: the output of a derivation a deep rebuild found
	// differing although every input of it reproduced.
	TopLevel       bool `json:"topLevel"`
	FirstDiffering bool `json:"firstDiffering"`
	// Bundles are the paths of the bundles in which it differs, sorted.
	Bundles []string `json:"bundles"`
	// Platforms are the builder platforms of those bundles, sorted, once each.
	Platforms []string `json:"platforms"`
	// DifferingFiles is the union of the paths (relative to the output, ""
	// for the output itself) the rebuilds found differing, sorted;
	// DifferingCount is the largest count a rebuild reported (it lists
	// only the first entries it counted).
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
	// Reason says why the bundle did not verify, why its rebuild stopped,
	// or why its first output that did not reproduce did not.
	Reason  string `json:"reason,omitempty"`
	Outputs Counts `json:"outputs"`
	// Deep: every derivation of the closure was compared; FirstDiffering
	// lists the derivations whose outputs differ although every input
	// reproduced.
	Deep           bool     `json:"deep"`
	FirstDiffering []string `json:"firstDiffering"`
}

// Input is one rebuilt bundle: what the rebuild found and the leaves of
// the bundle's manifest (nil when the manifests are not read).
type Input struct {
	Result rebuild.Result
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
// would skew every figure. (A rebuild that stopped before it read the
// bundle has no digest, and is counted as it is.)
func Build(inputs []Input, opts Options) (*Report, error) {
	seen := make(map[string]string, len(inputs))
	for _, in := range inputs {
		r := in.Result
		if r.ProvenanceSHA256 == "" {
			continue
		}
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

// BundleStatus classifies a result by its top-level outputs: see Status.
func BundleStatus(r rebuild.Result) Status {
	if !r.Verified {
		return Unverified
	}
	st := Reproduced
	if len(r.Outputs) == 0 || r.Error != "" {
		st = NotBuilt
	}
	for _, o := range r.Outputs {
		switch outputStatus(r, o) {
		case Differs:
			return Differs
		case Reproduced:
		default:
			st = NotBuilt
		}
	}
	return st
}

// outputStatus is an output's outcome in the report.
func outputStatus(r rebuild.Result, o rebuild.Output) Status {
	if !r.Verified {
		return Unverified
	}
	switch o.Status {
	case rebuild.Reproduced:
		return Reproduced
	case rebuild.Differs:
		return Differs
	}
	return NotBuilt
}

// reason says why a bundle did not reproduce: it did not verify, its
// rebuild stopped, or the first output that did not reproduce did not.
func reason(r rebuild.Result) string {
	switch {
	case !r.Verified:
		return r.NotVerifiedReason
	case r.Error != "":
		return r.Error
	}
	for _, o := range r.Outputs {
		if outputStatus(r, o) != Reproduced && o.Reason != "" {
			return o.Name + ": " + o.Reason
		}
	}
	return ""
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
			Reason:           reason(r),
			Deep:             r.Deep,
			FirstDiffering:   []string{},
		}
		for _, o := range r.Outputs {
			row.Outputs.add(outputStatus(r, o))
		}
		if r.Closure != nil {
			row.FirstDiffering = slices.Sorted(slices.Values(r.Closure.FirstDiffering))
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

// differingOutputs groups the differing outputs of verified bundles, the
// top-level ones and those of first-differing derivations, by store path
// and output name: one derivation rebuilt from several bundles is one row.
func differingOutputs(inputs []Input) []DifferingOutput {
	type key struct{ path, name, drv string }
	type group struct {
		d                DifferingOutput
		bundles          map[string]bool
		files, platforms map[string]bool
	}
	by := map[key]*group{}
	add := func(r rebuild.Result, o rebuild.Output, topLevel bool) {
		k := key{o.StorePath, o.Name, ""}
		if o.StorePath == "" || o.StorePath == "-" {
			k.drv = o.Drv // a floating output is told by its derivation
		}
		g := by[k]
		if g == nil {
			g = &group{d: DifferingOutput{Name: o.Name, StorePath: o.StorePath}, bundles: map[string]bool{}, files: map[string]bool{}, platforms: map[string]bool{}}
			by[k] = g
		}
		if o.Drv != "" && (g.d.Drv == "" || o.Drv < g.d.Drv) {
			g.d.Drv = o.Drv // the same whatever order the bundles come in
		}
		g.d.TopLevel = g.d.TopLevel || topLevel
		g.d.FirstDiffering = g.d.FirstDiffering || !topLevel
		g.bundles[r.Bundle] = true
		g.platforms[r.Platform] = true
		for _, f := range o.DifferingFiles {
			g.files[f.Path] = true
		}
		g.d.DifferingCount = max(g.d.DifferingCount, o.DifferingCount, len(o.DifferingFiles))
	}
	for _, in := range inputs {
		r := in.Result
		for _, o := range r.Outputs {
			if outputStatus(r, o) == Differs {
				add(r, o, true)
			}
		}
		if r.Closure == nil || !r.Verified {
			continue
		}
		for _, d := range r.Closure.Derivations {
			if !d.FirstDiffering {
				continue
			}
			for _, o := range d.Outputs {
				if o.Status == rebuild.Differs {
					add(r, o, false)
				}
			}
		}
	}
	out := make([]DifferingOutput, 0, len(by))
	for _, g := range by {
		d := g.d
		d.Bundles = sortedKeys(g.bundles)
		d.Platforms = sortedKeys(g.platforms)
		d.DifferingFiles = sortedKeys(g.files)
		d.DifferingCount = max(d.DifferingCount, len(d.DifferingFiles))
		out = append(out, d)
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
