package nixcache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kettle-build/kettle/internal/nixstore"
	"github.com/nix-community/go-nix/pkg/nixbase32"
)

// Content address methods: how a content-addressed path's hash was taken.
const (
	MethodText = "text" // the file's contents, for builtins.toFile and derivations
	MethodFlat = "flat" // the file's contents, for a flat fixed-output path
	MethodNAR  = "nar"  // the NAR serialisation, for sources and recursive fixed-output paths
)

// A ContentAddress is what a content-addressed store path was computed
// from: the method and the hash of the contents.
type ContentAddress struct {
	Method string // MethodText, MethodFlat or MethodNAR
	Algo   string // md5, sha1, sha256 or sha512; sha256 for MethodText
	Digest []byte
}

// ParseContentAddress parses a content address in Nix's form, as a
// narinfo's CA field and `nix path-info --json` have it:
// "text:sha256:<digest>", "fixed:<algo>:<digest>" (flat) or
// "fixed:r:<algo>:<digest>" (NAR), the digest in Nix's base-32 or hex.
// Errors quote s.
func ParseContentAddress(s string) (ContentAddress, error) {
	var ca ContentAddress
	rest, ok := strings.CutPrefix(s, "text:")
	switch {
	case ok:
		ca.Method = MethodText
	case strings.HasPrefix(s, "fixed:r:"):
		ca.Method, rest = MethodNAR, s[len("fixed:r:"):]
	case strings.HasPrefix(s, "fixed:"):
		ca.Method, rest = MethodFlat, s[len("fixed:"):]
	default:
		return ca, fmt.Errorf("content address %q: want a \"text:\" or \"fixed:\" prefix", s)
	}
	algo, digest, ok := strings.Cut(rest, ":")
	if !ok {
		return ca, fmt.Errorf("content address %q: want <algo>:<digest> after the method", s)
	}
	if ca.Method == MethodText && algo != "sha256" {
		return ca, fmt.Errorf("content address %q: text hashing is sha256 only", s)
	}
	if nixstore.HashSize(algo) == 0 {
		return ca, fmt.Errorf("content address %q: unknown hash algorithm %q", s, algo)
	}
	if strings.ContainsAny(digest, ":-") {
		return ca, fmt.Errorf("content address %q: want a bare digest after the algorithm", s)
	}
	d, err := nixstore.ParseHash(algo, digest)
	if err != nil {
		return ca, fmt.Errorf("content address: %w", err)
	}
	ca.Algo, ca.Digest = algo, d
	return ca, nil
}

// String returns the content address as Nix renders it, the digest in
// Nix's base-32.
func (ca ContentAddress) String() string {
	return ca.prefix() + ca.Algo + ":" + nixbase32.EncodeToString(ca.Digest)
}

func (ca ContentAddress) prefix() string {
	switch ca.Method {
	case MethodText:
		return "text:"
	case MethodNAR:
		return "fixed:r:"
	}
	return "fixed:"
}

// StorePath returns the store path that Nix computes from the content
// address, the path's name and its references (absolute store paths in
// storeDir), as StoreDirConfig::makeFixedOutputPathFromCA does. A
// reference to the path itself is not supported: its hash is taken modulo
// the self-reference.
func (ca ContentAddress) StorePath(storeDir, name string, references []string) (string, error) {
	if err := nixstore.CheckName(name); err != nil {
		return "", err
	}
	refs := slices.Clone(references)
	slices.Sort(refs)
	hexDigest := ca.Algo + ":" + hex.EncodeToString(ca.Digest)
	switch {
	case ca.Method == MethodText:
		return makeStorePath(typeWithRefs("text", refs), hexDigest, storeDir, name), nil
	case ca.Method == MethodNAR && ca.Algo == "sha256":
		return makeStorePath(typeWithRefs("source", refs), hexDigest, storeDir, name), nil
	case ca.Method != MethodNAR && ca.Method != MethodFlat:
		return "", fmt.Errorf("unknown content address method %q", ca.Method)
	case len(refs) != 0:
		return "", errors.New("a fixed-output path other than NAR-hashed with sha256 cannot have references")
	}
	inner := sha256.Sum256([]byte("fixed:out:" + strings.TrimPrefix(ca.prefix(), "fixed:") + hexDigest + ":"))
	return makeStorePath("output:out", "sha256:"+hex.EncodeToString(inner[:]), storeDir, name), nil
}

// typeWithRefs appends the references to a store path type, as Nix's
// makeType does.
func typeWithRefs(typ string, refs []string) string {
	for _, r := range refs {
		typ += ":" + r
	}
	return typ
}

// makeStorePath is Nix's makeStorePath: the SHA-256 of
// "<type>:<hash>:<store dir>:<name>", folded to 20 bytes, in Nix's base-32.
func makeStorePath(typ, hash, storeDir, name string) string {
	h := sha256.Sum256([]byte(typ + ":" + hash + ":" + storeDir + ":" + name))
	var folded [20]byte
	for i, b := range h {
		folded[i%len(folded)] ^= b
	}
	return storeDir + "/" + nixbase32.EncodeToString(folded[:]) + "-" + name
}
