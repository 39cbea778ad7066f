package provenance

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/internal/strictjson"
)

// Bundle is an opened bundle: the three JSON files in memory and the list
// of artifacts, which OpenArtifact streams.
type Bundle struct {
	Path       string
	Provenance []byte
	Evidence   []byte
	Manifest   []byte
	Artifacts  []Artifact // sorted by Name

	isTar   bool
	tarInfo os.FileInfo         // of the archive when it was opened
	entries map[string]tarEntry // by Artifact.File, for a tar bundle

	// provenance.json and manifest.json as OpenBundle parsed them, until
	// DecodeStatement and DecodeManifest decode them.
	parsedProvenance, parsedManifest *parsedJSON
}

// parsedJSON is a JSON document's tree and its text.
type parsedJSON struct {
	root strictjson.Value
	text string // the document as it was parsed
}

// of reports whether p is the tree of data, which a caller may have
// changed since OpenBundle read it. Comparing a string with bytes does not
// copy them.
func (p *parsedJSON) of(data []byte) bool { return p != nil && p.text == string(data) }

// Artifact is one NAR export in a bundle.
type Artifact struct {
	Name        string // the base name, without .nar.xz or .nar.zst
	File        string // the path inside the bundle, "artifacts/<name>.nar.xz"
	Compression Compression
}

// tarEntry locates an artifact's data in a tar bundle.
type tarEntry struct {
	offset, size int64
}

// maxZstdWindow bounds the memory a zstd artifact may make the reader
// allocate; Kettle's writer uses far smaller windows.
const maxZstdWindow = 128 << 20

// OpenBundle opens a bundle directory or .tar archive and reads its JSON
// files. It is strict about layout: a missing or unknown file, a duplicate
// tar entry, a path that escapes the bundle, a symlink or other non-regular
// entry, a JSON file larger than MaxJSONFileSize or with data after its
// JSON object, and data after the end of the tar archive are errors that
// name the file. What the JSON files say is left to DecodeStatement,
// DecodeManifest and the evidence decoder.
//
// A tar bundle is opened once, and its size checked before it is read. The
// archive may be padded with zeros to a multiple of the tar record size
// (10240 bytes) after its end-of-archive marker; anything else after the
// marker, and a non-zero byte in the padding of an entry's data or after
// the marker, are errors.
func OpenBundle(p string) (*Bundle, error) {
	// Non-blocking, so that opening a FIFO does not wait for a writer.
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", p, err)
	}
	var b *Bundle
	switch {
	case fi.IsDir():
		b, err = openDir(p)
	case fi.Mode().IsRegular():
		b, err = openTar(p, f, fi)
	default:
		err = errors.New("neither a directory nor a regular file")
	}
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", p, err)
	}
	// The files are checked side by side; the first error in the order of
	// jsonFiles is reported, as one after the other would.
	names := jsonFiles()
	var errs [len(names)]error
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.checkJSONFile(name)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("bundle %s: %s: %w", p, names[i], err)
		}
	}
	return b, nil
}

// checkJSONFile checks one JSON file of the bundle with checkJSON. It
// keeps the tree of provenance.json and manifest.json, which
// DecodeStatement and DecodeManifest would otherwise parse again.
func (b *Bundle) checkJSONFile(name string) error {
	data := *b.jsonField(name)
	var keep **parsedJSON
	switch name {
	case FileProvenance:
		keep = &b.parsedProvenance
	case FileManifest:
		keep = &b.parsedManifest
	default:
		return checkJSON(data)
	}
	root, text, err := parseObject(data)
	if err != nil {
		return err
	}
	*keep = &parsedJSON{root: root, text: text}
	return nil
}

// DecodeStatement decodes the bundle's provenance.json as the function
// DecodeStatement does, without parsing it again if OpenBundle has. The
// statement's Raw is b.Provenance itself, not a copy.
func (b *Bundle) DecodeStatement() (*Statement, error) {
	p := b.parsedProvenance
	b.parsedProvenance = nil // decoded once; the tree is not needed again
	if !p.of(b.Provenance) {
		return DecodeStatement(b.Provenance)
	}
	return decodeStatement(b.Provenance, topObject(p.root), b.Provenance)
}

