package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kettle-build/kettle/cvm/image"
	"github.com/kettle-build/kettle/cvm/measure"
	"github.com/kettle-build/kettle/internal/atomicfile"
	"github.com/kettle-build/kettle/internal/inputfile"
)

func newImageCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image measure|vmlinux",
		Short: "Compute a Kettle CVM image's measurement.json",
		Args:  cobra.ArbitraryArgs,
		RunE:  requireSubcommand,
	}
	cmd.AddCommand(newImageMeasureCommand(), newImageVmlinuxCommand())
	return cmd
}

func newImageMeasureCommand() *cobra.Command {
	var (
		files  image.Files
		output string
	)
	cmd := &cobra.Command{
		Use:   "measure --firmware OVMF.fd --kernel K --initrd I --append CMDLINE [-o measurement.json]",
		Short: "Write the launch measurements of an image for every VM shape a host may launch",
		Long: `Measure computes the SEV-SNP launch digest of the image for 1 to 8 vCPUs of
EPYC-Milan, EPYC-Genoa and EPYC-Turin, and its TDX MRTD and RTMR[1..2], and writes
measurement.json with the SHA-256 of every input. Where the firmware has no SEV
kernel-hashes table the SEV-SNP digests cover the firmware only, and measurement.json
says so in "snpCovers"; kettle verify --image repeats it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, f := range []struct{ flag, v string }{{"--firmware", files.Firmware}, {"--kernel", files.Kernel}, {"--initrd", files.Initrd}} {
				if f.v == "" {
					return usageError(fmt.Errorf("%s: required", f.flag))
				}
			}
			m, err := image.Compute(files, image.DefaultShapes())
			if err != nil {
				return err
			}
			data, err := m.Marshal()
			if err != nil {
				return err
			}
			if output == "" || output == "-" {
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			return atomicfile.Write(output, data, 0o644)
		},
	}
	f := cmd.Flags()
	f.StringVar(&files.Firmware, "firmware", "", "the firmware (OVMF.fd)")
	f.StringVar(&files.Kernel, "kernel", "", "the kernel (bzImage)")
	f.StringVar(&files.Initrd, "initrd", "", "the initrd")
	f.StringVar(&files.Cmdline, "append", "", "the kernel command line")
	f.StringVarP(&output, "output", "o", "", "where to write measurement.json (default: standard output)")
	return cmd
}

func newImageVmlinuxCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "vmlinux -o vmlinux BZIMAGE",
		Short: "Write the uncompressed kernel (ELF) inside a bzImage",
		Long: `Vmlinux writes the ELF kernel a bzImage carries, decompressed (xz, zstd or gzip).
QEMU boots it through its PVH entry point when the kernel has one, which under software
emulation saves the seconds the kernel's own decompressor takes. Only a plain VM boots it;
a confidential VM boots the measured bzImage through its firmware.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "" {
				return usageError(fmt.Errorf("-o: required"))
			}
			bz, err := inputfile.Read(args[0], measure.MaxKernelSize)
			if err != nil {
				return err
			}
			elf, err := image.Vmlinux(bz)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			return atomicfile.Write(output, elf, 0o644)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "where to write the kernel")
	return cmd
}
