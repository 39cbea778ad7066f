package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kettle-build/kettle/nixinputs"
)

func newHashCommand() *cobra.Command {
	var base32, hexOut, asJSON bool
	cmd := &cobra.Command{
		Use:   "hash PATH...",
		Short: "Print the NAR SHA-256 of paths, like `nix hash path`",
		Long:  "Hash serialises each path as a NAR and prints its SHA-256: in SRI form like `nix hash path`,\nor in Nix's base32 like `nix hash path --base32`, or as hex.",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if base32 && hexOut {
				return &exitError{2, fmt.Errorf("--base32 and --hex are exclusive")}
			}
			type entry struct {
				Path    string `json:"path"`
				SRI     string `json:"sri"`
				Base32  string `json:"base32"`
				Hex     string `json:"hex"`
				NarSize uint64 `json:"narSize"`
			}
			var all []entry
			for _, p := range args {
				h, err := nixinputs.HashPath(p)
				if err != nil {
					return err
				}
				e := entry{p, h.SRI(), h.Nix32(), h.Hex(), h.Size}
				switch {
				case asJSON:
					all = append(all, e)
				case base32:
					fmt.Fprintln(cmd.OutOrStdout(), e.Base32)
				case hexOut:
					fmt.Fprintln(cmd.OutOrStdout(), e.Hex)
				default:
					fmt.Fprintln(cmd.OutOrStdout(), e.SRI)
				}
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), all)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&base32, "base32", false, "print Nix's base32 (like nix hash path --base32)")
	cmd.Flags().BoolVar(&hexOut, "hex", false, "print lower-case hex")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON with every form and the NAR size")
	return cmd
}
