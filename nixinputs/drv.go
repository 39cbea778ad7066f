package nixinputs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kettle-build/kettle/internal/nixstore"
	"github.com/nix-community/go-nix/pkg/derivation"
)

// Derivation is a parsed .drv file (a store derivation in ATerm form).
type Derivation struct {
	Path        string   // the .drv store path
	ATermSHA256 [32]byte // SHA-256 of the .drv file's bytes
	Name        string   // store path name without hash and ".drv", e.g. "hello-2.12"
	Outputs     map[string]Output
	InputDrvs   map[string][]string // input .drv path → output names used
	InputSrcs   []string            // input sources (store paths), sorted
	Builder     string
	Args        []string
	System      string
	Env         map[string]string
}

// Output is one output of a derivation as written in the .drv. HashAlgo and
// Hash are empty except for fixed-output (Hash set) and floating
// content-addressed (Hash empty) outputs.
type Output struct {
	Path     string // "" for content-addressed outputs whose path is not yet known
	HashAlgo string // e.g. "sha256", "r:sha256", "text:sha256"
	Hash     string // as in the .drv, normally lower-case hex
}

// FixedOutput describes the fixed output of a fixed-output derivation (a
// fetch whose result is pinned by hash).
type FixedOutput struct {
	Name string // the derivation's name
	Mode string // flat, recursive ("r:" in hashAlgo), text ("text:") or git ("git:")
	Algo string // sha256, sha1, sha512, md5, …
	Hash string // lower-case hex
	// URL is where the fetch came from: the "url" environment variable, else
	// the first of "urls" (space separated), else "-". With structured
	// attributes the same keys are read from __json.
	URL string
}

// splitHashAlgo splits an output's hashAlgo ("r:sha256") into mode and algo.
func splitHashAlgo(s string) (mode, algo string) {
	switch {
	case strings.HasPrefix(s, "r:"):
		return "recursive", s[2:]
	case strings.HasPrefix(s, "text:"):
		return "text", s[5:]
	case strings.HasPrefix(s, "git:"):
		return "git", s[4:]
	}
	return "flat", s
}

// FixedOutput returns the fixed output of a fixed-output derivation, and
// false for any other derivation (including floating content-addressed and
// impure ones, whose output hash is not known in advance).
func (d *Derivation) FixedOutput() (FixedOutput, bool) {
	out, ok := d.Outputs["out"]
	if !ok || len(d.Outputs) != 1 || out.HashAlgo == "" || out.Hash == "" || out.Hash == "impure" {
		return FixedOutput{}, false
	}
	mode, algo := splitHashAlgo(out.HashAlgo)
	digest, err := nixstore.ParseHash(algo, out.Hash)
	if err != nil {
		// ParseDerivation has already rejected such a derivation; a
		// hand-built one is not a valid fixed-output derivation.
		return FixedOutput{}, false
	}
	return FixedOutput{
		Name: d.Name,
		Mode: mode,
		Algo: algo,
		Hash: hex.EncodeToString(digest),
		URL:  d.fetchURL(),
	}, true
}

// fetchURL returns the URL a fetcher derivation downloads, or "-".
func (d *Derivation) fetchURL() string {
	url, urls := d.Env["url"], d.Env["urls"]
	if js, ok := d.Env["__json"]; ok {
		// Structured attributes: url is a string, urls a list of strings.
		var attrs struct {
			URL  any `json:"url"`
			URLs any `json:"urls"`
		}
		if json.Unmarshal([]byte(js), &attrs) == nil {
			url = jsonStrings(attrs.URL)
			urls = jsonStrings(attrs.URLs)
		}
	}
	// Only the first whitespace-separated word: a URL has no spaces, and
	// the value must fit on one manifest line.
	for _, s := range []string{url, urls} {
		if f := strings.Fields(s); len(f) > 0 {
			return f[0]
		}
	}
	return "-"
}

// jsonStrings joins a JSON string or list of strings with spaces.
func jsonStrings(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		var parts []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, " ")
	}
	return ""
}

// ReadDerivation reads and parses the .drv file at path.
func ReadDerivation(path string) (*Derivation, error) {
	data, err := readSmallFile(path, nil)
	if err != nil {
		return nil, fmt.Errorf("reading derivation: %w", err) // err names the path
	}
	return ParseDerivation(path, data)
}

