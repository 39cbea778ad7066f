package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kettle-build/kettle/nixcache"
	"github.com/kettle-build/kettle/nixcache/attested"
	"github.com/kettle-build/kettle/nixinputs"
)

func newCacheCommand(driver func() *nixinputs.Driver) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Export bundles' store paths to a signed Nix binary cache, and verify such a cache",
		Args:  cobra.ArbitraryArgs,
		RunE:  requireSubcommand,
	}
	cmd.AddCommand(newCacheExportCommand(driver), newCacheVerifyCommand())
	return cmd
}

func newCacheExportCommand(driver func() *nixinputs.Driver) *cobra.Command {
	var (
		vf                                verifyFlags
		to, keyFile, compression          string
		useStore, allowUnverified, asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "export BUNDLE… --to DIR --key FILE",
		Short: "Write the store paths that bundles attest to a signed Nix binary cache",
		Long: `Export verifies each bundle (with the options of kettle verify) and writes to DIR a Nix
binary cache (nix-cache-info, <hash>.narinfo, nar/*.nar.xz or .nar.zst) of every subject
of every bundle and the closure of their references. Every narinfo is signed with the
key and names, in its Kettle-Bundle field, the bundle that attests its NAR hash; that
bundle is copied into DIR as kettle/bundles/<SHA-256 of its provenance.json>.tar.

NARs come from the bundles' artifacts/, and with --store from the local Nix store for
the paths a bundle attests but does not carry (re-hashed and checked against the
bundle). References come from the local store's database with --store, else from a
scan of the NAR for the paths the bundles attest. A reference no bundle attests is
refused, so that nix copy of any path of the cache finds its closure there.

A bundle that does not verify is refused unless --allow-unverified is given, and then
every line of the output says UNVERIFIED. A new DIR appears only when complete; paths
added to an existing DIR are removed again if the export fails. A path the cache has
with another NAR is refused.`,
		Example: `  nix key generate-secret --key-name cache.example-1 > key.sec
  kettle cache export --allow-simulated --to ./cache --key key.sec hello.bundle
  nix copy --from file://$PWD/cache --option trusted-public-keys "$(nix key convert-secret-to-public < key.sec)" /nix/store/…-hello`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usageError(errors.New("--to: the cache directory to write is required"))
			}
			if keyFile == "" {
				return usageError(errors.New("--key: the signing key file is required (`nix key generate-secret --key-name NAME` writes one)"))
			}
			if compression != nixcache.CompressionXZ && compression != nixcache.CompressionZstd {
				return usageError(fmt.Errorf("--compression %q: want %s or %s", compression, nixcache.CompressionXZ, nixcache.CompressionZstd))
			}
			key, err := nixcache.ReadSecretKeyFile(keyFile)
			if err != nil {
				return usageError(fmt.Errorf("--key: %w", err))
			}
			vopts, err := vf.options()
			if err != nil {
				return err
			}
			opts := attested.ExportOptions{
				Bundles: args, Dir: to, Key: &key, Compression: compression,
				Verify: vopts, AllowUnverified: allowUnverified,
			}
			if useStore {
				opts.Store = localStore{driver(), storeHasher{}}
			}
			rep, err := attested.Export(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			printExport(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	f := cmd.Flags()
	vf.register(f)
	f.StringVar(&to, "to", "", "the cache `DIR`: created if it does not exist, else added to")
	f.StringVar(&keyFile, "key", "", "the signing key `FILE`, as nix key generate-secret writes it (NAME:base64 of the 64-byte Ed25519 key)")
	f.StringVar(&compression, "compression", nixcache.CompressionXZ, "of the NAR files: xz (every Nix reads it) or zstd")
	f.BoolVar(&useStore, "store", false, "take the paths the bundles attest but do not carry, and every path's references, from the local Nix store")
	f.BoolVar(&allowUnverified, "allow-unverified", false, "export the paths of bundles that do not verify (every output says UNVERIFIED)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// localStore is the local Nix store for --store: its database through nix,
// and Kettle's NAR hasher.
type localStore struct {
	*nixinputs.Driver
	storeHasher
}

func printExport(w io.Writer, r *attested.ExportReport) {
	created := "added to"
	if r.Created {
		created = "created"
	}
	fmt.Fprintf(w, "cache  %s (%s)\n", r.Cache, created)
	unverified := 0
	for _, b := range r.Bundles {
		file := b.File
		if file == "" {
			file = "(names no path written)"
		}
		mark := ""
		if !b.Verified {
			mark = "UNVERIFIED "
		}
		fmt.Fprintf(w, "bundle %s%s -> %s\n", mark, b.Bundle, file)
		printVerdict(w, b.Report.NotChecked, b.Verdict)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STORE PATH\tATTESTED BY\tNAR FROM\tREFERENCES FROM\tNAR FILE")
	for _, p := range r.Paths {
		by := p.AttestedAs + " of " + p.Bundle
		if p.From == attested.FromCache {
			by = p.BundleFile
		}
		if !p.BundleVerified && p.From != attested.FromCache {
			by = "UNVERIFIED " + by
			unverified++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.StorePath, by, p.From, p.ReferencesFrom, p.URL)
	}
	tw.Flush()
	for _, wn := range r.Warnings {
		fmt.Fprintf(w, "WARN %s\n", wn)
	}
	fmt.Fprintf(w, "\n%d path(s) in %s", len(r.Paths), r.Cache)
	if unverified > 0 {
		fmt.Fprintf(w, " — %d of them UNVERIFIED: their bundles do not verify (--allow-unverified)", unverified)
	}
	fmt.Fprintln(w)
}

func newCacheVerifyCommand() *cobra.Command {
	var (
		vf      verifyFlags
		pubkeys []string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "verify DIR --pubkey KEY…",
		Short: "Verify a binary cache that kettle cache export wrote, path by path",
		Long: `Verify checks that every file of DIR is one a Kettle cache has (nix-cache-info,
<hash>.narinfo, nar/*, kettle/bundles/*.tar): an unknown, truncated or unnamed file fails.
Of every narinfo it checks the signature with the given keys (a content-addressed path may
be unsigned, as Nix accepts it), the FileHash and FileSize of its NAR file and the NarHash
and NarSize of the NAR in it, recomputed; that the bundle its Kettle-Bundle field names
verifies (with the options of kettle verify, its subjects checked against the cache's NARs)
and attests the path with that NAR hash and size; and that its references are in the cache.
It reports every path, and exits non-zero if any check fails.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(pubkeys) == 0 {
				return usageError(errors.New("--pubkey: at least one trusted public key is required"))
			}
			var opts attested.VerifyOptions
			for _, v := range pubkeys {
				k, err := readPublicKey(v)
				if err != nil {
					return usageError(fmt.Errorf("--pubkey: %w", err))
				}
				opts.Keys = append(opts.Keys, k)
			}
			var err error
			if opts.Verify, err = vf.options(); err != nil {
				return err
			}
			rep, err := attested.Verify(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			if asJSON {
				if err := writeJSON(cmd.OutOrStdout(), rep); err != nil {
					return err
				}
			} else {
				printCacheVerify(cmd.OutOrStdout(), rep)
			}
			if !rep.OK {
				return &exitError{1, errSilent}
			}
			return nil
		},
	}
	f := cmd.Flags()
	vf.register(f)
	f.StringArrayVar(&pubkeys, "pubkey", nil, "a trusted public key: `KEY` is NAME:base64 as trusted-public-keys lists it, or a file holding one (repeatable)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// readPublicKey reads --pubkey: the key itself, or a file that holds it.
func readPublicKey(v string) (nixcache.PublicKey, error) {
	k, err := nixcache.ParsePublicKey(v)
	if err == nil {
		return k, nil
	}
	if _, statErr := os.Stat(v); errors.Is(statErr, fs.ErrNotExist) {
		return k, fmt.Errorf("neither a public key nor a file: %w", err)
	}
	return nixcache.ReadPublicKeyFile(v)
}

// printVerdict prints a bundle's verdict under its line, after the checks
// it did not make, which the verdict counts.
func printVerdict(w io.Writer, notChecked []string, verdict string) {
	for _, n := range notChecked {
		fmt.Fprintf(w, "       not checked: %s\n", n)
	}
	fmt.Fprintf(w, "       %s\n", verdict)
}

func printCacheVerify(w io.Writer, r *attested.VerifyReport) {
	for _, b := range r.Bundles {
		result := "OK"
		if !b.OK {
			result = "FAIL"
		}
		fmt.Fprintf(w, "bundle %s %s\n", result, b.File)
		var notChecked []string
		if b.Report != nil {
			notChecked = b.Report.NotChecked
		}
		printVerdict(w, notChecked, b.Verdict)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STORE PATH\tRESULT\tDETAIL")
	failed := 0
	for _, p := range r.Paths {
		name := p.StorePath
		if name == "" {
			name = p.NarInfo
		}
		if !p.OK {
			failed++
			fmt.Fprintf(tw, "%s\tFAIL\t%s\n", name, p.Error)
			continue
		}
		signed := "content-addressed, unsigned"
		if p.SignedBy != "" {
			signed = "signed by " + p.SignedBy
		}
		fmt.Fprintf(tw, "%s\tOK\t%s; %s of %s\n", name, signed, p.AttestedAs, p.Bundle)
	}
	tw.Flush()
	for _, e := range r.Errors {
		fmt.Fprintf(w, "FAIL %s\n", e)
	}
	if r.OK {
		fmt.Fprintf(w, "\n%s: VERIFIED: %d path(s), %d bundle(s)\n", r.Cache, len(r.Paths), len(r.Bundles))
		return
	}
	var parts []string
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d path(s) fail", failed, len(r.Paths)))
	}
	if len(r.Errors) > 0 {
		parts = append(parts, fmt.Sprintf("%d problem(s) with the files of the directory", len(r.Errors)))
	}
	if len(parts) == 0 {
		parts = append(parts, "a bundle fails")
	}
	fmt.Fprintf(w, "\n%s: FAILED: %s\n", r.Cache, strings.Join(parts, ", "))
}
