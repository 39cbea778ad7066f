package tlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/fsck"
	"golang.org/x/mod/sumdb/note"

	"github.com/kettle-build/kettle/provenance"
)

// baseLog is a log of 263 entries appended in two batches, 260 then 3, so
// that it holds a full entry bundle and tile, a partial bundle and tile
// with a stale partial version of each, and a level-1 tile; tests copy it.
var baseLog = struct {
	sync.Mutex
	dir  string
	key  *SigningKey
	cp1  []byte // the checkpoint after the first batch
	tmp  string
	done bool
}{}

func base(t *testing.T) (string, *SigningKey) {
	t.Helper()
	baseLog.Lock()
	defer baseLog.Unlock()
	if !baseLog.done {
		tmp, err := os.MkdirTemp("", "tlog-base-")
		if err != nil {
			t.Fatal(err)
		}
		baseLog.tmp = tmp
		baseLog.key = testKey(t, "example.org/base-log")
		baseLog.dir = filepath.Join(tmp, "log")
		if err := Init(context.Background(), baseLog.dir, baseLog.key); err != nil {
			t.Fatal(err)
		}
		appendBundles(t, baseLog.dir, baseLog.key, writeBundles(t, tmp, 0, 260))
		if baseLog.cp1, err = os.ReadFile(filepath.Join(baseLog.dir, "checkpoint")); err != nil {
			t.Fatal(err)
		}
		appendBundles(t, baseLog.dir, baseLog.key, writeBundles(t, tmp, 260, 3))
		baseLog.done = true
	}
	return baseLog.dir, baseLog.key
}

// copyLog copies the base log into a fresh directory.
func copyLog(t *testing.T) (string, *SigningKey) {
	t.Helper()
	src, key := base(t)
	dst := filepath.Join(t.TempDir(), "log")
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst, key
}

// snapshot is every file of a directory and its SHA-256.
func snapshot(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			data, _ := os.ReadFile(p)
			out[rel] = sha256.Sum256(data)
		}
		return nil
	})
	return out
}

