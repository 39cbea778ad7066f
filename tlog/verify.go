package tlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"

	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/internal/strictjson"
)

// VerifyOptions say what Verify checks a log against.
type VerifyOptions struct {
	// Verifier is the log's verifier key, which the user trusts: the
	// checkpoint must carry its signature, and its name is the log's
	// origin.
	Verifier note.Verifier
	// OldCheckpoint, when set, is a checkpoint of the log saved earlier,
	// signed by the same key: the log must still hold the tree it commits
	// to, as the first entries of today's.
	OldCheckpoint []byte
	// skipBundleDigests leaves out hashing the stored bundles (their
	// presence is still checked): Open's check before an append.
	skipBundleDigests bool
	// pending accepts entries that tessera integrated beyond the
	// checkpoint (an append stopped before it published), checking them
	// as the rest and the checkpoint's tree as their prefix, and lists
	// the files an append that stopped left beyond tessera's tree and the
	// stored bundles no entry names, instead of failing on them: Open's
	// check before the appender publishes and removes them.
	pending bool
	// locked: the caller holds the append lock.
	locked bool
}

// VerifyResult is what a verified log holds.
type VerifyResult struct {
	Size       uint64
	Root       [32]byte
	Checkpoint []byte
	// Entries in index order, with Index and BundlePath set.
	Entries []Entry
	// OldSize is the size of VerifyOptions.OldCheckpoint, when given.
	OldSize uint64
	// StalePartials counts partial tiles and entry bundles of earlier
	// sizes that the log still holds (tlog-tiles lets a log keep them);
	// each was checked to be a prefix of its full one.
	StalePartials int
	// leftovers are the files VerifyOptions.pending listed.
	leftovers []string
}

// Verify checks the whole log directory dir: the checkpoint is signed by
// the key and commits to the tree that the entry bundles hash to; every
// tile (tile/<L>/…) holds exactly the hashes recomputed from the entries,
// partial ones of earlier sizes included; every entry is a well-formed
// log entry naming a distinct provenance; every entry's bundle is stored
// under bundles/ with the SHA-256 it records, and no other bundle is;
// tessera's state agrees with the checkpoint; and nothing else is in the
// directory. With an old checkpoint, the log's first entries must still
// hash to its root: the log did not rewrite its history. The first
// failure is returned, naming the file and what was expected.
//
// The recomputation is Kettle's own, on transparency-dev/merkle's compact
// ranges and tessera's tile layout, rather than tessera's fsck package:
// fsck does not account for files it was not asked for (an unknown file,
// a stale partial tile, a tile beyond the checkpoint), takes a full tile
// where a partial one is missing, prints whole tiles in hex on a mismatch
// and exits the process on some inconsistencies.
func Verify(ctx context.Context, dir string, opts VerifyOptions) (*VerifyResult, error) {
	if opts.Verifier == nil {
		return nil, errors.New("verifying a log needs its verifier key")
	}
	if !opts.locked {
		unlock, err := lockLog(ctx, dir, false)
		if err != nil {
			return nil, fmt.Errorf("log %s: %w", dir, err)
		}
		defer unlock()
	}
	res, err := verifyLog(ctx, dir, opts)
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", dir, err)
	}
	return res, nil
}

// verifyLog is Verify with errors that do not name the log.
func verifyLog(ctx context.Context, dir string, opts VerifyOptions) (*VerifyResult, error) {
	v := &logVerifier{files: logFiles{dir}, opts: opts}
	if err := v.run(ctx); err != nil {
		return nil, err
	}
	return v.result, nil
}

// logVerifier carries one verification of a log through its stages.
type logVerifier struct {
	files  logFiles
	opts   VerifyOptions
	inv    *inventory
	result *VerifyResult
	// size and root are those of the tree walked: the checkpoint's, or
	// tessera's integrated tree with VerifyOptions.pending.
	size     uint64
	root     []byte
	rootFrom string // the file that claims root
	prefixes []*prefix
}

