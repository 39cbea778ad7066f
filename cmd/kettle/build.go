package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/builder"
	"github.com/kettle-build/kettle/nixinputs"
	"github.com/kettle-build/kettle/provenance"
)

func newBuildCommand(driver func() *nixinputs.Driver) *cobra.Command {
	var (
		output, platform, nonceHex, measurementHex, artifacts, collateralDir string
		workers                                                              int
		asJSON, quiet, deepHash                                              bool
	)
	cmd := &cobra.Command{
		Use:   "build FLAKEREF[#ATTR]",
		Short: "Build a pinned flake and write an attested provenance bundle",
		Long: `Build resolves FLAKEREF to a locked ref (refusing unlocked inputs and dirty trees),
realises it with nix, walks the whole derivation closure, hashes every output and source,
writes the Merkle-rooted input manifest and SLSA provenance, attests
SHA-256(provenance.json) ‖ nonce, and writes the bundle atomically.`,
		Example: `  kettle build --attest sim-snp -o hello.bundle path:./examples/hello
  kettle build -o out.tar github:org/repo#pkg
  kettle build --attest none -o unattested.bundle path:./examples/hello`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkJobs(workers); err != nil {
				return err
			}
			var p attest.Platform
			var err error
			if platform == "auto" {
				if p, err = attest.Detect("/"); err != nil {
					return fmt.Errorf("--attest auto: %w", err)
				}
			} else if p, err = attest.ParsePlatform(platform); err != nil {
				return &exitError{2, fmt.Errorf("--attest: %w", err)}
			}
			f := cmd.Flags()
			if p == attest.PlatformNone {
				// An UNATTESTED bundle carries no report: nothing would
				// hold the nonce, a measurement or collateral.
				for _, name := range []string{"nonce", "sim-measurement", "collateral"} {
					if f.Changed(name) {
						return usageError(fmt.Errorf("--%s: not with --attest none (an UNATTESTED bundle has no report to carry it)", name))
					}
				}
			}
			if f.Changed("sim-measurement") && !p.Simulated() {
				return usageError(fmt.Errorf("--sim-measurement: only with a simulated backend (sim-snp, sim-tdx), not %s", p))
			}
			var nonce [32]byte
			if nonceHex != "" {
				b, err := parseHexN("nonce", nonceHex, 32)
				if err != nil {
					return &exitError{2, err}
				}
				copy(nonce[:], b)
			}
			var aopts attest.AttesterOptions
			if p.Simulated() {
				// A simulated launcher commits the nonce as HOST_DATA /
				// MRCONFIGID; on hardware the real launcher did at launch.
				aopts.HostData = nonce
			}
			if measurementHex != "" {
				if aopts.Measurement, err = parseHexN("sim-measurement", measurementHex, 48); err != nil {
					return &exitError{2, err}
				}
			}
			if collateralDir != "" {
				if aopts.Collateral, err = attest.ReadCollateralDir(collateralDir); err != nil {
					return &exitError{2, fmt.Errorf("--collateral: %w", err)}
				}
			}
			var comp provenance.Compression
			if strings.ToLower(artifacts) != "none" {
				if comp, err = provenance.ParseCompression(artifacts); err != nil {
					return &exitError{2, fmt.Errorf("--artifacts: %w (or none)", err)}
				}
			}
			attester, err := attest.NewAttester(p, aopts)
			if err != nil {
				return err
			}
			var log io.Writer = cmd.ErrOrStderr()
			nix := driver()
			if quiet {
				log, nix.Stderr = nil, nil // nix's own error text still ends up in the error
			}
			res, err := builder.Build(cmd.Context(), builder.BuildOptions{
				FlakeRef:      args[0],
				Output:        output,
				Attester:      attester,
				Nonce:         nonce,
				Artifacts:     comp,
				Nix:           builder.NixDriver(nix),
				KettleVersion: kettleVersion(),
				Workers:       workers,
				DeepHash:      deepHash,
				Log:           log,
			})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			printBuildResult(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&output, "output", "o", "kettle-bundle", "bundle to write: a directory, or a file ending in .tar (must not exist)")
	f.StringVar(&platform, "attest", "auto", "attestation backend: auto (the TEE this machine is), sev-snp, tdx, az-snp (Azure vTPM), sim-snp, sim-tdx, or none (an UNATTESTED bundle)")
	f.StringVar(&collateralDir, "collateral", "", "directory of collateral to put in the evidence for offline TCB checks: crl.der (AMD), tcb_info.json, qe_identity.json, ... (Intel)")
	f.StringVar(&nonceHex, "nonce", "", "requester's 32-byte nonce, hex (default all zero)")
	f.StringVar(&measurementHex, "sim-measurement", "", "simulated backends: the 48-byte launch measurement to report, hex")
	f.StringVar(&artifacts, "artifacts", "zst", "NAR exports of the outputs in artifacts/: zst, xz or none")
	f.IntVarP(&workers, "jobs", "j", 0, "parallel workers for the closure walk and hashing (default: all CPUs; at most max(64, 4×CPUs))")
	f.BoolVar(&deepHash, "deep-hash", false, "re-hash the output of every derivation of the closure, not only the top-level ones, and check each against the Nix database (output leaves by=kettle instead of by=nix-db)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress lines on stderr")
	return cmd
}

func printBuildResult(w io.Writer, r *builder.BuildResult) {
	fmt.Fprintf(w, "bundle        %s\n", r.Bundle)
	fmt.Fprintf(w, "source        %s\n", r.LockedURL)
	for _, o := range r.Outputs {
		fmt.Fprintf(w, "output        %s  sha256:%s  (%d bytes NAR)\n", o.StorePath, o.NarSHA256, o.NarSize)
	}
	fmt.Fprintf(w, "closure       %d derivations, %d sources\n", r.Derivations, r.Sources)
	fmt.Fprintf(w, "manifest      root %s over %d leaves\n", r.ManifestRoot, r.ManifestLeaves)
	fmt.Fprintf(w, "provenance    sha256 %s\n", r.ProvenanceSHA256)
	sim := ""
	if r.Simulated {
		sim = "  (SIMULATED: test-only key chain)"
	}
	if r.Platform == attest.PlatformNone {
		sim = "  (UNATTESTED: no hardware report)"
	}
	fmt.Fprintf(w, "attestation   %s%s\n", r.Platform, sim)
	fmt.Fprintf(w, "measurement   %s\n", r.Measurement)
	fmt.Fprintf(w, "nonce         %s\n", r.Nonce)
}
