package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/provenance"
)

// name names the format in messages.
func (f *Format) name() string {
	if f.Foreign() {
		return "foreign format " + f.Version
	}
	return "Kettle"
}

// nonceWords says what follows the digest in the bound data.
func (f *Format) nonceWords() string {
	if f.NonceSize == 0 {
		return "no nonce"
	}
	return fmt.Sprintf("a %d-byte nonce", f.NonceSize)
}

// foreignMerkleRoot recomputes the foreign provenance's input Merkle root
// (runDetails.byproducts[input_merkle_root]) from the leaves the
// provenance lists, by the foreign tool's algorithm.
func (v *verifier) foreignMerkleRoot() (Status, string, error) {
	v.notChecked("input manifest: the foreign format has no " + provenance.FileManifest + ", so the inputs themselves are not re-hashed")
	var want []byte
	found := false
	for i, b := range v.foreign.Predicate.RunDetails.Byproducts {
		if b.Name != foreignMerkleByproduct {
			continue
		}
		d, err := hexSHA256(b.Digest)
		if err != nil {
			return "", "", fmt.Errorf("%s: predicate.runDetails.byproducts[%d] (%s): %w", provenance.FileProvenance, i, foreignMerkleByproduct, err)
		}
		want, found = d, true
	}
	if !found {
		v.notChecked("input Merkle root: the provenance has no " + foreignMerkleByproduct + " byproduct")
		return Skipped, "no " + foreignMerkleByproduct + " byproduct to recompute", nil
	}
	leaves, err := foreignMerkleLeaves(v.foreign)
	if err != nil {
		v.notChecked("input Merkle root: not recomputable: " + err.Error())
		return Skipped, fmt.Sprintf("input Merkle root %x not recomputable: %v", want, err), nil
	}
	root, err := foreignMerkleRoot(leaves)
	if err != nil {
		return "", "", fmt.Errorf("input Merkle root: %w", err)
	}
	if !bytes.Equal(root[:], want) {
		return "", "", fmt.Errorf("input Merkle root recomputed over the provenance's %d leaves is %x, but byproducts[%s] says %x", len(leaves), root, foreignMerkleByproduct, want)
	}
	return Pass, fmt.Sprintf("input Merkle root %x recomputed over the %d leaves the provenance lists (source commit and tree, toolchain, lockfileHash, each resolvedDependency), by the foreign tool's rule", root, len(leaves)), nil
}

// foreignLockFiles checks the lock file beside the provenance against
// internalParameters.lockfileHash (the SHA-256 of its bytes) and, for a
// Nix build, each flakeInputs[].narHash against flake.lock's root inputs.
func (v *verifier) foreignLockFiles() (Status, string, error) {
	bd := v.foreign.Predicate.BuildDefinition
	expected := lockFileFor(bd.BuildType)
	var lockHash []byte
	if _, ok := bd.InternalParameters.LockfileHash["sha256"]; ok {
		var err error
		if lockHash, err = hexSHA256(bd.InternalParameters.LockfileHash); err != nil {
			return "", "", fmt.Errorf("%s: predicate.buildDefinition.internalParameters.lockfileHash: %w", provenance.FileProvenance, err)
		}
	}
	var done []string
	seen := false
	for _, lf := range v.format.foreign.lockFiles {
		if expected != "" && lf.name != expected {
			v.warn(Warning{Step: StepDependencies, Field: lf.rel, Message: fmt.Sprintf("a lock file, but buildType %s reads %s; not read", bd.BuildType, expected)})
			continue
		}
		seen = true
		if lockHash == nil {
			return "", "", fmt.Errorf("%s: %s is present but the provenance has no internalParameters.lockfileHash.sha256", lf.rel, lf.rel)
		}
		if lf.name == LockNix {
			d, err := v.checkFlakeLock(lf, lockHash)
			if err != nil {
				return "", "", err
			}
			done = append(done, d)
			continue
		}
		sum, n, err := hashFile(lf.path)
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", lf.rel, err)
		}
		if !bytes.Equal(sum[:], lockHash) {
			return "", "", fmt.Errorf("%s: SHA-256 %x, but internalParameters.lockfileHash is %x", lf.rel, sum, lockHash)
		}
		done = append(done, fmt.Sprintf("%s (%d bytes) equals lockfileHash %x", lf.rel, n, sum))
	}
	if !seen {
		name := expected
		if name == "" {
			name = "the lock file"
		}
		v.notChecked(fmt.Sprintf("lock file: no %s beside the provenance to check internalParameters.lockfileHash against", name))
		if bd.BuildType == foreignBuildNix && len(bd.InternalParameters.FlakeInputs) > 0 {
			v.notChecked(fmt.Sprintf("flakeInputs: no %s to check the %d narHash(es) against", LockNix, len(bd.InternalParameters.FlakeInputs)))
		}
		return Skipped, fmt.Sprintf("no %s in the bundle: lockfileHash taken from the bound provenance as it is", name), nil
	}
	return Pass, strings.Join(done, "; "), nil
}