// prefix is an earlier tree of the log, whose root the walk recomputes: an
// old checkpoint's, or the checkpoint's below pending entries.
type prefix struct {
	size uint64
	root []byte
	got  []byte // the root of the log's first size entries
	// mismatch says what a different root means.
	mismatch string
}

func (v *logVerifier) run(ctx context.Context) error {
	for _, stage := range []func(context.Context) error{
		v.checkpoint,
		v.walk,
		v.state,
		v.layout,
		v.tree,
		v.bundles,
	} {
		if err := stage(ctx); err != nil {
			return err
		}
	}
	return nil
}

// checkpoint reads log.vkey, the checkpoint and the old checkpoint.
func (v *logVerifier) checkpoint(context.Context) error {
	key := v.opts.Verifier
	data, err := v.files.read(FileVKey, maxKeyFile)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: missing: not a Kettle log (kettle log init makes one)", FileVKey)
		}
		return err
	}
	logKey, err := ParseVerifier(string(data))
	if err != nil {
		return fmt.Errorf("%s: %w", FileVKey, err)
	}
	if logKey.Name() != key.Name() || logKey.KeyHash() != key.KeyHash() {
		return fmt.Errorf("%s names the key %s+%08x, not the verifier key given, %s+%08x", FileVKey, logKey.Name(), logKey.KeyHash(), key.Name(), key.KeyHash())
	}
	raw, err := v.files.checkpoint()
	if err != nil {
		return err
	}
	cp, err := openCheckpoint(layout.CheckpointPath, raw, key)
	if err != nil {
		return err
	}
	v.size, v.root, v.rootFrom = cp.Size, cp.Hash, layout.CheckpointPath
	v.result = &VerifyResult{Size: cp.Size, Checkpoint: raw}
	copy(v.result.Root[:], cp.Hash)
	if v.opts.OldCheckpoint != nil {
		old, err := openCheckpoint("old checkpoint", v.opts.OldCheckpoint, key)
		if err != nil {
			return err
		}
		if old.Size > cp.Size {
			return fmt.Errorf("the old checkpoint commits to %d entries, the log's checkpoint to %d: the log lost entries since (or is another log)", old.Size, cp.Size)
		}
		v.addPrefix(old.Size, old.Hash, fmt.Sprintf("the log rewrote its history: its first %d entries hash to %%s, the old checkpoint commits to %%s", old.Size))
		v.result.OldSize = old.Size
	}
	return nil
}

func (v *logVerifier) addPrefix(size uint64, root []byte, mismatch string) {
	p := &prefix{size: size, root: root, mismatch: mismatch}
	if size == 0 {
		p.got = rfc6962.DefaultHasher.EmptyRoot()
	}
	v.prefixes = append(v.prefixes, p)
}

// inventory is every file of the log directory, classified.
type inventory struct {
	entryBundles map[uint64][]uint8 // index → widths found, 0 for the full bundle
	tiles        map[tileID][]uint8
	bundles      map[[32]byte]bool
	state        map[string]bool
}

type tileID struct{ level, index uint64 }

// walk lists the directory and classifies every file, refusing any that
// is not part of a log or is not a regular file.
func (v *logVerifier) walk(context.Context) error {
	v.inv = &inventory{
		entryBundles: map[uint64][]uint8{},
		tiles:        map[tileID][]uint8{},
		bundles:      map[[32]byte]bool{},
		state:        map[string]bool{},
	}
	return v.walkDir("")
}

func (v *logVerifier) walkDir(rel string) error {
	entries, err := os.ReadDir(v.files.path(rel))
	if err != nil {
		if rel == "" {
			return err
		}
		return fmt.Errorf("%s: %w", rel, unwrapPath(err))
	}
	for _, e := range entries {
		p := path.Join(rel, e.Name())
		switch t := e.Type(); {
		case t.IsDir():
			if _, err := classify(p, true); err != nil {
				return err
			}
			if err := v.walkDir(p); err != nil {
				return err
			}
		case t.IsRegular():
			lp, err := classify(p, false)
			if err != nil {
				return err
			}
			v.inv.add(p, lp)
			if lp.kind == kindStaged {
				return fmt.Errorf("%s: a bundle staged by an append that did not finish; remove it (the next append does)", p)
			}
		default:
			return &inputfile.TypeError{Path: p, Mode: t}
		}
	}
	return nil
}

