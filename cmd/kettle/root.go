package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kettle-build/kettle/builder"
	"github.com/kettle-build/kettle/nixinputs"
)

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "kettle",
		Short:         "Attested, hermetic Nix builds",
		Long:          "Kettle realises a pinned flake, records every input of its derivation closure in a Merkle-rooted manifest,\nwrites SLSA provenance for the outputs, binds it into a (confidential-VM) attestation report, and verifies such bundles offline.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		RunE:          requireSubcommand,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	var nixBin string
	root.PersistentFlags().StringVar(&nixBin, "nix", "", "nix binary to drive (default: nix on PATH)")
	driver := func() *nixinputs.Driver {
		return &nixinputs.Driver{Nix: nixBin, Stderr: stderr}
	}
	root.AddCommand(
		newBuildCommand(driver),
		newVerifyCommand(),
		newManifestCommand(),
		newDiffCommand(),
		newHashCommand(),
		newClosureCommand(),
		newMeasureCommand(),
		newInitrdCommand(),
		newVersionCommand(),
		newAgentCommand(),
		newImageCommand(),
		newVMCommand(driver),
		newCacheCommand(driver),
		newLogCommand(),
		newRebuildCommand(driver),
		newReportCommand(driver),
	)
	usageArgs(root)
	return root
}

// requireSubcommand is the RunE of a command that only groups others: it
// is reached without a subcommand or with an unknown one, a usage error
// either way (cobra would print the help and exit 0).
func requireSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usageError(fmt.Errorf("missing command for %q (one of %s)", cmd.CommandPath(), strings.Join(subcommands(cmd), ", ")))
	}
	err := fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		err = fmt.Errorf("%w; did you mean %s?", err, strings.Join(s, " or "))
	}
	return usageError(err)
}

func subcommands(cmd *cobra.Command) []string {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return names
}

// usageArgs makes the argument checks of cmd and its subcommands usage
// errors, and has requireSubcommand suggest near names.
func usageArgs(cmd *cobra.Command) {
	cmd.SuggestionsMinimumDistance = 2
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				var ee *exitError
				if errors.As(err, &ee) {
					return err
				}
				return usageError(err)
			}
			return nil
		}
	}
	for _, c := range cmd.Commands() {
		usageArgs(c)
	}
}

// maxJobs is the largest --jobs accepted: 4 readers or hashers per CPU, and
// at least 64, is more than the disks and hashes can use; beyond it
// workers only cost memory.
func maxJobs() int { return max(64, 4*runtime.GOMAXPROCS(0)) }

// checkJobs checks a --jobs value: 0 (the default, all CPUs) to maxJobs.
func checkJobs(n int) error {
	if n < 0 || n > maxJobs() {
		return usageError(fmt.Errorf("--jobs %d: want 1 to %d (or 0 for one per CPU)", n, maxJobs()))
	}
	return nil
}

// kettleVersion is the link-time version, else the module version, else "devel".
func kettleVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// parseHexN decodes a hex flag of exactly n bytes.
func parseHexN(flag, s string, n int) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(s), "0x"))
	if err != nil {
		return nil, fmt.Errorf("--%s: not hex: %w", flag, err)
	}
	if len(b) != n {
		return nil, fmt.Errorf("--%s: %d bytes, expected %d (%d hex digits)", flag, len(b), n, 2*n)
	}
	return b, nil
}

func newVersionCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print Kettle's version and the SHA-256 of its binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			h, err := builder.FileSHA256(exe)
			if err != nil {
				return err
			}
			out := struct {
				Version string `json:"version"`
				Binary  string `json:"binary"`
				SHA256  string `json:"sha256"`
			}{kettleVersion(), exe, hex.EncodeToString(h[:])}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "kettle %s\nbinary %s\nsha256 %s\n", out.Version, out.Binary, out.SHA256)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
