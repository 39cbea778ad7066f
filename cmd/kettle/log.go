package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"k8s.io/klog/v2"

	"github.com/kettle-build/kettle/internal/atomicfile"
	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/tlog"
	"github.com/kettle-build/kettle/verify"
)

func newLogCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "log",
		Short: "A transparency log of bundles: append, prove inclusion and consistency, verify",
		Long: `A local append-only log of bundles, on tessera's POSIX storage in the C2SP tlog-tiles
layout, signed with a signed-note key (C2SP checkpoints). Each entry records one bundle
(its provenance and archive SHA-256, manifest root, platform, subjects and whether it
verified); the log keeps a copy of each bundle as DIR/bundles/<provenance-sha256>.tar.
Inclusion proofs are C2SP tlog-proofs; consistency proofs the C2SP tlog-witness
"old N" form. Anyone with the verifier key can check them and the whole log.`,
		Args: cobra.ArbitraryArgs,
		RunE: requireSubcommand,
		PersistentPreRun: func(*cobra.Command, []string) {
			// tessera logs its progress through klog; errors reach the
			// commands as values.
			klog.SetLogger(logr.Discard())
		},
	}
	cmd.AddCommand(
		newLogKeygenCommand(),
		newLogInitCommand(),
		newLogAppendCommand(),
		newLogListCommand(),
		newLogProveCommand(),
		newLogConsistencyCommand(),
		newLogVerifyCommand(),
		newLogCheckProofCommand(),
	)
	return cmd
}