// DecodeManifest decodes the bundle's manifest.json as the function
// DecodeManifest does, without parsing it again if OpenBundle has.
func (b *Bundle) DecodeManifest() (*Manifest, error) {
	p := b.parsedManifest
	b.parsedManifest = nil
	if !p.of(b.Manifest) {
		return DecodeManifest(b.Manifest)
	}
	return decodeManifest(topObject(p.root))
}

func (b *Bundle) jsonField(name string) *[]byte {
	switch name {
	case FileProvenance:
		return &b.Provenance
	case FileEvidence:
		return &b.Evidence
	case FileManifest:
		return &b.Manifest
	}
	return nil
}

// checkComplete reports missing JSON files and sorts the artifacts.
func (b *Bundle) checkComplete(seen map[string]bool) error {
	var missing []string
	for _, name := range jsonFiles() {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	sort.Slice(b.Artifacts, func(i, j int) bool { return b.Artifacts[i].Name < b.Artifacts[j].Name })
	for i := 1; i < len(b.Artifacts); i++ {
		if b.Artifacts[i].Name == b.Artifacts[i-1].Name {
			return fmt.Errorf("%s and %s: two artifacts named %s", b.Artifacts[i-1].File, b.Artifacts[i].File, b.Artifacts[i].Name)
		}
	}
	return nil
}

// parseArtifactFile splits "<name>.nar.xz" or "<name>.nar.zst".
func parseArtifactFile(base string) (Artifact, bool) {
	for _, c := range []Compression{CompressionXZ, CompressionZstd} {
		if name, ok := strings.CutSuffix(base, c.Suffix()); ok && validArtifactName(name) {
			return Artifact{Name: name, File: DirArtifacts + "/" + base, Compression: c}, true
		}
	}
	return Artifact{}, false
}

func openDir(dir string) (*Bundle, error) {
	b := &Bundle{Path: dir}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		switch {
		case isJSONFile(name):
			if !e.Type().IsRegular() {
				return nil, fmt.Errorf("%s: not a regular file (%s)", name, e.Type())
			}
			data, err := inputfile.Read(filepath.Join(dir, name), MaxJSONFileSize)
			if err != nil {
				return nil, err // it names the file
			}
			*b.jsonField(name) = data
			seen[name] = true
		case name == DirArtifacts:
			if !e.IsDir() || e.Type()&os.ModeSymlink != 0 {
				return nil, fmt.Errorf("%s: not a directory", name)
			}
			if err := b.readArtifactsDir(filepath.Join(dir, name)); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%s: unknown file (a bundle holds %s, %s, %s and %s/)", name, FileProvenance, FileEvidence, FileManifest, DirArtifacts)
		}
	}
	if err := b.checkComplete(seen); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Bundle) readArtifactsDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > MaxArtifacts {
		return fmt.Errorf("%s: more than %d artifacts", DirArtifacts, MaxArtifacts)
	}
	for _, e := range entries {
		file := DirArtifacts + "/" + e.Name()
		a, ok := parseArtifactFile(e.Name())
		if !ok {
			return fmt.Errorf("%s: unknown file (artifacts are <name>.nar.xz or <name>.nar.zst)", file)
		}
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file (%s)", file, e.Type())
		}
		b.Artifacts = append(b.Artifacts, a)
	}
	return nil
}

func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxJSONFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxJSONFileSize {
		return nil, fmt.Errorf("larger than the limit of %d bytes", MaxJSONFileSize)
	}
	return data, nil
}

