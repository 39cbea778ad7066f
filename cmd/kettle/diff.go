package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kettle-build/kettle/manifestdiff"
	"github.com/kettle-build/kettle/manifestdiff/drvdiff"
	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/provenance"
	"github.com/kettle-build/kettle/verify"
)

func newDiffCommand() *cobra.Command {
	var (
		vf                                           verifyFlags
		useStore, asJSON, unchanged, allowUnverified bool
	)
	cmd := &cobra.Command{
		Use:   "diff A B",
		Short: "Compare two bundles' input manifests: what changed between the builds, and what did not reproduce",
		Long: `diff compares the manifests of two bundles (directories or .tar files). Equal roots mean
identical manifests, said in one line. Otherwise the leaves are paired by kind and name, so
that a src or drv whose store hash changed is one "changed" row, and listed in this order:
outputs of the same .drv whose NAR hashes differ (not reproduced: two builds of one
derivation, two results); then the bottom of the closure, the likely causes: src, fod,
flake-input, toolchain, source; then the derivations (drv) and their outputs.

Both bundles are verified first, as 'kettle verify' would with the flags given here (the
subjects against the bundles' artifacts/); diff refuses a bundle that does not verify unless
--allow-unverified is given, and says for each side whether it verified.

--store reads the .drv files of the changed derivations (and of the outputs that did not
reproduce) from the local store and says what changed in each, as nix-diff does: builder,
args, environment, input sources, input derivations (explained in turn), outputs. A .drv
that is not in the local store is reported so.

Exit status: 0 when the manifests are identical, 1 when they differ, 2 on a usage error or
a bundle that cannot be read or does not verify.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if vf.nonceHex != "" {
				return usageError(errors.New("--nonce: two builds bind two nonces; check each bundle's with kettle verify --nonce"))
			}
			opts, err := vf.options()
			if err != nil {
				return err
			}
			var sides [2]*diffSide
			var refused []string
			for i, label := range []string{"A", "B"} {
				if sides[i], err = loadDiffSide(cmd.Context(), label, args[i], opts); err != nil {
					return &exitError{2, err}
				}
				if !sides[i].Verified {
					refused = append(refused, fmt.Sprintf("%s %s: %s", label, args[i], sides[i].Verdict))
				}
			}
			if len(refused) > 0 && !allowUnverified {
				return &exitError{2, fmt.Errorf("%s\ndiff compares bundles that verify; --allow-unverified compares them anyway", strings.Join(refused, "\n"))}
			}
			res, err := manifestdiff.Diff(sides[0].manifest, sides[1].manifest, manifestdiff.Options{Unchanged: unchanged})
			if err != nil {
				return &exitError{2, err}
			}
			if useStore {
				res.Explain(nixinputs.ReadDerivation)
			}
			w := cmd.OutOrStdout()
			if asJSON {
				err = writeDiffJSON(w, sides, res)
			} else {
				printDiff(w, sides, res)
			}
			if err != nil {
				return err
			}
			if !res.Identical {
				return &exitError{1, errSilent}
			}
			return nil
		},
	}
	f := cmd.Flags()
	vf.register(f)
	f.MarkHidden("nonce") // refused: see RunE
	f.BoolVar(&allowUnverified, "allow-unverified", false, "compare bundles that do not verify (each side says whether it did)")
	f.BoolVar(&useStore, "store", false, "explain each changed derivation from the .drv files in the local store, as nix-diff does")
	f.BoolVar(&unchanged, "unchanged", false, "list the unchanged pairs too, after the changes")
	f.BoolVar(&asJSON, "json", false, "print the comparison as JSON")
	return cmd
}

// diffSide is one bundle of a comparison: whether it verified, what it
// says it built, and its manifest.
type diffSide struct {
	Bundle     string `json:"bundle"`
	Verified   bool   `json:"verified"`
	Verdict    string `json:"verdict"`
	Simulated  bool   `json:"simulated"`
	Unattested bool   `json:"unattested"`
	Platform   string `json:"platform,omitempty"`
	FlakeRef   string `json:"flakeRef,omitempty"`
	Attribute  string `json:"attribute,omitempty"`
	System     string `json:"system,omitempty"`
	Builder    string `json:"builder,omitempty"`

	manifest *provenance.Manifest
}

// loadDiffSide verifies the bundle at path and reads its manifest and, for
// context, its provenance.
func loadDiffSide(ctx context.Context, label, path string, opts verify.Options) (*diffSide, error) {
	opts.Bundle = path
	rep := verify.Verify(ctx, opts)
	s := &diffSide{Bundle: path, Verified: rep.OK, Verdict: rep.Verdict(), Simulated: rep.Simulated, Unattested: rep.Unattested, Platform: string(rep.Platform)}
	b, err := provenance.OpenBundle(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	if s.manifest, err = b.DecodeManifest(); err != nil {
		return nil, fmt.Errorf("%s: %s: %s: %w", label, path, provenance.FileManifest, err)
	}
	// What is compared must be what was verified: the bundle is read again
	// here, and may have been changed in between.
	root := fmt.Sprintf("%x", s.manifest.Root)
	if s.Verified && root != rep.ManifestRoot {
		return nil, fmt.Errorf("%s: %s: %s has root %s, but the manifest verified had %s: the bundle changed while diff read it", label, path, provenance.FileManifest, root, rep.ManifestRoot)
	}
	// The provenance only labels the side; an unverified bundle's may not
	// decode, and then it is left out.
	if st, err := b.DecodeStatement(); err == nil && (!s.Verified || st.ManifestRoot == s.manifest.Root) {
		s.FlakeRef, s.Attribute, s.System, s.Builder = st.FlakeRef, st.Attribute, st.System, st.BuilderID
	}
	return s, nil
}

func writeDiffJSON(w io.Writer, sides [2]*diffSide, res *manifestdiff.Result) error {
	type sideJSON struct {
		*diffSide
		manifestdiff.Side
	}
	return writeJSON(w, struct {
		A sideJSON `json:"a"`
		B sideJSON `json:"b"`
		*manifestdiff.Result
	}{sideJSON{sides[0], res.A}, sideJSON{sides[1], res.B}, res})
}

func printDiff(w io.Writer, sides [2]*diffSide, res *manifestdiff.Result) {
	for i, s := range sides {
		m := res.A
		if i == 1 {
			m = res.B
		}
		ref := s.FlakeRef
		if s.Attribute != "" {
			ref += "#" + s.Attribute
		}
		fmt.Fprintf(w, "%s  %s: %s\n   %s %s, manifest version %d, %d leaves, root %s\n", "AB"[i:i+1], s.Bundle, s.Verdict, ref, s.System, m.Version, m.LeafCount, m.Root)
	}
	fmt.Fprintln(w)
	if res.Identical {
		what := "the same inputs"
		if res.A.Version >= provenance.ManifestV2 {
			what = "the same inputs and the same outputs of every derivation"
		}
		fmt.Fprintf(w, "identical: both manifests have root %s (%d leaves): %s\n", res.A.Root, res.A.LeafCount, what)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANGE\tKIND\tNAME\tDETAIL")
	for _, r := range res.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Change, r.Kind, r.Name, rowDetail(r))
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, kind := range manifestdiff.Kinds() {
		if c := res.Counts[kind]; c != nil {
			fmt.Fprintf(w, "%-11s %s\n", kind, countLine(c))
		}
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if res.Explained {
		printExplanations(w, res.Derivations)
	}
}

// rowDetail is a row's detail with what Explain added.
func rowDetail(r manifestdiff.Row) string {
	d := r.Detail
	if len(r.UsedBy) > 0 {
		d += "; used by " + strings.Join(r.UsedBy, ", ")
	}
	if len(r.Follows) > 0 {
		d += "; follows from its inputs that did not reproduce: " + strings.Join(r.Follows, ", ")
	}
	if r.Note != "" {
		d += "; " + r.Note
	}
	if r.Pairing != "" {
		d += " [" + r.Pairing + "]"
	}
	return d
}

func countLine(c *manifestdiff.Count) string {
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{c.NotReproduced, "not reproduced"}, {c.Changed, "changed"}, {c.Removed, "removed"}, {c.Added, "added"}, {c.Unchanged, "unchanged"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	return strings.Join(parts, ", ")
}

// printExplanations prints how each pair of derivations differs, one
// change a line, the changes of store paths only on one line.
func printExplanations(w io.Writer, xs []*drvdiff.Explanation) {
	if len(xs) == 0 {
		return
	}
	fmt.Fprintln(w, "\nhow the derivations differ (their .drv files in the local store):")
	for _, x := range xs {
		fmt.Fprintf(w, "%s  %s → %s\n", x.Name, manifestdiff.ShortPath(x.A), manifestdiff.ShortPath(x.B))
		for _, u := range x.Unavailable {
			fmt.Fprintf(w, "    cannot compare: %s\n", u)
		}
		var storePaths []string
		for _, c := range x.Changes {
			if c.Change == drvdiff.ChangeStorePaths {
				storePaths = append(storePaths, changeName(c))
				continue
			}
			fmt.Fprintf(w, "    %s\n", changeLine(c))
		}
		if len(storePaths) > 0 {
			fmt.Fprintf(w, "    only store paths differ: %s\n", strings.Join(storePaths, ", "))
		}
		if x.OnlyInputs {
			fmt.Fprintln(w, "    (it differs only through its input derivations)")
		}
	}
}

func changeName(c drvdiff.Change) string {
	switch c.Field {
	case drvdiff.FieldArgs:
		return "args[" + c.Name + "]"
	case drvdiff.FieldBuilder, drvdiff.FieldSystem:
		return c.Field
	}
	return c.Field + " " + c.Name
}

func changeLine(c drvdiff.Change) string {
	name := changeName(c)
	switch c.Field {
	case drvdiff.FieldInputSrcs, drvdiff.FieldInputDrvs:
		if !strings.HasSuffix(c.Name, " outputs") {
			c.A, c.B = manifestdiff.ShortPath(c.A), manifestdiff.ShortPath(c.B)
		}
	}
	switch c.Change {
	case drvdiff.ChangeAdded:
		return name + " added: " + quoteShort(c.B, 0)
	case drvdiff.ChangeRemoved:
		return name + " removed: " + quoteShort(c.A, 0)
	}
	at := commonPrefix(c.A, c.B)
	return name + ": " + quoteShort(c.A, at) + " → " + quoteShort(c.B, at)
}

// quoteShort quotes s, cut to some 70 bytes around offset at (where two
// values first differ).
func quoteShort(s string, at int) string {
	const before, width = 20, 70
	start := max(0, at-before)
	end := min(len(s), start+width)
	out := fmt.Sprintf("%q", s[start:end])
	if start > 0 {
		out = "…" + out
	}
	if end < len(s) {
		out += "…"
	}
	return out
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
