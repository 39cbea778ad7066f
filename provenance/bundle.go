package provenance

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/kettle-build/kettle/internal/atomicfile"
	"github.com/kettle-build/kettle/internal/nixstore"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// The files of a bundle. A bundle is a directory holding them, or a .tar
// archive of the same files.
const (
	FileProvenance = "provenance.json" // the in-toto Statement
	FileEvidence   = "evidence.json"   // the attestation evidence
	FileManifest   = "manifest.json"   // the input manifest
	DirArtifacts   = "artifacts"       // optional NAR exports of the outputs
)

// MaxJSONFileSize is the largest JSON file a bundle may hold.
const MaxJSONFileSize = 64 << 20

// MaxArtifacts bounds the number of artifacts a bundle may hold.
const MaxArtifacts = 1 << 16

// Compression is how an artifact's NAR is compressed.
type Compression string

// The compressions of artifacts and their file name suffixes.
const (
	CompressionXZ   Compression = "xz"  // artifacts/<name>.nar.xz (github.com/ulikunitz/xz)
	CompressionZstd Compression = "zst" // artifacts/<name>.nar.zst (github.com/klauspost/compress/zstd)
)

// ParseCompression accepts "xz", "zst" and "zstd".
func ParseCompression(s string) (Compression, error) {
	switch s {
	case "xz":
		return CompressionXZ, nil
	case "zst", "zstd":
		return CompressionZstd, nil
	}
	return "", fmt.Errorf("unknown artifact compression %q, want xz or zst", s)
}

// Suffix returns the file name suffix of an artifact, ".nar.xz" or
// ".nar.zst".
func (c Compression) Suffix() string { return ".nar." + string(c) }

func (c Compression) valid() bool { return c == CompressionXZ || c == CompressionZstd }

// jsonFiles lists the bundle's JSON files in the order a tar bundle holds
// them.
func jsonFiles() [3]string { return [3]string{FileProvenance, FileEvidence, FileManifest} }

func isJSONFile(name string) bool {
	return name == FileProvenance || name == FileEvidence || name == FileManifest
}

// validArtifactName accepts the names of store paths ("<hash>-<name>") and
// other Nix names: A-Z a-z 0-9 + - . _ ? =, not starting with a dot.
func validArtifactName(name string) bool {
	return nixstore.CheckName(name) == nil
}

// BundleWriter writes a bundle atomically: everything goes to a hidden
// temporary sibling of the destination (".<name>.tmp-*"), and only Commit
// renames the finished bundle into place. A writer that is aborted, or a
// process that dies before Commit, leaves nothing at the destination.
type BundleWriter struct {
	dest      string
	asTar     bool
	tmp       string // the staging directory
	files     map[string]bool
	artifacts map[string]Compression
	closed    bool // committed or aborted
	committed bool
}

// CreateBundle starts a bundle at dest: a .tar archive if dest ends in
// ".tar", a directory otherwise. It refuses a dest that already exists.
func CreateBundle(dest string) (*BundleWriter, error) {
	if dest == "" {
		return nil, errors.New("bundle: empty destination path")
	}
	dest = filepath.Clean(dest)
	if _, err := os.Lstat(dest); err == nil {
		return nil, fmt.Errorf("bundle %s: already exists", dest)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("bundle %s: %w", dest, err)
	}
	base := filepath.Base(dest)
	tmp, err := os.MkdirTemp(filepath.Dir(dest), "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("bundle %s: creating a temporary directory: %w", dest, err)
	}
	return &BundleWriter{
		dest:      dest,
		asTar:     strings.HasSuffix(base, ".tar"),
		tmp:       tmp,
		files:     map[string]bool{},
		artifacts: map[string]Compression{},
	}, nil
}

func (w *BundleWriter) usable() error {
	if w.closed {
		return fmt.Errorf("bundle %s: writer already committed or aborted", w.dest)
	}
	return nil
}

// AddFile adds one of the JSON files, FileProvenance, FileEvidence or
// FileManifest. The data must be one JSON object (no trailing data, no
// duplicate keys) of at most MaxJSONFileSize bytes.
func (w *BundleWriter) AddFile(name string, data []byte) error {
	if err := w.usable(); err != nil {
		return err
	}
	if !isJSONFile(name) {
		return fmt.Errorf("bundle %s: %q is not one of %s, %s, %s", w.dest, name, FileProvenance, FileEvidence, FileManifest)
	}
	if w.files[name] {
		return fmt.Errorf("bundle %s: %s added twice", w.dest, name)
	}
	if len(data) > MaxJSONFileSize {
		return fmt.Errorf("bundle %s: %s is %d bytes, more than the limit of %d", w.dest, name, len(data), MaxJSONFileSize)
	}
	if err := checkJSON(data); err != nil {
		return fmt.Errorf("bundle %s: %s: %w", w.dest, name, err)
	}
	if err := writeFileSync(filepath.Join(w.tmp, name), data); err != nil {
		return fmt.Errorf("bundle %s: %w", w.dest, err)
	}
	w.files[name] = true
	return nil
}