func (inv *inventory) add(rel string, lp logPath) {
	switch lp.kind {
	case kindEntryBundle:
		inv.entryBundles[lp.index] = append(inv.entryBundles[lp.index], lp.width)
	case kindTile:
		id := tileID{lp.level, lp.index}
		inv.tiles[id] = append(inv.tiles[id], lp.width)
	case kindBundle:
		inv.bundles[lp.digest] = true
	case kindState:
		inv.state[path.Base(rel)] = true
	}
}

// treeStateJSON is .state/treeState, as tessera's POSIX driver writes it.
type treeStateJSON struct {
	Size uint64 `json:"size"`
	Root []byte `json:"root"`
}

// state checks tessera's state files against the checkpoint: the tree
// tessera integrated is the one the checkpoint commits to.
func (v *logVerifier) state(context.Context) error {
	ver, err := v.files.read(dirState+"/version", maxStateFile)
	if err != nil {
		return err
	}
	if string(ver) != "1" {
		return fmt.Errorf("%s/version: %q, want \"1\" (the version of tessera's POSIX layout this Kettle reads)", dirState, clip(string(ver)))
	}
	data, err := v.files.read(dirState+"/treeState", maxStateFile)
	if err != nil {
		return err
	}
	var ts treeStateJSON
	if err := strictjson.Unmarshal(data, &ts); err != nil {
		return fmt.Errorf("%s/treeState: %w", dirState, err)
	}
	switch {
	case ts.Size > v.size && !v.opts.pending:
		return fmt.Errorf("%s/treeState: tessera integrated %d entries, the checkpoint commits to %d: an append stopped before it published a checkpoint (run it again: an append publishes the pending entries first)", dirState, ts.Size, v.size)
	case ts.Size > v.size:
		if len(ts.Root) != sha256.Size {
			return fmt.Errorf("%s/treeState: a root of %d bytes, want %d", dirState, len(ts.Root), sha256.Size)
		}
		v.addPrefix(v.size, v.root, fmt.Sprintf("%s/treeState: the tree tessera integrated does not extend the checkpoint's: its first %d entries hash to %%s, the checkpoint commits to %%s", dirState, v.size))
		v.size, v.root, v.rootFrom = ts.Size, ts.Root, dirState+"/treeState"
	case ts.Size < v.size:
		return fmt.Errorf("%s/treeState: tessera integrated %d entries, fewer than the %d the checkpoint commits to", dirState, ts.Size, v.size)
	case !bytes.Equal(ts.Root, v.root):
		return fmt.Errorf("%s/treeState: root %s, the checkpoint's is %s", dirState, base64.StdEncoding.EncodeToString(ts.Root), base64.StdEncoding.EncodeToString(v.root))
	}
	return nil
}

// layout checks that the tiles and entry bundles the checkpoint's tree
// needs are all there, and that none is beyond it.
func (v *logVerifier) layout(context.Context) error {
	inv := v.inv
	for index, widths := range inv.entryBundles {
		for _, w := range widths {
			if role(v.size, index, w) == beyond {
				if err := v.leftover(layout.EntriesPath(index, w)); err != nil {
					return err
				}
				inv.entryBundles[index] = without(inv.entryBundles[index], w)
			}
		}
	}
	for id, widths := range inv.tiles {
		for _, w := range widths {
			if role(v.size>>(layout.TileHeight*id.level), id.index, w) == beyond {
				if err := v.leftover(layout.TilePath(id.level, id.index, w)); err != nil {
					return err
				}
				inv.tiles[id] = without(inv.tiles[id], w)
			}
		}
	}
	for index := uint64(0); index*layout.EntryBundleWidth < v.size; index++ {
		w := layout.PartialTileSize(0, index, v.size)
		if !hasWidth(inv.entryBundles[index], w) {
			return errMissing(layout.EntriesPath(index, w))
		}
	}
	for level := uint64(0); level < 64 && v.size>>(layout.TileHeight*level) > 0; level++ {
		for index := uint64(0); index*layout.TileWidth < v.size>>(layout.TileHeight*level); index++ {
			w := layout.PartialTileSize(level, index, v.size)
			if !hasWidth(inv.tiles[tileID{level, index}], w) {
				return errMissing(layout.TilePath(level, index, w))
			}
		}
	}
	return nil
}

