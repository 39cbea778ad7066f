package nixcache

import (
	"bufio"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/internal/nixstore"
	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/nar"
	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/ulikunitz/xz"
)

// Limits on what Verify reads.
const (
	maxCacheInfoSize = 4096
	MaxNarInfoFiles  = 1 << 20
	maxZstdWindow    = 64 << 20
)

// CacheInfo is a binary cache's nix-cache-info file.
type CacheInfo struct {
	StoreDir      string
	WantMassQuery bool
	Priority      int // 0 if not given
}

// Marshal returns the nix-cache-info file.
func (c CacheInfo) Marshal() []byte {
	s := "StoreDir: " + c.StoreDir + "\n"
	if c.WantMassQuery {
		s += "WantMassQuery: 1\n"
	}
	if c.Priority != 0 {
		s += "Priority: " + strconv.Itoa(c.Priority) + "\n"
	}
	return []byte(s)
}

// ParseCacheInfo parses a nix-cache-info file strictly: lines
// "<Field>: <value>" ending in a newline, the fields StoreDir (required),
// WantMassQuery (0 or 1) and Priority (a non-negative decimal number),
// each at most once.
func ParseCacheInfo(data []byte) (CacheInfo, error) {
	var c CacheInfo
	if len(data) > maxCacheInfoSize {
		return c, fmt.Errorf("%d bytes, more than %d", len(data), maxCacheInfoSize)
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return c, errors.New("empty, or the last line does not end in a newline")
	}
	seen := map[string]bool{}
	for i, line := range strings.Split(string(data[:len(data)-1]), "\n") {
		key, value, ok := strings.Cut(line, ": ")
		if !ok {
			return c, fmt.Errorf("line %d: want <Field>: <value>", i+1)
		}
		if seen[key] {
			return c, fmt.Errorf("line %d: %s appears twice", i+1, key)
		}
		seen[key] = true
		switch key {
		case "StoreDir":
			if !path.IsAbs(value) || path.Clean(value) != value || value == "/" {
				return c, fmt.Errorf("line %d: StoreDir %q: want a clean absolute path other than /", i+1, value)
			}
			c.StoreDir = value
		case "WantMassQuery":
			if value != "0" && value != "1" {
				return c, fmt.Errorf("line %d: WantMassQuery %q: want 0 or 1", i+1, value)
			}
			c.WantMassQuery = value == "1"
		case "Priority":
			p, err := strconv.Atoi(value)
			if err != nil || p < 0 || strconv.Itoa(p) != value {
				return c, fmt.Errorf("line %d: Priority %q: want a non-negative decimal number", i+1, value)
			}
			c.Priority = p
		default:
			return c, fmt.Errorf("line %d: unknown field %q", i+1, key)
		}
	}
	if c.StoreDir == "" {
		return c, errors.New("missing StoreDir")
	}
	return c, nil
}

// A Verified is a store path whose narinfo and NAR Verify checked.
type Verified struct {
	NarInfo *NarInfo
	// SignedBy is the name of the trusted key whose signature of the
	// narinfo verified, or "" if none did.
	SignedBy string
	// ContentAddressed says that the narinfo's CA gives its store path
	// and that the NAR's contents have the CA's hash: Nix accepts such a
	// path without a signature.
	ContentAddressed bool
}

// A Report is what Check found in a cache directory: the problems of the
// directory as a whole and the verdict on each narinfo.
type Report struct {
	Dir       string
	CacheInfo CacheInfo
	// Errors are the problems of the directory as a whole: a file or
	// directory that is not a binary cache's, a NAR file or bundle that
	// no narinfo names.
	Errors []error
	// Paths has one entry per narinfo file, sorted by store path (by
	// file name for a narinfo that does not parse).
	Paths []PathResult
}

