package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kettle-build/kettle/cvm/measure"
)

func newMeasureCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "measure snp|tdx",
		Short: "Compute a confidential VM's launch measurement ahead of time (SEV-SNP, TDX)",
		Long: `Measure computes, from the firmware, kernel, initrd, command line and VM shape, the
launch measurement a CVM will report, so that a verifier can expect it before any
CVM runs: the SEV-SNP launch digest (as virtee/sev-snp-measure computes it), or the
TDX MRTD and RTMR[1..2]. The digest is the last line of output; --json prints a
record with every input's SHA-256, from which the result can be reproduced.`,
		Args: cobra.ArbitraryArgs,
		RunE: requireSubcommand,
	}
	cmd.AddCommand(newMeasureSNPCommand(), newMeasureTDXCommand())
	return cmd
}

func newMeasureSNPCommand() *cobra.Command {
	var (
		req                                         measure.SNPRequest
		vcpuType, vmmType, features, ovmfHash, vsig string
		family, model, stepping                     int
		format                                      string
		asJSON, verbose                             bool
	)
	cmd := &cobra.Command{
		Use:   "snp --ovmf OVMF.fd --vcpus N --vcpu-type TYPE [--kernel K [--initrd I] [--append CMDLINE]]",
		Short: "Compute the AMD SEV-SNP launch digest (or SEV, SEV-ES) like sev-snp-measure",
		Long: `Snp computes the SEV-SNP launch digest of a guest, with sev-snp-measure's options
and defaults: --mode snp (or snp:ovmf-hash for the firmware's digest alone, seves,
sev), --vmm-type QEMU (or ec2, gce), --guest-features 0x1. An absent --initrd or
--append is measured as an empty one. vCPU types: ` + strings.Join(measure.VCPUTypes(), ", ") + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			usage := func(err error) error { return &exitError{2, err} }
			if err := checkBootFlags(f, req.OVMF, req.Kernel); err != nil {
				return usage(err)
			}
			switch req.Mode {
			case measure.ModeSNP, measure.ModeSNPOVMFHash, measure.ModeSEVES, measure.ModeSEV:
			default:
				return usage(fmt.Errorf("--mode %q: want %s, %s, %s or %s", req.Mode, measure.ModeSNP, measure.ModeSNPOVMFHash, measure.ModeSEVES, measure.ModeSEV))
			}
			if f.Changed("vcpus") && (req.VCPUs < 1 || req.VCPUs > measure.MaxVCPUs) {
				return usage(fmt.Errorf("--vcpus %d: want 1 to %d", req.VCPUs, measure.MaxVCPUs))
			}
			if ovmfHash != "" && req.Mode != measure.ModeSNP {
				return usage(fmt.Errorf("--snp-ovmf-hash: only in --mode %s", measure.ModeSNP))
			}
			var err error
			if req.VMM, err = measure.ParseVMMType(vmmType); err != nil {
				return usage(fmt.Errorf("--vmm-type: %w", err))
			}
			if req.GuestFeatures, err = strconv.ParseUint(features, 0, 64); err != nil {
				return usage(fmt.Errorf("--guest-features %q: want a number such as 0x1", features))
			}
			if req.Mode != measure.ModeSNPOVMFHash && req.Mode != measure.ModeSEV && !f.Changed("vcpus") {
				return usage(fmt.Errorf("--vcpus is required in mode %s", req.Mode))
			}
			switch {
			case f.Changed("vcpu-family"):
				s, err := measure.CPUSignature(family, model, stepping)
				if err != nil {
					return usage(fmt.Errorf("--vcpu-family/--vcpu-model/--vcpu-stepping: %w", err))
				}
				req.VCPUSig = &s
			case vsig != "":
				v, err := strconv.ParseUint(vsig, 0, 32)
				if err != nil {
					return usage(fmt.Errorf("--vcpu-sig %q: want a 32-bit number such as 0x800f12", vsig))
				}
				s := uint32(v)
				req.VCPUSig = &s
			}
			if req.VCPUSig != nil && vcpuType != "" {
				return usage(fmt.Errorf("--vcpu-type and --vcpu-sig/--vcpu-family are exclusive"))
			}
			if vcpuType != "" {
				if _, err := measure.VCPUSignature(vcpuType); err != nil {
					return usage(fmt.Errorf("--vcpu-type: %w", err))
				}
			}
			req.VCPUType = vcpuType
			if req.VMM == measure.VMMQEMU && req.VCPUSig == nil && vcpuType == "" && (req.Mode == measure.ModeSNP || req.Mode == measure.ModeSEVES) {
				return usage(fmt.Errorf("--vcpu-type (or --vcpu-sig, or --vcpu-family/--vcpu-model/--vcpu-stepping) is required with --vmm-type QEMU"))
			}
			if req.VMM != measure.VMMQEMU && req.VCPUSig == nil {
				req.VCPUType = "" // EC2 and GCE set RDX themselves
			}
			if ovmfHash != "" {
				b, err := parseHexN("snp-ovmf-hash", ovmfHash, 48)
				if err != nil {
					return usage(err)
				}
				h := [48]byte(b)
				req.OVMFHash = &h
			}
			if format != "hex" && format != "base64" {
				return usage(fmt.Errorf("--output-format %q: want hex or base64", format))
			}
			req.SkipInputDigests = !asJSON && !verbose
			rec, err := measure.MeasureSNPFiles(req)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(w, rec)
			}
			if verbose {
				printSNPRecord(w, rec)
			}
			if format == "base64" {
				fmt.Fprintln(w, base64.StdEncoding.EncodeToString(rec.Measurement))
			} else {
				fmt.Fprintln(w, hex.EncodeToString(rec.Measurement))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Mode, "mode", measure.ModeSNP, "guest mode: snp, snp:ovmf-hash (the firmware's digest only), seves or sev")
	fl.StringVar(&req.OVMF, "ovmf", "", "OVMF firmware image")
	fl.StringVar(&req.Kernel, "kernel", "", "kernel of a direct boot (QEMU -kernel)")
	fl.StringVar(&req.Initrd, "initrd", "", "initrd of a direct boot (QEMU -initrd)")
	fl.StringVar(&req.Cmdline, "append", "", "kernel command line (QEMU -append)")
	fl.IntVar(&req.VCPUs, "vcpus", 0, fmt.Sprintf("number of vCPUs (1..%d)", measure.MaxVCPUs))
	fl.StringVar(&vcpuType, "vcpu-type", "", "QEMU vCPU model, e.g. EPYC-v4, EPYC-Milan, EPYC-Genoa")
	fl.StringVar(&vsig, "vcpu-sig", "", "vCPU CPUID signature instead of --vcpu-type")
	fl.IntVar(&family, "vcpu-family", 0, "vCPU family instead of --vcpu-type (with --vcpu-model, --vcpu-stepping)")
	fl.IntVar(&model, "vcpu-model", 0, "vCPU model (with --vcpu-family)")
	fl.IntVar(&stepping, "vcpu-stepping", 0, "vCPU stepping (with --vcpu-family)")
	fl.StringVar(&vmmType, "vmm-type", "QEMU", "VMM: QEMU, ec2 or gce")
	fl.StringVar(&features, "guest-features", "0x1", "SEV_FEATURES of the VMSA (0x1: SNPActive, host kernels >= 6.8; 0x21 with DebugSwap: 6.6-6.7)")
	fl.StringVar(&ovmfHash, "snp-ovmf-hash", "", "precomputed digest of the firmware (96 hex digits) to seed the chain with")
	fl.StringVar(&format, "output-format", "hex", "digest format: hex or base64")
	fl.BoolVar(&asJSON, "json", false, "print a JSON record with every input's SHA-256")
	fl.BoolVarP(&verbose, "verbose", "v", false, "print the inputs before the digest")
	return cmd
}

