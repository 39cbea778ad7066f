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
	var (
		asJSON bool
		kind   string
	)
	cmd := &cobra.Command{
		Use:   "show BUNDLE|manifest.json",
		Short: "Print the manifest's leaves and root",
		Long: `Show prints every leaf of the manifest and its root, or with --kind only the
leaves of one kind. --kind output prints one row per derivation output: the .drv,
the output name, the store path, who established its NAR SHA-256 (kettle, nix-db, or
none when the output was not in the store) and the hash.`,
		Example: `  kettle manifest show hello.bundle
  kettle manifest show --kind output hello.bundle
  kettle manifest show --kind src --json hello.bundle`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if kind != "" {
				if _, err := provenance.ParseLeafKind(kind); err != nil {
					return usageError(fmt.Errorf("--kind: %w", err))
				}
			}
			m, err := loadManifest(args[0])
			if err != nil {
				return err
			}
			if kind == "" {
				return showManifest(cmd.OutOrStdout(), m, asJSON)
			}
			return showKind(cmd.OutOrStdout(), m, provenance.LeafKind(kind), asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print manifest.json (with --kind: the leaves of that kind as JSON)")
	cmd.Flags().StringVar(&kind, "kind", "", "only the leaves of this kind: source, flake-input, drv, src, fod, toolchain or output")
	return cmd
}

func showManifest(w io.Writer, m *provenance.Manifest, asJSON bool) error {
	if asJSON {
		data, err := m.Marshal()
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	for _, l := range m.Leaves {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "# version %d, %d leaves, RFC 9162 root %x\n", m.Version, len(m.Leaves), m.Root)
	return nil
}

// outputJSON is one output leaf in show --kind output --json.
type outputJSON struct {
	Leaf      string `json:"leaf"`
	Drv       string `json:"drv"`
	Output    string `json:"output"`
	Path      string `json:"path"`
	By        string `json:"by"`
	NarSHA256 string `json:"narSha256,omitempty"`
}

func showKind(w io.Writer, m *provenance.Manifest, kind provenance.LeafKind, asJSON bool) error {
	if kind == provenance.KindOutput && m.Version < provenance.ManifestV2 {
		return fmt.Errorf("manifest version %d has no output leaves (version %d has)", m.Version, provenance.ManifestV2)
	}
	prefix := string(kind) + ":"
	var leaves []string
	for _, l := range m.Leaves {
		if strings.HasPrefix(l, prefix) {
			leaves = append(leaves, l)
		}
	}
	var outputs []outputJSON
	if kind == provenance.KindOutput {
		outs, err := m.Outputs()
		if err != nil {
			return err
		}
		for _, o := range outs {
			row := outputJSON{Leaf: o.Leaf().String(), Drv: o.Drv, Output: o.Output, Path: o.Path, By: string(o.By)}
			if o.Realised() {
				row.NarSHA256 = hex.EncodeToString(o.NarSHA256[:])
			}
			outputs = append(outputs, row)
		}
	}
	if asJSON {
		out := struct {
			Version int          `json:"version"`
			Root    string       `json:"root"`
			Kind    string       `json:"kind"`
			Leaves  []string     `json:"leaves"`
			Outputs []outputJSON `json:"outputs,omitempty"`
		}{m.Version, hex.EncodeToString(m.Root[:]), string(kind), leaves, outputs}
		if out.Leaves == nil {
			out.Leaves = []string{}
		}
		return writeJSON(w, out)
	}
	if kind == provenance.KindOutput {
		for _, o := range outputs {
			hash := o.NarSHA256
			if hash == "" {
				hash = provenance.OutputAbsent
			}
			fmt.Fprintf(w, "%s!%s\t%s\tby=%s\t%s\n", o.Drv, o.Output, o.Path, o.By, hash)
		}
	} else {
		for _, l := range leaves {
			fmt.Fprintln(w, l)
		}
	}
	fmt.Fprintf(w, "# %d %s leaves of %d, version %d, RFC 9162 root %x\n", len(leaves), kind, len(m.Leaves), m.Version, m.Root)
	return nil
}

func newManifestProveCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "prove BUNDLE|manifest.json LEAF|DRV!OUTPUT|STOREPATH",
		Short: "Print an RFC 9162 inclusion proof of LEAF in the manifest",
		Long: `Prove prints the RFC 9162 inclusion proof of one leaf against the manifest root
that the provenance carries. The leaf is given whole, or (manifest version 2) as the
output it records: "<drv path>!<output name>" or the output's store path, which
name its output leaf.`,
		Example: `  kettle manifest prove hello.bundle 'src:/nix/store/…-builder.sh:5dc9…'
  kettle manifest prove --json hello.bundle /nix/store/…-hello.drv!out`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := loadManifest(args[0])
			if err != nil {
				return err
			}
			leaf, err := findLeaf(m, args[1])
			if err != nil {
				return err
			}
			idx, proof, err := m.Prove(leaf)
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
			}{leaf, idx, len(m.Leaves), hex.EncodeToString(m.Root[:]), hexes}
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

// findLeaf returns the leaf arg names: the leaf itself, or the output leaf of
// "<drv>!<output>" or of an output store path.
func findLeaf(m *provenance.Manifest, arg string) (string, error) {
	if _, ok := m.Index(arg); ok {
		return arg, nil
	}
	if strings.Count(arg, ":") >= 2 {
		return "", fmt.Errorf("leaf %q is not in the manifest", arg)
	}
	outs, err := m.Outputs()
	if err != nil {
		return "", err
	}
	for _, o := range outs {
		if o.ID() == arg || o.Path == arg {
			return o.Leaf().String(), nil
		}
	}
	if m.Version < provenance.ManifestV2 {
		return "", fmt.Errorf("%q is not a leaf of the manifest (version %d has no output leaves to name by path)", arg, m.Version)
	}
	return "", fmt.Errorf("%q is neither a leaf of the manifest nor the drv!output or store path of an output leaf", arg)
}
