package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/kettle-build/kettle/cvm/agent"
)

func newAgentCommand() *cobra.Command {
	var nixBin, workDir string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run as PID 1 inside the Kettle CVM: read one build request, build, write the bundle, power off",
		Long: `Agent is the init of the Kettle CVM image. It mounts what it needs, loads the
modules of the VM's devices, moves the root onto a tmpfs, reads the request and the
host's input cache from the virtio disk with serial ` + agent.InputDiskSerial + `, builds with
the host's cache as Nix's only substituter (signatures required), writes the bundle or
the error to the disk with serial ` + agent.ResultDiskSerial + `, and powers the VM off —
also when anything fails. It refuses to run as any process but PID 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if os.Getpid() != 1 {
				return usageError(fmt.Errorf("agent: runs only as PID 1 of the Kettle CVM (this is PID %d)", os.Getpid()))
			}
			log := cmd.ErrOrStderr()
			// The kernel starts init with almost no environment.
			os.Setenv("PATH", "/usr/bin:/bin")
			os.Setenv("HOME", "/root")
			defer func() {
				if r := recover(); r != nil {
					fmt.Fprintf(log, "kettle-agent: panic: %v\n", r)
				}
				if err := agent.PowerOff(); err != nil {
					fmt.Fprintf(log, "kettle-agent: power off: %v\n", err)
				}
			}()
			err := agent.Run(cmd.Context(), agent.NewSystem(log), agent.Config{
				Nix:           nixBin,
				NixConf:       "/etc/nix/nix.conf",
				WorkDir:       workDir,
				KettleVersion: kettleVersion(),
				Log:           log,
			})
			if err != nil {
				fmt.Fprintf(log, "kettle-agent: %v\n", err)
			}
			return nil // the result disk says how it went; the VM powers off
		},
	}
	cmd.Flags().StringVar(&nixBin, "nix-bin", "/usr/bin/nix", "the nix binary inside the image")
	cmd.Flags().StringVar(&workDir, "work", "/run/kettle", "where the input cache is unpacked and the bundle written")
	return cmd
}
