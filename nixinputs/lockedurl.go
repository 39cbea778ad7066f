package nixinputs

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// isInfoAttr reports whether k is a locked attribute that describes what was
// fetched rather than where from. Nix leaves these out of URL-based locked
// references (the NAR hash is recorded next to the URL in Kettle's
// manifest).
func isInfoAttr(k string) bool {
	switch k {
	case "narHash", "lastModified", "lastModifiedDate", "revCount", "__final":
		return true
	}
	return false
}

// LockedURLFromAttrs renders locked fetcher attributes (a flake.lock node's
// "locked", or the "locked" field of `nix flake metadata --json`) as a flake
// URL, the way current Nix renders them:
//
//	github:o/r/<rev>?host=…          (gitlab:, sourcehut: alike)
//	git+https://host/r?ref=…&rev=…   (git+file, git+ssh, git://)
//	hg+https://host/r?ref=…&rev=…
//	path:/p?lastModified=…&narHash=…
//	https://host/x.tar.gz            ("tarball+" when the name is not an archive)
//	file+https://host/x              ("file+" only when the name looks like an archive)
//	flake:id/ref/rev                 (indirect; never locked)
//
// Query parameters are sorted by name and percent-encoded as Nix does
// (unreserved characters and ":@/?" kept). The result depends only on the
// attributes, so it is the same whichever Nix version wrote them.
func LockedURLFromAttrs(attrs map[string]any) (string, error) {
	if err := checkEstablished(attrs); err != nil {
		return "", err
	}
	u, err := lockedURL(attrs)
	if err != nil {
		return "", err
	}
	// The URL ends up on a line of Kettle's manifest.
	for i := 0; i < len(u); i++ {
		if c := u[i]; c <= ' ' || c == 0x7f {
			return "", fmt.Errorf("locked attributes render to %q, which contains whitespace or a control character", u)
		}
	}
	return u, nil
}

func lockedURL(attrs map[string]any) (string, error) {
	typ, ok := attrs["type"].(string)
	if !ok || typ == "" {
		return "", fmt.Errorf("locked attributes have no string \"type\"")
	}
	str := func(k string) (string, error) {
		v, ok := attrs[k]
		if !ok {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("locked %s attribute %q: want a string, got %T", typ, k, v)
		}
		return s, nil
	}
	need := func(k string) (string, error) {
		s, err := str(k)
		if err == nil && s == "" {
			err = fmt.Errorf("locked %s input has no %q attribute", typ, k)
		}
		return s, err
	}
	// query collects the attributes not consumed by the URL's path.
	query := func(consumed ...string) (map[string]string, error) {
		q := map[string]string{}
		for k, v := range attrs {
			if k == "type" || isInfoAttr(k) || contains(consumed, k) {
				continue
			}
			s, ok, err := queryValue(v)
			if err != nil {
				return nil, fmt.Errorf("locked %s attribute %q: %w", typ, k, err)
			}
			if ok {
				q[k] = s
			}
		}
		return q, nil
	}
	// urlQuery splits the "url" attribute and merges the other attributes
	// into its query, as Nix renders git, mercurial, tarball and file inputs.
	urlQuery := func() (raw, base string, q map[string]string, err error) {
		if raw, err = need("url"); err != nil {
			return "", "", nil, err
		}
		if base, q, err = splitURLQuery(raw); err != nil {
			return "", "", nil, fmt.Errorf("locked %s url %q: %w", typ, raw, err)
		}
		extra, err := query("url")
		if err != nil {
			return "", "", nil, err
		}
		for k, v := range extra {
			q[k] = v
		}
		return raw, base, q, nil
	}

	switch typ {
	case "github", "gitlab", "sourcehut":
		owner, err := need("owner")
		if err != nil {
			return "", err
		}
		repo, err := need("repo")
		if err != nil {
			return "", err
		}
		rev, err := str("rev")
		if err != nil {
			return "", err
		}
		ref, err := str("ref")
		if err != nil {
			return "", err
		}
		p := typ + ":" + percentEncode(owner, ":@") + "/" + percentEncode(repo, ":@")
		// Nix never renders both: a rev pins more than a ref.
		if rev != "" {
			p += "/" + rev
		} else if ref != "" {
			p += "/" + percentEncode(ref, ":@/")
		}
		q, err := query("owner", "repo", "rev", "ref")
		if err != nil {
			return "", err
		}
		return p + encodeQuery(q), nil

	case "git", "mercurial":
		_, base, q, err := urlQuery()
		if err != nil {
			return "", err
		}
		prefix := "git+"
		if typ == "mercurial" {
			prefix = "hg+"
		}
		if typ == "git" && strings.HasPrefix(base, "git://") {
			prefix = ""
		}
		return prefix + base + encodeQuery(q), nil

	case "path":
		p, err := need("path")
		if err != nil {
			return "", err
		}
		// Unlike the URL-based fetchers, Nix renders every attribute of a
		// path input, narHash and lastModified included: without them a
		// path is not locked at all.
		q := map[string]string{}
		for k, v := range attrs {
			switch k {
			case "type", "path", "parent", "__final":
				continue
			}
			s, ok, err := queryValue(v)
			if err != nil {
				return "", fmt.Errorf("locked path attribute %q: %w", k, err)
			}
			if ok {
				q[k] = s
			}
		}
		return "path:" + percentEncode(p, ":@/") + encodeQuery(q), nil

	case "tarball", "file":
		raw, base, q, err := urlQuery()
		if err != nil {
			return "", err
		}
		u, err := url.Parse(base)
		if err != nil {
			return "", fmt.Errorf("locked %s url %q: %w", typ, raw, err)
		}
		prefix := ""
		if archive := hasArchiveSuffix(u.Path); typ == "tarball" && !archive {
			prefix = "tarball+"
		} else if typ == "file" && archive {
			prefix = "file+"
		}
		return prefix + base + encodeQuery(q), nil

	case "indirect":
		id, err := need("id")
		if err != nil {
			return "", err
		}
		s := "flake:" + id
		for _, k := range []string{"ref", "rev"} {
			v, err := str(k)
			if err != nil {
				return "", err
			}
			if v != "" {
				s += "/" + v
			}
		}
		q, err := query("id", "ref", "rev")
		if err != nil {
			return "", err
		}
		return s + encodeQuery(q), nil
	}

	// A fetcher this code does not know: render every attribute, so that the
	// result still pins whatever the lock pins.
	q := map[string]string{}
	for k, v := range attrs {
		if k == "type" {
			continue
		}
		s, ok, err := queryValue(v)
		if err != nil {
			return "", fmt.Errorf("locked %s attribute %q: %w", typ, k, err)
		}
		if ok {
			q[k] = s
		}
	}
	return typ + ":" + encodeQuery(q), nil
}

