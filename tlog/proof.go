package tlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	f_log "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"
)

// ProofHeader is the first line of a C2SP tlog-proof.
const ProofHeader = "c2sp.org/tlog-proof@v1"

// MaxProofSize bounds a proof file: a checkpoint and at most 64 hashes.
const MaxProofSize = MaxCheckpointSize + 3*MaxEntrySize

// maxProofHashes is the longest RFC 9162 proof of a tree of up to 2^64
// leaves: a consistency proof has at most 2·64 hashes.
const maxProofHashes = 128

// InclusionProof proves that an entry is in the tree a checkpoint commits
// to. Its text form is a C2SP tlog-proof (c2sp.org/tlog-proof@v1) whose
// extra data is the entry's text, so that it can be checked on its own.
type InclusionProof struct {
	Index      uint64
	Entry      []byte   // the entry's text, whose RFC 9162 leaf hash the proof covers
	Hashes     [][]byte // from the leaf's sibling up to the root's child
	Checkpoint []byte   // the signed checkpoint, as the log published it
}

// Marshal returns the proof as a C2SP tlog-proof.
func (p *InclusionProof) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(ProofHeader + "\n")
	b.WriteString("extra " + base64.StdEncoding.EncodeToString(p.Entry) + "\n")
	b.WriteString("index " + strconv.FormatUint(p.Index, 10) + "\n")
	for _, h := range p.Hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(p.Checkpoint)
	return b.Bytes()
}

// splitProof splits a proof's text form, of either kind, into the lines
// before the empty line and the checkpoint after it.
func splitProof(data []byte) (lines []string, checkpoint []byte, err error) {
	if len(data) > MaxProofSize {
		return nil, nil, fmt.Errorf("proof: %d bytes, more than the limit of %d", len(data), MaxProofSize)
	}
	head, checkpoint, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return nil, nil, errors.New("proof: no empty line before the checkpoint")
	}
	return strings.Split(string(head), "\n"), checkpoint, nil
}

// ParseInclusionProof reads a C2SP tlog-proof strictly: the header, the
// extra line (required here: it carries the entry), the index in decimal
// without leading zeros, then 32-byte hashes in standard base64 one per
// line, an empty line and the checkpoint. The checkpoint's signature is
// CheckInclusion's to check.
func ParseInclusionProof(data []byte) (*InclusionProof, error) {
	lines, checkpoint, err := splitProof(data)
	if err != nil {
		return nil, err
	}
	if lines[0] != ProofHeader {
		return nil, fmt.Errorf("proof line 1: want %q, got %q", ProofHeader, clip(lines[0]))
	}
	if len(lines) < 3 {
		return nil, errors.New("proof: want an extra line (the log entry) and an index line after the header")
	}
	extra, ok := strings.CutPrefix(lines[1], "extra ")
	if !ok {
		return nil, fmt.Errorf("proof line 2: want \"extra <base64 of the log entry>\", got %q", clip(lines[1]))
	}
	entry, err := decodeBase64(extra)
	if err != nil {
		return nil, fmt.Errorf("proof line 2: extra: %w", err)
	}
	idx, ok := strings.CutPrefix(lines[2], "index ")
	if !ok {
		return nil, fmt.Errorf("proof line 3: want \"index <n>\", got %q", clip(lines[2]))
	}
	index, err := parseDecimal(idx)
	if err != nil {
		return nil, fmt.Errorf("proof line 3: index: %w", err)
	}
	hashes, err := parseHashLines(lines[3:], 4)
	if err != nil {
		return nil, err
	}
	return &InclusionProof{Index: index, Entry: entry, Hashes: hashes, Checkpoint: checkpoint}, nil
}

// ConsistencyProof proves that a log's tree of OldSize entries is the
// beginning of the tree a checkpoint commits to. Its text form is the body
// a C2SP tlog-witness add-checkpoint request carries: "old <size>", the
// RFC 9162 consistency proof one base64 hash per line, an empty line and
// the checkpoint.
type ConsistencyProof struct {
	OldSize    uint64
	Hashes     [][]byte
	Checkpoint []byte
}

// Marshal returns the proof in its text form.
func (p *ConsistencyProof) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString("old " + strconv.FormatUint(p.OldSize, 10) + "\n")
	for _, h := range p.Hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(p.Checkpoint)
	return b.Bytes()
}