// A PathResult is the verdict on one narinfo file and its NAR.
type PathResult struct {
	File string // the narinfo's file name, "<hash>.narinfo"
	// NarInfo is the parsed narinfo, nil if it does not parse.
	NarInfo *NarInfo
	Verified
	// Err says why the path does not verify; nil if it does.
	Err error
}

// OK reports whether the whole cache verifies.
func (r *Report) OK() bool {
	if len(r.Errors) > 0 {
		return false
	}
	for _, p := range r.Paths {
		if p.Err != nil {
			return false
		}
	}
	return true
}

// Err returns the first problem of the report, naming its file, or nil.
func (r *Report) Err() error {
	if len(r.Errors) > 0 {
		return r.Errors[0]
	}
	for _, p := range r.Paths {
		if p.Err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(r.Dir, p.File), p.Err)
		}
	}
	return nil
}

// Verify checks the binary cache in dir as Check does and returns its
// store paths sorted, or the first problem Check reports.
func Verify(dir string, keys []PublicKey) ([]Verified, error) {
	r, err := Check(dir, keys)
	if err != nil {
		return nil, err
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	out := make([]Verified, len(r.Paths))
	for i, p := range r.Paths {
		out[i] = p.Verified
	}
	return out, nil
}

// Check checks the binary cache in dir, as Nix would before taking a path
// from it and more strictly: every narinfo must be signed by one of keys
// or be content-addressed. It returns an error only when dir cannot be
// checked at all (no readable nix-cache-info); every other problem is in
// the report.
//
// The cache must hold nix-cache-info, <hash>.narinfo files, NAR files
// under nar/ and the bundles narinfos name under kettle/bundles/
// (BundleDir), and nothing else but the empty log/ and realisations/
// directories that Nix makes when it opens a cache; every narinfo is named after its store
// path's hash, is for the store named in nix-cache-info, names a NAR file
// nar/<nix32 file hash>.nar[.xz|.zst] matching its Compression, and a
// bundle file that exists if it names one; every NAR file and bundle is
// named by some narinfo. Of every NAR file Check checks the FileHash and
// FileSize; of the NAR decompressed from it, read no further than NarSize
// and one byte, the NarHash and NarSize. A signature by a key of one of
// keys' names that does not verify is an error even when the path is
// content-addressed. A content-addressed path's CA must give its store
// path and its contents' hash (the NAR's for the nar method; the single
// regular file's for flat and text). What a bundle says is not read here.
func Check(dir string, keys []PublicKey) (*Report, error) {
	data, err := inputfile.Read(filepath.Join(dir, CacheInfoFile), maxCacheInfoSize)
	if err != nil {
		return nil, err
	}
	ci, err := ParseCacheInfo(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, CacheInfoFile), err)
	}
	r := &Report{Dir: dir, CacheInfo: ci}
	l, err := readLayout(dir, r)
	if err != nil {
		return nil, err
	}
	namedNAR, namedBundle := map[string]bool{}, map[string]bool{}
	for _, name := range l.narInfos {
		p := PathResult{File: name}
		p.NarInfo, p.Verified, p.Err = verifyPath(dir, filepath.Join(dir, name), ci.StoreDir, keys)
		if n := p.NarInfo; n != nil {
			namedNAR[n.URL] = true
			if n.Bundle != "" {
				namedBundle[n.Bundle] = true
				if p.Err == nil && !l.bundles[n.Bundle] {
					p.Err = fmt.Errorf("%s %s: no such bundle in the cache", BundleField, n.Bundle)
				}
			}
		}
		r.Paths = append(r.Paths, p)
	}
	for _, f := range l.narFiles {
		if !namedNAR["nar/"+f] {
			r.Errors = append(r.Errors, fmt.Errorf("%s: no narinfo names this NAR file", filepath.Join(dir, "nar", f)))
		}
	}
	for _, f := range slices.Sorted(maps.Keys(l.bundles)) {
		if !namedBundle[f] {
			r.Errors = append(r.Errors, fmt.Errorf("%s: no narinfo names this bundle", filepath.Join(dir, filepath.FromSlash(f))))
		}
	}
	slices.SortFunc(r.Paths, func(a, b PathResult) int {
		if a.NarInfo != nil && b.NarInfo != nil {
			return strings.Compare(a.NarInfo.StorePath, b.NarInfo.StorePath)
		}
		return strings.Compare(a.File, b.File)
	})
	return r, nil
}

