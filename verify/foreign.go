package verify

// The foreign tool's bundle layout, lock files and input Merkle root follow
// its source, github.com/confidential-dot-ai/kettle at commit e6e991c
// (v1.1.x) and, for the older formats, adf3588 and 5735e31:
//   - src/commands/verify.rs (Build::from_dir, verify_nonce,
//     compare_checksum): provenance.json and evidence.json, subjects'
//     files at the top level or in artifacts/;
//   - src/provenance.rs (Provenance::verify_artifacts, checksum): a
//     subject's sha256 is the hex SHA-256 of the file's raw bytes;
//   - src/toolchain/runner.rs (run, compute_merkle_root): lockfileHash is
//     the SHA-256 of the lock file's bytes; the input Merkle root is
//     rs_merkle's SHA-256 tree over the SHA-256 of each leaf string;
//   - src/toolchain/{cargo,nix,pnpm}.rs (lockfile_filename,
//     merkle_entries, provenance_fields): the lock file of each build type
//     and the leaves, each of which the provenance carries;
//   - src/toolchain/nix.rs (parse_flake_lock): flakeInputs are the root
//     inputs of flake.lock that have a locked narHash, sorted by name.
// Nothing of it is copied; the rules are restated here.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/provenance"
)

// MaxForeignFileSize bounds an artifact or lock file of a foreign bundle.
// Such a file is hashed as it is read, never held in memory whole.
const MaxForeignFileSize = 1 << 30

// The lock files the foreign tool's build types read, by build type.
const (
	LockCargo = "Cargo.lock"
	LockNix   = "flake.lock"
	LockPnpm  = "pnpm-lock.yaml"
)

// The foreign tool's build types.
const (
	foreignBuildCargo = "https://lunal.dev/kettle/cargo@v1"
	foreignBuildNix   = "https://lunal.dev/kettle/nix@v1"
	foreignBuildPnpm  = "https://lunal.dev/kettle/pnpm@v1"
)

// foreignMerkleByproduct names the runDetails byproduct that carries the
// input Merkle root.
const foreignMerkleByproduct = "input_merkle_root"

// foreignError is a fault of a bundle already recognised as the foreign
// tool's (its evidence is in that tool's shape): it is reported as it is,
// not replaced by the error of Kettle's layout.
type foreignError struct{ err error }

func (e *foreignError) Error() string { return e.err.Error() }
func (e *foreignError) Unwrap() error { return e.err }

func foreignErrorf(format string, args ...any) error {
	return &foreignError{fmt.Errorf(format, args...)}
}

// foreignFile is a file of a foreign bundle beyond its two JSON files.
type foreignFile struct {
	name string // base name
	rel  string // path in the bundle, e.g. "artifacts/kex"
	path string // path on disk
}

// foreignLayout is what a foreign bundle holds beyond provenance.json and
// evidence.json, found by listing the directory; no file of it has been read.
type foreignLayout struct {
	artifacts []foreignFile // artifacts/<name>, and top-level files a subject names
	lockFiles []foreignFile // Cargo.lock, flake.lock, pnpm-lock.yaml
	unknown   []string      // anything else, listed and never read
	// From the provenance, before the binding is checked: used only to
	// tell the files apart and to name the producer's version.
	producerVersion string
}

// foreignStatement is what verification reads of a foreign provenance.
type foreignStatement struct {
	Subject []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	Predicate struct {
		BuildDefinition struct {
			BuildType          string `json:"buildType"`
			ExternalParameters struct {
				Source struct {
					Digest struct {
						GitCommit *string `json:"gitCommit"`
						GitTree   *string `json:"gitTree"`
					} `json:"digest"`
				} `json:"source"`
			} `json:"externalParameters"`
			InternalParameters struct {
				LockfileHash map[string]string `json:"lockfileHash"`
				FlakeInputs  []struct {
					Name    string `json:"name"`
					NarHash string `json:"narHash"`
				} `json:"flakeInputs"`
				Toolchain map[string]struct {
					Digest  map[string]string `json:"digest"`
					Version *string           `json:"version"`
				} `json:"toolchain"`
			} `json:"internalParameters"`
			ResolvedDependencies []struct {
				Name   string            `json:"name"`
				URI    string            `json:"uri"`
				Digest map[string]string `json:"digest"`
			} `json:"resolvedDependencies"`
		} `json:"buildDefinition"`
		RunDetails struct {
			Byproducts []struct {
				Name   string            `json:"name"`
				Digest map[string]string `json:"digest"`
			} `json:"byproducts"`
		} `json:"runDetails"`
	} `json:"predicate"`
}