// ParseConsistencyProof reads a consistency proof's text form strictly.
func ParseConsistencyProof(data []byte) (*ConsistencyProof, error) {
	lines, checkpoint, err := splitProof(data)
	if err != nil {
		return nil, err
	}
	old, ok := strings.CutPrefix(lines[0], "old ")
	if !ok {
		return nil, fmt.Errorf("proof line 1: want \"old <size>\", got %q", clip(lines[0]))
	}
	size, err := parseDecimal(old)
	if err != nil {
		return nil, fmt.Errorf("proof line 1: old: %w", err)
	}
	hashes, err := parseHashLines(lines[1:], 2)
	if err != nil {
		return nil, err
	}
	return &ConsistencyProof{OldSize: size, Hashes: hashes, Checkpoint: checkpoint}, nil
}

// IsInclusionProof tells an inclusion proof's text form from a
// consistency proof's by its first line.
func IsInclusionProof(data []byte) bool { return bytes.HasPrefix(data, []byte(ProofHeader+"\n")) }

func parseHashLines(lines []string, firstLine int) ([][]byte, error) {
	if len(lines) > maxProofHashes {
		return nil, fmt.Errorf("proof: %d hashes, more than any tree of 2^64 entries needs (%d)", len(lines), maxProofHashes)
	}
	hashes := make([][]byte, 0, len(lines))
	for i, l := range lines {
		h, err := decodeBase64(l)
		if err != nil {
			return nil, fmt.Errorf("proof line %d: %w", firstLine+i, err)
		}
		if len(h) != sha256.Size {
			return nil, fmt.Errorf("proof line %d: a hash of %d bytes, want %d", firstLine+i, len(h), sha256.Size)
		}
		hashes = append(hashes, h)
	}
	return hashes, nil
}

// decodeBase64 reads standard base64 with padding, in its one canonical
// spelling.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || s == "" {
		return nil, fmt.Errorf("not standard base64: %q", clip(s))
	}
	return b, nil
}

// parseDecimal reads an ASCII decimal without sign or leading zeros.
func parseDecimal(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != s {
		return 0, fmt.Errorf("want a decimal number without leading zeros, got %q", clip(s))
	}
	return n, nil
}

// CheckInclusion checks an inclusion proof with the log's verifier key:
// the checkpoint is signed by it, the extra data is a well-formed log
// entry, and the proof ties that entry's leaf hash at the index to the
// checkpoint's root. It returns the entry, with Index set, and the
// checkpoint.
func CheckInclusion(p *InclusionProof, v note.Verifier) (*Entry, *f_log.Checkpoint, error) {
	cp, err := openCheckpoint("proof's checkpoint", p.Checkpoint, v)
	if err != nil {
		return nil, nil, err
	}
	e, err := ParseEntry(p.Entry)
	if err != nil {
		return nil, nil, fmt.Errorf("proof's extra data: %w", err)
	}
	if p.Index >= cp.Size {
		return nil, nil, fmt.Errorf("proof: index %d, but the checkpoint's tree has %d entries", p.Index, cp.Size)
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(p.Entry)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, cp.Size, leaf, p.Hashes, cp.Hash); err != nil {
		return nil, nil, fmt.Errorf("proof: the entry at index %d is not in the checkpoint's tree of %d entries: %w", p.Index, cp.Size, err)
	}
	e.Index = p.Index
	return e, cp, nil
}

// CheckConsistency checks a consistency proof with the log's verifier key
// against an old checkpoint of the same log: both checkpoints are signed
// by the key, the old one is of the proof's old size, and the proof ties
// the old root to the new one. It returns both checkpoints.
func CheckConsistency(p *ConsistencyProof, oldCheckpoint []byte, v note.Verifier) (old, cur *f_log.Checkpoint, err error) {
	if old, err = openCheckpoint("old checkpoint", oldCheckpoint, v); err != nil {
		return nil, nil, err
	}
	if cur, err = openCheckpoint("proof's checkpoint", p.Checkpoint, v); err != nil {
		return nil, nil, err
	}
	if old.Size != p.OldSize {
		return nil, nil, fmt.Errorf("proof: from a tree of %d entries, but the old checkpoint's has %d", p.OldSize, old.Size)
	}
	if old.Size > cur.Size {
		return nil, nil, fmt.Errorf("the old checkpoint's tree has %d entries, the proof's checkpoint's only %d: the log lost entries", old.Size, cur.Size)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old.Size, cur.Size, p.Hashes, old.Hash, cur.Hash); err != nil {
		return nil, nil, fmt.Errorf("the log rewrote its history: its tree of %d entries does not extend the old checkpoint's of %d: %w", cur.Size, old.Size, err)
	}
	return old, cur, nil
}

