package main

import (
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kettle-build/kettle/nixinputs"
)

func newClosureCommand() *cobra.Command {
	var (
		asJSON  bool
		workers int
	)
	cmd := &cobra.Command{
		Use:   "closure DRV...",
		Short: "List the derivation closure of .drv files with the SHA-256 of each",
		Long: "Closure reads .drv files from the store (no nix needed) and walks their inputDrvs,\n" +
			"printing each derivation in the closure with the SHA-256 of its ATerm bytes, as the manifest's drv leaves do.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkJobs(workers); err != nil {
				return err
			}
			c, err := nixinputs.WalkClosure(cmd.Context(), args, nixinputs.WalkOptions{Workers: workers})
			if err != nil {
				return err
			}
			type entry struct {
				Path      string   `json:"path"`
				SHA256    string   `json:"sha256"`
				InputSrcs []string `json:"inputSrcs,omitempty"`
			}
			var all []entry
			for _, p := range c.Paths() {
				d := c.Derivations[p]
				e := entry{p, hex.EncodeToString(d.ATermSHA256[:]), d.InputSrcs}
				if asJSON {
					all = append(all, e)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", e.SHA256, e.Path)
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), all)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVarP(&workers, "jobs", "j", 0, "parallel readers (default: all CPUs; at most max(64, 4×CPUs))")
	return cmd
}