func printSNPRecord(w io.Writer, r *measure.SNPRecord) {
	file := func(name string, f *measure.InputFile) {
		if f != nil {
			fmt.Fprintf(w, "%-15s %s (%d bytes, sha256 %x)\n", name, f.Path, f.Size, []byte(f.SHA256))
		}
	}
	fmt.Fprintf(w, "%-15s %s\n", "mode", r.Mode)
	file("ovmf", r.Inputs.OVMF)
	file("kernel", r.Inputs.Kernel)
	file("initrd", r.Inputs.Initrd)
	if r.Inputs.Append != nil {
		fmt.Fprintf(w, "%-15s %q\n", "append", *r.Inputs.Append)
	}
	if r.VCPUs > 0 {
		cpu := r.VCPUType
		if cpu == "" {
			cpu = "vCPU"
		}
		if r.VCPUSig != "" {
			cpu += " (signature " + r.VCPUSig + ")"
		}
		fmt.Fprintf(w, "%-15s %d × %s on %s\n", "vcpus", r.VCPUs, cpu, r.VMM)
	}
	if r.GuestFeatures != "" {
		fmt.Fprintf(w, "%-15s %s\n", "guest features", r.GuestFeatures)
	}
	if len(r.OVMFHash) > 0 && r.Mode == measure.ModeSNP {
		given := ""
		if r.OVMFHashGiven {
			given = " (given)"
		}
		fmt.Fprintf(w, "%-15s %x%s\n", "ovmf hash", []byte(r.OVMFHash), given)
	}
}