// revisionAttrs are the locked attributes that claim a version-control
// identity of the source: a commit, a branch or tag, a commit count.
func revisionAttrs() []string {
	return []string{"rev", "shortRev", "ref", "revCount", "dirtyRev", "dirtyShortRev"}
}

// checkEstablished refuses locked attributes that claim what Nix did not
// establish for the input's type. Nix fetches git and mercurial inputs
// from their repositories and github, gitlab and sourcehut inputs by
// commit, and tarballs that Nix locked through an immutable-URL (Link)
// header carry the rev it was given; for those the revision attributes are
// Nix's. For path and file inputs (and any other type) Nix passes rev, ref
// and revCount through from the URL unchecked (Nix 2.8 does), so anyone
// could claim any commit for content identified only by its narHash: such
// a node is refused, naming the attribute. lastModified is checked by Nix
// for path inputs (an attribute mismatch is an error), so it is kept.
func checkEstablished(attrs map[string]any) error {
	typ, _ := attrs["type"].(string)
	switch typ {
	case "git", "mercurial", "github", "gitlab", "sourcehut", "tarball":
		return nil
	case "indirect":
		return nil // never locked: refused as unlocked where it matters
	}
	for _, k := range revisionAttrs() {
		if _, ok := attrs[k]; ok {
			return fmt.Errorf("locked %s input carries a %q attribute, which Nix does not check for %s inputs: refusing to record it", typ, k, typ)
		}
	}
	return nil
}

// queryValue renders an attribute value as Nix puts it in a URL query:
// strings as they are, integers in decimal, true as "1"; false is left out
// (ok == false). Other JSON values are rendered as compact JSON.
func queryValue(v any) (string, bool, error) {
	switch v := v.(type) {
	case string:
		return v, true, nil
	case json.Number:
		return v.String(), true, nil
	case bool:
		if v {
			return "1", true, nil
		}
		return "", false, nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return strconv.FormatInt(int64(v), 10), true, nil
		}
		return strconv.FormatFloat(v, 'g', -1, 64), true, nil
	case int:
		return strconv.Itoa(v), true, nil
	case int64:
		return strconv.FormatInt(v, 10), true, nil
	case nil:
		return "", false, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", false, err
	}
	return string(b), true, nil
}

// splitURLQuery splits a URL at its query, decoding the query parameters.
func splitURLQuery(raw string) (string, map[string]string, error) {
	base, rawQuery, _ := strings.Cut(raw, "?")
	q := map[string]string{}
	if rawQuery == "" {
		return base, q, nil
	}
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", nil, err
	}
	for k, vs := range values {
		q[k] = vs[len(vs)-1]
	}
	return base, q, nil
}

// encodeQuery renders query parameters sorted by name, with a leading '?',
// or "" when there are none.
func encodeQuery(q map[string]string) string {
	if len(q) == 0 {
		return ""
	}
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(q)) {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(percentEncode(k, ":@/?"))
		b.WriteByte('=')
		b.WriteString(percentEncode(q[k], ":@/?"))
	}
	return b.String()
}

// percentEncode escapes every byte of s except RFC 3986 unreserved
// characters and those in keep, with upper-case hex like current Nix.
func percentEncode(s, keep string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkRev checks a locked revision: a git or mercurial commit hash, 40
// (SHA-1) or 64 (SHA-256) lower-case hex digits.
func checkRev(rev string) error {
	if len(rev) != 40 && len(rev) != 64 {
		return fmt.Errorf("revision %q: want 40 or 64 hex digits", rev)
	}
	for i := 0; i < len(rev); i++ {
		if c := rev[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("revision %q: want lower-case hex digits", rev)
		}
	}
	return nil
}
