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

	"github.com/kettle-build/kettle/internal/atomicfile"
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
// one <hash>.narinfo per store path, the NAR files under nar/ and the
// bundles the narinfos name under kettle/bundles/.
//
// The NAR files are compressed with fixed settings by single-threaded
// encoders, so that the same store path gives the same bytes every time.
// Every file is written under a temporary name and renamed into place, a
// NAR file before the narinfo that names it, so that a reader never sees
// a narinfo whose NAR is incomplete.
//
// A Writer from Open that creates its cache writes it in a temporary
// sibling directory, which Commit renames into place; one that adds to an
// existing cache removes, on Abort, every file it added.
type Writer struct {
	dir     string // the cache
	root    string // where files are written: dir, or the staging sibling
	staging bool   // root is a staging sibling that Commit renames to dir
	opts    Options
	added   []string // files this writer created under root, in order
	closed  bool
}

// Create creates the cache directory dir if it does not exist and writes
// its nix-cache-info. If dir already has a nix-cache-info, it must be the
// one opts describe. Paths are written into dir as they are added.
func Create(dir string, opts Options) (*Writer, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return newWriter(dir, dir, false, opts)
}

// Open starts writing the cache dir. If dir does not exist, the cache is
// written in a temporary sibling directory, and Commit renames it to dir:
// until then nothing is at dir, and Abort removes the sibling. If dir
// exists, it must be a cache whose nix-cache-info is the one opts
// describe; paths are added to it in place, and Abort removes the files
// the Writer added.
func Open(dir string, opts Options) (*Writer, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return nil, fmt.Errorf("%s: not a directory", dir)
	case err == nil:
		if _, err := os.Stat(filepath.Join(dir, CacheInfoFile)); err != nil {
			return nil, fmt.Errorf("%s: an existing directory that is not a binary cache: %w", dir, err)
		}
		return newWriter(dir, dir, false, opts)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".tmp-*")
	if err != nil {
		return nil, err
	}
	w, err := newWriter(dir, tmp, true, opts)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	return w, nil
}

// withDefaults fills in the defaults of opts and checks it.
func (opts Options) withDefaults() (Options, error) {
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
		return opts, fmt.Errorf("store directory %q: want a clean absolute path other than /", opts.StoreDir)
	}
	if _, ok := narExt(opts.Compression); !ok {
		return opts, fmt.Errorf("compression %q is not supported (want %s, %s or %s)", opts.Compression, CompressionXZ, CompressionZstd, CompressionNone)
	}
	if opts.Priority < 0 {
		return opts, fmt.Errorf("priority %d is negative", opts.Priority)
	}
	return opts, nil
}

// newWriter writes or checks nix-cache-info in root and makes nar/.
func newWriter(dir, root string, staging bool, opts Options) (*Writer, error) {
	w := &Writer{dir: dir, root: root, staging: staging, opts: opts}
	info := CacheInfo{StoreDir: opts.StoreDir, WantMassQuery: true, Priority: opts.Priority}.Marshal()
	infoPath := filepath.Join(root, CacheInfoFile)
	old, err := inputfile.Read(infoPath, maxCacheInfoSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := w.writeFile(CacheInfoFile, info); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case !bytes.Equal(old, info):
		return nil, fmt.Errorf("%s: describes another cache than the one to write:\n%s", filepath.Join(dir, CacheInfoFile), old)
	}
	if err := w.mkdir("nar"); err != nil {
		return nil, err
	}
	return w, nil
}

// Dir returns the directory the cache is written in: the cache, or until
// Commit the staging sibling of a cache that Open creates.
func (w *Writer) Dir() string { return w.root }

// mkdir makes dir/rel and its parents if they do not exist.
func (w *Writer) mkdir(rel string) error {
	return os.MkdirAll(filepath.Join(w.root, filepath.FromSlash(rel)), 0o755)
}

func (w *Writer) usable() error {
	if w.closed {
		return fmt.Errorf("cache %s: writer already committed or aborted", w.dir)
	}
	return nil
}

// Commit finishes the cache: a cache that Open creates is renamed into
// place, failing if something appeared at its path meanwhile. After
// Commit, Abort does nothing.
func (w *Writer) Commit() error {
	if err := w.usable(); err != nil {
		return err
	}
	if w.staging {
		if err := os.Chmod(w.root, 0o755); err != nil {
			return err
		}
		if err := atomicfile.RenameNoReplace(w.root, w.dir); errors.Is(err, atomicfile.ErrExists) {
			return fmt.Errorf("cache %s: %s appeared while the cache was being written", w.dir, w.dir)
		} else if err != nil {
			return fmt.Errorf("cache %s: %w", w.dir, err)
		}
	}
	w.closed = true
	return nil
}

