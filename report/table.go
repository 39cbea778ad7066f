package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"
)

// tableFiles is how many differing files the table names per output.
const tableFiles = 3

// WriteTable writes the report for a terminal: the totals, a row per
// builder platform, the differing outputs, the shared inputs and a row per
// bundle. Text from the results (paths, refs, reasons) is quoted when it
// holds control characters, so that a hostile store path cannot move the
// cursor or forge a line.
func WriteTable(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%s\n", totalsLine(r.Bundles, "bundle"), totalsLine(r.Outputs, "output"))

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nPLATFORM\tBUNDLES\tREPRODUCED\tDIFFER\tNOT BUILT\tUNVERIFIED\tOUTPUTS DIFFER")
	for _, p := range r.Platforms {
		c := p.Bundles
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d of %d\n", clean(p.Platform), c.Total(), c.Reproduced, c.Differs, c.NotBuilt, c.Unverified, p.Outputs.Differs, p.Outputs.Total())
	}
	tw.Flush()

	if len(r.Differing) > 0 {
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\nDIFFERING OUTPUT\tSTORE PATH\tBUNDLES\tPLATFORMS\tFILES")
		for _, d := range r.Differing {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", clean(d.Name), clean(d.StorePath), len(d.Bundles), cleanList(d.Platforms, len(d.Platforms)), filesSummary(d))
		}
		tw.Flush()
	}

	if s := r.SharedInputs; s != nil && len(s.Leaves) > 0 {
		fmt.Fprintf(&b, "\nInputs of the %d differing bundle(s), %d of %d shown (DIFFER: differing bundles holding it, REPRO: of the %d reproduced):\n",
			s.DifferingBundles, len(s.Leaves), s.Total, s.ReproducedBundles)
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "DIFFER\tREPRO\tKIND\tLEAF")
		for _, l := range s.Leaves {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\n", l.Differing, l.Reproduced, l.Kind, clean(l.Leaf))
		}
		tw.Flush()
	}

	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nBUNDLE\tPLATFORM\tSTATUS\tOUTPUTS\tDETAIL")
	for _, row := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d reproduced\t%s\n", clean(row.Bundle), clean(row.Platform), row.Status.Label(), row.Outputs.Reproduced, row.Outputs.Total(), clean(bundleDetail(row)))
	}
	tw.Flush()
	_, err := io.WriteString(w, b.String())
	return err
}

// totalsLine is "5 bundles: 2 reproduced, 2 differ, 1 not built, 0 unverified".
func totalsLine(c Counts, noun string) string {
	parts := make([]string, 0, 4)
	for _, s := range statuses() {
		parts = append(parts, s.Count(c.Of(s)))
	}
	if c.Total() != 1 {
		noun += "s"
	}
	return fmt.Sprintf("%d %s: %s", c.Total(), noun, strings.Join(parts, ", "))
}

// bundleDetail is what the bundle row says besides its counts: why it did
// not reproduce, and the first differing derivation of a deep rebuild.
func bundleDetail(row BundleRow) string {
	detail := row.Reason
	if len(row.FirstDiffering) > 0 {
		if detail != "" {
			detail += "; "
		}
		detail += "first differing: " + strings.Join(firstN(row.FirstDiffering, tableFiles), ", ")
		if n := len(row.FirstDiffering) - tableFiles; n > 0 {
			detail += fmt.Sprintf(" and %d more", n)
		}
	}
	return detail
}

// filesSummary is "N: a, b, c, …" for the first tableFiles differing files.
func filesSummary(d DifferingOutput) string {
	if d.DifferingCount == 0 {
		return "-"
	}
	s := strconv.Itoa(d.DifferingCount)
	if len(d.DifferingFiles) > 0 {
		files := make([]string, len(d.DifferingFiles))
		for i, f := range d.DifferingFiles {
			files[i] = filePath(f)
		}
		s += ": " + cleanList(files, tableFiles)
	}
	return s
}

// filePath names a differing entry of an output: its path, or "(the
// output itself)" for the root.
func filePath(p string) string {
	if p == "" {
		return "(the output itself)"
	}
	return p
}

// cleanList joins the first n strings, cleaned, and says how many more there are.
func cleanList(list []string, n int) string {
	parts := make([]string, 0, min(n, len(list))+1)
	for i, s := range list {
		if i == n {
			parts = append(parts, fmt.Sprintf("+%d more", len(list)-n))
			break
		}
		parts = append(parts, clean(s))
	}
	return strings.Join(parts, ", ")
}

// clean returns s as it is when every character of it prints, and quoted
// in Go syntax otherwise (a control character, a tab, invalid UTF-8).
func clean(s string) string {
	if s == "" {
		return "-"
	}
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