func decodeForeignStatement(data []byte) (*foreignStatement, error) {
	var st foreignStatement
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// lockFileFor returns the lock file the foreign tool reads for a build
// type, "" for a build type it does not have.
func lockFileFor(buildType string) string {
	switch buildType {
	case foreignBuildCargo:
		return LockCargo
	case foreignBuildNix:
		return LockNix
	case foreignBuildPnpm:
		return LockPnpm
	}
	return ""
}

func isLockFile(name string) bool {
	return name == LockCargo || name == LockNix || name == LockPnpm
}

// openForeignBundle opens dir as a bundle in the foreign tool's layout:
// provenance.json and evidence.json ({"platform":…,"evidence":{…}}), the
// built files raw in artifacts/ or at the top level, and perhaps the lock
// file the build read. It fails with a plain error unless the evidence is
// in the foreign tool's shape, so that a broken Kettle bundle keeps its own
// error; after that, its errors are *foreignError. Symbolic links are
// refused; files that are none of these are listed, never read.
func openForeignBundle(dir string) (*provenance.Bundle, *attest.Evidence, *Format, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	b := &provenance.Bundle{Path: dir}
	if b.Evidence, err = readJSONFile(dir, provenance.FileEvidence); err != nil {
		return nil, nil, nil, err
	}
	ev, err := attest.DecodeEvidence(b.Evidence)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", provenance.FileEvidence, err)
	}
	if !ev.Foreign {
		return nil, nil, nil, errors.New("not evidence in the foreign tool's shape")
	}
	if b.Provenance, err = readJSONFile(dir, provenance.FileProvenance); err != nil {
		return nil, nil, nil, &foreignError{err}
	}
	st, err := decodeForeignStatement(b.Provenance)
	if err != nil {
		return nil, nil, nil, foreignErrorf("%s: %w", provenance.FileProvenance, err)
	}
	layout, err := listForeignBundle(dir, entries, st)
	if err != nil {
		return nil, nil, nil, &foreignError{err}
	}
	if tc, ok := st.Predicate.BuildDefinition.InternalParameters.Toolchain["kettle"]; ok && tc.Version != nil {
		layout.producerVersion = *tc.Version
	}
	return b, ev, recogniseForeignFormat(b.Provenance, ev, layout), nil
}

// listForeignBundle sorts the directory's entries into the layout's roles
// without reading any of them.
func listForeignBundle(dir string, entries []os.DirEntry, st *foreignStatement) (*foreignLayout, error) {
	subjects := map[string]bool{}
	for _, s := range st.Subject {
		subjects[s.Name] = true
	}
	l := &foreignLayout{}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if n++; n > provenance.MaxArtifacts {
			return nil, fmt.Errorf("more than %d entries in the bundle", provenance.MaxArtifacts)
		}
		if e.Type()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("%s: a symbolic link; a bundle's files are refused as links", name)
		}
		switch {
		case name == provenance.FileProvenance || name == provenance.FileEvidence:
		case name == provenance.FileManifest:
			return nil, fmt.Errorf("%s: a Kettle bundle file beside evidence in the foreign tool's shape", name)
		case name == provenance.DirArtifacts && e.IsDir():
			arts, unknown, err := listForeignArtifacts(filepath.Join(dir, name))
			if err != nil {
				return nil, err
			}
			l.artifacts = append(l.artifacts, arts...)
			l.unknown = append(l.unknown, unknown...)
		case isLockFile(name) && e.Type().IsRegular():
			l.lockFiles = append(l.lockFiles, foreignFile{name, name, filepath.Join(dir, name)})
		case subjects[name] && e.Type().IsRegular():
			l.artifacts = append(l.artifacts, foreignFile{name, name, filepath.Join(dir, name)})
		case e.IsDir():
			l.unknown = append(l.unknown, name+"/")
		default:
			l.unknown = append(l.unknown, name)
		}
	}
	slices.Sort(l.unknown)
	return l, nil
}

// listForeignArtifacts lists artifacts/: its regular files are artifacts,
// whatever their names; anything else is unknown.
func listForeignArtifacts(dir string) (arts []foreignFile, unknown []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	if len(entries) > provenance.MaxArtifacts {
		return nil, nil, fmt.Errorf("%s/: more than %d entries", provenance.DirArtifacts, provenance.MaxArtifacts)
	}
	for _, e := range entries {
		rel := provenance.DirArtifacts + "/" + e.Name()
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			return nil, nil, fmt.Errorf("%s: a symbolic link; a bundle's files are refused as links", rel)
		case e.Type().IsRegular():
			arts = append(arts, foreignFile{e.Name(), rel, filepath.Join(dir, e.Name())})
		case e.IsDir():
			unknown = append(unknown, rel+"/")
		default:
			unknown = append(unknown, rel)
		}
	}
	return arts, unknown, nil
}

// readJSONFile reads dir/name: a regular file, opened once, at most
// provenance.MaxJSONFileSize bytes.
func readJSONFile(dir, name string) ([]byte, error) {
	return inputfile.Read(filepath.Join(dir, name), provenance.MaxJSONFileSize)
}