// layout is the files of a cache directory, by kind.
type layout struct {
	narInfos []string        // "<hash>.narinfo"
	narFiles []string        // names in nar/
	bundles  map[string]bool // BundleFile names
}

// readLayout lists the files of a cache and adds every one that a cache
// does not have to r.Errors. It fails only if dir cannot be read.
func readLayout(dir string, r *Report) (*layout, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	l := &layout{bundles: map[string]bool{}}
	unknown := func(p, what string) {
		r.Errors = append(r.Errors, fmt.Errorf("%s: %s", p, what))
	}
	for _, e := range entries {
		name, p := e.Name(), filepath.Join(dir, e.Name())
		switch {
		case name == CacheInfoFile && e.Type().IsRegular():
		case name == "nar" && e.IsDir():
			l.narFiles = listNARFiles(p, unknown)
		case name == path.Dir(BundleDir) && e.IsDir():
			listBundles(dir, unknown, l.bundles)
		case (name == "log" || name == "realisations") && e.IsDir():
			// Nix's file:// store makes these when it opens a cache, even
			// to read from it; Kettle writes nothing there.
			if sub, err := os.ReadDir(p); err != nil || len(sub) > 0 {
				unknown(p, "not empty: a Kettle cache has no build logs or realisations")
			}
		case isNarInfoName(name) && e.Type().IsRegular():
			if len(l.narInfos) == MaxNarInfoFiles {
				return nil, fmt.Errorf("%s: more than %d narinfo files", dir, MaxNarInfoFiles)
			}
			l.narInfos = append(l.narInfos, name)
		default:
			unknown(p, "not a file of a binary cache")
		}
	}
	return l, nil
}

// isNarInfoName reports whether name is "<hash>.narinfo".
func isNarInfoName(name string) bool {
	h, ok := strings.CutSuffix(name, ".narinfo")
	return ok && len(h) == nixstore.HashLen && nixbase32.ValidateString(h) == nil
}

// listNARFiles lists the NAR files in narDir and reports anything else.
func listNARFiles(narDir string, unknown func(p, what string)) []string {
	entries, err := os.ReadDir(narDir)
	if err != nil {
		unknown(narDir, err.Error())
		return nil
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		h, _, ok := strings.Cut(name, ".")
		ext := name[len(h):]
		if !ok || len(h) != nixbase32.EncodedLen(sha256.Size) || nixbase32.ValidateString(h) != nil ||
			ext != ".nar" && ext != ".nar.xz" && ext != ".nar.zst" {
			unknown(filepath.Join(narDir, name), "not a NAR file of a binary cache")
			continue
		}
		names = append(names, name)
	}
	return names
}

// listBundles lists the bundle files under dir/kettle/bundles, which is
// all dir/kettle may hold, and reports anything else.
func listBundles(dir string, unknown func(p, what string), bundles map[string]bool) {
	kettleDir := filepath.Join(dir, filepath.FromSlash(path.Dir(BundleDir)))
	entries, err := os.ReadDir(kettleDir)
	if err != nil {
		unknown(kettleDir, err.Error())
		return
	}
	for _, e := range entries {
		p := filepath.Join(kettleDir, e.Name())
		if e.Name() != path.Base(BundleDir) || !e.IsDir() {
			unknown(p, "not a file of a binary cache")
			continue
		}
		files, err := os.ReadDir(p)
		if err != nil {
			unknown(p, err.Error())
			continue
		}
		for _, f := range files {
			rel := BundleDir + "/" + f.Name()
			if _, err := ParseBundleFile(rel); err != nil || !f.Type().IsRegular() {
				unknown(filepath.Join(p, f.Name()), "not a bundle file of the cache (want <SHA-256 of its provenance.json>.tar)")
				continue
			}
			bundles[rel] = true
		}
	}
}