// checkFlakeLock reads flake.lock once, checks its SHA-256 and then each
// flakeInputs[].narHash against the node its root input names; the root
// inputs with a narHash and the flakeInputs must be the same set, as the
// foreign tool writes them.
func (v *verifier) checkFlakeLock(lf foreignFile, lockHash []byte) (string, error) {
	data, err := inputfile.Read(lf.path, provenance.MaxJSONFileSize)
	if err != nil {
		return "", fmt.Errorf("%s: %w", lf.rel, err)
	}
	sum := sha256.Sum256(data)
	if !bytes.Equal(sum[:], lockHash) {
		return "", fmt.Errorf("%s: SHA-256 %x, but internalParameters.lockfileHash is %x", lf.rel, sum, lockHash)
	}
	locked, err := flakeLockNarHashes(data)
	if err != nil {
		return "", fmt.Errorf("%s: %w", lf.rel, err)
	}
	inputs := v.foreign.Predicate.BuildDefinition.InternalParameters.FlakeInputs
	listed := map[string]bool{}
	for i, in := range inputs {
		got, ok := locked[in.Name]
		if !ok {
			return "", fmt.Errorf("%s: flakeInputs[%d] %q: no root input of that name with a locked narHash", lf.rel, i, in.Name)
		}
		if got != in.NarHash {
			return "", fmt.Errorf("%s: flakeInputs[%d] %q: narHash %s, but the lock file's node has %s", lf.rel, i, in.Name, in.NarHash, got)
		}
		listed[in.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(locked)) {
		if !listed[name] {
			return "", fmt.Errorf("%s: root input %q (narHash %s) is not in the provenance's flakeInputs", lf.rel, name, locked[name])
		}
	}
	return fmt.Sprintf("%s (%d bytes) equals lockfileHash %x; its %d root input narHash(es) equal flakeInputs", lf.rel, len(data), sum, len(inputs)), nil
}

// foreignArtifacts checks each subject against the files of the bundle
// that bear its name (artifacts/<name>, and <name> at the top level, as the
// foreign tool looks for them) by the SHA-256 of their raw bytes.
func (v *verifier) foreignArtifacts() (Status, string, error) {
	l := v.format.foreign
	byName := map[string][]foreignFile{}
	for _, a := range l.artifacts {
		byName[a.name] = append(byName[a.name], a)
	}
	used := map[string]bool{}
	checked := 0
	var missing []string
	for i, s := range v.foreign.Subject {
		files := byName[s.Name]
		if len(files) == 0 {
			missing = append(missing, s.Name)
			continue
		}
		want, err := hexSHA256(s.Digest)
		if err != nil {
			return "", "", fmt.Errorf("%s: subject[%d] %q: %w", provenance.FileProvenance, i, s.Name, err)
		}
		for _, f := range files {
			used[f.rel] = true
			sum, _, err := hashFile(f.path)
			if err != nil {
				return "", "", fmt.Errorf("%s: %w", f.rel, err)
			}
			if !bytes.Equal(sum[:], want) {
				return "", "", fmt.Errorf("%s: SHA-256 %x, but subject %q says %s", f.rel, sum, s.Name, hex.EncodeToString(want))
			}
			checked++
		}
	}
	for _, a := range l.artifacts {
		if !used[a.rel] {
			v.warn(Warning{Step: StepSubjects, Field: a.rel, Message: "not named by any subject of the provenance; not read"})
		}
	}
	if len(missing) > 0 {
		v.notChecked(fmt.Sprintf("subjects not checkable: no file in %s/ or beside the provenance for %s", provenance.DirArtifacts, strings.Join(missing, ", ")))
	}
	switch {
	case checked == 0 && len(missing) > 0:
		return Skipped, fmt.Sprintf("no file for any of the %d subject(s): their digests are taken from the bound provenance as they are", len(missing)), nil
	case len(missing) > 0:
		return Pass, fmt.Sprintf("%d file(s) equal their subjects' SHA-256; %d subject(s) not checkable (no file)", checked, len(missing)), nil
	}
	return Pass, fmt.Sprintf("%d file(s) equal the SHA-256 of their %d subject(s)", checked, len(v.foreign.Subject)), nil
}
