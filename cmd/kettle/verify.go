package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/cvm/image"
	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/verify"
)

// maxPolicyFile bounds a --policy file: a policy lists a few measurements
// and minimum versions, a few KiB even with hundreds of measurements.
const maxPolicyFile = 1 << 20

func newVerifyCommand() *cobra.Command {
	var (
		vf                         verifyFlags
		useStore, deepHash, asJSON bool
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
			if deepHash && !useStore {
				return usageError(errors.New("--deep-hash: only with --store (it re-hashes every output leaf's path in the local store)"))
			}
			opts, err := vf.options()
			if err != nil {
				return err
			}
			opts.Bundle, opts.DeepHash = args[0], deepHash
			if useStore {
				opts.Store = storeHasher{}
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
	f := cmd.Flags()
	vf.register(f)
	f.BoolVar(&useStore, "store", false, "re-hash the subjects from the local Nix store instead of artifacts/")
	f.BoolVar(&deepHash, "deep-hash", false, "with --store: re-hash every output leaf of a version 2 manifest in the local store, not only the subjects")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// verifyFlags are the flags that say what a bundle must verify with, the
// same for every command that verifies bundles (verify, cache export,
// cache verify).
type verifyFlags struct {
	nonceHex, measurementHex, policyFile, collateralDir, imageDir string
	allowSim, allowUnattested, strict                             bool
}

func (vf *verifyFlags) register(f *pflag.FlagSet) {
	f.StringVar(&vf.nonceHex, "nonce", "", "expected nonce, hex: 32 bytes (report_data[32:64]) for Kettle's bundles, 16 for the foreign tool's (a UUID's dashes allowed)")
	f.BoolVar(&vf.strict, "strict", false, "fail on every warning (a foreign provenance field the in-toto library refuses, a file no subject names)")
	f.StringVar(&vf.measurementHex, "measurement", "", "expected launch measurement, hex (48 bytes)")
	f.StringVar(&vf.imageDir, "image", "", "a Kettle CVM image directory (or its measurement.json): the launch measurement must be one of its VM shapes'")
	f.BoolVar(&vf.allowSim, "allow-simulated", false, "accept evidence signed by Kettle's TEST-ONLY key chains (sim-snp, sim-tdx)")
	f.BoolVar(&vf.allowUnattested, "allow-unattested", false, "accept a bundle built with --attest none (reported as UNATTESTED)")
	f.StringVar(&vf.policyFile, "policy", "", "verification policy file, JSON or YAML (minimum TCB/SVNs, allowed measurements, HOST_DATA/MRCONFIGID, VMPL)")
	f.StringVar(&vf.collateralDir, "collateral", "", "directory of collateral replacing the evidence's: crl.der (AMD), tcb_info.json, qe_identity.json, ... (Intel)")
}

// options reads the files and values the flags name into verify.Options,
// without Bundle and Store. A bad value is a usage error.
func (vf *verifyFlags) options() (verify.Options, error) {
	opts := verify.Options{AllowSimulated: vf.allowSim, AllowUnattested: vf.allowUnattested, Strict: vf.strict}
	if vf.policyFile != "" {
		data, err := inputfile.Read(vf.policyFile, maxPolicyFile)
		if err != nil {
			return opts, &exitError{2, fmt.Errorf("--policy: %w", err)}
		}
		if opts.Policy, err = attest.ParsePolicy(data); err != nil {
			return opts, &exitError{2, fmt.Errorf("--policy %s: %w", vf.policyFile, err)}
		}
	}
	if vf.collateralDir != "" {
		col, err := attest.ReadCollateralDir(vf.collateralDir)
		if err != nil {
			return opts, &exitError{2, fmt.Errorf("--collateral: %w", err)}
		}
		opts.Collateral = col
	}
	if vf.nonceHex != "" {
		n, err := parseNonce(vf.nonceHex)
		if err != nil {
			return opts, &exitError{2, err}
		}
		opts.Nonce = n
	}
	imageDir := vf.imageDir
	if imageDir == "" && opts.Policy != nil && opts.Policy.Image != "" {
		// A policy names an image relative to its own file.
		imageDir = opts.Policy.Image
		if !filepath.IsAbs(imageDir) {
			imageDir = filepath.Join(filepath.Dir(vf.policyFile), imageDir)
		}
	}
	if imageDir != "" {
		m, err := image.ReadMeasurements(imageDir)
		if err != nil {
			return opts, usageError(fmt.Errorf("--image: %w", err))
		}
		opts.Image = m
	}
	if vf.measurementHex != "" {
		b, err := parseHexN("measurement", vf.measurementHex, 48)
		if err != nil {
			return opts, &exitError{2, err}
		}
		opts.Measurement = b
	}
	return opts, nil
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