// A file's role in the tree of a checkpoint.
const (
	inTree = iota // the full or partial file the tree uses
	stale         // a partial file of an earlier size
	beyond        // a file of a larger tree, which no checkpoint covers
)

// role says what the file of a tile or entry bundle at index with width w
// (0 for a full one) is in a tree whose level holds count nodes.
func role(count, index uint64, w uint8) int {
	full := count / layout.TileWidth
	part := uint8(count % layout.TileWidth)
	switch {
	case index < full && w == 0:
		return inTree
	case index < full:
		return stale
	case index == full && part > 0 && w == part:
		return inTree
	case index == full && w > 0 && w < part:
		return stale
	}
	return beyond
}

func hasWidth(widths []uint8, w uint8) bool {
	for _, x := range widths {
		if x == w {
			return true
		}
	}
	return false
}

// leftover lists a file beyond the tree with VerifyOptions.pending, and
// fails on it otherwise.
func (v *logVerifier) leftover(rel string) error {
	if !v.opts.pending {
		return fmt.Errorf("%s: beyond the log's %d entries (added, or left by an append that stopped: the next append removes it)", rel, v.size)
	}
	v.result.leftovers = append(v.result.leftovers, rel)
	return nil
}

func without(widths []uint8, w uint8) []uint8 {
	out := widths[:0:0]
	for _, x := range widths {
		if x != w {
			out = append(out, x)
		}
	}
	return out
}

func errMissing(rel string) error {
	return fmt.Errorf("%s: missing (a truncated log?)", rel)
}