// Abort removes what the writer wrote: the staging directory of a cache
// that Open creates, or the files it added to an existing cache, narinfos
// before the NAR files and bundles they name. It does nothing after Commit
// and may be called more than once.
func (w *Writer) Abort() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.staging {
		return os.RemoveAll(w.root)
	}
	var first error
	for _, rel := range slices.Backward(w.added) {
		if err := os.Remove(filepath.Join(w.root, filepath.FromSlash(rel))); err != nil && !errors.Is(err, fs.ErrNotExist) && first == nil {
			first = err
		}
	}
	return first
}

// An Entry is one store path for AddEntry: what the Nix database records
// for it, where its NAR comes from, and the bundle its narinfo names.
type Entry struct {
	Info nixinputs.PathInfo
	// NAR writes the path's NAR serialisation; nil means serialising
	// Info.Path from the file system with nixinputs.WriteNAR.
	NAR func(io.Writer) error
	// Bundle is the narinfo's BundleField, "" for none; a bundle the
	// narinfo names is added first (AddBundle).
	Bundle string
}

// Add adds the store path info.Path from the file system (AddEntry).
func (w *Writer) Add(info nixinputs.PathInfo) (*NarInfo, error) {
	n, _, err := w.AddEntry(Entry{Info: info})
	return n, err
}

// AddEntry writes a store path, with the information the Nix database
// records for it (from nixinputs.Driver.PathInfo), to the cache: its NAR,
// compressed, and its narinfo, signed if the Writer has a key. The NAR's
// hash and size must be those in e.Info: a path that changed, or a NAR of
// another path, is an error and nothing is written for it.
//
// If the cache already has a narinfo for the path, nothing is written: it
// is returned, with existed true, if it records the same store object
// (SameObject), and is an error if it records another.
func (w *Writer) AddEntry(e Entry) (n *NarInfo, existed bool, err error) {
	info := e.Info
	if err := w.usable(); err != nil {
		return nil, false, err
	}
	n, err = w.narInfo(info)
	if err != nil {
		return nil, false, fmt.Errorf("adding %s: %w", info.Path, err)
	}
	if e.Bundle != "" {
		if _, err := ParseBundleFile(e.Bundle); err != nil {
			return nil, false, fmt.Errorf("adding %s: %s: %w", info.Path, BundleField, err)
		}
		n.Bundle = e.Bundle
	}
	old, err := w.Lookup(info.Path)
	if err != nil {
		return nil, false, fmt.Errorf("adding %s: %w", info.Path, err)
	}
	if old != nil {
		if !SameObject(old, n) {
			return nil, false, fmt.Errorf("adding %s: the cache's %s records another store object (NarHash %s, NarSize %d, References %q) than this one (NarHash %s, NarSize %d, References %q)",
				info.Path, narInfoName(info.Path), nix32Hash(old.NarHash), old.NarSize, old.References, nix32Hash(n.NarHash), n.NarSize, n.References)
		}
		return old, true, nil
	}
	if e.Bundle != "" {
		if _, err := os.Stat(filepath.Join(w.root, filepath.FromSlash(e.Bundle))); err != nil {
			return nil, false, fmt.Errorf("adding %s: the bundle its narinfo names: %w", info.Path, err)
		}
	}
	write := e.NAR
	if write == nil {
		write = func(out io.Writer) error { return nixinputs.WriteNAR(out, info.Path) }
	}
	if err := w.writeNAR(n, write); err != nil {
		return nil, false, fmt.Errorf("adding %s: %w", info.Path, err)
	}
	if w.opts.Key != nil {
		n.Sign(*w.opts.Key)
	}
	text, err := n.MarshalText()
	if err != nil {
		return nil, false, fmt.Errorf("adding %s: %w", info.Path, err)
	}
	if err := w.writeFile(narInfoName(n.StorePath), text); err != nil {
		return nil, false, fmt.Errorf("adding %s: %w", info.Path, err)
	}
	return n, false, nil
}

// Lookup returns the cache's narinfo for a store path, or nil if it has
// none.
func (w *Writer) Lookup(storePath string) (*NarInfo, error) {
	if err := nixstore.CheckPath(storePath); err != nil {
		return nil, fmt.Errorf("store path %q: %w", storePath, err)
	}
	file := filepath.Join(w.root, narInfoName(storePath))
	data, err := inputfile.Read(file, MaxNarInfoSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	n, err := ParseNarInfo(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(w.dir, narInfoName(storePath)), err)
	}
	if n.StorePath != storePath {
		return nil, fmt.Errorf("%s: the narinfo of %s, not of %s", filepath.Join(w.dir, narInfoName(storePath)), n.StorePath, storePath)
	}
	return n, nil
}

