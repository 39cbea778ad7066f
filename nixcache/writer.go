package nixcache

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/internal/nixstore"
	"github.com/kettle-build/kettle/nixinputs"
	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// Defaults of Options.
const (
	DefaultStoreDir = "/nix/store"
	DefaultPriority = 30
)

// CacheInfoFile is the name of a binary cache's description file.
const CacheInfoFile = "nix-cache-info"

// Options say how a Writer writes a cache.
type Options struct {
	StoreDir    string     // the store the cache is for; "" means DefaultStoreDir
	Compression string     // of the NAR files; "" means CompressionXZ
	Priority    int        // the cache's priority among substituters; 0 means DefaultPriority
	Key         *SecretKey // if not nil, every narinfo is signed with it
}

// A Writer writes a Nix binary cache into a directory: nix-cache-info,
// one <hash>.narinfo per store path and the NAR files under nar/.
//
// The NAR files are compressed with fixed settings by single-threaded
// encoders, so that the same store path gives the same bytes every time.
// Every file is written under a temporary name and renamed into place, a
// NAR file before the narinfo that names it, so that a reader never sees
// a narinfo whose NAR is incomplete.
type Writer struct {
	dir  string
	opts Options
}

// Create creates the cache directory dir if it does not exist and writes
// its nix-cache-info. If dir already has a nix-cache-info, it must be the
// one opts describe.
func Create(dir string, opts Options) (*Writer, error) {
	if opts.StoreDir == "" {
		opts.StoreDir = DefaultStoreDir
	}
	if opts.Compression == "" {
		opts.Compression = CompressionXZ
	}
	if opts.Priority == 0 {
		opts.Priority = DefaultPriority
	}
	if !filepath.IsAbs(opts.StoreDir) || filepath.Clean(opts.StoreDir) != opts.StoreDir || opts.StoreDir == "/" {
		return nil, fmt.Errorf("store directory %q: want a clean absolute path other than /", opts.StoreDir)
	}
	if _, ok := narExt(opts.Compression); !ok {
		return nil, fmt.Errorf("compression %q is not supported (want %s, %s or %s)", opts.Compression, CompressionXZ, CompressionZstd, CompressionNone)
	}
	if opts.Priority < 0 {
		return nil, fmt.Errorf("priority %d is negative", opts.Priority)
	}
	if err := os.MkdirAll(filepath.Join(dir, "nar"), 0o755); err != nil {
		return nil, err
	}
	info := CacheInfo{StoreDir: opts.StoreDir, WantMassQuery: true, Priority: opts.Priority}.Marshal()
	infoPath := filepath.Join(dir, CacheInfoFile)
	old, err := inputfile.Read(infoPath, maxCacheInfoSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := writeFileAtomic(dir, CacheInfoFile, info); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case !bytes.Equal(old, info):
		return nil, fmt.Errorf("%s: describes another cache than the one to write:\n%s", infoPath, old)
	}
	return &Writer{dir: dir, opts: opts}, nil
}

// Add writes the store path info.Path, with the information the Nix
// database records for it (from nixinputs.Driver.PathInfo), to the cache:
// its NAR, serialised by nixinputs.WriteNAR from the file system and
// compressed, and its narinfo, signed if the Writer has a key. The NAR's
// hash and size must be those in info: a path that changed, or info of
// another path, is an error and nothing is written for it. It returns the
// narinfo written.
func (w *Writer) Add(info nixinputs.PathInfo) (*NarInfo, error) {
	n, err := w.narInfo(info)
	if err != nil {
		return nil, fmt.Errorf("adding %s: %w", info.Path, err)
	}
	if err := w.writeNAR(n, info.Path); err != nil {
		return nil, fmt.Errorf("adding %s: %w", info.Path, err)
	}
	if w.opts.Key != nil {
		n.Sign(*w.opts.Key)
	}
	text, err := n.MarshalText()
	if err != nil {
		return nil, fmt.Errorf("adding %s: %w", info.Path, err)
	}
	if err := writeFileAtomic(w.dir, narInfoName(n.StorePath), text); err != nil {
		return nil, fmt.Errorf("adding %s: %w", info.Path, err)
	}
	return n, nil
}

// narInfoName returns the name of a store path's narinfo file,
// "<hash>.narinfo".
func narInfoName(storePath string) string {
	base := filepath.Base(storePath)
	return base[:nixstore.HashLen] + ".narinfo"
}

