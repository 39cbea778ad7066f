package main

import (
	"encoding/hex"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/kettle-build/kettle/provenance"
)

func newManifestCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "manifest",
		Short: "Inspect a bundle's input manifest and prove a leaf's inclusion",
	}
	cmd.AddCommand(newManifestShowCommand(), newManifestProveCommand())
	return cmd
}

// loadManifest reads manifest.json from a bundle (dir or .tar) or takes a
// manifest.json file itself.
func loadManifest(p string) (*provenance.Manifest, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	var data []byte
	if !fi.IsDir() && !isTar(p) {
		if data, err = os.ReadFile(p); err != nil {
			return nil, err
		}
	} else {
		b, err := provenance.OpenBundle(p)
		if err != nil {
			return nil, err
		}
		data = b.Manifest
	}
	m, err := provenance.DecodeManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return m, nil
}

func isTar(p string) bool { return len(p) > 4 && p[len(p)-4:] == ".tar" }

func newManifestShowCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show BUNDLE|manifest.json",
		Short: "Print the manifest's leaves and root",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := loadManifest(args[0])
			if err != nil {
				return err
			}
			if asJSON {
				data, err := m.Marshal()
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			w := cmd.OutOrStdout()
			for _, l := range m.Leaves {
				fmt.Fprintln(w, l)
			}
			fmt.Fprintf(w, "# version %d, %d leaves, RFC 9162 root %x\n", m.Version, len(m.Leaves), m.Root)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print manifest.json")
	return cmd
}

func newManifestProveCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "prove BUNDLE|manifest.json LEAF",
		Short: "Print an RFC 9162 inclusion proof of LEAF in the manifest",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := loadManifest(args[0])
			if err != nil {
				return err
			}
			idx, proof, err := m.Prove(args[1])
			if err != nil {
				return err
			}
			hexes := make([]string, len(proof))
			for i, p := range proof {
				hexes[i] = hex.EncodeToString(p[:])
			}
			out := struct {
				Leaf      string   `json:"leaf"`
				Index     int      `json:"index"`
				TreeSize  int      `json:"treeSize"`
				Root      string   `json:"root"`
				AuditPath []string `json:"auditPath"`
			}{args[1], idx, len(m.Leaves), hex.EncodeToString(m.Root[:]), hexes}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "leaf      %s\nindex     %d\ntree size %d\nroot      %s\n", out.Leaf, out.Index, out.TreeSize, out.Root)
			for i, h := range hexes {
				fmt.Fprintf(w, "path[%d]   %s\n", i, h)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
