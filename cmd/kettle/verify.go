package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/verify"
)

// maxPolicyFile bounds a --policy file: a policy lists a few measurements
// and minimum versions, a few KiB even with hundreds of measurements.
const maxPolicyFile = 1 << 20

func newVerifyCommand() *cobra.Command {
	var (
		vf     verifyFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "verify BUNDLE",
		Short: "Verify a bundle offline, link by link",
		Long: `Verify checks, in order and each on its own line: the hardware signature chain to
the vendor root, the TCB policy, the launch measurement, the report_data binding
(SHA-256(provenance.json) ‖ nonce), the provenance, the manifest root, the
dependencies, the output leaves (manifest version 2), and the subjects against the NAR hashes of the bundle's artifacts (or of the local store with --store).
Any failure exits non-zero and names the broken link.

Without --policy, verify still checks the chain to the vendor root, Kettle's baseline
(no debug guest, no migration agent, consistent firmware TCB), the binding, and the
measurement given by --measurement, and lists the checks it did not make. A bundle
built with --attest none is UNATTESTED and fails unless --allow-unattested is given.

Bundles of the foreign attested-build tool (github.com/confidential-dot-ai/kettle,
formerly lunal-dev/kettle) are verified too, as FOREIGN, by the rules of their
format: its binding, its raw artifacts, its lock file and its input Merkle root;
the fields of its provenance that in-toto refuses are warnings, failures with --strict.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := vf.options(args[0])
			if err != nil {
				return err
			}
			rep := verify.Verify(cmd.Context(), opts)
			if asJSON {
				out := struct {
					*verify.Report
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
	vf.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// maxWarningLines bounds the warnings the table prints; --json has them all.
const maxWarningLines = 20

func printReport(w io.Writer, r *verify.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tRESULT\tDETAIL")
	for _, s := range r.Steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Step, s.Status, s.Detail)
	}
	tw.Flush()
	for i, wn := range r.Warnings {
		if i == maxWarningLines {
			fmt.Fprintf(w, "WARN %d more warning(s): see --json\n", len(r.Warnings)-i)
			break
		}
		fmt.Fprintf(w, "WARN %s: %s\n", wn.Step, wn)
	}
	for _, n := range r.NotChecked {
		fmt.Fprintf(w, "not checked: %s\n", n)
	}
	fmt.Fprintf(w, "\n%s: %s\n", r.Bundle, r.Verdict())
}

// storeHasher re-hashes local store paths with Kettle's NAR hasher.
type storeHasher struct{}

func (storeHasher) NarSHA256(ctx context.Context, storePath string) ([32]byte, error) {
	h, err := nixinputs.HashPaths(ctx, []string{storePath}, 1)
	if err != nil {
		return [32]byte{}, err
	}
	return h[storePath].SHA256, nil
}

// parseNonce reads --nonce: hex, with the dashes of a UUID allowed, of one
// of the sizes a bundle format binds (32 bytes for Kettle's, 16 for the
// foreign tool's); the binding step checks it against the bundle's.
func parseNonce(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(s), "0x"), "-", ""))
	if err != nil {
		return nil, fmt.Errorf("--nonce: not hex: %w", err)
	}
	if len(b) != 32 && len(b) != 16 {
		return nil, fmt.Errorf("--nonce: %d bytes; Kettle's bundles bind a 32-byte nonce (64 hex digits), the foreign tool's a 16-byte one (32 hex digits)", len(b))
	}
	return b, nil
}