// current reads the log's checkpoint, checked with its own key (log.vkey):
// proofs are made against the checkpoint a reader will check with the key
// they trust.
func current(dir string) (*f_log.Checkpoint, []byte, note.Verifier, error) {
	files := logFiles{dir}
	vkey, err := files.read(FileVKey, maxKeyFile)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil, fmt.Errorf("log %s: no %s: not a Kettle log", dir, FileVKey)
		}
		return nil, nil, nil, fmt.Errorf("log %s: %w", dir, err)
	}
	v, err := ParseVerifier(string(vkey))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("log %s: %s: %w", dir, FileVKey, err)
	}
	raw, err := files.checkpoint()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("log %s: %w", dir, err)
	}
	cp, err := openCheckpoint(layout.CheckpointPath, raw, v)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("log %s: %w", dir, err)
	}
	return cp, raw, v, nil
}

// Prove returns the inclusion proof of the entry at index in the log's
// current checkpoint. The proof is checked before it is returned, so a
// log whose tiles or entries were altered yields an error, not a proof.
func Prove(ctx context.Context, dir string, index uint64) (*InclusionProof, error) {
	cp, raw, v, err := current(dir)
	if err != nil {
		return nil, err
	}
	if index >= cp.Size {
		return nil, fmt.Errorf("log %s: no entry %d: the checkpoint's tree has %d entries", dir, index, cp.Size)
	}
	files := logFiles{dir}
	pb, err := client.NewProofBuilder(ctx, cp.Size, files.tile)
	if err != nil {
		return nil, err
	}
	hashes, err := pb.InclusionProof(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("log %s: proving entry %d: %w", dir, index, err)
	}
	entry, err := readEntry(ctx, files, index, cp.Size)
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", dir, err)
	}
	p := &InclusionProof{Index: index, Entry: entry, Hashes: hashes, Checkpoint: raw}
	if _, _, err := CheckInclusion(p, v); err != nil {
		return nil, fmt.Errorf("log %s: the log's own files do not prove entry %d: %w", dir, index, err)
	}
	return p, nil
}

// readEntry reads the text of the entry at index in a tree of size
// entries.
func readEntry(ctx context.Context, files logFiles, index, size uint64) ([]byte, error) {
	bundle := index / layout.EntryBundleWidth
	w := layout.PartialTileSize(0, bundle, size)
	raw, err := files.entryBundle(ctx, bundle, w)
	if err != nil {
		return nil, err
	}
	n := int(w)
	if w == 0 {
		n = layout.EntryBundleWidth
	}
	b, err := parseEntryBundle(layout.EntriesPath(bundle, w), raw, n)
	if err != nil {
		return nil, err
	}
	return b[index%layout.EntryBundleWidth], nil
}

// Find returns the index of the entry that logs the provenance with that
// SHA-256 in the log's current checkpoint, and the entry.
func Find(ctx context.Context, dir string, provenanceSHA256 [32]byte) (*Entry, error) {
	cp, _, _, err := current(dir)
	if err != nil {
		return nil, err
	}
	files := logFiles{dir}
	getSize := func(context.Context) (uint64, error) { return cp.Size, nil }
	var index uint64
	for b, err := range client.EntryBundles(ctx, 1, getSize, files.entryBundle, 0, cp.Size) {
		if err != nil {
			return nil, fmt.Errorf("log %s: %w", dir, err)
		}
		entries, err := parseEntryBundle(layout.EntriesPath(b.RangeInfo.Index, b.RangeInfo.Partial), b.Data, int(b.RangeInfo.First+b.RangeInfo.N))
		if err != nil {
			return nil, fmt.Errorf("log %s: %w", dir, err)
		}
		for _, data := range entries[b.RangeInfo.First : b.RangeInfo.First+b.RangeInfo.N] {
			e, err := ParseEntry(data)
			if err != nil {
				return nil, fmt.Errorf("log %s: entry %d: %w", dir, index, err)
			}
			if e.ProvenanceSHA256 == provenanceSHA256 {
				e.Index = index
				e.BundlePath = files.path(bundleRel(e.ProvenanceSHA256))
				return e, nil
			}
			index++
		}
	}
	return nil, fmt.Errorf("log %s: no entry logs provenance %x", dir, provenanceSHA256)
}

