package nixinputs

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Metadata is what `nix flake metadata --json` reports about a flake,
// checked to be locked and clean.
type Metadata struct {
	OriginalURL string // the reference as given, as Nix renders it
	ResolvedURL string // after registry lookup
	// LockedURL is the locked reference rendered from the locked attributes
	// by LockedURLFromAttrs: the same for every Nix version, unlike
	// NixLockedURL.
	LockedURL string
	// NixLockedURL is the locked URL exactly as this Nix printed it ("url",
	// or "lockedUrl" where present); its query encoding varies across Nix
	// releases.
	NixLockedURL string
	Rev          string // "" for sources without revisions (path, tarball)
	NarHash      string // SRI, as printed
	LastModified int64
	StorePath    string         // the "path" field: the source's store path
	Locked       map[string]any // the locked attributes, numbers as json.Number
	Lock         *FlakeLock     // parsed from the "locks" field; nil only if absent
}

// metadataJSON is the subset of `nix flake metadata --json` used here. Field
// names are stable from Nix 2.4 on; "lockedUrl" appeared later next to "url",
// "dirtyRevision" in 2.17 or so.
type metadataJSON struct {
	OriginalURL   string          `json:"originalUrl"`
	ResolvedURL   string          `json:"resolvedUrl"`
	URL           string          `json:"url"`
	LockedURL     string          `json:"lockedUrl"`
	Locked        map[string]any  `json:"locked"`
	Revision      string          `json:"revision"`
	DirtyRevision string          `json:"dirtyRevision"`
	LastModified  json.Number     `json:"lastModified"`
	Path          string          `json:"path"`
	Locks         json.RawMessage `json:"locks"`
}

// decodeMetadata decodes and checks `nix flake metadata --json` output for
// flakeURL: it refuses a dirty git tree and anything not locked.
func decodeMetadata(flakeURL string, data []byte) (*Metadata, error) {
	var fields map[string]json.RawMessage
	if err := decodeJSONObject(data, &fields); err != nil {
		return nil, fmt.Errorf("nix flake metadata %s: %w", flakeURL, err)
	}
	var raw metadataJSON
	if err := decodeJSON(data, &raw); err != nil {
		return nil, fmt.Errorf("nix flake metadata %s: %w", flakeURL, err)
	}
	if raw.Locked == nil {
		return nil, fmt.Errorf("flake %q is not locked: nix flake metadata reported no locked attributes", flakeURL)
	}
	typ, _ := raw.Locked["type"].(string)
	if typ == "" {
		return nil, fmt.Errorf("flake %q: nix flake metadata reported locked attributes without a type", flakeURL)
	}

	// A dirty git work tree: newer Nix says so with dirtyRev/dirtyShortRev
	// (and "dirtyRevision"); older Nix simply leaves the rev out.
	rev, _ := raw.Locked["rev"].(string)
	if rev == "" {
		rev = raw.Revision
	}
	_, dirtyRev := raw.Locked["dirtyRev"]
	_, dirtyShortRev := raw.Locked["dirtyShortRev"]
	switch {
	case raw.DirtyRevision != "" || dirtyRev || dirtyShortRev || strings.HasSuffix(rev, "-dirty"):
		return nil, fmt.Errorf("git tree of %q is dirty: commit your changes", flakeURL)
	case (typ == "git" || typ == "mercurial") && rev == "":
		return nil, fmt.Errorf("git tree of %q is dirty: commit your changes (nix flake metadata reported no revision)", flakeURL)
	}

	if rev != "" {
		if err := checkRev(rev); err != nil {
			return nil, fmt.Errorf("flake %q: %w", flakeURL, err)
		}
	}
	narHash, _ := raw.Locked["narHash"].(string)
	if narHash == "" {
		return nil, fmt.Errorf("flake %q is not locked: nix flake metadata reported no narHash", flakeURL)
	}
	if _, err := ParseHash(narHash); err != nil {
		return nil, fmt.Errorf("flake %q: bad narHash: %w", flakeURL, err)
	}
	locked, err := LockedURLFromAttrs(raw.Locked)
	if err != nil {
		return nil, fmt.Errorf("flake %q: %w", flakeURL, err)
	}

	m := &Metadata{
		OriginalURL:  raw.OriginalURL,
		ResolvedURL:  raw.ResolvedURL,
		LockedURL:    locked,
		NixLockedURL: raw.LockedURL,
		Rev:          rev,
		NarHash:      narHash,
		StorePath:    raw.Path,
		Locked:       raw.Locked,
	}
	if m.NixLockedURL == "" {
		m.NixLockedURL = raw.URL
	}
	lm := raw.LastModified
	if lm == "" {
		lm, _ = raw.Locked["lastModified"].(json.Number)
	}
	if lm != "" {
		if m.LastModified, err = lm.Int64(); err != nil {
			return nil, fmt.Errorf("flake %q: lastModified %q is not an integer", flakeURL, lm)
		}
	}
	if m.StorePath == "" {
		return nil, fmt.Errorf("flake %q: nix flake metadata reported no store path", flakeURL)
	}

	if locks, ok := fields["locks"]; ok && jsonKind(locks) != "null" {
		if m.Lock, err = ParseFlakeLock(locks); err != nil {
			return nil, fmt.Errorf("flake %q: %w", flakeURL, err)
		}
		if _, err := m.Lock.LockedInputs(); err != nil {
			return nil, fmt.Errorf("flake %q is not locked: %w", flakeURL, err)
		}
	}
	return m, nil
}
