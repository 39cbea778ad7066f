package tlog

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	f_log "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"

	"github.com/kettle-build/kettle/internal/inputfile"
)

// Caps on what reading one file of a log may cost.
const (
	// MaxCheckpointSize bounds a checkpoint: three lines and a few
	// signatures (the note package refuses more than 100).
	MaxCheckpointSize = 64 << 10
	maxTileSize       = layout.TileWidth * sha256.Size
	// maxEntryBundleSize is 256 entries of the largest size, each after
	// its two-byte length.
	maxEntryBundleSize = layout.EntryBundleWidth * (2 + MaxEntrySize)
	maxStateFile       = 4 << 10
)

// logFiles reads the files of the log directory at root, each once and
// within its cap.
type logFiles struct{ root string }

func (f logFiles) path(rel string) string { return filepath.Join(f.root, filepath.FromSlash(rel)) }

func (f logFiles) read(rel string, limit int64) ([]byte, error) {
	data, err := inputfile.Read(f.path(rel), limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, unwrapPath(err))
	}
	return data, nil
}

// unwrapPath drops the absolute path an *fs.PathError repeats, since the
// caller names the file relative to the log.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *inputfile.LimitError
	if errors.As(err, &le) {
		return fmt.Errorf("larger than the limit of %d bytes", le.Limit)
	}
	var te *inputfile.TypeError
	if errors.As(err, &te) {
		return errors.New(strings.TrimPrefix(te.Error(), te.Path+": "))
	}
	return err
}

func (f logFiles) checkpoint() ([]byte, error) {
	return f.read(layout.CheckpointPath, MaxCheckpointSize)
}

// tile reads the tile at level and index of a tree whose right edge gives
// it width p (0: full), as tessera's client package wants of a
// TileFetcherFunc. Tiles only grow, so when the partial file of width p is
// not there (that tree size never had a checkpoint, or the partial was
// collected) the first p hashes of the narrowest wider one, or of the full
// tile, stand in for it.
func (f logFiles) tile(_ context.Context, level, index uint64, p uint8) ([]byte, error) {
	return f.partialOrWider(p, func(p uint8) string { return layout.TilePath(level, index, p) }, maxTileSize, trimTile)
}

// entryBundle reads an entry bundle the same way.
func (f logFiles) entryBundle(_ context.Context, index uint64, p uint8) ([]byte, error) {
	return f.partialOrWider(p, func(p uint8) string { return layout.EntriesPath(index, p) }, maxEntryBundleSize, trimEntryBundle)
}

func (f logFiles) partialOrWider(p uint8, path func(uint8) string, limit int64, trim func(string, []byte, uint8) ([]byte, error)) ([]byte, error) {
	if p == 0 {
		return f.read(path(0), limit)
	}
	data, err := f.read(path(p), limit)
	if !errors.Is(err, os.ErrNotExist) {
		return data, err
	}
	w := f.widerPartial(path(0)+".p", p)
	rel := path(w)
	if data, err = f.read(rel, limit); err != nil {
		return nil, err
	}
	return trim(rel, data, p)
}

// widerPartial returns the narrowest width above p among the partial
// files in the directory rel, or 0 (the full file) when there is none.
func (f logFiles) widerPartial(rel string, p uint8) uint8 {
	entries, err := os.ReadDir(f.path(rel))
	if err != nil {
		return 0
	}
	best := 0
	for _, e := range entries {
		w, err := parseDecimal(e.Name())
		if err == nil && w > uint64(p) && w < layout.TileWidth && (best == 0 || int(w) < best) {
			best = int(w)
		}
	}
	return uint8(best)
}

func trimTile(rel string, data []byte, p uint8) ([]byte, error) {
	if n := int(p) * sha256.Size; len(data) >= n {
		return data[:n], nil
	}
	return nil, fmt.Errorf("%s: %d bytes, fewer than the %d hashes of the tile wanted (truncated?)", rel, len(data), p)
}

func trimEntryBundle(rel string, data []byte, p uint8) ([]byte, error) {
	off := 0
	for range p {
		if off+2 > len(data) {
			return nil, fmt.Errorf("%s: fewer than the %d entries wanted (truncated?)", rel, p)
		}
		off += 2 + int(binary.BigEndian.Uint16(data[off:]))
	}
	if off > len(data) {
		return nil, fmt.Errorf("%s: fewer than the %d entries wanted (truncated?)", rel, p)
	}
	return data[:off], nil
}

// parseEntryBundle splits an entry bundle that must hold exactly n
// entries.
func parseEntryBundle(rel string, data []byte, n int) ([][]byte, error) {
	var b api.EntryBundle
	if err := b.UnmarshalText(data); err != nil {
		return nil, fmt.Errorf("%s: not an entry bundle (truncated?): %w", rel, err)
	}
	if len(b.Entries) != n {
		return nil, fmt.Errorf("%s: holds %d entries, want %d (truncated?)", rel, len(b.Entries), n)
	}
	return b.Entries, nil
}

// openCheckpoint checks a checkpoint's signature by the log's key and
// reads it: a C2SP tlog-checkpoint whose origin is the key's name and
// which carries no extension lines (Kettle's log writes none).
func openCheckpoint(what string, raw []byte, v note.Verifier) (*f_log.Checkpoint, error) {
	n, err := note.Open(raw, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			var by []string
			for _, s := range unverified.Note.UnverifiedSigs {
				by = append(by, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
			}
			return nil, fmt.Errorf("%s: not signed by the log's key %s+%08x (signed by %s)", what, v.Name(), v.KeyHash(), strings.Join(by, ", "))
		case errors.As(err, &invalid):
			return nil, fmt.Errorf("%s: the signature by %s+%08x does not verify: the checkpoint was altered", what, invalid.Name, invalid.Hash)
		}
		return nil, fmt.Errorf("%s: not a signed note (C2SP signed-note): %w", what, err)
	}
	var cp f_log.Checkpoint
	rest, err := cp.Unmarshal([]byte(n.Text))
	if err != nil {
		return nil, fmt.Errorf("%s: not a checkpoint (C2SP tlog-checkpoint): %w", what, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%s: extension lines after the root hash, which Kettle's log does not write", what)
	}
	if cp.Origin != v.Name() {
		return nil, fmt.Errorf("%s: origin %q, want the key's name %q", what, cp.Origin, v.Name())
	}
	if len(cp.Hash) != sha256.Size {
		return nil, fmt.Errorf("%s: a root hash of %d bytes, want %d", what, len(cp.Hash), sha256.Size)
	}
	return &cp, nil
}