// narInfo checks info and fills in the narinfo fields that do not depend
// on the NAR file.
func (w *Writer) narInfo(info nixinputs.PathInfo) (*NarInfo, error) {
	sp, err := nixstore.ParsePath(info.Path)
	if err != nil {
		return nil, fmt.Errorf("store path: %w", err)
	}
	if sp.Dir != w.opts.StoreDir {
		return nil, fmt.Errorf("not in the store directory %s", w.opts.StoreDir)
	}
	n := &NarInfo{
		StorePath:   info.Path,
		Compression: w.opts.Compression,
		NarHash:     info.NarHash,
		NarSize:     info.NarSize,
		References:  []string{},
	}
	selfRef := false
	for _, r := range info.References {
		rp, err := nixstore.ParsePath(r)
		if err != nil || rp.Dir != sp.Dir {
			return nil, fmt.Errorf("reference %q is not a store path in %s", r, sp.Dir)
		}
		selfRef = selfRef || r == info.Path
		n.References = append(n.References, filepath.Base(r))
	}
	slices.Sort(n.References)
	if len(slices.Compact(slices.Clone(n.References))) != len(n.References) {
		return nil, errors.New("a reference appears twice")
	}
	if info.Deriver != "" {
		dp, err := nixstore.ParsePath(info.Deriver)
		if err != nil || dp.Dir != sp.Dir || !strings.HasSuffix(dp.Name, ".drv") {
			return nil, fmt.Errorf("deriver %q is not a .drv store path in %s", info.Deriver, sp.Dir)
		}
		n.Deriver = filepath.Base(info.Deriver)
	}
	if info.CA != "" {
		ca, err := ParseContentAddress(info.CA)
		if err != nil {
			return nil, err
		}
		if !selfRef {
			p, err := ca.StorePath(sp.Dir, sp.Name, info.References)
			if err != nil {
				return nil, fmt.Errorf("content address %s: %w", ca, err)
			}
			if p != info.Path {
				return nil, fmt.Errorf("content address %s gives the store path %s, not this one", ca, p)
			}
		}
		n.CA = ca.String()
	}
	return n, nil
}

// writeNAR writes the NAR of storePath, compressed, under nar/ and sets
// n's URL, FileHash and FileSize. It checks the NAR's hash and size
// against n's.
func (w *Writer) writeNAR(n *NarInfo, storePath string) (err error) {
	narDir := filepath.Join(w.dir, "nar")
	f, err := os.CreateTemp(narDir, ".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	fileHash := sha256.New()
	fileCount := &countWriter{}
	bw := bufio.NewWriterSize(io.MultiWriter(f, fileHash, fileCount), 1<<20)
	enc, err := newCompressor(bw, n.Compression)
	if err != nil {
		return err
	}
	narHash := sha256.New()
	narCount := &countWriter{}
	if err := nixinputs.WriteNAR(io.MultiWriter(enc, narHash, narCount), storePath); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("finishing %s compression: %w", n.Compression, err)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if got := sum(narHash); got != n.NarHash || narCount.n != n.NarSize {
		return fmt.Errorf("its NAR (%s, %d bytes) is not the one the Nix database records (%s, %d bytes)",
			nix32Hash(got), narCount.n, nix32Hash(n.NarHash), n.NarSize)
	}
	n.FileHash, n.FileSize = sum(fileHash), fileCount.n
	ext, _ := narExt(n.Compression)
	n.URL = "nar/" + nixbase32.EncodeToString(n.FileHash[:]) + ext
	return os.Rename(f.Name(), filepath.Join(w.dir, filepath.FromSlash(n.URL)))
}

// newCompressor returns an encoder for a compression method with pinned
// settings, single-threaded, so that its output depends on its input only.
func newCompressor(w io.Writer, compression string) (io.WriteCloser, error) {
	switch compression {
	case CompressionXZ:
		return xz.WriterConfig{
			Properties: &lzma.Properties{LC: 3, LP: 0, PB: 2},
			DictCap:    8 << 20,
			BufSize:    4096,
			BlockSize:  math.MaxInt64,
			CheckSum:   xz.CRC64,
			Matcher:    lzma.HashTable4,
		}.NewWriter(w)
	case CompressionZstd:
		return zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(8<<20),
			zstd.WithEncoderCRC(true),
			zstd.WithZeroFrames(true),
			zstd.WithSingleSegment(false),
			zstd.WithLowerEncoderMem(false),
		)
	case CompressionNone:
		return nopCloser{w}, nil
	}
	return nil, fmt.Errorf("compression %q is not supported", compression)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

type countWriter struct{ n uint64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += uint64(len(p))
	return len(p), nil
}

func sum(h hash.Hash) (d [32]byte) {
	h.Sum(d[:0])
	return d
}

// writeFileAtomic writes data to dir/name under a temporary name and
// renames it into place.
func writeFileAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// Export adds the store paths to the cache, sorted, with the information
// the Nix database records for them (nixinputs.Driver.PathInfo). It
// returns the narinfos written.
func Export(ctx context.Context, d *nixinputs.Driver, w *Writer, paths ...string) ([]*NarInfo, error) {
	infos, err := d.PathInfo(ctx, paths...)
	if err != nil {
		return nil, err
	}
	var out []*NarInfo
	for _, p := range slices.Sorted(maps.Keys(infos)) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := w.Add(infos[p])
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}
