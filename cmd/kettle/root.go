package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
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
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	var nixBin string
	root.PersistentFlags().StringVar(&nixBin, "nix", "", "nix binary to drive (default: nix on PATH)")
	driver := func() *nixinputs.Driver {
		return &nixinputs.Driver{Nix: nixBin, Stderr: stderr}
	}
	root.AddCommand(
		newBuildCommand(driver),
		newVerifyCommand(),
		newManifestCommand(),
		newHashCommand(),
		newClosureCommand(),
		newMeasureCommand(),
		newInitrdCommand(),
		newVersionCommand(),
	)
	return root
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
