package nixcache

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/kettle-build/kettle/internal/nixstore"
	"github.com/nix-community/go-nix/pkg/nixbase32"
)

// Limits on a narinfo file.
const (
	MaxNarInfoSize = 1 << 20 // bytes
	MaxSigs        = 16      // Sig lines
)

// Compression methods of a NAR file in a binary cache, as a narinfo's
// Compression field names them.
const (
	CompressionXZ   = "xz"
	CompressionZstd = "zstd"
	CompressionNone = "none"
)

// BundleField is the narinfo field in which Kettle names the bundle that
// attests a store path: a file of the cache, BundleFile of the SHA-256 of
// the bundle's provenance.json. Nix reads past fields it does not know
// (Nix 2.8's `nix copy` takes such narinfos; tests/cache_test.go checks it),
// and the field is not part of the fingerprint a signature signs.
const BundleField = "Kettle-Bundle"

// BundleDir is the directory of a cache that holds the bundles its
// narinfos name.
const BundleDir = "kettle/bundles"

// BundleFile returns the file, relative to the cache, of the bundle whose
// provenance.json has the SHA-256 digest: "kettle/bundles/<hex>.tar".
func BundleFile(provenanceDigest [32]byte) string {
	return BundleDir + "/" + hex.EncodeToString(provenanceDigest[:]) + ".tar"
}

// ParseBundleFile parses a BundleField value, "kettle/bundles/<64 lower-case
// hex digits>.tar", and returns the provenance digest it names.
func ParseBundleFile(s string) ([32]byte, error) {
	var d [32]byte
	h, ok := strings.CutPrefix(s, BundleDir+"/")
	if ok {
		h, ok = strings.CutSuffix(h, ".tar")
	}
	if !ok || len(h) != 2*len(d) || strings.ToLower(h) != h {
		return d, fmt.Errorf("%q: want %s/<64 lower-case hex digits>.tar", s, BundleDir)
	}
	if _, err := hex.Decode(d[:], []byte(h)); err != nil {
		return d, fmt.Errorf("%q: want %s/<64 lower-case hex digits>.tar", s, BundleDir)
	}
	return d, nil
}

// narExt returns the NAR file name extension Nix uses for a compression
// method, or "" and false for one this package does not support.
func narExt(compression string) (string, bool) {
	switch compression {
	case CompressionXZ:
		return ".nar.xz", true
	case CompressionZstd:
		return ".nar.zst", true
	case CompressionNone:
		return ".nar", true
	}
	return "", false
}

// A NarInfo is the description of one store path in a binary cache, the
// contents of its <hash>.narinfo file.
type NarInfo struct {
	StorePath   string   // absolute
	URL         string   // of the NAR file, relative to the cache, such as "nar/<file hash>.nar.xz"
	Compression string   // CompressionXZ, CompressionZstd or CompressionNone
	FileHash    [32]byte // SHA-256 of the NAR file
	FileSize    uint64
	NarHash     [32]byte // SHA-256 of the NAR
	NarSize     uint64
	References  []string // base names ("<hash>-<name>"), sorted
	Deriver     string   // base name of the .drv, or ""
	Sigs        []Signature
	CA          string // content address in Nix's form, or ""
	Bundle      string // the BundleField: BundleFile of the bundle that attests the path, or ""
}

// StoreDir returns the store directory of the narinfo's store path.
func (n *NarInfo) StoreDir() string { return path.Dir(n.StorePath) }

// Fingerprint returns the message a narinfo's signatures sign, as Nix's
// ValidPathInfo::fingerprint computes it:
// "1;<store path>;sha256:<nix32 NAR hash>;<NAR size>;<references>", the
// references absolute store paths, sorted, separated by commas.
func (n *NarInfo) Fingerprint() string {
	refs := make([]string, len(n.References))
	for i, r := range n.References {
		refs[i] = n.StoreDir() + "/" + r
	}
	slices.Sort(refs)
	return "1;" + n.StorePath + ";" + nix32Hash(n.NarHash) + ";" +
		strconv.FormatUint(n.NarSize, 10) + ";" + strings.Join(refs, ",")
}

// Sign adds the key's signature of the fingerprint.
func (n *NarInfo) Sign(k SecretKey) { n.Sigs = append(n.Sigs, k.Sign(n.Fingerprint())) }

// nix32Hash renders a SHA-256 digest as Nix does in a narinfo.
func nix32Hash(d [32]byte) string { return "sha256:" + nixbase32.EncodeToString(d[:]) }

