package nixinputs

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kettle-build/kettle/internal/nixstore"
	"github.com/nix-community/go-nix/pkg/nixbase32"
)

// decodeCAJSON decodes the "ca" field of `nix path-info --json`: absent or
// null for an input-addressed path; a string such as
// "fixed:r:sha256:<nix32>" up to Nix 2.18 and in unversioned output; an
// object {"method": "nar"|"flat"|"text"|"git", "hash": …} in versioned
// output, the hash a string or an object as narHash is. It returns the
// content address as Nix renders it in a narinfo, or "".
func decodeCAJSON(raw json.RawMessage) (string, error) {
	switch jsonKind(raw) {
	case "null":
		return "", nil
	case "a string":
		var s string
		if err := decodeJSON(raw, &s); err != nil {
			return "", err
		}
		return canonicalCA(s)
	case "an object":
	default:
		return "", fmt.Errorf("want a string, an object or null, got %s", jsonKind(raw))
	}
	var obj struct {
		Method string          `json:"method"`
		Hash   json.RawMessage `json:"hash"`
	}
	if err := decodeJSON(raw, &obj); err != nil {
		return "", err
	}
	var prefix string
	switch obj.Method {
	case "text":
		prefix = "text:"
	case "flat":
		prefix = "fixed:"
	case "nar":
		prefix = "fixed:r:"
	default:
		return "", fmt.Errorf("content address method %q is not supported (want text, flat or nar)", obj.Method)
	}
	var algo, digest string
	switch jsonKind(obj.Hash) {
	case "a string":
		var s string
		if err := decodeJSON(obj.Hash, &s); err != nil {
			return "", err
		}
		i := strings.IndexAny(s, ":-")
		if i < 0 {
			return "", fmt.Errorf("content address hash %q: want <algo>-<base64> or <algo>:<digest>", s)
		}
		algo, digest = s[:i], s
	case "an object":
		var h struct {
			Algorithm string `json:"algorithm"`
			Hash      string `json:"hash"`
		}
		if err := decodeJSON(obj.Hash, &h); err != nil {
			return "", err
		}
		algo, digest = h.Algorithm, h.Hash
		if _, err := nixstore.ParseHash(algo, digest); err != nil {
			digest = algo + "-" + digest // a bare base64 digest
		}
	default:
		return "", fmt.Errorf("content address hash: want a string or an object, got %s", jsonKind(obj.Hash))
	}
	d, err := nixstore.ParseHash(algo, digest)
	if err != nil {
		return "", fmt.Errorf("content address hash: %w", err)
	}
	return prefix + algo + ":" + nixbase32.EncodeToString(d), nil
}

// canonicalCA checks a content address in Nix's string form,
// "text:<algo>:<digest>", "fixed:<algo>:<digest>" or
// "fixed:r:<algo>:<digest>", and returns it with the digest in Nix's
// base-32, as Nix renders it.
func canonicalCA(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, "text:")
	prefix := "text:"
	if !ok {
		if rest, ok = strings.CutPrefix(s, "fixed:"); !ok {
			return "", fmt.Errorf("content address %q: want a \"text:\" or \"fixed:\" prefix", s)
		}
		prefix = "fixed:"
		if r, ok := strings.CutPrefix(rest, "r:"); ok {
			rest, prefix = r, "fixed:r:"
		}
	}
	algo, digest, ok := strings.Cut(rest, ":")
	if !ok {
		return "", fmt.Errorf("content address %q: want <algo>:<digest> after the method", s)
	}
	if prefix == "text:" && algo != "sha256" {
		return "", fmt.Errorf("content address %q: text hashing is sha256 only", s)
	}
	d, err := nixstore.ParseHash(algo, digest)
	if err != nil || strings.ContainsAny(digest, ":-") {
		return "", fmt.Errorf("content address %q: bad digest", s)
	}
	return prefix + algo + ":" + nixbase32.EncodeToString(d), nil
}