// tree reads every entry bundle in order, parses the entries, recomputes
// the tiles and the root, and compares them with the tile files, the
// checkpoint and the old checkpoint.
func (v *logVerifier) tree(ctx context.Context) error {
	t := &treeBuilder{
		files:   v.files,
		inv:     v.inv,
		size:    v.size,
		pending: map[tileID][]byte{},
		seen:    map[[32]byte]uint64{},
	}
	t.cr = (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	for index := uint64(0); index*layout.EntryBundleWidth < v.size; index++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, err := t.entryBundle(index)
		if err != nil {
			return err
		}
		for _, data := range entries {
			if err := t.entry(data, v.prefixes); err != nil {
				return err
			}
		}
	}
	if err := t.flush(); err != nil {
		return err
	}
	v.result.StalePartials = t.stale
	root := rfc6962.DefaultHasher.EmptyRoot()
	if v.size > 0 {
		var err error
		if root, err = t.cr.GetRootHash(nil); err != nil {
			return err
		}
	}
	if !bytes.Equal(root, v.root) {
		return fmt.Errorf("%s: commits to root %s, but the entries hash to %s (an entry or the %s was altered)", v.rootFrom, b64(v.root), b64(root), path.Base(v.rootFrom))
	}
	for _, p := range v.prefixes {
		if !bytes.Equal(p.got, p.root) {
			return fmt.Errorf(p.mismatch, b64(p.got), b64(p.root))
		}
	}
	v.result.Entries = t.entries
	return nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// treeBuilder recomputes the log's Merkle tree from its entries.
type treeBuilder struct {
	files   logFiles
	inv     *inventory
	size    uint64
	cr      *compact.Range
	pending map[tileID][]byte // tiles being recomputed, as their file's bytes
	full    []tileID          // tiles completed by the last append
	entries []Entry
	seen    map[[32]byte]uint64 // provenance → index
	stale   int
}

// entryBundle reads the entry bundle at index and checks its stale
// partial versions against it.
func (t *treeBuilder) entryBundle(index uint64) ([][]byte, error) {
	w := layout.PartialTileSize(0, index, t.size)
	rel := layout.EntriesPath(index, w)
	raw, err := t.files.read(rel, maxEntryBundleSize)
	if err != nil {
		return nil, err
	}
	n := int(w)
	if w == 0 {
		n = layout.EntryBundleWidth
	}
	entries, err := parseEntryBundle(rel, raw, n)
	if err != nil {
		return nil, err
	}
	for _, pw := range t.inv.entryBundles[index] {
		if pw == 0 || pw == w {
			continue
		}
		prel := layout.EntriesPath(index, pw)
		praw, err := t.files.read(prel, maxEntryBundleSize)
		if err != nil {
			return nil, err
		}
		if _, err := parseEntryBundle(prel, praw, int(pw)); err != nil {
			return nil, err
		}
		if !bytes.HasPrefix(raw, praw) {
			return nil, fmt.Errorf("%s: not the first %d entries of %s (the partial bundle was altered)", prel, pw, rel)
		}
		t.stale++
	}
	return entries, nil
}

// entry parses one entry, adds its leaf to the tree and checks the tiles
// that the leaf completes.
func (t *treeBuilder) entry(data []byte, prefixes []*prefix) error {
	index := t.cr.End()
	e, err := ParseEntry(data)
	if err != nil {
		return fmt.Errorf("entry %d (%s): %w", index, layout.EntriesPathForLogIndex(index, t.size), err)
	}
	if first, dup := t.seen[e.ProvenanceSHA256]; dup {
		return fmt.Errorf("entries %d and %d both log provenance %x", first, index, e.ProvenanceSHA256)
	}
	t.seen[e.ProvenanceSHA256] = index
	e.Index = index
	e.BundlePath = t.files.path(bundleRel(e.ProvenanceSHA256))
	t.entries = append(t.entries, *e)
	if err := t.cr.Append(rfc6962.DefaultHasher.HashLeaf(data), t.visit); err != nil {
		return err
	}
	for _, p := range prefixes {
		if t.cr.End() == p.size {
			if p.got, err = t.cr.GetRootHash(nil); err != nil {
				return err
			}
		}
	}
	for _, id := range t.full {
		if err := t.checkTile(id, t.pending[id]); err != nil {
			return err
		}
		delete(t.pending, id)
	}
	t.full = t.full[:0]
	return nil
}

// visit collects the nodes that tiles hold: those at every eighth level
// of the tree.
func (t *treeBuilder) visit(id compact.NodeID, hash []byte) {
	if id.Level%layout.TileHeight != 0 {
		return
	}
	tid := tileID{uint64(id.Level / layout.TileHeight), id.Index / layout.TileWidth}
	t.pending[tid] = append(t.pending[tid], hash...)
	if len(t.pending[tid]) == maxTileSize {
		t.full = append(t.full, tid)
	}
}

// flush checks the partial tiles at the tree's right edge.
func (t *treeBuilder) flush() error {
	ids := make([]tileID, 0, len(t.pending))
	for id := range t.pending {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].level < ids[j].level })
	for _, id := range ids {
		if err := t.checkTile(id, t.pending[id]); err != nil {
			return err
		}
	}
	return nil
}

