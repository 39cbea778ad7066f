package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/rebuild"
)

func newRebuildCommand(driver func() *nixinputs.Driver) *cobra.Command {
	var (
		vf                                   verifyFlags
		opts                                 rebuild.Options
		allowUnverified, deep, asJSON, quiet bool
		useDiffoscope                        bool
	)
	cmd := &cobra.Command{
		Use:   "rebuild BUNDLE",
		Short: "Rebuild a bundle's locked flake here and say which outputs reproduce",
		Long: `Rebuild verifies the bundle (with the options of kettle verify), realises the same
locked ref on this machine (the provenance's locked source URL and attribute; the system
must be this machine's), hashes every output and compares it with the NAR SHA-256 the
bundle attests: reproduced, differs, or not built.

An output already valid in the local store is rebuilt in Nix's check mode
(nix-store --realise --check), which keeps a differing rebuild at <path>.check; one that
is not is built. When an output differs, the first differing files of the two trees are
listed (path, type, size, SHA-256, executable bit, symlink target), the attested tree
being the bundle's artifact or the valid store path; --diffoscope runs diffoscope on the
two trees and keeps its reports in --keep.

--deep compares every output leaf of a version 2 manifest, bottom-up through the
closure, and names the derivations that first differ: those whose outputs differ while
every input derivation reproduced.

A bundle that does not verify is refused; --allow-unverified rebuilds it anyway, every
output says so, and the exit status is 1. Exit status 0 only when the bundle verified and
every output compared reproduced.`,
		Example: `  kettle rebuild --allow-simulated hello.bundle
  kettle rebuild --deep --diffoscope --keep reports/ --json bundle.tar`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vopts, err := vf.options()
			if err != nil {
				return err
			}
			if opts.MaxFiles < 0 {
				return usageError(fmt.Errorf("--max-files %d: want 1 or more (0 for the default, %d)", opts.MaxFiles, rebuild.DefaultMaxFiles))
			}
			if cmd.Flags().Changed("diffoscope-timeout") && !useDiffoscope {
				return usageError(fmt.Errorf("--diffoscope-timeout: only with --diffoscope"))
			}
			opts.Bundle, opts.Verify = args[0], vopts
			opts.AllowUnverified, opts.Deep, opts.Diffoscope = allowUnverified, deep, useDiffoscope
			opts.Nix = driver()
			if !quiet {
				opts.Log = cmd.ErrOrStderr()
			} else {
				opts.Nix.Stderr = nil // nix's own error text still ends up in the result
			}
			res, err := rebuild.Run(cmd.Context(), opts)
			if res != nil {
				if asJSON {
					if err := writeJSON(cmd.OutOrStdout(), res); err != nil {
						return err
					}
				} else {
					printRebuild(cmd.OutOrStdout(), res)
				}
			}
			switch {
			case err != nil:
				return &exitError{1, err}
			case !res.OK:
				return &exitError{1, errSilent}
			}
			return nil
		},
	}
	f := cmd.Flags()
	vf.register(f)
	f.BoolVar(&allowUnverified, "allow-unverified", false, "rebuild a bundle that does not verify; every output then says so, and the exit status is 1")
	f.BoolVar(&deep, "deep", false, "compare every derivation of the closure bottom-up (a version 2 manifest) and name the first that differ")
	f.BoolVar(&useDiffoscope, "diffoscope", false, "run diffoscope on the two trees of each output that differs (with --deep, of the first-differing derivations) and keep its text and HTML reports")
	f.DurationVar(&opts.DiffoscopeTimeout, "diffoscope-timeout", rebuild.DefaultDiffoscopeTimeout, "stop one diffoscope run after this long")
	f.StringVar(&opts.Keep, "keep", "", "directory for the diffoscope reports (default: a new directory under $TMPDIR)")
	f.IntVar(&opts.MaxFiles, "max-files", rebuild.DefaultMaxFiles, "differing files listed per output (all are counted)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress lines or build logs on stderr")
	return cmd
}

// maxDeepLines bounds the derivations the table lists; --json has them all.
const maxDeepLines = 50