// hashFile returns the SHA-256 of the regular file at p, read once and
// streamed, refused above MaxForeignFileSize.
func hashFile(p string) ([32]byte, int64, error) {
	var sum [32]byte
	f, err := inputfile.Open(p, MaxForeignFileSize)
	if err != nil {
		return sum, 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return sum, n, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, n, nil
}

// hexSHA256 decodes a digest map's sha256 as the foreign tool writes it:
// 64 hex digits.
func hexSHA256(d map[string]string) ([]byte, error) {
	s, ok := d["sha256"]
	if !ok {
		return nil, errors.New("no sha256 digest")
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("sha256 %q is not 64 hex digits", s)
	}
	return b, nil
}

// foreignMerkleLeaves returns the leaf strings of the foreign tool's input
// Merkle root for st, in order, or why the provenance does not carry them.
func foreignMerkleLeaves(st *foreignStatement) ([]string, error) {
	bd := st.Predicate.BuildDefinition
	src := bd.ExternalParameters.Source.Digest
	if src.GitCommit == nil || src.GitTree == nil {
		return nil, errors.New("externalParameters.source.digest lacks gitCommit or gitTree")
	}
	lock, ok := bd.InternalParameters.LockfileHash["sha256"]
	if !ok {
		return nil, errors.New("internalParameters.lockfileHash has no sha256")
	}
	tool := func(name string) (hash, version string, err error) {
		tc, ok := bd.InternalParameters.Toolchain[name]
		if !ok || tc.Version == nil {
			return "", "", fmt.Errorf("internalParameters.toolchain.%s: missing or without version", name)
		}
		h, ok := tc.Digest["sha256"]
		if !ok {
			return "", "", fmt.Errorf("internalParameters.toolchain.%s.digest: no sha256", name)
		}
		return h, *tc.Version, nil
	}
	leaves := []string{*src.GitCommit, *src.GitTree}
	switch bd.BuildType {
	case foreignBuildCargo, foreignBuildPnpm:
		first, second := "rustc", "cargo"
		if bd.BuildType == foreignBuildPnpm {
			first, second = "node", "pnpm"
		}
		for _, name := range []string{first, second} {
			h, v, err := tool(name)
			if err != nil {
				return nil, err
			}
			leaves = append(leaves, h, v)
		}
		leaves = append(leaves, lock)
		for _, d := range bd.ResolvedDependencies {
			leaves = append(leaves, d.URI)
		}
	case foreignBuildNix:
		leaves = append(leaves, lock)
		for i, d := range bd.ResolvedDependencies {
			// uri = pkg:nix-fetch/<name>?hash=<algo>:<hash>; the leaf is
			// fetch:<name>:<algo>:<hash>.
			prefix := "pkg:nix-fetch/" + d.Name + "?hash="
			rest, ok := strings.CutPrefix(d.URI, prefix)
			if !ok || !strings.Contains(rest, ":") {
				return nil, fmt.Errorf("resolvedDependencies[%d].uri %q is not pkg:nix-fetch/<name>?hash=<algo>:<hash>, so its leaf cannot be restated", i, d.URI)
			}
			leaves = append(leaves, "fetch:"+d.Name+":"+rest)
		}
		h, v, err := tool("nix")
		if err != nil {
			return nil, err
		}
		leaves = append(leaves, h, v)
	default:
		return nil, fmt.Errorf("buildType %q: the foreign source has no Merkle leaves for it", bd.BuildType)
	}
	return leaves, nil
}

// foreignMerkleRoot computes the root as rs_merkle 1.x builds it over
// SHA-256 leaves: each level pairs nodes left to right and hashes their
// concatenation; an odd node at the end of a level is carried up as it is.
// One leaf is its own root; there is no root of none.
func foreignMerkleRoot(leaves []string) ([32]byte, error) {
	if len(leaves) == 0 {
		return [32]byte{}, errors.New("no leaves")
	}
	level := make([][32]byte, len(leaves))
	for i, l := range leaves {
		level[i] = sha256.Sum256([]byte(l))
	}
	for len(level) > 1 {
		next := level[:0:0]
		for i := 0; i < len(level); i += 2 {
			if i+1 == len(level) {
				next = append(next, level[i])
				continue
			}
			next = append(next, sha256.Sum256(append(level[i][:], level[i+1][:]...)))
		}
		level = next
	}
	return level[0], nil
}

// flakeLockNarHashes returns, for each root input of a flake.lock that
// names a node with a locked narHash, that narHash, as the foreign tool's
// parse_flake_lock reads it.
func flakeLockNarHashes(data []byte) (map[string]string, error) {
	var lock struct {
		Nodes map[string]struct {
			Inputs map[string]json.RawMessage `json:"inputs"`
			Locked struct {
				NarHash *string `json:"narHash"`
			} `json:"locked"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(data, &lock); err != nil {
		return nil, err
	}
	// The foreign tool reads the node named "root", whatever the
	// document's "root" field says.
	root, ok := lock.Nodes["root"]
	if !ok {
		return nil, errors.New("nodes.root: missing")
	}
	out := map[string]string{}
	for input, ref := range root.Inputs {
		var key string
		if err := json.Unmarshal(ref, &key); err != nil {
			var obj struct {
				ID *string `json:"id"`
			}
			if err := json.Unmarshal(ref, &obj); err != nil || obj.ID == nil {
				continue // a follows path ([…]) names no node of its own
			}
			key = *obj.ID
		}
		node, ok := lock.Nodes[key]
		if !ok || node.Locked.NarHash == nil {
			continue
		}
		out[input] = *node.Locked.NarHash
	}
	return out, nil
}