// openTar reads the tar bundle p, open as f with the file info fi. It
// records where each artifact's data lies so that OpenArtifact can stream
// it without reading the archive again.
func openTar(p string, f *os.File, fi os.FileInfo) (*Bundle, error) {
	size := fi.Size()
	b := &Bundle{Path: p, isTar: true, tarInfo: fi, entries: map[string]tarEntry{}}
	seen := map[string]bool{}
	tr := tar.NewReader(f)
	var end int64 // the end of the last entry's data, padding included
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a valid tar archive after entry %d: %w", n, err)
		}
		if n >= MaxArtifacts+8 {
			return nil, fmt.Errorf("more than %d entries", MaxArtifacts+8)
		}
		offset, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		name, err := tarEntryName(hdr)
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeDir {
			if hdr.Size != 0 {
				return nil, fmt.Errorf("%s: directory entry with data", name)
			}
			end = offset
			continue
		}
		if hdr.Size < 0 || hdr.Size > size-offset {
			return nil, fmt.Errorf("%s: entry of %d bytes runs past the end of the archive (truncated?)", name, hdr.Size)
		}
		end = offset + (hdr.Size+511)&^511
		if at, err := firstNonZero(f, offset+hdr.Size, end); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		} else if at >= 0 {
			return nil, fmt.Errorf("%s: non-zero byte at %d in the padding after its data", name, at)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s: duplicate entry", name)
		}
		seen[name] = true
		switch {
		case isJSONFile(name):
			if hdr.Size > MaxJSONFileSize {
				return nil, fmt.Errorf("%s: %d bytes, larger than the limit of %d", name, hdr.Size, MaxJSONFileSize)
			}
			data, err := readLimited(tr)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			*b.jsonField(name) = data
		case strings.HasPrefix(name, DirArtifacts+"/"):
			a, ok := parseArtifactFile(strings.TrimPrefix(name, DirArtifacts+"/"))
			if !ok {
				return nil, fmt.Errorf("%s: unknown file (artifacts are <name>.nar.xz or <name>.nar.zst)", name)
			}
			if len(b.Artifacts) >= MaxArtifacts {
				return nil, fmt.Errorf("more than %d artifacts", MaxArtifacts)
			}
			b.Artifacts = append(b.Artifacts, a)
			b.entries[a.File] = tarEntry{offset: offset, size: hdr.Size}
		default:
			return nil, fmt.Errorf("%s: unknown file (a bundle holds %s, %s, %s and %s/)", name, FileProvenance, FileEvidence, FileManifest, DirArtifacts)
		}
	}
	if err := checkTarEnd(f, end, size); err != nil {
		return nil, err
	}
	if err := b.checkComplete(seen); err != nil {
		return nil, err
	}
	return b, nil
}

// tarEntryName validates an entry and returns its name relative to the
// bundle, without a leading "./". Directories are allowed only for the
// bundle itself and artifacts/.
func tarEntryName(hdr *tar.Header) (string, error) {
	raw := hdr.Name
	name := strings.TrimPrefix(raw, "./")
	if hdr.Typeflag == tar.TypeDir {
		name = strings.TrimSuffix(name, "/")
	}
	if name == "" && hdr.Typeflag == tar.TypeDir {
		name = "."
	}
	if strings.HasPrefix(name, "/") || name == ".." || strings.HasPrefix(name, "../") ||
		strings.Contains(name, "/../") || strings.HasSuffix(name, "/..") || strings.Contains(name, "\\") {
		return "", fmt.Errorf("entry %q: path escapes the bundle", raw)
	}
	if name == "" || path.Clean(name) != name {
		return "", fmt.Errorf("entry %q: not a clean relative path", raw)
	}
	switch hdr.Typeflag {
	case tar.TypeReg:
	case tar.TypeDir:
		if name != "." && name != DirArtifacts {
			return "", fmt.Errorf("entry %q: unknown directory", raw)
		}
		return name, nil
	default:
		return "", fmt.Errorf("entry %q: not a regular file (tar type %q)", raw, hdr.Typeflag)
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return "", fmt.Errorf("entry %q: sparse files are not allowed", raw)
		}
	}
	return name, nil
}

// tarRecordSize is the record size of tar(1), 20 blocks of 512 bytes: an
// archive may be padded with zeros to a multiple of it.
const tarRecordSize = 20 * 512

// checkTarEnd insists that the archive ends with the end-of-archive marker
// (two zero blocks) right after the last entry, which ends at end, padded
// with zeros to a multiple of tarRecordSize or not at all. It checks the
// size of the archive before it reads the at most 11 KiB after end.
func checkTarEnd(f *os.File, end, size int64) error {
	marker := end + 1024
	padded := (marker + tarRecordSize - 1) / tarRecordSize * tarRecordSize
	switch {
	case size < marker:
		return errors.New("no end-of-archive marker after the last entry (truncated?)")
	case size != marker && size != padded:
		return fmt.Errorf("%d bytes after the last entry: want the end-of-archive marker (1024 zero bytes), or it padded with zeros to a multiple of %d bytes (%d bytes)", size-end, tarRecordSize, padded-end)
	}
	at, err := firstNonZero(f, end, size)
	if err != nil {
		return err
	}
	if at >= 0 {
		return fmt.Errorf("trailing data at byte %d after the end of the archive", at)
	}
	return nil
}

