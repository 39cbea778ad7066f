package tlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/storage/posix"

	"github.com/kettle-build/kettle/internal/atomicfile"
)

// Timing of tessera's appender. Checkpoints are published at most every
// checkpointInterval (tessera's minimum); an append waits for the one
// that covers its entries.
const (
	checkpointInterval = 100 * time.Millisecond
	batchMaxAge        = 5 * time.Millisecond
	awaitPoll          = 10 * time.Millisecond
	publishTimeout     = time.Minute
)

// Init creates an empty log at dir, which must not exist: tessera's POSIX
// storage with a checkpoint of size 0 signed by key, and log.vkey. The
// log is made in a temporary sibling and renamed into place, so an
// interrupted Init leaves no log behind.
func Init(ctx context.Context, dir string, key *SigningKey) error {
	dir = filepath.Clean(dir)
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("log %s: already exists", dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("log %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".tmp-*")
	if err != nil {
		return fmt.Errorf("log %s: %w", dir, err)
	}
	if err := initIn(ctx, tmp, key); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("log %s: %w", dir, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := atomicfile.RenameNoReplace(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if errors.Is(err, atomicfile.ErrExists) {
			return fmt.Errorf("log %s: %s appeared while the log was being made", dir, dir)
		}
		return fmt.Errorf("log %s: %w", dir, err)
	}
	return nil
}

func initIn(ctx context.Context, dir string, key *SigningKey) error {
	if err := atomicfile.Write(filepath.Join(dir, FileVKey), []byte(key.VKey+"\n"), 0o644); err != nil {
		return err
	}
	// Starting an appender on an empty directory is how tessera lays out
	// its storage and publishes the first checkpoint. Its background
	// publisher would only run after the interval, which is long here.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	driver, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		return err
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(key.Signer).
		WithCheckpointInterval(time.Hour).
		WithCheckpointRepublishInterval(0).
		WithGarbageCollectionInterval(0)
	_, shutdown, _, err := tessera.NewAppender(ctx, driver, opts)
	if err != nil {
		return err
	}
	if err := shutdown(ctx); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, layout.CheckpointPath)); err != nil {
		return fmt.Errorf("tessera wrote no checkpoint: %w", err)
	}
	return nil
}

// Log is a log open for appending. One process appends at a time: Open
// takes the log's lock, Close releases it.
type Log struct {
	dir      string
	files    logFiles
	key      *SigningKey
	unlock   func()
	cancel   context.CancelFunc
	appender *tessera.Appender
	shutdown func(context.Context) error
	awaiter  *tessera.PublicationAwaiter
	reader   tessera.LogReader

	size       uint64             // entries in the log
	byDigest   map[[32]byte]Entry // every entry, by provenance SHA-256
	checkpoint []byte             // the latest checkpoint published
}

// Open opens the log at dir for appending with key, which must be the key
// of log.vkey. It takes the lock and verifies the log first, as Verify
// does but without hashing the stored bundles: a log with a broken or
// unknown file is not appended to. What an append that stopped left is
// taken care of: entries it integrated but did not publish are verified
// like the rest and published before Open returns, and the bundles it
// staged or stored without an entry, and tessera's files beyond the tree
// it integrated, are removed.
func Open(ctx context.Context, dir string, key *SigningKey) (*Log, error) {
	dir = filepath.Clean(dir)
	files := logFiles{dir}
	if _, err := os.Stat(files.path(FileVKey)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("log %s: no %s: not a Kettle log (kettle log init makes one)", dir, FileVKey)
		}
		return nil, fmt.Errorf("log %s: %w", dir, err)
	}
	vkeyText, err := files.read(FileVKey, maxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", dir, err)
	}
	verifier, err := ParseVerifier(string(vkeyText))
	if err != nil {
		return nil, fmt.Errorf("log %s: %s: %w", dir, FileVKey, err)
	}
	if verifier.Name() != key.Signer.Name() || verifier.KeyHash() != key.Signer.KeyHash() || string(vkeyText) != key.VKey+"\n" {
		return nil, fmt.Errorf("log %s: the key %s+%08x is not the log's, %s+%08x (%s)", dir, key.Signer.Name(), key.Signer.KeyHash(), verifier.Name(), verifier.KeyHash(), FileVKey)
	}
	unlock, err := lockLog(ctx, dir, true)
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", dir, err)
	}
	l := &Log{dir: dir, files: files, key: key, unlock: unlock}
	if err := l.open(ctx); err != nil {
		l.release()
		return nil, fmt.Errorf("log %s: %w", dir, err)
	}
	return l, nil
}

func (l *Log) open(ctx context.Context) error {
	if err := l.removeStaged(); err != nil {
		return err
	}
	res, err := verifyLog(ctx, l.dir, VerifyOptions{Verifier: l.key.Verifier, skipBundleDigests: true, pending: true, locked: true})
	if err != nil {
		return err
	}
	for _, rel := range res.leftovers {
		if err := os.Remove(l.files.path(rel)); err != nil {
			return err
		}
	}
	l.checkpoint = res.Checkpoint
	l.size = uint64(len(res.Entries))
	l.byDigest = make(map[[32]byte]Entry, len(res.Entries))
	for _, e := range res.Entries {
		l.byDigest[e.ProvenanceSHA256] = e
	}
	actx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	driver, err := posix.New(actx, posix.Config{Path: l.dir})
	if err != nil {
		return err
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(l.key.Signer).
		WithCheckpointInterval(checkpointInterval).
		WithCheckpointRepublishInterval(0).
		WithBatching(layout.EntryBundleWidth, batchMaxAge).
		// Partial tiles of the sizes this process passes are removed by
		// collectPartials once a checkpoint covers the full tile:
		// tessera's own collector runs on a timer that a command which
		// exits after one append would not wait for.
		WithGarbageCollectionInterval(0)
	l.appender, l.shutdown, l.reader, err = tessera.NewAppender(actx, driver, opts)
	if err != nil {
		return err
	}
	l.awaiter = tessera.NewPublicationAwaiter(actx, l.reader.ReadCheckpoint, awaitPoll)
	if res.Size < l.size {
		return l.awaitPublished(ctx, l.size)
	}
	return nil
}

// removeStaged removes the bundles an append staged and did not log.
func (l *Log) removeStaged() error {
	entries, err := os.ReadDir(l.files.path(DirBundles))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if lp, err := classify(DirBundles+"/"+e.Name(), e.IsDir()); err == nil && lp.kind == kindStaged {
			if err := os.Remove(l.files.path(DirBundles + "/" + e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// awaitPublished waits until the published checkpoint covers size
// entries.
func (l *Log) awaitPublished(ctx context.Context, size uint64) error {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	for {
		raw, err := l.files.checkpoint()
		if err != nil {
			return err
		}
		cp, err := openCheckpoint(layout.CheckpointPath, raw, l.key.Verifier)
		if err != nil {
			return err
		}
		if cp.Size >= size {
			l.checkpoint = raw
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for a checkpoint of %d entries: %w", size, ctx.Err())
		case <-time.After(awaitPoll):
		}
	}
}

// Size is the number of entries in the log.
func (l *Log) Size() uint64 { return l.size }

// Checkpoint is the latest checkpoint the log published.
func (l *Log) Checkpoint() []byte { return l.checkpoint }

// Lookup returns the entry that logs the provenance with that SHA-256.
func (l *Log) Lookup(provenanceSHA256 [32]byte) (Entry, bool) {
	e, ok := l.byDigest[provenanceSHA256]
	return e, ok
}

// Close waits for the checkpoint of everything appended, stops tessera's
// appender and releases the lock.
// Closing a closed log does nothing.
func (l *Log) Close(ctx context.Context) error {
	var err error
	if l.shutdown != nil {
		err = l.shutdown(ctx)
		l.shutdown = nil
	}
	l.release()
	return err
}

func (l *Log) release() {
	if l.cancel != nil {
		l.cancel()
		l.cancel = nil
	}
	if l.unlock != nil {
		l.unlock()
		l.unlock = nil
	}
}