// MarshalText returns the narinfo file, its fields in the order Nix writes
// them.
func (n *NarInfo) MarshalText() ([]byte, error) {
	if err := n.check(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	field := func(k, v string) { b.WriteString(k + ": " + v + "\n") }
	field("StorePath", n.StorePath)
	field("URL", n.URL)
	field("Compression", n.Compression)
	field("FileHash", nix32Hash(n.FileHash))
	field("FileSize", strconv.FormatUint(n.FileSize, 10))
	field("NarHash", nix32Hash(n.NarHash))
	field("NarSize", strconv.FormatUint(n.NarSize, 10))
	field("References", strings.Join(n.References, " "))
	if n.Deriver != "" {
		field("Deriver", n.Deriver)
	}
	for _, s := range n.Sigs {
		field("Sig", s.String())
	}
	if n.CA != "" {
		field("CA", n.CA)
	}
	if n.Bundle != "" {
		field(BundleField, n.Bundle)
	}
	return b.Bytes(), nil
}

// check checks the fields that are not checked as they are parsed.
func (n *NarInfo) check() error {
	p, err := nixstore.ParsePath(n.StorePath)
	if err != nil {
		return fmt.Errorf("field StorePath %q: %w", n.StorePath, err)
	}
	if err := checkURL(n.URL); err != nil {
		return fmt.Errorf("field URL %q: %w", n.URL, err)
	}
	if _, ok := narExt(n.Compression); !ok {
		return fmt.Errorf("field Compression %q is not supported (want %s, %s or %s)", n.Compression, CompressionXZ, CompressionZstd, CompressionNone)
	}
	if n.NarSize == 0 {
		return errors.New("field NarSize is 0")
	}
	if n.FileSize == 0 {
		return errors.New("field FileSize is 0")
	}
	seen := map[string]bool{}
	for _, r := range n.References {
		if err := nixstore.CheckPath(p.Dir + "/" + r); err != nil || strings.Contains(r, "/") {
			return fmt.Errorf("field References: %q is not a store path base name", r)
		}
		if seen[r] {
			return fmt.Errorf("field References: %q appears twice", r)
		}
		seen[r] = true
	}
	if !slices.IsSorted(n.References) {
		return errors.New("field References are not sorted")
	}
	if n.Deriver != "" {
		if err := nixstore.CheckPath(p.Dir + "/" + n.Deriver); err != nil || strings.Contains(n.Deriver, "/") || !strings.HasSuffix(n.Deriver, ".drv") {
			return fmt.Errorf("field Deriver: %q is not the base name of a .drv store path", n.Deriver)
		}
	}
	if len(n.Sigs) > MaxSigs {
		return fmt.Errorf("%d signatures, more than %d", len(n.Sigs), MaxSigs)
	}
	for _, s := range n.Sigs {
		if checkKeyName(s.KeyName) != nil || len(s.Sig) != 64 {
			return fmt.Errorf("field Sig: malformed signature %q", s.String())
		}
	}
	if n.CA != "" {
		ca, err := ParseContentAddress(n.CA)
		if err != nil {
			return fmt.Errorf("field CA: %w", err)
		}
		if ca.String() != n.CA {
			return fmt.Errorf("field CA %q is not in Nix's form %q", n.CA, ca.String())
		}
	}
	if n.Bundle != "" {
		if _, err := ParseBundleFile(n.Bundle); err != nil {
			return fmt.Errorf("field %s: %w", BundleField, err)
		}
	}
	return nil
}

// checkURL checks that a NAR URL is a clean relative path of printable
// ASCII, inside the cache.
func checkURL(u string) error {
	if u == "" {
		return errors.New("empty")
	}
	for i := 0; i < len(u); i++ {
		if c := u[i]; c <= ' ' || c > '~' || c == '\\' || c == '?' || c == '#' || c == ':' {
			return fmt.Errorf("character %q at byte %d is not allowed", u[i:i+1], i)
		}
	}
	if path.IsAbs(u) || path.Clean(u) != u || u == "." || u == ".." || strings.HasPrefix(u, "../") {
		return errors.New("not a clean relative path inside the cache")
	}
	return nil
}

// ParseNarInfo parses a narinfo file strictly: at most MaxNarInfoSize
// bytes; every line "<Field>: <value>" ending in a newline; only the fields
// Nix writes, each once but Sig (at most MaxSigs); StorePath, URL,
// Compression, FileHash, FileSize, NarHash, NarSize and References
// required; hashes SHA-256 in a prefixed form Nix writes; sizes decimal,
// positive, without leading zeros; references and deriver base names of
// store paths in the store path's directory, references unique and sorted
// (Nix writes them sorted); CA in the form Nix renders; Kettle-Bundle
// (BundleField) a BundleFile. Deriver "unknown-deriver" means none. Errors
// name the line and field.
func ParseNarInfo(data []byte) (*NarInfo, error) {
	if len(data) > MaxNarInfoSize {
		return nil, fmt.Errorf("narinfo: %d bytes, more than %d", len(data), MaxNarInfoSize)
	}
	if len(data) == 0 {
		return nil, errors.New("narinfo: empty")
	}
	if data[len(data)-1] != '\n' {
		return nil, errors.New("narinfo: the last line does not end in a newline")
	}
	n := &NarInfo{}
	seen := map[string]bool{}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	for i, line := range lines {
		lineErr := func(format string, args ...any) error {
			return fmt.Errorf("narinfo line %d: %s", i+1, fmt.Sprintf(format, args...))
		}
		key, value, ok := strings.Cut(line, ": ")
		if !ok {
			if k, ok := strings.CutSuffix(line, ":"); ok && k == "References" {
				key, value = k, "" // Nix writes "References: " but tools may trim it
			} else {
				return nil, lineErr("want <Field>: <value>")
			}
		}
		for j := 0; j < len(value); j++ {
			if c := value[j]; c < ' ' || c > '~' {
				return nil, lineErr("%s: byte %#x is not printable ASCII", key, c)
			}
		}
		if seen[key] && key != "Sig" {
			return nil, lineErr("%s appears twice", key)
		}
		seen[key] = true
		var err error
		switch key {
		case "StorePath":
			if err = nixstore.CheckPath(value); err != nil {
				err = fmt.Errorf("%q: %w", value, err)
			}
			n.StorePath = value
		case "URL":
			if err = checkURL(value); err != nil {
				err = fmt.Errorf("%q: %w", value, err)
			}
			n.URL = value
		case "Compression":
			if _, ok := narExt(value); !ok {
				err = fmt.Errorf("%q is not supported (want %s, %s or %s)", value, CompressionXZ, CompressionZstd, CompressionNone)
			}
			n.Compression = value
		case "FileHash":
			n.FileHash, err = parseNarInfoHash(value)
		case "FileSize":
			n.FileSize, err = parseSize(value)
		case "NarHash":
			n.NarHash, err = parseNarInfoHash(value)
		case "NarSize":
			n.NarSize, err = parseSize(value)
		case "References":
			if value != "" {
				n.References = strings.Split(value, " ")
			}
		case "Deriver":
			if value == "" {
				err = errors.New("empty")
			}
			if value != "unknown-deriver" {
				n.Deriver = value
			}
		case "Sig":
			if len(n.Sigs) == MaxSigs {
				return nil, lineErr("more than %d Sig lines", MaxSigs)
			}
			var s Signature
			s, err = ParseSignature(value)
			n.Sigs = append(n.Sigs, s)
		case "CA":
			if value == "" {
				err = errors.New("empty")
			}
			n.CA = value
		case BundleField:
			_, err = ParseBundleFile(value)
			n.Bundle = value
		default:
			return nil, lineErr("unknown field %q", key)
		}
		if err != nil {
			return nil, fmt.Errorf("narinfo line %d: %s: %w", i+1, key, err)
		}
	}
	for _, k := range []string{"StorePath", "URL", "Compression", "FileHash", "FileSize", "NarHash", "NarSize", "References"} {
		if !seen[k] {
			return nil, fmt.Errorf("narinfo: missing %s", k)
		}
	}
	if err := n.check(); err != nil {
		return nil, fmt.Errorf("narinfo for %s: %w", n.StorePath, err)
	}
	return n, nil
}

// parseNarInfoHash parses a SHA-256 digest with the algorithm prefix:
// "sha256:<nix32|hex|base64>" or "sha256-<base64>".
func parseNarInfoHash(s string) ([32]byte, error) {
	if !strings.HasPrefix(s, "sha256:") && !strings.HasPrefix(s, "sha256-") {
		return [32]byte{}, fmt.Errorf("%q: want a sha256: prefix", s)
	}
	return nixstore.ParseSHA256(s)
}

// parseSize parses a positive decimal size without sign or leading zeros.
func parseSize(s string) (uint64, error) {
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, fmt.Errorf("%q is not a positive decimal number without leading zeros", s)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a positive 64-bit decimal number", s)
	}
	return v, nil
}