// firstNonZero returns the offset of the first non-zero byte of f between
// start and end, or -1 if they are all zero.
func firstNonZero(f *os.File, start, end int64) (int64, error) {
	var buf [4096]byte
	for pos := start; pos < end; {
		n := int(min(end-pos, int64(len(buf))))
		if _, err := f.ReadAt(buf[:n], pos); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return -1, err
		}
		for i, c := range buf[:n] {
			if c != 0 {
				return pos + int64(i), nil
			}
		}
		pos += int64(n)
	}
	return -1, nil
}

// OpenArtifact returns the decompressed NAR of an artifact of the bundle.
// The caller must close it. Reading reports an error if the compressed
// stream is corrupt or followed by other data. OpenArtifact does not bound
// what the artifact decompresses to: a verifier that knows the NAR's size
// uses OpenArtifactLimit.
func (b *Bundle) OpenArtifact(a Artifact) (io.ReadCloser, error) {
	return b.OpenArtifactLimit(a, math.MaxInt64)
}

// OpenArtifactLimit is OpenArtifact for an artifact that decompresses to
// at most limit bytes, such as the narSize its provenance subject signs:
// the decoder is stopped, and reading fails, at the byte after limit.
func (b *Bundle) OpenArtifactLimit(a Artifact, limit int64) (io.ReadCloser, error) {
	var known bool
	for _, x := range b.Artifacts {
		if x == a {
			known = true
			break
		}
	}
	if !known {
		return nil, fmt.Errorf("bundle %s: no artifact %s", b.Path, a.File)
	}
	if limit < 0 {
		return nil, fmt.Errorf("bundle %s: %s: negative limit %d", b.Path, a.File, limit)
	}
	var (
		src io.Reader
		c   io.Closer
	)
	if b.isTar {
		f, err := b.reopenTar()
		if err != nil {
			return nil, fmt.Errorf("bundle %s: %w", b.Path, err)
		}
		e := b.entries[a.File]
		src, c = io.NewSectionReader(f, e.offset, e.size), f
	} else {
		// The compressed size is not capped: what it decompresses to is.
		f, err := inputfile.Open(filepath.Join(b.Path, filepath.FromSlash(a.File)), math.MaxInt64)
		if err != nil {
			return nil, fmt.Errorf("bundle %s: %w", b.Path, err)
		}
		src, c = f, f
	}
	rc, err := decompress(bufio.NewReaderSize(src, 1<<20), a.Compression, c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("bundle %s: %s: %w", b.Path, a.File, err)
	}
	return &limitedReadCloser{rc: rc, left: limit, err: fmt.Errorf("bundle %s: %s: decompresses to more than %d bytes", b.Path, a.File, limit)}, nil
}

// reopenTar opens the archive of a tar bundle again and checks that it is
// the file OpenBundle read.
func (b *Bundle) reopenTar() (*os.File, error) {
	f, err := os.OpenFile(b.Path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !os.SameFile(fi, b.tarInfo) || fi.Size() != b.tarInfo.Size() || !fi.ModTime().Equal(b.tarInfo.ModTime()) {
		f.Close()
		return nil, errors.New("the archive changed since it was opened")
	}
	return f, nil
}

// limitedReadCloser reads at most left bytes from rc, and fails with err
// when rc has more.
type limitedReadCloser struct {
	rc   io.ReadCloser
	left int64
	err  error
}

func (l *limitedReadCloser) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more tells the end of the stream from one that is
		// longer than the limit.
		var b [1]byte
		n, err := l.rc.Read(b[:])
		if n > 0 {
			return 0, l.err
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *limitedReadCloser) Close() error { return l.rc.Close() }

// decompress returns a reader of the decompressed stream that closes the
// decoder and then c. The stream must be one xz stream or one zstd frame,
// and nothing after it.
func decompress(r *bufio.Reader, comp Compression, c io.Closer) (io.ReadCloser, error) {
	switch comp {
	case CompressionXZ:
		zr, err := xz.ReaderConfig{SingleStream: true}.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("not an xz stream: %w", err)
		}
		return &readCloser{Reader: zr, close: c.Close}, nil
	case CompressionZstd:
		fr, err := newZstdFrameReader(r)
		if err != nil {
			return nil, err
		}
		zr, err := zstd.NewReader(fr, zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("not a zstd stream: %w", err)
		}
		return &readCloser{Reader: zr, close: func() error { zr.Close(); return c.Close() }}, nil
	}
	return nil, fmt.Errorf("unknown compression %q", comp)
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }
