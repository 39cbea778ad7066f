package provenance

import (
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/kettle-build/kettle/internal/nixstore"
)

// LeafKind is the first field of a manifest leaf.
type LeafKind string

// The kinds of manifest leaf. Version 1 has all but KindOutput; version 2
// adds it (DESIGN.md, "Input manifest, version 2").
const (
	KindSource     LeafKind = "source"      // the locked flake source: URL and narHash, and its rev
	KindFlakeInput LeafKind = "flake-input" // one locked input of flake.lock
	KindDrv        LeafKind = "drv"         // one derivation of the closure and the SHA-256 of its ATerm bytes
	KindSrc        LeafKind = "src"         // one inputSrcs store path and its NAR SHA-256
	KindFOD        LeafKind = "fod"         // one fixed-output derivation: name, mode, algorithm, URL, hash
	KindToolchain  LeafKind = "toolchain"   // the nix and kettle binaries that did the build
	KindOutput     LeafKind = "output"      // one output of a derivation of the closure and its NAR SHA-256 (version 2)
)

// ParseLeafKind returns the leaf kind named s.
func ParseLeafKind(s string) (LeafKind, error) {
	if !validKind(LeafKind(s)) {
		return "", fmt.Errorf("kind %q is not one of %s", s, kindList())
	}
	return LeafKind(s), nil
}

// RevName is the name of the source leaf that carries the source's revision.
const RevName = "rev"

// Leaf is one line of the input manifest, kind:name:value.
type Leaf struct {
	Kind  LeafKind
	Name  string
	Value string
}

// String returns the leaf as it appears in the manifest and is hashed into
// the tree.
func (l Leaf) String() string {
	return string(l.Kind) + ":" + l.Name + ":" + l.Value
}

// SourceLeaves returns the leaves of the locked flake source: its URL with
// its narHash and, when rev is not empty, its revision.
func SourceLeaves(lockedURL, rev string, narHash [32]byte) []Leaf {
	leaves := []Leaf{{KindSource, lockedURL, hex.EncodeToString(narHash[:])}}
	if rev != "" {
		leaves = append(leaves, Leaf{KindSource, RevName, rev})
	}
	return leaves
}

// FlakeInputLeaf returns the leaf of one locked flake input; inputPath is the
// input's path in flake.lock such as "nixpkgs" or "a/b".
func FlakeInputLeaf(inputPath, lockedURL string, narHash [32]byte) Leaf {
	return Leaf{KindFlakeInput, inputPath + " " + lockedURL, hex.EncodeToString(narHash[:])}
}

// DrvLeaf returns the leaf of one derivation of the closure; atermSHA256 is
// the SHA-256 of the .drv file's bytes.
func DrvLeaf(drvPath string, atermSHA256 [32]byte) Leaf {
	return Leaf{KindDrv, drvPath, hex.EncodeToString(atermSHA256[:])}
}

// SrcLeaf returns the leaf of one inputSrcs store path with its NAR SHA-256.
func SrcLeaf(storePath string, narSHA256 [32]byte) Leaf {
	return Leaf{KindSrc, storePath, hex.EncodeToString(narSHA256[:])}
}

// FODLeaf returns the leaf of one fixed-output derivation: its name, its
// output hash mode (flat, recursive or text), the hash algorithm (sha256,
// sha1, sha512 or md5), the hash in lower-case hex and the URL it fetches
// (empty for none, written as "-").
func FODLeaf(name, mode, algo, hashHex, url string) Leaf {
	if url == "" {
		url = "-"
	}
	return Leaf{KindFOD, name + " mode=" + mode + " algo=" + algo + " url=" + url, hashHex}
}

// ToolchainLeaf returns the leaf of one tool of the build ("nix" or
// "kettle") with its version and the SHA-256 of its binary.
func ToolchainLeaf(tool, version string, binarySHA256 [32]byte) Leaf {
	return Leaf{KindToolchain, tool + " " + version, hex.EncodeToString(binarySHA256[:])}
}

// allowedIn reports why a valid leaf may not appear in a manifest of the
// given version: version 1 has no output leaves and no git-hashed fixed
// outputs.
func (l Leaf) allowedIn(version int) error {
	if version >= ManifestV2 {
		return nil
	}
	switch {
	case l.Kind == KindOutput:
		return fmt.Errorf("kind output needs manifest version %d, this is version %d", ManifestV2, version)
	case l.Kind == KindFOD && strings.Contains(l.Name, " mode=git "):
		return fmt.Errorf("fod mode=git needs manifest version %d, this is version %d", ManifestV2, version)
	}
	return nil
}

// ParseLeaf parses and validates one manifest leaf of the newest version.
func ParseLeaf(s string) (Leaf, error) {
	l, err := parseLeaf(s)
	if err != nil {
		return Leaf{}, fmt.Errorf("manifest leaf %s: %w", quoteLeaf(s), err)
	}
	return l, nil
}

func parseLeaf(s string) (Leaf, error) {
	if !utf8.ValidString(s) {
		return Leaf{}, fmt.Errorf("not valid UTF-8")
	}
	if i := strings.IndexAny(s, "\n\r"); i >= 0 {
		return Leaf{}, fmt.Errorf("contains a line break at byte %d", i)
	}
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Leaf{}, fmt.Errorf("no ':', want kind:name:value")
	}
	if !validKind(LeafKind(kind)) {
		return Leaf{}, fmt.Errorf("kind %q is not one of %s", kind, kindList())
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return Leaf{}, fmt.Errorf("only one ':', want kind:name:value")
	}
	l := Leaf{Kind: LeafKind(kind), Name: rest[:i], Value: rest[i+1:]}
	if l.Name == "" {
		return Leaf{}, fmt.Errorf("empty name")
	}
	if l.Value == "" {
		return Leaf{}, fmt.Errorf("empty value")
	}
	if err := l.validate(); err != nil {
		return Leaf{}, err
	}
	return l, nil
}

// validate checks the kind-specific rules of a leaf whose fields have been
// split.
func (l Leaf) validate() error {
	switch l.Kind {
	case KindSource:
		if l.Name == RevName {
			if !isLowerHex(l.Value) || (len(l.Value) != 40 && len(l.Value) != 64) {
				return fmt.Errorf("source rev %q is not 40 or 64 lower-case hex digits", l.Value)
			}
			return nil
		}
		if err := checkURL(l.Name); err != nil {
			return fmt.Errorf("source URL: %w", err)
		}
		return checkSHA256Hex("source narHash", l.Value)
	case KindFlakeInput:
		i := strings.LastIndexByte(l.Name, ' ')
		if i <= 0 {
			return fmt.Errorf("flake-input name %q is not \"<input path> <locked URL>\"", l.Name)
		}
		if err := checkURL(l.Name[i+1:]); err != nil {
			return fmt.Errorf("flake-input URL: %w", err)
		}
		return checkSHA256Hex("flake-input narHash", l.Value)
	case KindDrv:
		if err := nixstore.CheckPath(l.Name); err != nil {
			return fmt.Errorf("drv path: %w", err)
		}
		if !strings.HasSuffix(l.Name, ".drv") {
			return fmt.Errorf("drv path %q does not end in .drv", l.Name)
		}
		return checkSHA256Hex("drv SHA-256", l.Value)
	case KindSrc:
		if err := nixstore.CheckPath(l.Name); err != nil {
			return fmt.Errorf("src path: %w", err)
		}
		return checkSHA256Hex("src NAR SHA-256", l.Value)
	case KindFOD:
		return checkFOD(l.Name, l.Value)
	case KindOutput:
		_, err := parseOutput(l)
		return err
	case KindToolchain:
		tool, version, ok := strings.Cut(l.Name, " ")
		if !ok || tool == "" || version == "" {
			return fmt.Errorf("toolchain name %q is not \"<tool> <version>\"", l.Name)
		}
		if !isToolName(tool) {
			return fmt.Errorf("toolchain tool %q is not a lower-case word", tool)
		}
		if strings.ContainsAny(version, " \t") {
			return fmt.Errorf("toolchain version %q contains white space", version)
		}
		return checkSHA256Hex("toolchain binary SHA-256", l.Value)
	}
	return fmt.Errorf("kind %q is not one of %s", l.Kind, kindList())
}

// fodAlgo reports whether algo is a hash algorithm of fixed outputs.
func fodAlgo(algo string) bool { return nixstore.HashSize(algo) != 0 }

// checkFOD validates "<name> mode=<m> algo=<a> url=<u>" and the hash.
func checkFOD(name, value string) error {
	f := strings.SplitN(name, " ", 4)
	if len(f) != 4 {
		return fmt.Errorf("fod name %q is not \"<name> mode=<mode> algo=<algo> url=<url>\"", name)
	}
	if err := nixstore.CheckName(f[0]); err != nil {
		return fmt.Errorf("fod derivation name %q: %w", f[0], err)
	}
	mode, ok := strings.CutPrefix(f[1], "mode=")
	if !ok || (mode != "flat" && mode != "recursive" && mode != "text" && mode != "git") {
		return fmt.Errorf("fod %q: %q is not mode=flat, mode=recursive, mode=text or mode=git", f[0], f[1])
	}
	algo, ok := strings.CutPrefix(f[2], "algo=")
	if !ok || !fodAlgo(algo) {
		return fmt.Errorf("fod %q: %q is not algo=sha256, algo=sha1, algo=sha512 or algo=md5", f[0], f[2])
	}
	url, ok := strings.CutPrefix(f[3], "url=")
	if !ok {
		return fmt.Errorf("fod %q: %q does not start with url=", f[0], f[3])
	}
	if url != "-" {
		if err := checkURL(url); err != nil {
			return fmt.Errorf("fod %q URL: %w", f[0], err)
		}
	}
	if want := 2 * nixstore.HashSize(algo); len(value) != want || !isLowerHex(value) {
		return fmt.Errorf("fod %q hash %q is not %d lower-case hex digits (%s)", f[0], value, want, algo)
	}
	return nil
}

func checkSHA256Hex(what, s string) error {
	if len(s) != 64 || !isLowerHex(s) {
		return fmt.Errorf("%s %q is not 64 lower-case hex digits", what, s)
	}
	return nil
}

// checkURL accepts a non-empty URL without white space or control
// characters. Flake URLs take many forms (github:o/r/rev, path:/x?narHash=…,
// git+https://…), so nothing more is checked.
func checkURL(u string) error {
	if u == "" {
		return fmt.Errorf("empty URL")
	}
	for i, r := range u {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("URL %q has white space or a control character at byte %d", u, i)
		}
	}
	return nil
}

func isToolName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' && i > 0) {
			return false
		}
	}
	return s != ""
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}

func validKind(k LeafKind) bool {
	switch k {
	case KindSource, KindFlakeInput, KindDrv, KindSrc, KindFOD, KindToolchain, KindOutput:
		return true
	}
	return false
}

func kindList() string {
	return "source, flake-input, drv, src, fod, toolchain, output"
}

// quoteLeaf quotes a leaf for an error message, shortening a long one.
func quoteLeaf(s string) string {
	const limit = 160
	if len(s) > limit {
		return fmt.Sprintf("%q…", s[:limit])
	}
	return fmt.Sprintf("%q", s)
}
