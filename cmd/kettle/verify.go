package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kettle-build/kettle/builder"
)

func newVerifyCommand() *cobra.Command {
	var (
		nonceHex, measurementHex   string
		useStore, allowSim, asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "verify BUNDLE",
		Short: "Verify a bundle offline, link by link",
		Long: `Verify checks, in order and each on its own line: the hardware signature chain to
the vendor root, the TCB policy, the launch measurement, the report_data binding
(SHA-256(provenance.json) ‖ nonce), the provenance, the manifest root, and the subjects
against the NAR hashes of the bundle's artifacts (or of the local store with --store).
Any failure exits non-zero and names the broken link.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := builder.VerifyOptions{Bundle: args[0], UseStore: useStore, AllowSimulated: allowSim}
			if nonceHex != "" {
				b, err := parseHexN("nonce", nonceHex, 32)
				if err != nil {
					return &exitError{2, err}
				}
				var n [32]byte
				copy(n[:], b)
				opts.Nonce = &n
			}
			if measurementHex != "" {
				b, err := parseHexN("measurement", measurementHex, 48)
				if err != nil {
					return &exitError{2, err}
				}
				opts.Measurement = b
			}
			rep := builder.Verify(cmd.Context(), opts)
			if asJSON {
				out := struct {
					*builder.VerifyReport
					Verdict string `json:"verdict"`
				}{rep, rep.Verdict()}
				if err := writeJSON(cmd.OutOrStdout(), out); err != nil {
					return err
				}
			} else {
				printReport(cmd.OutOrStdout(), rep)
			}
			if !rep.OK {
				return &exitError{1, errSilent}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&nonceHex, "nonce", "", "expected nonce in report_data[32:64], hex (32 bytes)")
	f.StringVar(&measurementHex, "measurement", "", "expected launch measurement, hex (48 bytes)")
	f.BoolVar(&useStore, "store", false, "re-hash the subjects from the local Nix store instead of artifacts/")
	f.BoolVar(&allowSim, "allow-simulated", false, "accept evidence signed by Kettle's TEST-ONLY key chain (sim-snp)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func printReport(w io.Writer, r *builder.VerifyReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tRESULT\tDETAIL")
	for _, s := range r.Steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Step, s.Status, s.Detail)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%s: %s\n", r.Bundle, r.Verdict())
}
