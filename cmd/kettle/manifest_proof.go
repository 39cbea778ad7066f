package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/provenance"
	"github.com/kettle-build/kettle/provenance/leafproof"
)

func newManifestCheckProofCommand() *cobra.Command {
	var (
		proofJSON       string
		index, treeSize uint64
		asJSON          bool
	)
	cmd := &cobra.Command{
		Use:   "check-proof ROOT LEAF PROOF --index I --tree-size N | check-proof ROOT [LEAF] --proof-json FILE|-",
		Short: "Check an RFC 9162 inclusion proof of a manifest leaf offline, with only the root",
		Long: `check-proof checks that LEAF is leaf I of the manifest of N leaves whose RFC 9162 root
is ROOT (64 hex digits), from the audit path alone: no bundle and no other leaf is needed.

PROOF is the audit path that 'kettle manifest prove' prints as path[0], path[1], …,
in that order, separated by commas ('' for a manifest of one leaf); --index and
--tree-size are its "index" and "tree size". Or --proof-json reads the output of
'kettle manifest prove --json' from FILE, or from standard input for '-'; LEAF may then
be left out (the proof's own is checked), and --index and --tree-size, when given,
must equal the proof's. The root checked against is always ROOT, never the proof's.

A root does not commit to the size of its tree: N must be the manifest leaf count
that the attested provenance signs with ROOT (internalParameters), or the proof
proves less than it seems. Exit status 0 when the proof holds, 1 when it is refused
(the reason is printed), 2 on a usage error (a malformed ROOT, PROOF or flag).`,
		Args: cobra.RangeArgs(1, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := leafproof.ParseHash(args[0])
			if err != nil {
				return usageError(fmt.Errorf("ROOT: %w", err))
			}
			f := cmd.Flags()
			var p *leafproof.Proof
			if proofJSON == "" {
				if len(args) != 3 || !f.Changed("index") || !f.Changed("tree-size") {
					return usageError(errors.New("want ROOT LEAF PROOF with --index and --tree-size, or ROOT [LEAF] with --proof-json"))
				}
				path, err := leafproof.ParseAuditPath(args[2])
				if err != nil {
					return usageError(fmt.Errorf("PROOF: %w", err))
				}
				p = &leafproof.Proof{Leaf: args[1], Index: index, TreeSize: treeSize, Root: root, AuditPath: path}
			} else {
				if len(args) == 3 {
					return usageError(errors.New("--proof-json: the proof's audit path is in the JSON; give ROOT [LEAF] only"))
				}
				if p, err = readProofJSON(cmd.InOrStdin(), proofJSON); err != nil {
					return err
				}
				if err := matchProof(p, root, args[1:], f.Changed("index"), index, f.Changed("tree-size"), treeSize); err != nil {
					return reportProof(cmd.OutOrStdout(), asJSON, p, root, err)
				}
			}
			return reportProof(cmd.OutOrStdout(), asJSON, p, root, leafproof.Check(root, p))
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&index, "index", 0, "the leaf's index in the manifest (0-based), as 'manifest prove' prints it")
	f.Uint64Var(&treeSize, "tree-size", 0, "the manifest's leaf count, as the attested provenance signs it")
	f.StringVar(&proofJSON, "proof-json", "", "read the proof from the output of 'manifest prove --json' in this file ('-': standard input)")
	f.BoolVar(&asJSON, "json", false, "print the verdict as JSON")
	return cmd
}

// readProofJSON reads and decodes a proof from a file or, for "-", from
// stdin, at most leafproof.MaxJSONSize bytes.
func readProofJSON(stdin io.Reader, name string) (*leafproof.Proof, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, leafproof.MaxJSONSize+1))
		if err == nil && len(data) > leafproof.MaxJSONSize {
			err = fmt.Errorf("more than %d bytes", leafproof.MaxJSONSize)
		}
		name = "standard input"
	} else {
		data, err = inputfile.Read(name, leafproof.MaxJSONSize)
	}
	if err != nil {
		return nil, fmt.Errorf("--proof-json %s: %w", name, err)
	}
	p, err := leafproof.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("--proof-json %s: %w", name, err)
	}
	return p, nil
}

// matchProof checks that a proof read from JSON is about what the command
// line names: the root, the leaf and, when given, the index and size.
func matchProof(p *leafproof.Proof, root [32]byte, leaf []string, hasIndex bool, index uint64, hasSize bool, size uint64) error {
	switch {
	case p.Root != root:
		return fmt.Errorf("the proof is for root %x, not ROOT %x", p.Root, root)
	case len(leaf) == 1 && p.Leaf != leaf[0]:
		return fmt.Errorf("the proof is of leaf %q, not LEAF %q", p.Leaf, leaf[0])
	case hasIndex && p.Index != index:
		return fmt.Errorf("the proof is of index %d, not --index %d", p.Index, index)
	case hasSize && p.TreeSize != size:
		return fmt.Errorf("the proof is for a tree of %d leaves, not --tree-size %d", p.TreeSize, size)
	}
	return nil
}

// reportProof prints the verdict on p; a refused proof exits 1.
func reportProof(w io.Writer, asJSON bool, p *leafproof.Proof, root [32]byte, checkErr error) error {
	kind := ""
	if l, err := provenance.ParseLeaf(p.Leaf); err == nil {
		kind = string(l.Kind)
	}
	if asJSON {
		out := struct {
			OK       bool   `json:"ok"`
			Leaf     string `json:"leaf"`
			Kind     string `json:"kind,omitempty"`
			Index    uint64 `json:"index"`
			TreeSize uint64 `json:"treeSize"`
			Root     string `json:"root"`
			Error    string `json:"error,omitempty"`
		}{checkErr == nil, p.Leaf, kind, p.Index, p.TreeSize, hex.EncodeToString(root[:]), ""}
		if checkErr != nil {
			out.Error = checkErr.Error()
		}
		if err := writeJSON(w, out); err != nil {
			return err
		}
		if checkErr != nil {
			return &exitError{1, errSilent}
		}
		return nil
	}
	if checkErr != nil {
		return &exitError{1, fmt.Errorf("proof refused: %w", checkErr)}
	}
	fmt.Fprintf(w, "OK: %s\n    is leaf %d of the manifest of %d leaves with RFC 9162 root %x\n", p.Leaf, p.Index, p.TreeSize, root)
	fmt.Fprintf(w, "    (a root does not commit to its size: %d must be the leaf count the attested provenance signs)\n", p.TreeSize)
	return nil
}
