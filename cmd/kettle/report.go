package main

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/rebuild"
	"github.com/kettle-build/kettle/report"
	"github.com/kettle-build/kettle/tlog"
)

func newReportCommand(driver func() *nixinputs.Driver) *cobra.Command {
	var (
		vf                                             verifyFlags
		resultFiles                                    []string
		logDir, logKey, htmlFile, title                string
		jobs, top, maxFiles                            int
		asJSON, noInputs, allowUnverified, deep, quiet bool
	)
	rebuildFlags := pflag.NewFlagSet("rebuild", pflag.ContinueOnError)
	vf.register(rebuildFlags)
	rebuildFlags.MarkHidden("nonce") // refused: each bundle binds its own
	rebuildFlags.BoolVar(&allowUnverified, "allow-unverified", false, "rebuild the bundles that do not verify too (they are still reported as unverified)")
	rebuildFlags.BoolVar(&deep, "deep", false, "compare every derivation of each closure bottom-up (version 2 manifests) and report the first that differ")
	rebuildFlags.IntVar(&maxFiles, "max-files", rebuild.DefaultMaxFiles, "differing files listed per output (all are counted)")
	rebuildFlags.IntVarP(&jobs, "jobs", "j", 1, "bundles rebuilt at once (0: one per CPU)")
	rebuildFlags.BoolVarP(&quiet, "quiet", "q", false, "no progress lines or build logs on stderr")

	cmd := &cobra.Command{
		Use:   "report BUNDLE… | --results FILE… | --log DIR --log-key KEY",
		Short: "Report on the reproducibility of many bundles: a table, JSON, an HTML page",
		Long: `Report rebuilds each bundle as kettle rebuild does (verify it, realise its locked ref
here, compare each output with the NAR SHA-256 it attests) and reports on all of them:
how many bundles reproduced, differ, were not built or did not verify, overall and by
builder platform; which outputs differ, in how many bundles, and their differing files;
and the manifest leaves the bundles with a differing output share (src, fod, flake-input,
toolchain, drv), held by the most differing bundles first, then by the fewest reproduced.

The bundles come from the arguments, from a transparency log (--log DIR, verified with
--log-key first; its stored bundles are rebuilt), or, with --results, from saved
kettle rebuild --json output (one or more results per file, "-" for standard input):
nothing is rebuilt then, and the verification and rebuild flags do not apply. The
bundles' manifests are read for the shared inputs (--no-inputs: not), each checked to
be the one whose provenance the result names.

The table goes to standard output, or the report as JSON with --json; --html writes one
self-contained page (inline CSS, the chart as inline SVG, no script, nothing fetched).
The same results give the same bytes. The exit status is 0 when the report is made,
whatever it says; 1 when a bundle, log or results file cannot be read.`,
		Example: `  kettle report --allow-simulated -j 2 --html report.html a.tar b.tar c.tar
  for b in *.tar; do kettle rebuild --json --allow-simulated "$b"; done > results.json
  kettle report --results results.json --json
  kettle report --log ./log --log-key log.vkey --allow-simulated --html report.html`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			modes := 0
			for _, on := range []bool{len(args) > 0, len(resultFiles) > 0, logDir != ""} {
				if on {
					modes++
				}
			}
			if modes != 1 {
				return usageError(errors.New("give bundles, --results files or --log DIR: exactly one of them"))
			}
			if (logDir != "") != (logKey != "") {
				return usageError(errors.New("--log and --log-key go together: the log's checkpoint is verified with the key you trust"))
			}
			if top < 0 {
				return usageError(fmt.Errorf("--top %d: want 0 (all) or more", top))
			}
			var results []rebuild.Result
			var err error
			if len(resultFiles) > 0 {
				var changed []string
				rebuildFlags.VisitAll(func(fl *pflag.Flag) {
					if fl.Changed {
						changed = append(changed, "--"+fl.Name)
					}
				})
				if len(changed) > 0 {
					return usageError(fmt.Errorf("%s: only when rebuilding (BUNDLE… or --log), not with --results", changed[0]))
				}
				if results, err = readResults(cmd, resultFiles); err != nil {
					return err
				}
			} else {
				if f.Changed("nonce") {
					return usageError(errors.New("--nonce: each bundle binds its own nonce; check it with kettle verify"))
				}
				if err := checkJobs(jobs); err != nil {
					return err
				}
				if maxFiles < 0 {
					return usageError(fmt.Errorf("--max-files %d: want 1 or more (0 for the default, %d)", maxFiles, rebuild.DefaultMaxFiles))
				}
				bundles := args
				if logDir != "" {
					v, err := tlog.ReadVerifier(logKey)
					if err != nil {
						return usageError(fmt.Errorf("--log-key: %w", err))
					}
					if bundles, err = report.LogBundles(cmd.Context(), logDir, v); err != nil {
						return err
					}
				}
				vopts, err := vf.options()
				if err != nil {
					return err
				}
				opts := rebuild.Options{Verify: vopts, AllowUnverified: allowUnverified, Deep: deep, MaxFiles: maxFiles, Nix: driver()}
				if !quiet {
					opts.Log = cmd.ErrOrStderr()
				} else {
					opts.Nix.Stderr = nil
				}
				if jobs == 0 {
					jobs = runtime.GOMAXPROCS(0)
				}
				if results, err = report.Rebuild(cmd.Context(), bundles, opts, jobs); err != nil {
					return err
				}
			}
			inputs, err := report.LoadInputs(results, !noInputs)
			if err != nil {
				return err
			}
			rep, err := report.Build(inputs, report.Options{Title: title, Top: top, Inputs: !noInputs})
			if err != nil {
				return err
			}
			if htmlFile != "" {
				if err := report.WriteHTML(htmlFile, rep); err != nil {
					return fmt.Errorf("--html: %w", err)
				}
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			return report.WriteTable(cmd.OutOrStdout(), rep)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&resultFiles, "results", nil, "read saved kettle rebuild --json results from FILE (\"-\": standard input) instead of rebuilding; repeatable")
	f.StringVar(&logDir, "log", "", "rebuild every bundle of the transparency log at DIR")
	f.StringVar(&logKey, "log-key", "", "the log's verifier key, or a file holding it (with --log)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON instead of the table")
	f.StringVar(&htmlFile, "html", "", "write the report as one self-contained HTML page to FILE")
	f.StringVar(&title, "title", "", "the page's title (default \""+report.DefaultTitle+"\")")
	f.IntVar(&top, "top", 20, "shared inputs listed (0: all)")
	f.BoolVar(&noInputs, "no-inputs", false, "do not read the bundles' manifests: no shared inputs")
	f.AddFlagSet(rebuildFlags)
	return cmd
}

// readResults reads every --results file, "-" being standard input.
func readResults(cmd *cobra.Command, files []string) ([]rebuild.Result, error) {
	stdin := 0
	for _, name := range files {
		if name == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return nil, usageError(errors.New("--results -: standard input given twice"))
	}
	var all []rebuild.Result
	for _, name := range files {
		var rs []rebuild.Result
		var err error
		if name == "-" {
			rs, err = report.ReadResultsFrom(cmd.InOrStdin(), "standard input")
		} else {
			rs, err = report.ReadResults(name)
		}
		if err != nil {
			return nil, fmt.Errorf("--results: %w", err)
		}
		all = append(all, rs...)
	}
	return all, nil
}