// checkTile compares a recomputed tile with its file, and with the stale
// partial versions of it the log holds.
func (t *treeBuilder) checkTile(id tileID, want []byte) error {
	w := uint8(len(want) / sha256.Size % layout.TileWidth)
	rel := layout.TilePath(id.level, id.index, w)
	got, err := t.files.read(rel, maxTileSize)
	if err != nil {
		return err
	}
	if err := t.compareTile(rel, id, got, want); err != nil {
		return err
	}
	for _, pw := range t.inv.tiles[id] {
		if pw == 0 || pw == w {
			continue
		}
		prel := layout.TilePath(id.level, id.index, pw)
		pgot, err := t.files.read(prel, maxTileSize)
		if err != nil {
			return err
		}
		if err := t.compareTile(prel, id, pgot, want[:int(pw)*sha256.Size]); err != nil {
			return err
		}
		t.stale++
	}
	return nil
}

// compareTile compares a tile file with the tile recomputed from the
// entries; a differing hash is named with the entries it covers.
func (t *treeBuilder) compareTile(rel string, id tileID, got, want []byte) error {
	if len(got) != len(want) {
		if len(got)%sha256.Size != 0 {
			return fmt.Errorf("%s: %d bytes, not a whole number of %d-byte hashes (truncated?); want %d hashes", rel, len(got), sha256.Size, len(want)/sha256.Size)
		}
		return fmt.Errorf("%s: %d hashes, want %d (truncated?)", rel, len(got)/sha256.Size, len(want)/sha256.Size)
	}
	for i := 0; i < len(want); i += sha256.Size {
		if bytes.Equal(got[i:i+sha256.Size], want[i:i+sha256.Size]) {
			continue
		}
		k := uint64(i / sha256.Size)
		if id.level == 0 {
			n := id.index*layout.TileWidth + k
			return fmt.Errorf("%s: hash %d is not the leaf hash of entry %d (%s): the entry or the tile was altered", rel, k, n, layout.EntriesPathForLogIndex(n, t.size))
		}
		span := uint64(1) << (layout.TileHeight * id.level)
		first := (id.index*layout.TileWidth + k) * span
		return fmt.Errorf("%s: hash %d is not the one recomputed from entries %d to %d: an entry or the tile was altered", rel, k, first, first+span-1)
	}
	return nil
}

// bundles checks the bundle store: each entry's bundle is there with the
// SHA-256 the entry records, and no other is.
func (v *logVerifier) bundles(ctx context.Context) error {
	named := map[[32]byte]bool{}
	for _, e := range v.result.Entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		named[e.ProvenanceSHA256] = true
		rel := bundleRel(e.ProvenanceSHA256)
		if !v.inv.bundles[e.ProvenanceSHA256] {
			return fmt.Errorf("entry %d: its bundle %s is missing", e.Index, rel)
		}
		if v.opts.skipBundleDigests {
			continue
		}
		got, err := fileSHA256(v.files, rel)
		if err != nil {
			return err
		}
		if got != e.BundleSHA256 {
			return fmt.Errorf("%s: SHA-256 %x, but entry %d records %x (the stored bundle was altered)", rel, got, e.Index, e.BundleSHA256)
		}
	}
	var orphans []string
	for d := range v.inv.bundles {
		if !named[d] {
			orphans = append(orphans, bundleRel(d))
		}
	}
	sort.Strings(orphans)
	if len(orphans) > 0 && !v.opts.pending {
		return fmt.Errorf("%s: no entry of the log names it (left by an append that stopped: the next append removes it)", orphans[0])
	}
	v.result.leftovers = append(v.result.leftovers, orphans...)
	return nil
}

func bundleRel(provenance [32]byte) string {
	return DirBundles + "/" + fmt.Sprintf("%x", provenance) + ".tar"
}

// fileSHA256 hashes a file of the log, of at most MaxBundleSize bytes.
func fileSHA256(files logFiles, rel string) ([32]byte, error) {
	f, err := inputfile.Open(files.path(rel), MaxBundleSize)
	if err != nil {
		return [32]byte{}, fmt.Errorf("%s: %w", rel, unwrapPath(err))
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return [32]byte{}, fmt.Errorf("%s: %w", rel, unwrapPath(err))
	}
	var d [32]byte
	h.Sum(d[:0])
	return d, nil
}
