package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/cvm/host"
	"github.com/kettle-build/kettle/nixinputs"
)

func newVMCommand(driver func() *nixinputs.Driver) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vm build",
		Short: "Build inside a Kettle CVM image",
		Args:  cobra.ArbitraryArgs,
		RunE:  requireSubcommand,
	}
	cmd.AddCommand(newVMBuildCommand(driver))
	return cmd
}

func newVMBuildCommand(driver func() *nixinputs.Driver) *cobra.Command {
	var (
		opts                       host.Options
		platform, nonceHex, timout string
		asJSON                     bool
	)
	cmd := &cobra.Command{
		Use:   "build --image DIR FLAKEREF[#ATTR] -o BUNDLE.tar",
		Short: "Resolve a flake on the host, build it inside the CVM image, and verify the bundle",
		Long: `Build resolves FLAKEREF on the host, writes the VM's input disk (the request and a
binary cache of the flake's source and locked inputs, every one content-addressed, so
that the Nix inside the VM checks them against their hashes), launches the image under
QEMU with its input and result disks, waits for the agent's result, and verifies the
bundle against the image's measurement.json and the nonce before writing it. The
simulated platforms run in a plain VM under TCG and report the image's own SEV-SNP (or
TDX) measurement for the VM's shape; their bundles say SIMULATED.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := attest.ParsePlatform(platform)
			if err != nil {
				return usageError(fmt.Errorf("--attest: %w", err))
			}
			opts.Platform = p
			if nonceHex != "" {
				b, err := parseHexN("nonce", nonceHex, 32)
				if err != nil {
					return usageError(err)
				}
				copy(opts.Nonce[:], b)
			}
			if opts.Timeout, err = time.ParseDuration(timout); err != nil || opts.Timeout <= 0 {
				return usageError(fmt.Errorf("--timeout %q: want a positive duration such as 10m", timout))
			}
			if opts.Image == "" {
				return usageError(fmt.Errorf("--image: required"))
			}
			opts.FlakeRef = args[0]
			opts.Nix = driver()
			opts.Log = cmd.ErrOrStderr()
			res, err := host.Build(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			printVMResult(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Image, "image", "", "the CVM image directory (nix build .#cvm-image)")
	f.StringVarP(&opts.Output, "output", "o", "kettle-bundle.tar", "bundle to write, a .tar (must not exist)")
	f.StringVar(&platform, "attest", "sev-snp", "attestation inside the VM: sev-snp, tdx, or sim-snp / sim-tdx (a plain VM under TCG)")
	f.StringVar(&nonceHex, "nonce", "", "requester's 32-byte nonce, hex (default all zero)")
	f.IntVar(&opts.VCPUs, "vcpus", 2, "the VM's vCPUs")
	f.IntVar(&opts.MemoryMiB, "memory", 2048, "the VM's memory in MiB")
	f.StringVar(&opts.CPUType, "cpu-type", "EPYC-Milan", "the vCPU type whose measurement the image must have")
	f.StringVar(&timout, "timeout", "15m", "how long the VM may run before it is killed")
	f.StringVar(&opts.Artifacts, "artifacts", "zst", "NAR exports of the outputs in the bundle: zst, xz or none")
	f.BoolVar(&opts.DeepHash, "deep-hash", false, "the agent re-hashes the output of every derivation of the closure, not only the top-level ones")
	f.StringVar(&opts.QEMU, "qemu", "", "qemu-system-x86_64 binary (default: on PATH)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func printVMResult(w io.Writer, r *host.Result) {
	fmt.Fprintf(w, "bundle        %s\n", r.Bundle)
	fmt.Fprintf(w, "measurement   %s (%s)\n", r.Measurement, r.Shape)
	for _, n := range r.Report.NotChecked {
		fmt.Fprintf(w, "not checked   %s\n", n)
	}
	fmt.Fprintf(w, "verdict       %s\n", r.Report.Verdict())
	for _, k := range slices.Sorted(maps.Keys(r.Timings)) {
		fmt.Fprintf(w, "time          %-32s %s\n", k, r.Timings[k])
	}
}