func newLogKeygenCommand() *cobra.Command {
	var out string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "keygen NAME -o FILE",
		Short: "Make a log's signing key: FILE (private, mode 0600) and FILE.pub (the verifier key)",
		Long: `Keygen makes an Ed25519 key pair in the signed-note encodings: FILE holds
PRIVATE+KEY+NAME+<hash>+<key>, FILE.pub the verifier key NAME+<hash>+<key>, which
readers of the log need. NAME is the origin line of the log's checkpoints, such as
example.org/kettle-log. Neither file may exist, and FILE may not be inside a log.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageError(errors.New("-o FILE is required: where to write the private key"))
			}
			if err := tlog.CheckKeyName(args[0]); err != nil {
				return usageError(err)
			}
			vkey, err := tlog.WriteKeyPair(out, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"name": args[0], "key": out, "pub": out + ".pub", "vkey": vkey})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "private key %s (keep it secret)\nverifier key %s.pub:\n%s\n", out, out, vkey)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "the private key file to write (the verifier key goes to FILE.pub)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// readKey reads --key, a private key file; a bad one is a usage error.
func readKey(path string) (*tlog.SigningKey, error) {
	if path == "" {
		return nil, usageError(errors.New("--key FILE is required: the log's private key (kettle log keygen makes one)"))
	}
	k, err := tlog.ReadSignerFile(path)
	if err != nil {
		return nil, usageError(fmt.Errorf("--key: %w", err))
	}
	return k, nil
}

// readPubkey reads --pubkey, a verifier key or a file holding one.
func readPubkey(keyOrFile string) (note.Verifier, error) {
	if keyOrFile == "" {
		return nil, usageError(errors.New("--pubkey KEY is required: the log's verifier key, or a file holding it"))
	}
	v, err := tlog.ReadVerifier(keyOrFile)
	if err != nil {
		return nil, usageError(fmt.Errorf("--pubkey: %w", err))
	}
	return v, nil
}

// readCheckpointFile reads --old-checkpoint.
func readCheckpointFile(path string) ([]byte, error) {
	data, err := inputfile.Read(path, tlog.MaxCheckpointSize)
	if err != nil {
		return nil, usageError(fmt.Errorf("--old-checkpoint: %w", err))
	}
	return data, nil
}

func newLogInitCommand() *cobra.Command {
	var keyFile string
	cmd := &cobra.Command{
		Use:   "init DIR --key FILE",
		Short: "Create an empty log signed with the key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := readKey(keyFile)
			if err != nil {
				return err
			}
			if err := tlog.Init(cmd.Context(), args[0], key); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "log %s: empty, origin %s\nverifier key %s\n", args[0], key.Signer.Name(), key.VKey)
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "the log's private key file (mode 0600)")
	return cmd
}

func newLogAppendCommand() *cobra.Command {
	var (
		vf              verifyFlags
		keyFile         string
		allowUnverified bool
		useStore        bool
		asJSON          bool
	)
	cmd := &cobra.Command{
		Use:   "append DIR BUNDLE... --key FILE",
		Short: "Verify bundles and append them to the log",
		Long: `Append copies each bundle into the log (a directory bundle as a tar archive), verifies
the copy as kettle verify does with the same flags, and appends an entry for it. A
bundle that does not verify is refused, and nothing is appended, unless
--allow-unverified: then its entry says "verified no: <reason>". A bundle whose
provenance is in the log already is not appended again: the same bundle prints its
index, another bundle with that provenance is refused. The log is verified first
(without re-hashing its stored bundles), and a log with a broken or unknown file is
not appended to. Append prints each bundle's index and the new checkpoint, which a
reader saves to check later that the log never rewrote its history.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := readKey(keyFile)
			if err != nil {
				return err
			}
			vopts, err := vf.options()
			if err != nil {
				return err
			}
			if useStore {
				vopts.Store = storeHasher{}
			}
			ctx := cmd.Context()
			l, err := tlog.Open(ctx, args[0], key)
			if err != nil {
				return err
			}
			defer l.Close(ctx)
			var items []tlog.Item
			for _, b := range args[1:] {
				s, err := l.Stage(b)
				if err != nil {
					return err
				}
				defer s.Discard()
				opts := vopts
				opts.Bundle = s.Path()
				rep := verify.Verify(ctx, opts)
				items = append(items, tlog.Item{Bundle: s, Verdict: verdictOf(rep)})
			}
			out, err := l.Append(ctx, items, tlog.AppendOptions{AllowUnverified: allowUnverified})
			if err != nil {
				return err
			}
			if err := l.Close(ctx); err != nil {
				return err
			}
			return printAppended(cmd.OutOrStdout(), args[1:], out, l, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyFile, "key", "", "the log's private key file (mode 0600)")
	f.BoolVar(&allowUnverified, "allow-unverified", false, `log a bundle that does not verify; its entry says "verified no: <reason>"`)
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&useStore, "store", false, "re-hash the subjects from the local Nix store instead of artifacts/")
	vf.register(f)
	return cmd
}

// verdictOf is a verification report as a log entry records it.
func verdictOf(rep *verify.Report) tlog.Verdict {
	if rep.OK {
		return tlog.Verdict{OK: true}
	}
	reason := "FAILED at " + string(rep.Failed)
	for _, s := range rep.Steps {
		if s.Step == rep.Failed {
			reason += ": " + s.Detail
		}
	}
	return tlog.Verdict{Reason: reason}
}

func printAppended(w io.Writer, bundles []string, out []tlog.Appended, l *tlog.Log, asJSON bool) error {
	if asJSON {
		type entryJSON struct {
			Bundle           string `json:"bundle"`
			Index            uint64 `json:"index"`
			Duplicate        bool   `json:"duplicate"`
			ProvenanceSHA256 string `json:"provenanceSHA256"`
			BundleSHA256     string `json:"bundleSHA256"`
			Verified         bool   `json:"verified"`
			Reason           string `json:"reason,omitempty"`
		}
		var entries []entryJSON
		for i, a := range out {
			entries = append(entries, entryJSON{bundles[i], a.Index, a.Duplicate, hex.EncodeToString(a.ProvenanceSHA256[:]), hex.EncodeToString(a.BundleSHA256[:]), a.Verified, a.Reason})
		}
		return writeJSON(w, struct {
			Entries    []entryJSON `json:"entries"`
			Size       uint64      `json:"size"`
			Checkpoint string      `json:"checkpoint"`
		}{entries, l.Size(), string(l.Checkpoint())})
	}
	for i, a := range out {
		switch {
		case a.Duplicate:
			fmt.Fprintf(w, "%s: in the log already, index %d\n", bundles[i], a.Index)
		case a.Verified:
			fmt.Fprintf(w, "%s: appended, index %d (verified)\n", bundles[i], a.Index)
		default:
			fmt.Fprintf(w, "%s: appended, index %d, UNVERIFIED: %s\n", bundles[i], a.Index, a.Reason)
		}
	}
	fmt.Fprintf(w, "\ncheckpoint (%d entries):\n%s", l.Size(), l.Checkpoint())
	return nil
}

