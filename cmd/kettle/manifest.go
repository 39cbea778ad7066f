package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/provenance"
)

func newManifestCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "manifest",
		Short: "Inspect a bundle's input manifest and prove a leaf's inclusion",
		Args:  cobra.ArbitraryArgs,
		RunE:  requireSubcommand,
	}
	cmd.AddCommand(newManifestShowCommand(), newManifestProveCommand(), newManifestCheckProofCommand())
	return cmd
}

// loadManifest reads manifest.json from a bundle, a directory or a tar
// archive of any name (told by its content, as verify reads it), or takes
// a manifest.json file itself.
func loadManifest(p string) (*provenance.Manifest, error) {
	bundle, err := isBundle(p)
	if err != nil {
		return nil, err
	}
	var data []byte
	if bundle {
		b, err := provenance.OpenBundle(p)
		if err != nil {
			return nil, err
		}
		data = b.Manifest
	} else if data, err = inputfile.Read(p, provenance.MaxJSONFileSize); err != nil {
		return nil, err
	}
	m, err := provenance.DecodeManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return m, nil
}

// isBundle reports whether p is a directory or a file that starts with a
// tar header block; either is read as a bundle.
func isBundle(p string) (bool, error) {
	// The cap does not matter: at most one block is read.
	f, err := inputfile.Open(p, math.MaxInt64)
	var te *inputfile.TypeError
	if errors.As(err, &te) && te.Mode.IsDir() {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	var block [512]byte
	if _, err := io.ReadFull(f, block[:]); err == io.EOF || err == io.ErrUnexpectedEOF {
		return false, nil // shorter than a tar header
	} else if err != nil {
		return false, err
	}
	return isTarHeader(block[:]), nil
}

// isTarHeader reports whether block is a tar header block, one whose
// checksum (the sum of its bytes, the checksum field counted as spaces, in
// octal) is right, or a zero block (an empty archive).
func isTarHeader(block []byte) bool {
	if len(block) != 512 {
		return false
	}
	var unsigned, signed int64
	zero := true
	for i, c := range block {
		if i >= 148 && i < 156 {
			c = ' '
		}
		zero = zero && block[i] == 0
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	if zero {
		return true
	}
	field := strings.Trim(string(block[148:156]), " \x00")
	sum, err := strconv.ParseInt(field, 8, 64)
	return err == nil && field != "" && (sum == unsigned || sum == signed)
}

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