// ParseDerivation parses the ATerm bytes of the .drv at path (used for the
// error messages, the Path and the Name). It checks what Nix would: the path
// is a store path ending in ".drv", the ATerm is well-formed with its lists
// in canonical order, there is at least one output, store paths are
// well-formed, and a fixed output's hash decodes for its algorithm.
// The result does not refer to data, which the caller may reuse.
func ParseDerivation(path string, data []byte) (d *Derivation, err error) {
	name, err := drvName(path)
	if err != nil {
		return nil, err
	}
	// go-nix's parser is not meant to panic, but it walks untrusted bytes
	// with hand-written index arithmetic; a panic there must not take the
	// whole build down.
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, fmt.Errorf("derivation %s: malformed ATerm (parser panic: %v)", path, r)
		}
	}()
	// ReadDerivation reads the bytes.Reader into a buffer of its own (it
	// cannot reach data through it), and its strings point into that
	// buffer: nothing returned aliases data.
	drv, err := derivation.ReadDerivation(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("derivation %s: malformed: %w", path, err)
	}
	// go-nix's parser is lenient: it takes "(…)" for "[…]", missing fields
	// and stray quotes. Nix writes every .drv in one canonical form, so
	// require the bytes to be exactly what go-nix's encoder writes back for
	// what was parsed. (A builder or system containing a quote, backslash
	// or control character would fail this, as go-nix does not unescape
	// them; Nix-built derivations have none.)
	var canon bytes.Buffer
	canon.Grow(len(data))
	if err := drv.WriteDerivation(&canon); err != nil {
		return nil, fmt.Errorf("derivation %s: malformed: %w", path, err)
	}
	if !bytes.Equal(canon.Bytes(), data) {
		return nil, fmt.Errorf("derivation %s: malformed: not in canonical ATerm form (first difference at byte %d)", path, firstDiff(canon.Bytes(), data))
	}
	d = &Derivation{
		Path:        path,
		ATermSHA256: sha256.Sum256(data),
		Name:        name,
		Outputs:     make(map[string]Output, len(drv.Outputs)),
		InputDrvs:   drv.InputDerivations,
		InputSrcs:   drv.InputSources,
		Builder:     drv.Builder,
		Args:        make([]string, len(drv.Arguments)),
		System:      drv.Platform,
	}
	// go-nix keeps arguments and environment variable names as written,
	// escapes and all: check that they are properly escaped strings and
	// decode them as Nix does. (The canonical form check above covers what
	// go-nix does decode.)
	for i, a := range drv.Arguments {
		if !isATermContent(a) {
			return nil, fmt.Errorf("derivation %s: malformed: argument %d has a stray quote or an escape Nix does not write", path, i)
		}
		d.Args[i] = atermUnescape(a)
	}
	d.Env = make(map[string]string, len(drv.Env))
	for k, v := range drv.Env {
		if !isATermContent(k) {
			return nil, fmt.Errorf("derivation %s: malformed: environment variable name %q has a stray quote or an escape Nix does not write", path, k)
		}
		d.Env[atermUnescape(k)] = v
	}
	if d.InputDrvs == nil {
		d.InputDrvs = map[string][]string{}
	}
	for _, src := range d.InputSrcs {
		if err := checkInStore(path, src); err != nil {
			return nil, fmt.Errorf("derivation %s: input source %q: %w", path, src, err)
		}
	}
	// go-nix takes output names, hash algorithms and hashes verbatim; check
	// them, so that nothing unexpected reaches a manifest line.
	for on, o := range drv.Outputs {
		if err := nixstore.CheckOutputName(on); err != nil {
			return nil, fmt.Errorf("derivation %s: invalid output name %q: %w", path, on, err)
		}
		if o.HashAlgorithm != "" {
			_, algo := splitHashAlgo(o.HashAlgorithm)
			if nixstore.HashSize(algo) == 0 {
				return nil, fmt.Errorf("derivation %s: output %q: unknown hash algorithm %q", path, on, o.HashAlgorithm)
			}
			if o.Hash != "" && o.Hash != "impure" {
				if _, err := nixstore.ParseHash(algo, o.Hash); err != nil {
					return nil, fmt.Errorf("derivation %s: output %q: %w", path, on, err)
				}
			}
		} else if o.Hash != "" {
			return nil, fmt.Errorf("derivation %s: output %q has a hash but no hash algorithm", path, on)
		}
		if o.Path != "" {
			if err := checkInStore(path, o.Path); err != nil {
				return nil, fmt.Errorf("derivation %s: output %q: path %q: %w", path, on, o.Path, err)
			}
		}
		d.Outputs[on] = Output{Path: o.Path, HashAlgo: o.HashAlgorithm, Hash: o.Hash}
	}
	for in, outs := range d.InputDrvs {
		if err := checkInStore(path, in); err != nil {
			return nil, fmt.Errorf("derivation %s: input derivation %q: %w", path, in, err)
		}
		if !strings.HasSuffix(in, ".drv") {
			return nil, fmt.Errorf("derivation %s: input derivation %q does not end in .drv", path, in)
		}
		for _, o := range outs {
			if err := nixstore.CheckOutputName(o); err != nil {
				return nil, fmt.Errorf("derivation %s: input derivation %s: invalid output name %q: %w", path, in, o, err)
			}
		}
	}
	return d, nil
}

// isATermContent reports whether s can stand between the quotes of an ATerm
// string as Nix writes it: quotes and backslashes escaped, and no escapes
// but the five Nix writes (\\ \" \n \r \t), so that decoding is one to one.
func isATermContent(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
			if i == len(s) || strings.IndexByte(`\"nrt`, s[i]) < 0 {
				return false
			}
		case '"':
			return false
		}
	}
	return true
}

// atermUnescape decodes the escapes Nix writes in ATerm strings: \n, \r,
// \t, and a backslash before any other character stands for that character.
func atermUnescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			switch c = s[i]; c {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// firstDiff returns the index of the first byte where a and b differ.
func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// checkInStore checks that p is a store path in the store of the
// derivation drvPath: a derivation names only paths of its own store.
func checkInStore(drvPath, p string) error {
	sp, err := nixstore.ParsePath(p)
	if err != nil {
		return err
	}
	if dir := drvPath[:strings.LastIndexByte(drvPath, '/')]; sp.Dir != dir {
		return fmt.Errorf("not in the derivation's store %s", dir)
	}
	return nil
}

// drvName checks that path is a store path ending in ".drv" and returns
// the name before ".drv".
func drvName(path string) (string, error) {
	p, err := nixstore.ParsePath(path)
	if err != nil {
		return "", fmt.Errorf("derivation path %q: %w", path, err)
	}
	name, ok := strings.CutSuffix(p.Name, ".drv")
	if !ok || name == "" {
		return "", fmt.Errorf("derivation path %q: want a store path <hash>-<name>.drv", path)
	}
	return name, nil
}