func newMeasureTDXCommand() *cobra.Command {
	var (
		req                           measure.TDXRequest
		profile, order, memory, rtmr0 string
		acpi                          uint32
		asJSON                        bool
	)
	cmd := &cobra.Command{
		Use:   "tdx --ovmf OVMF.fd [--kernel K [--initrd I] [--append CMDLINE]] [--rtmr0 HEX]",
		Short: "Compute the Intel TDX MRTD and RTMR[1..2] of a QEMU direct boot",
		Long: `Tdx computes MRTD from the TDVF sections of a unified OVMF.fd and, with --kernel,
RTMR[1] (the kernel's Authenticode digest and OVMF's boot events) and RTMR[2] (the
command line and the initrd) of a QEMU direct kernel boot. RTMR[0] depends on the
ACPI tables of one VM shape: pin it from a recorded boot and pass it with --rtmr0.
The RTMRs depend on the firmware's conventions, which --conventions names and the
output states: ` + strings.Join(measure.TDXProfiles(), ", ") + ` (default ` + measure.DefaultTDXProfile + `).
The last line of output is MRTD.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			usage := func(err error) error { return &exitError{2, err} }
			if err := checkBootFlags(f, req.OVMF, req.Kernel); err != nil {
				return usage(err)
			}
			var err error
			if req.Conventions, err = measure.TDXProfile(profile); err != nil {
				return usage(fmt.Errorf("--conventions: %w", err))
			}
			if f.Changed("mrtd-order") {
				req.Conventions.MRTDOrder = measure.MRTDOrder(order)
				if o := req.Conventions.MRTDOrder; o != measure.MRTDPerPage && o != measure.MRTDSectionWise {
					return usage(fmt.Errorf("--mrtd-order %q: want %s or %s", order, measure.MRTDPerPage, measure.MRTDSectionWise))
				}
			}
			if memory != "" {
				if req.MemorySize, err = measure.ParseMemorySize(memory); err != nil {
					return usage(fmt.Errorf("--memory: %w", err))
				}
			}
			req.ACPIDataSize = acpi
			if rtmr0 != "" {
				b, err := parseHexN("rtmr0", rtmr0, 48)
				if err != nil {
					return usage(err)
				}
				r := [48]byte(b)
				req.RTMR0 = &r
			}
			req.SkipInputDigests = !asJSON
			rec, err := measure.MeasureTDXFiles(req)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(w, rec)
			}
			fmt.Fprintf(w, "assumed %s\n", rec.Assumed)
			reg := func(name string, v measure.Hex, why string) {
				if len(v) == 0 {
					fmt.Fprintf(w, "%-5s   (%s)\n", name, why)
					return
				}
				fmt.Fprintf(w, "%-5s   %x\n", name, []byte(v))
			}
			reg("rtmr0", rec.RTMR0, "not computed: pin it from a recorded boot with --rtmr0")
			reg("rtmr1", rec.RTMR1, "no --kernel")
			reg("rtmr2", rec.RTMR2, "no --kernel")
			fmt.Fprintf(w, "%-5s   %x\n", "mrtd", []byte(rec.MRTD))
			fmt.Fprintln(w, hex.EncodeToString(rec.MRTD))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.OVMF, "ovmf", "", "unified OVMF firmware image (QEMU -bios)")
	fl.StringVar(&req.Kernel, "kernel", "", "kernel of a direct boot (QEMU -kernel)")
	fl.StringVar(&req.Initrd, "initrd", "", "initrd of a direct boot (QEMU -initrd)")
	fl.StringVar(&req.Cmdline, "append", "", "kernel command line (QEMU -append)")
	fl.StringVar(&rtmr0, "rtmr0", "", "RTMR[0] pinned from a recorded boot (96 hex digits), carried into the output")
	fl.StringVar(&profile, "conventions", measure.DefaultTDXProfile, "firmware conventions: "+strings.Join(measure.TDXProfiles(), ", "))
	fl.StringVar(&order, "mrtd-order", string(measure.MRTDPerPage), "how the VMM adds and measures pages: per-page (upstream KVM) or section-wise (2024 interim TDX stack)")
	fl.StringVar(&memory, "memory", "", "guest memory (QEMU -m, e.g. 2G; for --conventions qemu-patched-suffix with an initrd; default 2G)")
	fl.Uint32Var(&acpi, "acpi-data-size", 0, "ACPI data size QEMU reserves below the top of low memory (default 0x28000; qemu-patched-suffix only)")
	fl.BoolVar(&asJSON, "json", false, "print a JSON record with every input's SHA-256 and the RTMR events")
	return cmd
}

// checkBootFlags checks the flags both measure commands share: a firmware
// is required, and --initrd/--append only make sense with --kernel.
func checkBootFlags(f *pflag.FlagSet, ovmf, kernel string) error {
	if ovmf == "" {
		return fmt.Errorf("--ovmf is required")
	}
	if (f.Changed("initrd") || f.Changed("append")) && kernel == "" {
		return fmt.Errorf("--initrd and --append need --kernel")
	}
	return nil
}