func newLogListCommand() *cobra.Command {
	var pubkey string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list DIR [--pubkey KEY]",
		Short: "Verify the log and list its entries",
		Long: `List verifies the whole log, as log verify does, and prints its entries. Without
--pubkey it checks the checkpoint with the key the log names itself (log.vkey), which
shows the log intact, not that it is the log you trust.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var entries []tlog.Entry
			if pubkey != "" {
				v, err := readPubkey(pubkey)
				if err != nil {
					return err
				}
				res, err := tlog.Verify(cmd.Context(), args[0], tlog.VerifyOptions{Verifier: v})
				if err != nil {
					return err
				}
				entries = res.Entries
			} else {
				var err error
				if entries, err = tlog.Entries(args[0]); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			if asJSON {
				out := make([]entryJSON, len(entries))
				for i := range entries {
					out[i] = toEntryJSON(&entries[i])
				}
				return writeJSON(w, out)
			}
			for _, e := range entries {
				status := "verified"
				if !e.Verified {
					status = "UNVERIFIED: " + e.Reason
				}
				fmt.Fprintf(w, "%d\t%x\t%s\t%s\n", e.Index, e.ProvenanceSHA256, e.Platform, status)
				for _, s := range e.Subjects {
					fmt.Fprintf(w, "\t%s %x\n", s.Name, s.SHA256)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&pubkey, "pubkey", "", "the log's verifier key, or a file holding it")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// entryJSON is a log entry as --json prints it.
type entryJSON struct {
	Index            uint64        `json:"index"`
	ProvenanceSHA256 string        `json:"provenanceSHA256"`
	BundleSHA256     string        `json:"bundleSHA256"`
	ManifestRoot     string        `json:"manifestRoot"`
	Platform         string        `json:"platform"`
	Verified         bool          `json:"verified"`
	Reason           string        `json:"reason,omitempty"`
	Subjects         []subjectJSON `json:"subjects"`
	Bundle           string        `json:"bundle,omitempty"`
}

type subjectJSON struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

func toEntryJSON(e *tlog.Entry) entryJSON {
	root := tlog.Unknown
	if e.ManifestRoot != nil {
		root = hex.EncodeToString(e.ManifestRoot[:])
	}
	subjects := []subjectJSON{}
	for _, s := range e.Subjects {
		subjects = append(subjects, subjectJSON{s.Name, hex.EncodeToString(s.SHA256[:])})
	}
	return entryJSON{e.Index, hex.EncodeToString(e.ProvenanceSHA256[:]), hex.EncodeToString(e.BundleSHA256[:]), root, e.Platform, e.Verified, e.Reason, subjects, e.BundlePath}
}

func newLogProveCommand() *cobra.Command {
	var out string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "prove DIR BUNDLE|PROVENANCE-SHA256 [-o FILE]",
		Short: "Print the inclusion proof of a bundle's entry in the log's checkpoint (a C2SP tlog-proof)",
		Long: `Prove finds the entry of a bundle (or of the provenance.json with that SHA-256) and
prints its RFC 9162 inclusion proof in the log's current checkpoint as a C2SP
tlog-proof (c2sp.org/tlog-proof@v1), whose extra line is the entry itself. kettle log
check-proof checks one with the log's verifier key alone. Given a bundle, its entry
must record that bundle's archive SHA-256.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			digest, bundleSHA, err := bundleOrDigest(args[1])
			if err != nil {
				return err
			}
			e, err := tlog.Find(ctx, args[0], digest)
			if err != nil {
				return err
			}
			if bundleSHA != nil && *bundleSHA != e.BundleSHA256 {
				return fmt.Errorf("%s: its provenance is logged at index %d, but with another bundle (SHA-256 %x, this one's is %x)", args[1], e.Index, e.BundleSHA256, *bundleSHA)
			}
			p, err := tlog.Prove(ctx, args[0], e.Index)
			if err != nil {
				return err
			}
			text := p.Marshal()
			if out != "" {
				if err := atomicfile.Write(out, text, 0o644); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(w, inclusionJSON(p, e))
			}
			if out == "" {
				_, err = w.Write(text)
				return err
			}
			fmt.Fprintf(w, "%s: entry %d, proof written to %s\n", args[1], e.Index, out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the tlog-proof to FILE (.tlog-proof)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (with the tlog-proof text in \"tlogProof\")")
	return cmd
}

// bundleOrDigest reads a PROVENANCE-SHA256 argument, or the bundle it
// names: its provenance's SHA-256 and its archive's.
func bundleOrDigest(arg string) ([32]byte, *[32]byte, error) {
	var d [32]byte
	if len(arg) == 64 {
		if _, err := hex.Decode(d[:], []byte(strings.ToLower(arg))); err == nil {
			return d, nil, nil
		}
	}
	prov, archive, err := tlog.BundleDigests(arg)
	if err != nil {
		return d, nil, fmt.Errorf("%s: neither a provenance SHA-256 (64 hex digits) nor a bundle: %w", arg, err)
	}
	return prov, &archive, nil
}

func inclusionJSON(p *tlog.InclusionProof, e *tlog.Entry) any {
	path := make([]string, len(p.Hashes))
	for i, h := range p.Hashes {
		path[i] = hex.EncodeToString(h)
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(p.Entry)
	return struct {
		Index      uint64    `json:"index"`
		Entry      string    `json:"entry"`
		Parsed     entryJSON `json:"parsed"`
		LeafHash   string    `json:"leafHash"`
		AuditPath  []string  `json:"auditPath"`
		Checkpoint string    `json:"checkpoint"`
		TlogProof  string    `json:"tlogProof"`
	}{p.Index, string(p.Entry), toEntryJSON(e), hex.EncodeToString(leaf), path, string(p.Checkpoint), string(p.Marshal())}
}

func newLogConsistencyCommand() *cobra.Command {
	var oldFile, out string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "consistency DIR (OLDSIZE | --old-checkpoint FILE) [-o FILE]",
		Short: "Print the proof that the log's checkpoint extends an older tree of it",
		Long: `Consistency prints the RFC 9162 consistency proof from the log's tree of OLDSIZE
entries, or of the checkpoint saved in FILE, to its current checkpoint, in the form a
C2SP tlog-witness add-checkpoint request carries ("old N", the proof, an empty line,
the checkpoint). With --old-checkpoint the proof must tie the saved root to the
current one: a log that rewrote its history since fails here. kettle log check-proof
checks a saved proof against the old checkpoint and the verifier key.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var oldSize uint64
			var oldCP []byte
			switch {
			case len(args) == 2 && oldFile != "":
				return usageError(errors.New("give OLDSIZE or --old-checkpoint, not both"))
			case len(args) == 2:
				n, err := strconv.ParseUint(args[1], 10, 64)
				if err != nil {
					return usageError(fmt.Errorf("OLDSIZE %q: not a number of entries", args[1]))
				}
				oldSize = n
			case oldFile != "":
				var err error
				if oldCP, err = readCheckpointFile(oldFile); err != nil {
					return err
				}
			default:
				return usageError(errors.New("give OLDSIZE or --old-checkpoint FILE"))
			}
			p, oldRoot, err := tlog.Consistency(cmd.Context(), args[0], oldSize, oldCP)
			if err != nil {
				return err
			}
			text := p.Marshal()
			if out != "" {
				if err := atomicfile.Write(out, text, 0o644); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			if asJSON {
				path := make([]string, len(p.Hashes))
				for i, h := range p.Hashes {
					path[i] = hex.EncodeToString(h)
				}
				return writeJSON(w, struct {
					OldSize     uint64   `json:"oldSize"`
					OldRoot     string   `json:"oldRoot"`
					OldRootFrom string   `json:"oldRootFrom"`
					Proof       []string `json:"proof"`
					Checkpoint  string   `json:"checkpoint"`
					Text        string   `json:"text"`
				}{p.OldSize, hex.EncodeToString(oldRoot), oldRootFrom(oldCP), path, string(p.Checkpoint), string(text)})
			}
			if out == "" {
				_, err = w.Write(text)
				return err
			}
			fmt.Fprintf(w, "consistency from %d entries (root from %s) written to %s\n", p.OldSize, oldRootFrom(oldCP), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&oldFile, "old-checkpoint", "", "a checkpoint of this log saved earlier")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the proof to FILE")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func oldRootFrom(oldCP []byte) string {
	if oldCP != nil {
		return "the old checkpoint"
	}
	return "the log's tiles"
}

func newLogVerifyCommand() *cobra.Command {
	var pubkey, oldFile string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify DIR --pubkey KEY [--old-checkpoint FILE]",
		Short: "Verify the whole log: checkpoint, tiles, entries, stored bundles",
		Long: `Verify checks the log directory as a whole: the checkpoint is signed by KEY (a
verifier key, or a file holding one) and commits to the tree the entries hash to;
every tile holds the hashes recomputed from the entries; every entry is well-formed;
every entry's bundle is stored with the SHA-256 it records; nothing else is in the
directory. With --old-checkpoint the log's first entries must still hash to the saved
checkpoint's root: the log did not rewrite its history. The first failure exits 1
and names the file.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := readPubkey(pubkey)
			if err != nil {
				return err
			}
			opts := tlog.VerifyOptions{Verifier: v}
			if oldFile != "" {
				if opts.OldCheckpoint, err = readCheckpointFile(oldFile); err != nil {
					return err
				}
			}
			res, err := tlog.Verify(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			unverified := 0
			for _, e := range res.Entries {
				if !e.Verified {
					unverified++
				}
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(w, struct {
					OK            bool   `json:"ok"`
					Size          uint64 `json:"size"`
					Root          string `json:"root"`
					Unverified    int    `json:"unverifiedEntries"`
					OldSize       *int64 `json:"oldSize,omitempty"`
					StalePartials int    `json:"stalePartials"`
					Checkpoint    string `json:"checkpoint"`
				}{true, res.Size, hex.EncodeToString(res.Root[:]), unverified, oldSizeJSON(opts, res), res.StalePartials, string(res.Checkpoint)})
			}
			fmt.Fprintf(w, "log %s: %d entries (%d logged as unverified), root %x, checkpoint signed by %s+%08x\n", args[0], res.Size, unverified, res.Root, v.Name(), v.KeyHash())
			if opts.OldCheckpoint != nil {
				fmt.Fprintf(w, "the first %d entries hash to the old checkpoint's root: no history rewritten\n", res.OldSize)
			}
			fmt.Fprintln(w, "VERIFIED")
			return nil
		},
	}
	cmd.Flags().StringVar(&pubkey, "pubkey", "", "the log's verifier key, or a file holding it")
	cmd.Flags().StringVar(&oldFile, "old-checkpoint", "", "a checkpoint of this log saved earlier")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func oldSizeJSON(opts tlog.VerifyOptions, res *tlog.VerifyResult) *int64 {
	if opts.OldCheckpoint == nil {
		return nil
	}
	n := int64(res.OldSize)
	return &n
}

func newLogCheckProofCommand() *cobra.Command {
	var pubkey, bundle, oldFile string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check-proof PROOF --pubkey KEY [--bundle BUNDLE | --old-checkpoint FILE]",
		Short: "Check a saved inclusion or consistency proof with the log's verifier key alone",
		Long: `Check-proof checks a proof that log prove or log consistency wrote, without the log.
An inclusion proof (a C2SP tlog-proof): its checkpoint is signed by KEY, its entry is
well-formed and the proof ties it to the checkpoint's root; with --bundle the entry
must record that bundle's provenance and archive SHA-256. A consistency proof needs
--old-checkpoint: both checkpoints signed by KEY and the proof tying the old root to
the new one.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := readPubkey(pubkey)
			if err != nil {
				return err
			}
			data, err := inputfile.Read(args[0], tlog.MaxProofSize)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if tlog.IsInclusionProof(data) {
				if oldFile != "" {
					return usageError(errors.New("--old-checkpoint is for a consistency proof; this is an inclusion proof"))
				}
				return checkInclusion(w, args[0], data, v, bundle, asJSON)
			}
			if bundle != "" {
				return usageError(errors.New("--bundle is for an inclusion proof; this is a consistency proof"))
			}
			if oldFile == "" {
				return usageError(errors.New("a consistency proof is checked against the old checkpoint: give --old-checkpoint FILE"))
			}
			oldCP, err := readCheckpointFile(oldFile)
			if err != nil {
				return err
			}
			p, err := tlog.ParseConsistencyProof(data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			old, cur, err := tlog.CheckConsistency(p, oldCP, v)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if asJSON {
				return writeJSON(w, map[string]any{"ok": true, "kind": "consistency", "oldSize": old.Size, "size": cur.Size})
			}
			fmt.Fprintf(w, "%s: the log's checkpoint of %d entries extends the old one of %d: no history rewritten\nVERIFIED\n", args[0], cur.Size, old.Size)
			return nil
		},
	}
	cmd.Flags().StringVar(&pubkey, "pubkey", "", "the log's verifier key, or a file holding it")
	cmd.Flags().StringVar(&bundle, "bundle", "", "the bundle the inclusion proof must be of")
	cmd.Flags().StringVar(&oldFile, "old-checkpoint", "", "the saved checkpoint a consistency proof starts from")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func checkInclusion(w io.Writer, name string, data []byte, v note.Verifier, bundle string, asJSON bool) error {
	p, err := tlog.ParseInclusionProof(data)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	e, cp, err := tlog.CheckInclusion(p, v)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if bundle != "" {
		prov, archive, err := tlog.BundleDigests(bundle)
		if err != nil {
			return err
		}
		if prov != e.ProvenanceSHA256 || archive != e.BundleSHA256 {
			return fmt.Errorf("%s: the proof's entry is of another bundle: it records provenance %x and archive %x, %s has %x and %x", name, e.ProvenanceSHA256, e.BundleSHA256, bundle, prov, archive)
		}
	}
	if asJSON {
		return writeJSON(w, map[string]any{"ok": true, "kind": "inclusion", "index": e.Index, "size": cp.Size, "entry": toEntryJSON(e)})
	}
	status := "verified when it was appended"
	if !e.Verified {
		status = "logged UNVERIFIED: " + e.Reason
	}
	fmt.Fprintf(w, "%s: entry %d of the log's checkpoint of %d entries: provenance %x (%s, %s)\n", name, e.Index, cp.Size, e.ProvenanceSHA256, e.Platform, status)
	if bundle != "" {
		fmt.Fprintf(w, "%s is that bundle\n", bundle)
	}
	fmt.Fprintln(w, "VERIFIED")
	return nil
}
