package nixinputs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/kettle-build/kettle/internal/strictjson"
)

// PathInfo is what the Nix database records about a valid store path.
type PathInfo struct {
	Path       string
	NarHash    [32]byte // SHA-256 of the path's NAR serialisation
	NarSize    uint64
	Deriver    string   // the .drv that produced it, "" if unknown
	References []string // absolute store paths, sorted
	// CA is the path's content address as a narinfo's CA field has it,
	// such as "fixed:r:sha256:<nix32>", or "" for an input-addressed path.
	CA string
}

// pathInfoJSON is one store object in `nix path-info --json` output, in any
// of its shapes.
type pathInfoJSON struct {
	Path       *string         `json:"path"`
	Valid      *bool           `json:"valid"`
	NarHash    json.RawMessage `json:"narHash"`
	NarSize    json.RawMessage `json:"narSize"`
	Deriver    *string         `json:"deriver"`
	References []string        `json:"references"`
	CA         json.RawMessage `json:"ca"`
}

// decodePathInfo decodes `nix path-info --json` output. It accepts:
//
//   - Nix ≤ 2.18: an array of objects, each with "path"; an invalid path is
//     {"path": …, "valid": false}; narHash is "sha256:<nix32>" or SRI.
//   - Nix 2.19 and later: an object keyed by store path; an invalid path
//     maps to null; narHash is SRI.
//   - Nix with versioned output: {"version": N, "storeDir": …, "info": {…}}
//     keyed by store path or by base name ("<hash>-<name>"), references and
//     deriver likewise, narHash a string or an object {"algorithm", "hash"}.
//
// storeDir completes base names when the output does not say which store it
// describes. It returns the valid paths' info by absolute path and the
// invalid paths, sorted.
func decodePathInfo(data []byte, storeDir string) (map[string]PathInfo, []string, error) {
	if err := strictjson.Check(data); err != nil {
		return nil, nil, fmt.Errorf("path-info output: %w", err)
	}
	var entries []pathInfoJSON
	var keys []string // parallel to entries for the keyed shapes
	switch jsonKind(data) {
	case "an array":
		if err := decodeJSON(data, &entries); err != nil {
			return nil, nil, fmt.Errorf("decoding path-info array: %w", err)
		}
		keys = make([]string, len(entries))
	case "an object":
		var top map[string]json.RawMessage
		if err := decodeJSON(data, &top); err != nil {
			return nil, nil, fmt.Errorf("decoding path-info object: %w", err)
		}
		if info, ok := top["info"]; ok && !isStorePathKey(top) {
			// Versioned wrapper.
			if sd, ok := top["storeDir"]; ok {
				if err := decodeJSON(sd, &storeDir); err != nil {
					return nil, nil, fmt.Errorf("path-info field \"storeDir\": want a string, got %s", jsonKind(sd))
				}
			}
			top = nil
			if err := decodeJSON(info, &top); err != nil || top == nil {
				return nil, nil, fmt.Errorf("path-info field \"info\": want an object, got %s", jsonKind(info))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(top)) {
			var e pathInfoJSON
			if jsonKind(top[k]) == "null" {
				f := false
				e.Valid = &f
			} else if err := decodeJSON(top[k], &e); err != nil {
				return nil, nil, fmt.Errorf("path-info entry %q: %w", k, err)
			}
			keys = append(keys, k)
			entries = append(entries, e)
		}
	default:
		return nil, nil, fmt.Errorf("path-info output: want a JSON array or object, got %s", jsonKind(data))
	}

	abs := func(p string) (string, error) {
		if p == "" {
			return "", fmt.Errorf("empty store path")
		}
		if strings.HasPrefix(p, "/") {
			return p, nil
		}
		if !strings.HasPrefix(storeDir, "/") || strings.Contains(p, "/") {
			return "", fmt.Errorf("store path %q is not absolute", p)
		}
		return path.Join(storeDir, p), nil
	}

	infos := map[string]PathInfo{}
	var invalid []string
	for i, e := range entries {
		name := keys[i]
		if e.Path != nil {
			name = *e.Path
		}
		p, err := abs(name)
		if err != nil {
			return nil, nil, fmt.Errorf("path-info entry %d: %w", i, err)
		}
		if e.Valid != nil && !*e.Valid {
			invalid = append(invalid, p)
			continue
		}
		info := PathInfo{Path: p}
		if len(e.NarHash) == 0 {
			return nil, nil, fmt.Errorf("path-info for %s: missing narHash", p)
		}
		if info.NarHash, err = decodeNarHashJSON(e.NarHash); err != nil {
			return nil, nil, fmt.Errorf("path-info for %s: narHash: %w", p, err)
		}
		if e.NarSize == nil {
			return nil, nil, fmt.Errorf("path-info for %s: missing narSize", p)
		}
		n, err := parseUint64(e.NarSize)
		if err != nil {
			return nil, nil, fmt.Errorf("path-info for %s: narSize: %w", p, err)
		}
		info.NarSize = n
		if e.Deriver != nil && *e.Deriver != "" {
			if info.Deriver, err = abs(*e.Deriver); err != nil {
				return nil, nil, fmt.Errorf("path-info for %s: deriver: %w", p, err)
			}
		}
		info.References = make([]string, 0, len(e.References))
		for _, r := range e.References {
			ar, err := abs(r)
			if err != nil {
				return nil, nil, fmt.Errorf("path-info for %s: reference: %w", p, err)
			}
			info.References = append(info.References, ar)
		}
		sort.Strings(info.References)
		if len(e.CA) != 0 {
			if info.CA, err = decodeCAJSON(e.CA); err != nil {
				return nil, nil, fmt.Errorf("path-info for %s: ca: %w", p, err)
			}
		}
		if _, dup := infos[p]; dup {
			return nil, nil, fmt.Errorf("path-info reports %s twice", p)
		}
		infos[p] = info
	}
	sort.Strings(invalid)
	return infos, invalid, nil
}

// isStorePathKey reports whether an object's keys look like store paths or
// base names rather than the versioned wrapper's fields.
func isStorePathKey(top map[string]json.RawMessage) bool {
	for k := range top {
		switch k {
		case "info", "version", "storeDir":
		default:
			return true
		}
	}
	return false
}

// decodeNarHashJSON decodes a narHash that is either a string in one of
// Nix's forms or an object {"algorithm": "sha256", "hash": …}.
func decodeNarHashJSON(raw json.RawMessage) ([32]byte, error) {
	var s string
	if jsonKind(raw) == "a string" {
		if err := decodeJSON(raw, &s); err != nil {
			return [32]byte{}, err
		}
		return ParseHash(s)
	}
	var obj struct {
		Algorithm string `json:"algorithm"`
		Hash      string `json:"hash"`
	}
	if jsonKind(raw) != "an object" || decodeJSON(raw, &obj) != nil {
		return [32]byte{}, fmt.Errorf("want a string or an object, got %s", jsonKind(raw))
	}
	if obj.Algorithm != "sha256" {
		return [32]byte{}, fmt.Errorf("algorithm %q is not supported (want sha256)", obj.Algorithm)
	}
	if h, err := ParseHash(obj.Hash); err == nil {
		return h, nil
	}
	// A bare base64 digest.
	return ParseHash("sha256-" + obj.Hash)
}

// parseUint64 parses a JSON number that must be a non-negative integer.
func parseUint64(raw json.RawMessage) (uint64, error) {
	if jsonKind(raw) != "a number" {
		return 0, fmt.Errorf("want a number, got %s", jsonKind(raw))
	}
	s := string(bytes.TrimSpace(raw))
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is not a non-negative 64-bit integer", s)
	}
	return v, nil
}