// verifyPath checks one narinfo file and its NAR.
func verifyPath(dir, file, storeDir string, keys []PublicKey) (*NarInfo, Verified, error) {
	data, err := inputfile.Read(file, MaxNarInfoSize)
	if err != nil {
		return nil, Verified{}, err
	}
	n, err := ParseNarInfo(data)
	if err != nil {
		return nil, Verified{}, err
	}
	v, err := checkPath(dir, file, n, storeDir, keys)
	return n, v, err
}

// checkPath checks a parsed narinfo and its NAR.
func checkPath(dir, file string, n *NarInfo, storeDir string, keys []PublicKey) (Verified, error) {
	v := Verified{NarInfo: n}
	if n.StoreDir() != storeDir {
		return v, fmt.Errorf("StorePath %s is not in the cache's store %s", n.StorePath, storeDir)
	}
	if filepath.Base(file) != narInfoName(n.StorePath) {
		return v, fmt.Errorf("the narinfo of %s must be named %s", n.StorePath, narInfoName(n.StorePath))
	}
	ext, _ := narExt(n.Compression)
	if want := "nar/" + nixbase32.EncodeToString(n.FileHash[:]) + ext; n.URL != want {
		return v, fmt.Errorf("URL %s: want %s, from FileHash and Compression", n.URL, want)
	}
	fp := n.Fingerprint()
	for _, s := range n.Sigs {
		for _, k := range keys {
			if k.Name != s.KeyName {
				continue
			}
			if !k.Verify(fp, s) {
				return v, fmt.Errorf("the signature by key %q does not verify", s.KeyName)
			}
			if v.SignedBy == "" {
				v.SignedBy = k.Name
			}
		}
	}
	var ca *ContentAddress
	if n.CA != "" {
		c, err := ParseContentAddress(n.CA)
		if err != nil {
			return v, fmt.Errorf("CA: %w", err)
		}
		sp, _ := nixstore.ParsePath(n.StorePath) // checked by ParseNarInfo
		refs := make([]string, len(n.References))
		for i, r := range n.References {
			refs[i] = storeDir + "/" + r
		}
		if slices.Contains(refs, n.StorePath) {
			return v, errors.New("CA: a content-addressed path that refers to itself is not supported")
		}
		p, err := c.StorePath(storeDir, sp.Name, refs)
		if err != nil {
			return v, fmt.Errorf("CA %s: %w", n.CA, err)
		}
		if p != n.StorePath {
			return v, fmt.Errorf("CA %s gives the store path %s, not %s", n.CA, p, n.StorePath)
		}
		ca = &c
	}
	if v.SignedBy == "" && ca == nil {
		return v, errors.New("neither signed by a trusted key nor content-addressed")
	}
	if err := checkNAR(filepath.Join(dir, filepath.FromSlash(n.URL)), n, ca); err != nil {
		return v, err
	}
	v.ContentAddressed = ca != nil
	return v, nil
}