func sameSnapshot(t *testing.T, before, after map[string][32]byte) {
	t.Helper()
	var diff []string
	for p, h := range after {
		if before[p] != h {
			diff = append(diff, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			diff = append(diff, p+" (removed)")
		}
	}
	if len(diff) > 0 {
		sort.Strings(diff)
		t.Errorf("the log changed: %s", strings.Join(diff, ", "))
	}
}

func checkLog(t *testing.T, dir string, key *SigningKey, old []byte) (*VerifyResult, error) {
	t.Helper()
	return Verify(context.Background(), dir, VerifyOptions{Verifier: key.Verifier, OldCheckpoint: old})
}

func TestBaseLogVerifies(t *testing.T) {
	dir, key := base(t)
	res, err := checkLog(t, dir, key, baseLog.cp1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != 263 || len(res.Entries) != 263 || res.OldSize != 260 {
		t.Errorf("size %d, %d entries, old size %d", res.Size, len(res.Entries), res.OldSize)
	}
	if res.StalePartials != 2 {
		t.Errorf("%d stale partials, want 2 (tile/entries/001.p/4 and tile/0/001.p/4)", res.StalePartials)
	}
	for i, e := range res.Entries {
		if e.Index != uint64(i) || e.Verified || e.Reason != "test bundle" {
			t.Fatalf("entry %d: %+v", i, e)
		}
		data, err := os.ReadFile(e.BundlePath)
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(data) != e.BundleSHA256 || !bytes.Equal(data, bundleTar(t, i)) {
			t.Fatalf("entry %d: the stored bundle is not the one appended", i)
		}
	}
	entries, err := Entries(dir)
	if err != nil || len(entries) != 263 {
		t.Fatalf("Entries: %d, %v", len(entries), err)
	}
	files := snapshot(t, dir)
	for _, want := range []string{"tile/entries/000", "tile/entries/001.p/4", "tile/entries/001.p/7", "tile/0/000", "tile/0/001.p/4", "tile/0/001.p/7", "tile/1/000.p/1", "checkpoint", "log.vkey"} {
		if _, ok := files[want]; !ok {
			t.Errorf("the log has no %s", want)
		}
	}
	for p := range files {
		if strings.HasPrefix(p, "tile/entries/000.p") || strings.HasPrefix(p, "tile/0/000.p") {
			t.Errorf("%s: a partial of a full bundle or tile was not collected", p)
		}
	}
}

// TestTesseraReadsTheLog: tessera's own fsck, reading the directory as a
// tlog-tiles client would, checks the log, and its client builds proofs
// that the merkle library verifies.
func TestTesseraReadsTheLog(t *testing.T) {
	dir, key := base(t)
	hasher := func(bundle []byte) ([][]byte, error) {
		var b api.EntryBundle
		if err := b.UnmarshalText(bundle); err != nil {
			return nil, err
		}
		hs := make([][]byte, len(b.Entries))
		for i, e := range b.Entries {
			hs[i] = rfc6962.DefaultHasher.HashLeaf(e)
		}
		return hs, nil
	}
	f := client.FileFetcher{Root: dir}
	if err := fsck.New(key.Signer.Name(), key.Verifier, f, hasher, fsck.Opts{N: 1}).Check(context.Background()); err != nil {
		t.Fatalf("tessera's fsck: %v", err)
	}
	cp, _, _, err := client.FetchCheckpoint(context.Background(), f.ReadCheckpoint, key.Verifier, key.Signer.Name())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 263 {
		t.Errorf("tessera's client reads a checkpoint of %d entries", cp.Size)
	}
}

func TestAppendDuplicates(t *testing.T) {
	dir, key := copyLog(t)
	ctx := context.Background()
	src := t.TempDir()
	again := writeBundles(t, src, 5, 1)[0] // entry 5 of the base log
	l, err := Open(ctx, dir, key)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	s, err := l.Stage(again)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Discard()
	out, err := l.Append(ctx, []Item{{Bundle: s, Verdict: Verdict{Reason: "x"}}}, AppendOptions{AllowUnverified: true})
	if err != nil {
		t.Fatal(err)
	}
	if !out[0].Duplicate || out[0].Index != 5 || l.Size() != 263 {
		t.Errorf("appending entry 5's bundle again: %+v, size %d", out[0], l.Size())
	}

	// The same provenance in another bundle (other evidence) is refused.
	other := filepath.Join(src, "other.tar")
	data := bytes.Replace(bundleTar(t, 5), []byte(`{"version":1}`), []byte(`{"version":2}`), 1)
	if err := os.WriteFile(other, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s2, err := l.Stage(other)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Discard()
	if _, err := l.Append(ctx, []Item{{Bundle: s2, Verdict: Verdict{OK: false, Reason: "x"}}}, AppendOptions{AllowUnverified: true}); err == nil || !strings.Contains(err.Error(), "logged already, at index 5, with another bundle") {
		t.Errorf("appending another bundle of a logged provenance: %v", err)
	}
	// Twice in one batch.
	fresh := writeBundles(t, src, 1000, 1)[0]
	s3, _ := l.Stage(fresh)
	s4, _ := l.Stage(fresh)
	defer s3.Discard()
	defer s4.Discard()
	if _, err := l.Append(ctx, []Item{{Bundle: s3, Verdict: Verdict{Reason: "x"}}, {Bundle: s4, Verdict: Verdict{Reason: "x"}}}, AppendOptions{AllowUnverified: true}); err == nil || !strings.Contains(err.Error(), "the same bundle twice") {
		t.Errorf("one bundle twice in a batch: %v", err)
	}
	for _, s := range []*Staged{s2, s3, s4} {
		s.Discard()
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := checkLog(t, dir, key, nil); err != nil {
		t.Fatal(err)
	}
}

// TestAppendRefusesUnverified: a bundle that did not verify is refused,
// and the log is left as it was; with AllowUnverified its entry says why.
func TestAppendRefusesUnverified(t *testing.T) {
	dir, key := copyLog(t)
	ctx := context.Background()
	before := snapshot(t, dir)
	l, err := Open(ctx, dir, key)
	if err != nil {
		t.Fatal(err)
	}
	paths := writeBundles(t, t.TempDir(), 300, 2)
	var items []Item
	for i, p := range paths {
		s, err := l.Stage(p)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Discard()
		items = append(items, Item{Bundle: s, Verdict: Verdict{OK: i == 1, Reason: "FAILED at chain:\nbad\tsignature"}})
	}
	_, err = l.Append(ctx, items, AppendOptions{})
	if !errors.Is(err, ErrUnverified) || !strings.Contains(err.Error(), "FAILED at chain: bad signature") {
		t.Fatalf("Append of an unverified bundle: %v", err)
	}
	for _, it := range items {
		it.Bundle.Discard()
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, dir)
	delete(after, FileLock)
	delete(before, FileLock)
	sameSnapshot(t, before, after)

	// The first bundle "verified", but its files say nothing: a verified
	// entry must know its manifest root, platform and subjects.
	l, err = Open(ctx, dir, key)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	s, err := l.Stage(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	defer s.Discard()
	if _, err := l.Append(ctx, []Item{{Bundle: s, Verdict: Verdict{OK: true}}}, AppendOptions{}); err == nil || !strings.Contains(err.Error(), "verified, but its manifest-root is unknown") {
		t.Errorf("a verified bundle whose manifest does not decode: %v", err)
	}
	s2, err := l.Stage(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Discard()
	out, err := l.Append(ctx, []Item{{Bundle: s2, Verdict: Verdict{Reason: "FAILED at chain:\nbad\tsignature"}}}, AppendOptions{AllowUnverified: true})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Index != 263 || out[0].Verified || out[0].Reason != "FAILED at chain: bad signature" {
		t.Errorf("appended %+v", out[0])
	}
}

// TestStageDirectory: a directory bundle is stored as the tar archive
// `kettle build -o X.tar` writes of the same files, so both have one
// archive SHA-256.
func TestStageDirectory(t *testing.T) {
	src := t.TempDir()
	files := map[string]string{
		provenance.FileProvenance: `{"n":1}`,
		provenance.FileEvidence:   `{"version":1}`,
		provenance.FileManifest:   `{"version":1}`,
	}
	dirBundle := filepath.Join(src, "b")
	tarBundle := filepath.Join(src, "b.tar")
	for _, dest := range []string{dirBundle, tarBundle} {
		w, err := provenance.CreateBundle(dest)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{provenance.FileProvenance, provenance.FileEvidence, provenance.FileManifest} {
			if err := w.AddFile(name, []byte(files[name])); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.AddArtifact("hello", provenance.CompressionZstd, func(w io.Writer) error { _, err := io.WriteString(w, "nar bytes"); return err }); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	// The artifact was compressed twice: give the tar the directory's
	// bytes, so that only the archiving differs.
	dirArt, err := os.ReadFile(filepath.Join(dirBundle, "artifacts", "hello.nar.zst"))
	if err != nil {
		t.Fatal(err)
	}
	tarData, err := os.ReadFile(tarBundle)
	if err != nil {
		t.Fatal(err)
	}
	pd, ad, err := BundleDigests(dirBundle)
	if err != nil {
		t.Fatal(err)
	}
	pt, at, err := BundleDigests(tarBundle)
	if err != nil {
		t.Fatal(err)
	}
	if pd != pt {
		t.Errorf("provenance digests differ")
	}
	if at != sha256.Sum256(tarData) {
		t.Errorf("a tar bundle's archive digest is not its file's SHA-256")
	}
	tarArt, err := provenance.OpenBundle(tarBundle)
	if err != nil {
		t.Fatal(err)
	}
	if len(tarArt.Artifacts) != 1 {
		t.Fatal("no artifact")
	}
	if bytes.Contains(tarData, dirArt) && ad != at {
		t.Errorf("the directory's archive %x differs from kettle build's tar %x", ad, at)
	}

	key := testKey(t, "example.org/log")
	dir := newLog(t, key)
	out := appendBundles(t, dir, key, []string{dirBundle})
	if out[0].BundleSHA256 != ad {
		t.Errorf("stored archive %x, BundleDigests says %x", out[0].BundleSHA256, ad)
	}
	if _, err := provenance.OpenBundle(out[0].BundlePath); err != nil {
		t.Errorf("the stored copy does not open as a bundle: %v", err)
	}
}

// TestStageRefusesNonBundles: what does not open as a bundle is not
// staged, and nothing is left in the log.
func TestStageRefusesNonBundles(t *testing.T) {
	key := testKey(t, "example.org/log")
	dir := newLog(t, key)
	ctx := context.Background()
	l, err := Open(ctx, dir, key)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	src := t.TempDir()
	notTar := filepath.Join(src, "x.tar")
	os.WriteFile(notTar, []byte("hello"), 0o644)
	truncated := filepath.Join(src, "t.tar")
	os.WriteFile(truncated, bundleTar(t, 1)[:700], 0o644)
	for _, p := range []string{notTar, truncated, filepath.Join(src, "missing"), "/dev/zero"} {
		if _, err := l.Stage(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("Stage(%s): %v", p, err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, DirBundles)); len(entries) != 0 {
		t.Errorf("Stage left %d files in bundles/", len(entries))
	}
}

func TestOpenRefusesAnotherKey(t *testing.T) {
	dir, _ := copyLog(t)
	other := testKey(t, "example.org/base-log")
	if _, err := Open(context.Background(), dir, other); err == nil || !strings.Contains(err.Error(), "is not the log's") {
		t.Errorf("Open with another key: %v", err)
	}
	if _, err := Open(context.Background(), t.TempDir(), other); err == nil || !strings.Contains(err.Error(), "not a Kettle log") {
		t.Errorf("Open of an empty directory: %v", err)
	}
	if err := Init(context.Background(), dir, other); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("Init over a log: %v", err)
	}
}

// TestTamper: every kind of damage to a log is refused by Verify, with a
// reason that names the file, and Open refuses to append to such a log,
// writing nothing.
func TestTamper(t *testing.T) {
	_, baseKey := base(t)
	otherKey := testKey(t, baseKey.Signer.Name()) // same name, another key
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, dir string)
		want   string
	}{
		{"edited entry", func(t *testing.T, dir string) {
			edit(t, dir, "tile/entries/000", func(b []byte) []byte {
				i := bytes.Index(b, []byte("verified no: test bundle"))
				return append(append(b[:i:i], []byte("verified no: tesT bundle")...), b[i+24:]...)
			})
		}, "tile/0/000: hash 0 is not the leaf hash of entry 0 (tile/entries/000): the entry or the tile was altered"},
		{"malformed entry", func(t *testing.T, dir string) {
			edit(t, dir, "tile/entries/000", func(b []byte) []byte { return bytes.Replace(b, []byte("verified no:"), []byte("verified NO:"), 1) })
		}, "entry 0 (tile/entries/000): entry line 6: verified"},
		{"flipped byte in a tile", func(t *testing.T, dir string) {
			edit(t, dir, "tile/0/000", func(b []byte) []byte { b[100] ^= 1; return b })
		}, "tile/0/000: hash 3 is not the leaf hash of entry 3"},
		{"flipped byte in the level-1 tile", func(t *testing.T, dir string) {
			edit(t, dir, "tile/1/000.p/1", func(b []byte) []byte { b[0] ^= 1; return b })
		}, "tile/1/000.p/1: hash 0 is not the one recomputed from entries 0 to 255"},
		{"truncated tile", func(t *testing.T, dir string) {
			edit(t, dir, "tile/0/000", func(b []byte) []byte { return b[:len(b)-32] })
		}, "tile/0/000: 255 hashes, want 256 (truncated?)"},
		{"tile cut mid-hash", func(t *testing.T, dir string) {
			edit(t, dir, "tile/0/001.p/7", func(b []byte) []byte { return b[:100] })
		}, "tile/0/001.p/7: 100 bytes, not a whole number"},
		{"truncated entry bundle", func(t *testing.T, dir string) {
			edit(t, dir, "tile/entries/000", func(b []byte) []byte { return b[:len(b)-10] })
		}, "tile/entries/000: not an entry bundle (truncated?)"},
		{"entry bundle cut at an entry", func(t *testing.T, dir string) {
			edit(t, dir, "tile/entries/001.p/7", func(b []byte) []byte { return b[:len(b)/7*6] })
		}, "tile/entries/001.p/7"},
		{"missing tile", func(t *testing.T, dir string) { remove(t, dir, "tile/0/000") }, "tile/0/000: missing (a truncated log?)"},
		{"missing entry bundle", func(t *testing.T, dir string) { remove(t, dir, "tile/entries/001.p/7") }, "tile/entries/001.p/7: missing"},
		{"altered stale partial bundle", func(t *testing.T, dir string) {
			edit(t, dir, "tile/entries/001.p/4", func(b []byte) []byte { b[len(b)-3] ^= 1; return b })
		}, "tile/entries/001.p/4: not the first 4 entries of tile/entries/001.p/7"},
		{"altered stale partial tile", func(t *testing.T, dir string) {
			edit(t, dir, "tile/0/001.p/4", func(b []byte) []byte { b[0] ^= 1; return b })
		}, "tile/0/001.p/4: hash 0 is not the leaf hash of entry 256"},
		{"rewritten checkpoint", func(t *testing.T, dir string) {
			edit(t, dir, "checkpoint", func(b []byte) []byte { return bytes.Replace(b, []byte("\n263\n"), []byte("\n262\n"), 1) })
		}, "checkpoint: the signature by example.org/base-log+"},
		{"checkpoint signed by another key", func(t *testing.T, dir string) {
			resign(t, dir, otherKey, nil)
		}, "checkpoint: not signed by the log's key example.org/base-log+"},
		{"checkpoint re-signed over another root", func(t *testing.T, dir string) {
			resign(t, dir, baseKey, func(text string) string {
				lines := strings.Split(text, "\n")
				lines[2] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
				return strings.Join(lines, "\n")
			})
		}, ".state/treeState: root"},
		{"not a checkpoint", func(t *testing.T, dir string) {
			edit(t, dir, "checkpoint", func([]byte) []byte { return []byte("hello\n") })
		}, "checkpoint: not a signed note"},
		{"checkpoint with extension lines", func(t *testing.T, dir string) {
			resign(t, dir, baseKey, func(text string) string { return text + "ext line\n" })
		}, "checkpoint: extension lines"},
		{"unknown file", func(t *testing.T, dir string) { write(t, dir, "README", "hi") }, "README: unknown file"},
		{"leftover temporary file", func(t *testing.T, dir string) { write(t, dir, "tile/0/000123", "x") }, "tile/0/000123: unknown file"},
		{"unknown directory", func(t *testing.T, dir string) { os.Mkdir(filepath.Join(dir, "extra"), 0o755) }, "extra: unknown file"},
		{"symbolic link", func(t *testing.T, dir string) {
			remove(t, dir, "tile/0/000")
			os.Symlink("/etc/passwd", filepath.Join(dir, "tile/0/000"))
		}, "tile/0/000: a symbolic link, not a regular file"},
		{"file beyond the checkpoint", func(t *testing.T, dir string) { write(t, dir, "tile/entries/002", "") }, "tile/entries/002: beyond the log's 263 entries"},
		{"stored bundle altered", func(t *testing.T, dir string) {
			edit(t, dir, bundleOf(t, dir, 7), func(b []byte) []byte { b[600] ^= 1; return b })
		}, "(the stored bundle was altered)"},
		{"stored bundle missing", func(t *testing.T, dir string) { remove(t, dir, bundleOf(t, dir, 7)) }, "entry 7: its bundle bundles/"},
		{"orphan bundle", func(t *testing.T, dir string) {
			write(t, dir, "bundles/"+hexA+".tar", string(bundleTar(t, 9999)))
		}, "bundles/" + hexA + ".tar: no entry of the log names it"},
		{"staged leftover", func(t *testing.T, dir string) { write(t, dir, "bundles/.stage-1.tar", "x") }, "bundles/.stage-1.tar: a bundle staged by an append that did not finish"},
		{"no log.vkey", func(t *testing.T, dir string) { remove(t, dir, FileVKey) }, "not a Kettle log"},
		{"tessera state version", func(t *testing.T, dir string) { write(t, dir, ".state/version", "2") }, `.state/version: "2", want "1"`},
		{"tessera state behind", func(t *testing.T, dir string) {
			write(t, dir, ".state/treeState", `{"size":262,"root":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`)
		}, ".state/treeState: tessera integrated 262 entries, fewer than the 263"},
		{"tessera state not JSON", func(t *testing.T, dir string) { write(t, dir, ".state/treeState", `{"size":263`) }, ".state/treeState:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, key := copyLog(t)
			tc.tamper(t, dir)
			_, err := checkLog(t, dir, key, nil)
			if err == nil {
				t.Fatal("Verify accepted the log")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify: %v\nwant it to contain %q", err, tc.want)
			}
			switch tc.name {
			case "stored bundle altered": // Open does not re-hash stored bundles
				return
			case "staged leftover", "orphan bundle", "file beyond the checkpoint":
				return // Open removes them: TestOpenRemovesLeftovers
			}
			before := snapshot(t, dir)
			if l, err := Open(context.Background(), dir, key); err == nil {
				l.Close(context.Background())
				t.Fatal("Open accepted the log")
			}
			after := snapshot(t, dir)
			delete(after, FileLock)
			delete(before, FileLock)
			sameSnapshot(t, before, after)
		})
	}
}

// TestOpenRemovesLeftovers: what an append that stopped may leave — a
// staged bundle, a stored bundle without an entry, tessera's files beyond
// the tree it integrated — fails Verify, and the next Open removes it.
func TestOpenRemovesLeftovers(t *testing.T) {
	dir, key := copyLog(t)
	entries, err := os.ReadFile(filepath.Join(dir, "tile/entries/001.p/7"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "bundles/.stage-1.tar", "x")
	write(t, dir, "bundles/"+hexA+".tar", string(bundleTar(t, 9999)))
	write(t, dir, "tile/entries/001.p/8", string(entries)+"\x00\x01x")
	write(t, dir, "tile/0/001.p/8", strings.Repeat("h", 8*32))
	for _, want := range []string{"bundles/.stage-1.tar", "tile/entries/001.p/8: beyond the log's 263 entries", "tile/0/001.p/8: beyond"} {
		_, err := checkLog(t, dir, key, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Verify: %v, want %q", err, want)
		}
		// Take away the file reported, to see the next one.
		switch {
		case strings.HasPrefix(want, "bundles/"):
			os.Rename(filepath.Join(dir, want), filepath.Join(t.TempDir(), "staged"))
		case strings.HasPrefix(want, "tile/entries/"):
			os.Rename(filepath.Join(dir, "tile/entries/001.p/8"), filepath.Join(t.TempDir(), "e"))
		}
	}
	write(t, dir, "bundles/.stage-1.tar", "x")
	write(t, dir, "tile/entries/001.p/8", string(entries)+"\x00\x01x")
	l, err := Open(context.Background(), dir, key)
	if err != nil {
		t.Fatal(err)
	}
	l.Close(context.Background())
	if _, err := checkLog(t, dir, key, nil); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"bundles/.stage-1.tar", "bundles/" + hexA + ".tar", "tile/entries/001.p/8", "tile/0/001.p/8"} {
		if _, err := os.Stat(filepath.Join(dir, rel)); err == nil {
			t.Errorf("Open left %s", rel)
		}
	}
}

// TestPendingEntriesPublished: an append that integrated entries but
// stopped before publishing a checkpoint (the checkpoint is the one of the
// first batch, tessera's state the second's) is refused by Verify, and the
// next Open verifies the pending entries and publishes them.
func TestPendingEntriesPublished(t *testing.T) {
	dir, key := copyLog(t)
	write(t, dir, "checkpoint", string(baseLog.cp1))
	_, err := checkLog(t, dir, key, nil)
	if err == nil || !strings.Contains(err.Error(), "tessera integrated 263 entries, the checkpoint commits to 260: an append stopped before it published") {
		t.Fatalf("Verify: %v", err)
	}
	// Pending entries that were altered are not published.
	bad, _ := copyLog(t)
	write(t, bad, "checkpoint", string(baseLog.cp1))
	edit(t, bad, "tile/entries/001.p/7", func(b []byte) []byte {
		return bytes.Replace(b, []byte("verified no: test"), []byte("verified no: TEST"), 1)
	})
	if _, err := Open(context.Background(), bad, key); err == nil {
		t.Fatal("Open published altered pending entries")
	}
	l, err := Open(context.Background(), dir, key)
	if err != nil {
		t.Fatal(err)
	}
	if l.Size() != 263 {
		t.Errorf("size %d", l.Size())
	}
	l.Close(context.Background())
	if _, err := checkLog(t, dir, key, baseLog.cp1); err != nil {
		t.Fatal(err)
	}
}

// TestOldCheckpoint: the old checkpoint must be of this log's history.
func TestOldCheckpoint(t *testing.T) {
	dir, key := base(t)
	otherKey := testKey(t, key.Signer.Name())
	forged := signText(t, otherKey, string(checkpointText(t, baseLog.cp1)))
	bigger := signText(t, key, fmt.Sprintf("%s\n300\n%s\n", key.Signer.Name(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))
	rewritten := signText(t, key, fmt.Sprintf("%s\n100\n%s\n", key.Signer.Name(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))
	for _, tc := range []struct {
		name string
		old  []byte
		want string
	}{
		{"another key", forged, "old checkpoint: not signed by the log's key"},
		{"larger", bigger, "the old checkpoint commits to 300 entries, the log's checkpoint to 263: the log lost entries"},
		{"another history", rewritten, "the log rewrote its history: its first 100 entries hash to"},
	} {
		if _, err := checkLog(t, dir, key, tc.old); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, _, err := Consistency(context.Background(), dir, 0, rewritten); err == nil || !strings.Contains(err.Error(), "rewrote its history") {
		t.Errorf("Consistency with another history: %v", err)
	}
}

func edit(t *testing.T, dir, rel string, f func([]byte) []byte) {
	t.Helper()
	p := filepath.Join(dir, rel)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, f(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, dir, rel, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, rel), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, dir, rel string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, rel)); err != nil {
		t.Fatal(err)
	}
}

func bundleOf(t *testing.T, dir string, n int) string {
	t.Helper()
	return bundleRel(sha256.Sum256([]byte(fmt.Sprintf(`{"n":%d}`, n))))
}

// checkpointText is a checkpoint's text without its signatures.
func checkpointText(t *testing.T, cp []byte) []byte {
	t.Helper()
	i := bytes.Index(cp, []byte("\n\n"))
	return cp[:i+1]
}

func signText(t *testing.T, key *SigningKey, text string) []byte {
	t.Helper()
	signed, err := note.Sign(&note.Note{Text: text}, key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// resign replaces the checkpoint by its text, edited, signed by key.
func resign(t *testing.T, dir string, key *SigningKey, f func(string) string) {
	t.Helper()
	edit(t, dir, "checkpoint", func(b []byte) []byte {
		text := string(checkpointText(t, b))
		if f != nil {
			text = f(text)
		}
		return signText(t, key, text)
	})
}