// AddArtifact adds artifacts/<name>.nar.xz or .nar.zst; write streams the
// uncompressed NAR into the writer it is given. The name is a store path's
// base name or another Nix name.
func (w *BundleWriter) AddArtifact(name string, c Compression, write func(io.Writer) error) error {
	if err := w.usable(); err != nil {
		return err
	}
	if !validArtifactName(name) {
		return fmt.Errorf("bundle %s: artifact name %q is not a valid Nix name", w.dest, name)
	}
	if !c.valid() {
		return fmt.Errorf("bundle %s: artifact %s: unknown compression %q, want xz or zst", w.dest, name, c)
	}
	if _, dup := w.artifacts[name]; dup {
		return fmt.Errorf("bundle %s: artifact %s added twice", w.dest, name)
	}
	if len(w.artifacts) >= MaxArtifacts {
		return fmt.Errorf("bundle %s: more than %d artifacts", w.dest, MaxArtifacts)
	}
	dir := filepath.Join(w.tmp, DirArtifacts)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bundle %s: %w", w.dest, err)
	}
	file := DirArtifacts + "/" + name + c.Suffix()
	p := filepath.Join(dir, name+c.Suffix())
	if err := writeCompressed(p, c, write); err != nil {
		os.Remove(p)
		return fmt.Errorf("bundle %s: %s: %w", w.dest, file, err)
	}
	w.artifacts[name] = c
	return nil
}

func writeCompressed(p string, c Compression, write func(io.Writer) error) (err error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	var enc io.WriteCloser
	switch c {
	case CompressionXZ:
		enc, err = xz.NewWriter(bw)
	case CompressionZstd:
		enc, err = zstd.NewWriter(bw, zstd.WithZeroFrames(true)) // a frame even for no data: the reader wants one
	}
	if err != nil {
		return fmt.Errorf("starting %s compression: %w", c, err)
	}
	if err := write(enc); err != nil {
		enc.Close()
		return err
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("finishing %s compression: %w", c, err)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Sync()
}

// Commit checks that the three JSON files are present, flushes everything
// to disk and renames the bundle into place. It fails, leaving the
// destination alone, if something appeared there in the meantime.
func (w *BundleWriter) Commit() error {
	if err := w.usable(); err != nil {
		return err
	}
	var missing []string
	for _, name := range jsonFiles() {
		if !w.files[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("bundle %s: missing %s", w.dest, strings.Join(missing, ", "))
	}
	var err error
	if w.asTar {
		err = w.commitTar()
	} else {
		err = w.commitDir()
	}
	if err != nil {
		return fmt.Errorf("bundle %s: %w", w.dest, err)
	}
	w.closed, w.committed = true, true
	return nil
}

func (w *BundleWriter) commitDir() error {
	if len(w.artifacts) > 0 {
		if err := syncDir(filepath.Join(w.tmp, DirArtifacts)); err != nil {
			return err
		}
	}
	if err := os.Chmod(w.tmp, 0o755); err != nil {
		return err
	}
	if err := syncDir(w.tmp); err != nil {
		return err
	}
	if err := w.place(w.tmp); err != nil {
		return err
	}
	return syncDir(filepath.Dir(w.dest))
}

// commitTar writes the staged files into one tar archive inside the staging
// directory, renames the archive into place and removes the staging
// directory. The archive is deterministic: fixed order (the JSON files, then
// the artifacts by name), mode 0644, owner 0, time 0.
func (w *BundleWriter) commitTar() (err error) {
	archive := filepath.Join(w.tmp, ".bundle.tar")
	f, err := os.OpenFile(archive, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	tw := tar.NewWriter(bw)
	names := jsonFiles()
	entries := names[:]
	var arts []string
	for name, c := range w.artifacts {
		arts = append(arts, DirArtifacts+"/"+name+c.Suffix())
	}
	sort.Strings(arts)
	entries = append(entries, arts...)
	for _, name := range entries {
		if err := addTarEntry(tw, w.tmp, name); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	err = f.Close()
	f = nil
	if err != nil {
		return err
	}
	if err := w.place(archive); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(w.dest)); err != nil {
		return err
	}
	// The bundle is in place; a staging directory left behind by a failure
	// here is only clutter, and Abort after Commit does not touch it.
	return os.RemoveAll(w.tmp)
}

func addTarEntry(tw *tar.Writer, root, name string) error {
	src, err := os.Open(filepath.Join(root, filepath.FromSlash(name)))
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Mode:     0o644,
		Size:     fi.Size(),
		ModTime:  time.Unix(0, 0),
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if n, err := io.Copy(tw, src); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	} else if n != fi.Size() {
		return fmt.Errorf("%s: size changed while writing the archive", name)
	}
	return nil
}

// Abort removes everything the writer wrote. It does nothing after Commit,
// so that "defer w.Abort()" is safe, and it may be called more than once.
func (w *BundleWriter) Abort() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if err := os.RemoveAll(w.tmp); err != nil {
		return fmt.Errorf("bundle %s: removing %s: %w", w.dest, w.tmp, err)
	}
	return nil
}

func writeFileSync(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir flushes a directory's entries to disk, so that a rename into it
// survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil && (errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported)) {
		return nil // the file system cannot sync directories
	}
	return err
}

// place renames the finished bundle (a directory or a tar file) to its
// destination, which must not have appeared meanwhile.
func (w *BundleWriter) place(from string) error {
	err := atomicfile.RenameNoReplace(from, w.dest)
	if errors.Is(err, atomicfile.ErrExists) {
		return fmt.Errorf("%s appeared while the bundle was being written", w.dest)
	}
	return err
}