// checkNAR checks a NAR file against its narinfo, and the NAR's contents
// against the content address if ca is not nil.
func checkNAR(file string, n *NarInfo, ca *ContentAddress) error {
	if n.FileSize > 1<<62 || n.NarSize > 1<<62 {
		return fmt.Errorf("%s: sizes in the narinfo are too large", file)
	}
	f, err := inputfile.Open(file, int64(n.FileSize))
	if err != nil {
		return err
	}
	defer f.Close()
	if uint64(f.Size()) != n.FileSize {
		return fmt.Errorf("%s: %d bytes, FileSize says %d", file, f.Size(), n.FileSize)
	}
	fileHash := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(f, fileHash), 1<<20)
	dec, closeDec, err := newDecompressor(br, n.Compression)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	defer closeDec()
	narHash := sha256.New()
	nr := &countReader{r: io.LimitReader(dec, int64(n.NarSize)+1)}
	narStream := io.TeeReader(nr, narHash)
	var caHash hash.Hash
	if ca != nil {
		caHash = newHash(ca.Algo)
		if ca.Method == MethodNAR {
			narStream = io.TeeReader(narStream, caHash)
		} else if err := hashSingleFile(narStream, caHash); err != nil {
			return fmt.Errorf("%s: CA %s: %w", file, n.CA, err)
		}
	}
	_, decErr := io.Copy(io.Discard, narStream)
	// The rest of the file, so that a corrupt file is reported as such
	// rather than by the error it makes the decoder fail with.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if got := sum(fileHash); got != n.FileHash {
		return fmt.Errorf("%s: file hash %s, FileHash says %s", file, nix32Hash(got), nix32Hash(n.FileHash))
	}
	if decErr != nil {
		return fmt.Errorf("%s: decompressing: %w", file, decErr)
	}
	if nr.n > n.NarSize {
		return fmt.Errorf("%s: the NAR is longer than NarSize %d", file, n.NarSize)
	}
	if nr.n != n.NarSize {
		return fmt.Errorf("%s: the NAR is %d bytes, NarSize says %d", file, nr.n, n.NarSize)
	}
	if got := sum(narHash); got != n.NarHash {
		return fmt.Errorf("%s: NAR hash %s, NarHash says %s", file, nix32Hash(got), nix32Hash(n.NarHash))
	}
	if ca != nil {
		if got := caHash.Sum(nil); string(got) != string(ca.Digest) {
			return fmt.Errorf("%s: the contents hash to %s:%s, CA says %s", file, ca.Algo, nixbase32.EncodeToString(got), n.CA)
		}
	}
	return nil
}

// hashSingleFile reads a NAR that must be of one regular file and hashes
// the file's contents.
func hashSingleFile(r io.Reader, h hash.Hash) error {
	nr, err := nar.NewReader(r)
	if err != nil {
		return fmt.Errorf("reading the NAR: %w", err)
	}
	defer nr.Close()
	hdr, err := nr.Next()
	if err != nil {
		return fmt.Errorf("reading the NAR: %w", err)
	}
	if hdr.Type != nar.TypeRegular || hdr.Path != "/" {
		return errors.New("flat and text hashing need a NAR of a single regular file")
	}
	if _, err := io.Copy(h, nr); err != nil {
		return fmt.Errorf("reading the NAR: %w", err)
	}
	switch _, err := nr.Next(); err {
	case io.EOF:
	case nil:
		return errors.New("flat and text hashing need a NAR of a single regular file")
	default:
		return fmt.Errorf("reading the NAR: %w", err)
	}
	return nil
}

func newHash(algo string) hash.Hash {
	switch algo {
	case "md5":
		return md5.New()
	case "sha1":
		return sha1.New()
	case "sha512":
		return sha512.New()
	}
	return sha256.New()
}

type countReader struct {
	r io.Reader
	n uint64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	return n, err
}

// newDecompressor returns a decoder for a compression method and a
// function that releases it.
func newDecompressor(r io.Reader, compression string) (io.Reader, func(), error) {
	switch compression {
	case CompressionXZ:
		zr, err := xz.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("not an xz stream: %w", err)
		}
		return zr, func() {}, nil
	case CompressionZstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderMaxMemory(maxZstdWindow*2))
		if err != nil {
			return nil, nil, fmt.Errorf("not a zstd stream: %w", err)
		}
		return zr, zr.Close, nil
	case CompressionNone:
		return r, func() {}, nil
	}
	return nil, nil, fmt.Errorf("compression %q is not supported", compression)
}