// StorePaths returns the store paths the cache has narinfos of, sorted.
func (w *Writer) StorePaths() ([]string, error) {
	entries, err := os.ReadDir(w.root)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, e := range entries {
		if !isNarInfoName(e.Name()) {
			continue
		}
		file := filepath.Join(w.root, e.Name())
		data, err := inputfile.Read(file, MaxNarInfoSize)
		if err != nil {
			return nil, err
		}
		n, err := ParseNarInfo(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(w.dir, e.Name()), err)
		}
		paths = append(paths, n.StorePath)
	}
	slices.Sort(paths)
	return paths, nil
}

// SameObject reports whether two narinfos record the same store object:
// the same store path, NAR hash and size, references and content address.
// How the NAR file is compressed, the deriver, the signatures and the
// bundle named may differ.
func SameObject(a, b *NarInfo) bool {
	return a.StorePath == b.StorePath && a.NarHash == b.NarHash && a.NarSize == b.NarSize &&
		slices.Equal(a.References, b.References) && a.CA == b.CA
}

// AddBundle adds a bundle to the cache as BundleFile(provenanceDigest):
// write must create the file at the path it is given, as
// provenance.CreateBundle does, and leave nothing there on error. If the
// cache already has the file, write is not called and existed is true;
// the caller compares it.
func (w *Writer) AddBundle(provenanceDigest [32]byte, write func(path string) error) (existed bool, err error) {
	if err := w.usable(); err != nil {
		return false, err
	}
	rel := BundleFile(provenanceDigest)
	p := filepath.Join(w.root, filepath.FromSlash(rel))
	if _, err := os.Lstat(p); err == nil {
		return true, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if err := w.mkdir(BundleDir); err != nil {
		return false, err
	}
	if err := write(p); err != nil {
		return false, fmt.Errorf("adding %s: %w", rel, err)
	}
	w.added = append(w.added, rel)
	return false, nil
}

// BundlePath returns the path of a bundle file of the cache being written
// (a BundleFile).
func (w *Writer) BundlePath(rel string) string {
	return filepath.Join(w.root, filepath.FromSlash(rel))
}

// narInfoName returns the name of a store path's narinfo file,
// "<hash>.narinfo".
func narInfoName(storePath string) string {
	base := filepath.Base(storePath)
	return base[:nixstore.HashLen] + ".narinfo"
}

// NarInfoFile returns the file, relative to the cache, of a store path's
// narinfo: "<hash>.narinfo".
func NarInfoFile(storePath string) (string, error) {
	if err := nixstore.CheckPath(storePath); err != nil {
		return "", fmt.Errorf("store path %q: %w", storePath, err)
	}
	return narInfoName(storePath), nil
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

// writeNAR writes the NAR that write produces, compressed, under nar/ and
// sets n's URL, FileHash and FileSize. It checks the NAR's hash and size
// against n's before the file gets its name.
func (w *Writer) writeNAR(n *NarInfo, write func(io.Writer) error) (err error) {
	narDir := filepath.Join(w.root, "nar")
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
	if err := write(io.MultiWriter(enc, narHash, narCount)); err != nil {
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
		return fmt.Errorf("its NAR (%s, %d bytes) is not the one recorded for it (%s, %d bytes)",
			nix32Hash(got), narCount.n, nix32Hash(n.NarHash), n.NarSize)
	}
	n.FileHash, n.FileSize = sum(fileHash), fileCount.n
	ext, _ := narExt(n.Compression)
	n.URL = "nar/" + nixbase32.EncodeToString(n.FileHash[:]) + ext
	return w.rename(f.Name(), n.URL)
}

// rename moves a temporary file to rel, recording it as added unless a
// file was there already (a NAR file is named by its hash, so one that is
// there has the same bytes, or is damaged and is replaced).
func (w *Writer) rename(tmp, rel string) error {
	dst := filepath.Join(w.root, filepath.FromSlash(rel))
	_, statErr := os.Lstat(dst)
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		w.added = append(w.added, rel)
	}
	return nil
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

// writeFile writes data to rel under a temporary name and renames it
// into place.
func (w *Writer) writeFile(rel string, data []byte) error {
	f, err := os.CreateTemp(w.root, ".tmp-*")
	if err != nil {
		return err
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := w.rename(f.Name(), rel); err != nil {
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