func printRebuild(w io.Writer, r *rebuild.Result) {
	verdict := "VERIFIED"
	if r.Verification != nil {
		verdict = r.Verification.Verdict()
	}
	if !r.Verified {
		verdict = "NOT VERIFIED: " + r.NotVerifiedReason
	}
	fmt.Fprintf(w, "bundle        %s\n", r.Bundle)
	if r.Verification != nil {
		for _, n := range r.Verification.NotChecked {
			fmt.Fprintf(w, "not checked   %s\n", n)
		}
	}
	fmt.Fprintf(w, "verification  %s\n", verdict)
	if r.Installable != "" {
		fmt.Fprintf(w, "installable   %s\n", r.Installable)
		fmt.Fprintf(w, "system        %s (nix %s here; manifest version %d)\n", r.System, r.NixVersion, r.ManifestVersion)
	}
	if len(r.Outputs) > 0 {
		fmt.Fprintln(w)
		printOutputs(w, r.Outputs)
	}
	if c := r.Closure; c != nil {
		fmt.Fprintf(w, "\nclosure, bottom-up (%d derivations):\n", len(c.Derivations))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for i, d := range c.Derivations {
			if i == maxDeepLines {
				fmt.Fprintf(tw, "… %d more: see --json\n", len(c.Derivations)-i)
				break
			}
			note := ""
			switch {
			case d.FirstDiffering:
				note = "FIRST DIFFERING"
			case d.Status == rebuild.Differs:
				note = fmt.Sprintf("inputs did not reproduce: %s", strings.Join(d.InputsNotReproduced, ", "))
			case d.Status != rebuild.Reproduced:
				note = firstReason(d.Outputs)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", d.Drv, d.Status, methods(d.Outputs), note)
		}
		tw.Flush()
		for _, s := range c.NotInLocalClosure {
			fmt.Fprintf(w, "not in the local closure: %s\n", s)
		}
		for _, s := range c.LocalOnly {
			fmt.Fprintf(w, "not in the manifest: %s\n", s)
		}
		for _, s := range c.Mismatches {
			fmt.Fprintf(w, "manifest mismatch: %s\n", s)
		}
		for _, d := range c.Derivations {
			if !d.FirstDiffering {
				continue
			}
			fmt.Fprintf(w, "\nfirst differing: %s\n", d.Drv)
			for _, o := range d.Outputs {
				if o.Status == rebuild.Differs {
					printDiffering(w, o)
				}
			}
		}
	}
	c := r.Counts
	fmt.Fprintf(w, "\n%d reproduced, %d differ, %d not built, %d not attested", c.Reproduced, c.Differs, c.NotBuilt, c.NotAttested)
	if r.Closure != nil {
		fmt.Fprintf(w, "; %d derivation(s) first differing, %d differing after an input did", c.FirstDiffering, c.DiffersInputsDiffered)
	}
	fmt.Fprintln(w)
	switch {
	case r.Error != "":
		fmt.Fprintf(w, "%s: STOPPED: %s\n", r.Bundle, r.Error)
	case r.OK:
		fmt.Fprintf(w, "%s: REPRODUCED\n", r.Bundle)
	default:
		fmt.Fprintf(w, "%s: NOT REPRODUCED\n", r.Bundle)
	}
}

func printOutputs(w io.Writer, outs []rebuild.Output) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OUTPUT\tSTATUS\tMETHOD\tDETAIL")
	for _, o := range outs {
		detail := o.Reason
		if o.Status == rebuild.Differs && o.DifferingCount > 0 {
			detail = fmt.Sprintf("%d differing entries", o.DifferingCount)
			if o.DifferingCount == 1 {
				detail = "1 differing entry"
			}
		}
		if o.NotVerified != "" {
			detail = strings.TrimSpace(detail + "  [" + o.NotVerified + "]")
		}
		fmt.Fprintf(tw, "%s (%s)\t%s\t%s\t%s\n", o.StorePath, o.Name, o.Status, o.Method, detail)
	}
	tw.Flush()
	for _, o := range outs {
		if o.Status == rebuild.Differs {
			printDiffering(w, o)
		}
	}
}

// printDiffering prints an output's differing files and reports.
func printDiffering(w io.Writer, o rebuild.Output) {
	fmt.Fprintf(w, "  %s: attested sha256:%s, rebuilt %s sha256:%s\n", o.StorePath, o.AttestedSHA256, o.LocalPath, o.LocalSHA256)
	if o.DiffUnavailable != "" {
		fmt.Fprintf(w, "    files not compared: %s\n", o.DiffUnavailable)
	}
	for _, d := range o.DifferingFiles {
		fmt.Fprintf(w, "    %s: %s → %s\n", d.Path, describeEntry(d.Attested), describeEntry(d.Local))
	}
	if n := o.DifferingCount - len(o.DifferingFiles); n > 0 {
		fmt.Fprintf(w, "    … and %d more (--max-files, --json)\n", n)
	}
	if o.DiffoscopeReport != "" {
		fmt.Fprintf(w, "    diffoscope: %s, %s\n", o.DiffoscopeReport, o.DiffoscopeHTML)
	}
	if o.DiffoscopeError != "" {
		fmt.Fprintf(w, "    diffoscope FAILED: %s\n", o.DiffoscopeError)
	}
}

func describeEntry(e *rebuild.Entry) string {
	switch {
	case e == nil:
		return "absent"
	case e.Type == "regular":
		x := ""
		if e.Executable {
			x = " executable"
		}
		return fmt.Sprintf("%d bytes%s sha256:%.12s", e.Size, x, e.SHA256)
	case e.Type == "symlink":
		return "symlink to " + e.Target
	}
	return e.Type
}

// methods lists the distinct methods of a derivation's outputs.
func methods(outs []rebuild.Output) string {
	var ms []string
	for _, o := range outs {
		m := string(o.Method)
		if len(ms) == 0 || ms[len(ms)-1] != m {
			ms = append(ms, m)
		}
	}
	return strings.Join(ms, ",")
}

func firstReason(outs []rebuild.Output) string {
	for _, o := range outs {
		if o.Status != rebuild.Reproduced && o.Reason != "" {
			return o.Reason
		}
	}
	return ""
}