// Consistency returns the proof that the log's tree of oldSize entries is
// the beginning of its current checkpoint's tree, and that old tree's
// root as the log's tiles give it. With oldCheckpoint (a checkpoint of
// this log saved earlier, signed by its key) oldSize is its size, and the
// proof must tie its root to the current one: a log that rewrote its
// history since is an error. Without it the proof is checked against the
// root the tiles give.
func Consistency(ctx context.Context, dir string, oldSize uint64, oldCheckpoint []byte) (*ConsistencyProof, []byte, error) {
	cp, raw, v, err := current(dir)
	if err != nil {
		return nil, nil, err
	}
	var oldRoot []byte
	if oldCheckpoint != nil {
		old, err := openCheckpoint("old checkpoint", oldCheckpoint, v)
		if err != nil {
			return nil, nil, err
		}
		oldSize, oldRoot = old.Size, old.Hash
	}
	if oldSize > cp.Size {
		return nil, nil, fmt.Errorf("log %s: the old tree has %d entries, the checkpoint's only %d: the log lost entries (or is another log)", dir, oldSize, cp.Size)
	}
	hashes, tileRoot, _, err := ConsistencyBetween(ctx, dir, oldSize, cp.Size)
	if err != nil {
		return nil, nil, err
	}
	p := &ConsistencyProof{OldSize: oldSize, Hashes: hashes, Checkpoint: raw}
	if oldRoot == nil {
		oldRoot = tileRoot
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, oldSize, cp.Size, hashes, oldRoot, cp.Hash); err != nil {
		return nil, nil, fmt.Errorf("log %s: the log rewrote its history: its tree of %d entries does not extend the old one of %d: %w", dir, cp.Size, oldSize, err)
	}
	return p, oldRoot, nil
}

// ConsistencyBetween returns the RFC 9162 consistency proof between the
// log's trees of oldSize and newSize entries (newSize at most the
// checkpoint's), with both trees' roots as the log's tiles give them.
// Only the checkpoint's root is signed: a reader checks the others
// against roots they hold.
func ConsistencyBetween(ctx context.Context, dir string, oldSize, newSize uint64) (hashes [][]byte, oldRoot, newRoot []byte, err error) {
	if oldSize > newSize {
		return nil, nil, nil, fmt.Errorf("log %s: consistency from %d entries to %d: the old tree must not be larger", dir, oldSize, newSize)
	}
	files := logFiles{dir}
	pb, err := client.NewProofBuilder(ctx, newSize, files.tile)
	if err != nil {
		return nil, nil, nil, err
	}
	if hashes, err = pb.ConsistencyProof(ctx, oldSize, newSize); err != nil {
		return nil, nil, nil, fmt.Errorf("log %s: proving %d → %d: %w", dir, oldSize, newSize, err)
	}
	if oldRoot, err = tileRoot(ctx, files, oldSize); err != nil {
		return nil, nil, nil, fmt.Errorf("log %s: %w", dir, err)
	}
	if newRoot, err = tileRoot(ctx, files, newSize); err != nil {
		return nil, nil, nil, fmt.Errorf("log %s: %w", dir, err)
	}
	return hashes, oldRoot, newRoot, nil
}

// tileRoot is the root of the log's tree of size entries, from its tiles.
func tileRoot(ctx context.Context, files logFiles, size uint64) ([]byte, error) {
	if size == 0 {
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	nodes, err := client.FetchRangeNodes(ctx, size, files.tile)
	if err != nil {
		return nil, fmt.Errorf("the root of %d entries: %w", size, err)
	}
	r, err := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewRange(0, size, nodes)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}
