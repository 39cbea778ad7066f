package nixinputs

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FlakeRef is a flake reference as a user writes it on the command line:
// a flake URL and an optional attribute path after '#'.
//
// ParseFlakeRef checks the syntax only; what the reference resolves to is
// Nix's business (see [Driver.Metadata]).
type FlakeRef struct {
	// URL is the flake part as given: "github:o/r", "github:o/r/ref",
	// "git+https://…?ref=…", "path:/x", "/abs/dir", "./rel",
	// "tarball+https://…", "https://…/x.tar.gz", "flake:nixpkgs" or
	// "nixpkgs" (indirect), "sourcehut:~u/r", "gitlab:o/r".
	URL string
	// Attr is the attribute path after '#', "" when absent.
	Attr string
}

// flakeIDRe matches an indirect flake reference: an identifier, then an
// optional ref and an optional 40-hex rev (Nix's flakeIdRegex, refRegex and
// revRegex).
var flakeIDRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]*(/[a-zA-Z0-9@][a-zA-Z0-9_.\/@+-]*)?(/[0-9a-fA-F]{40})?$`)

// ParseFlakeRef parses a flake reference such as "github:o/r#pkg" or
// ".#packages.x86_64-linux.default". It validates syntax only, with errors
// that say what is wrong: empty input, whitespace or control characters, an
// unknown scheme, a github:/gitlab:/sourcehut: reference without owner and
// repo, a malformed attribute path (empty component, unbalanced quote), more
// than one '#'.
func ParseFlakeRef(s string) (FlakeRef, error) {
	if s == "" {
		return FlakeRef{}, fmt.Errorf("flake reference is empty")
	}
	if !utf8.ValidString(s) {
		return FlakeRef{}, fmt.Errorf("flake reference %q is not valid UTF-8", s)
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return FlakeRef{}, fmt.Errorf("flake reference %q contains whitespace or a control character (%U)", s, r)
		}
	}
	u, attr, hasAttr := strings.Cut(s, "#")
	if strings.Contains(attr, "#") {
		return FlakeRef{}, fmt.Errorf("flake reference %q has more than one '#'", s)
	}
	if u == "" {
		return FlakeRef{}, fmt.Errorf("flake reference %q has no flake URL before '#'", s)
	}
	if hasAttr {
		if err := checkAttrPath(attr); err != nil {
			return FlakeRef{}, fmt.Errorf("flake reference %q: %w", s, err)
		}
	}
	r := FlakeRef{URL: u, Attr: attr}
	if err := checkFlakeURL(u); err != nil {
		return FlakeRef{}, fmt.Errorf("flake reference %q: %w", s, err)
	}
	return r, nil
}

// String returns the reference as Nix takes it: URL, then '#' and the
// attribute path when there is one.
func (r FlakeRef) String() string {
	if r.Attr == "" {
		return r.URL
	}
	return r.URL + "#" + r.Attr
}

// Type returns the kind of fetcher the URL names, judged from its syntax:
// github, gitlab, sourcehut, git, mercurial, path, tarball, file or
// indirect; "" if the URL does not parse. A local directory is "path" even
// when Nix would fetch it as a git work tree.
func (r FlakeRef) Type() string {
	t, _ := flakeURLType(r.URL)
	return t
}

// Absolute returns r with a relative "path:" URL ("path:.", "path:../x?…")
// made absolute against dir. Nix 2.8 keeps such a path as given in the
// locked URL it reports, where it would name another directory wherever the
// locked URL is used again; later Nix reports it absolute. Other URLs,
// bare relative directories included (Nix resolves those itself), are
// returned as they are.
func (r FlakeRef) Absolute(dir string) FlakeRef {
	rest, ok := strings.CutPrefix(r.URL, "path:")
	if !ok || strings.HasPrefix(rest, "/") {
		return r
	}
	p, query, hasQuery := strings.Cut(rest, "?")
	r.URL = "path:" + filepath.Join(dir, p)
	if hasQuery {
		r.URL += "?" + query
	}
	return r
}

// IsLocalPath reports whether the URL names a local path: "/x", "./x", ".",
// "../x" or "path:…".
func (r FlakeRef) IsLocalPath() bool {
	return r.Type() == "path"
}

// checkAttrPath validates a Nix attribute path: components separated by '.',
// each non-empty, optionally double-quoted (a quoted component may contain
// '.'; '\' escapes the next character inside quotes).
func checkAttrPath(a string) error {
	if a == "" {
		return fmt.Errorf("empty attribute path after '#'")
	}
	comp := 0 // length of the current component, quotes included
	for i := 0; i < len(a); i++ {
		switch c := a[i]; c {
		case '.':
			if comp == 0 {
				return fmt.Errorf("attribute path %q has an empty component at byte %d", a, i)
			}
			comp = 0
		case '"':
			if comp != 0 {
				return fmt.Errorf("attribute path %q has a quote inside a component at byte %d", a, i)
			}
			start := i
			i++
			for ; i < len(a) && a[i] != '"'; i++ {
				if a[i] == '\\' {
					i++
				}
			}
			if i >= len(a) {
				return fmt.Errorf("attribute path %q has an unbalanced quote at byte %d", a, start)
			}
			if i == start+1 {
				return fmt.Errorf("attribute path %q has an empty quoted component at byte %d", a, start)
			}
			if i+1 < len(a) && a[i+1] != '.' {
				return fmt.Errorf("attribute path %q: expected '.' after the quoted component ending at byte %d", a, i)
			}
			comp = i - start + 1
		default:
			comp++
		}
	}
	if comp == 0 {
		return fmt.Errorf("attribute path %q ends with an empty component", a)
	}
	return nil
}

// checkFlakeURL validates the flake part of a reference.
func checkFlakeURL(u string) error {
	_, err := flakeURLType(u)
	return err
}

// flakeURLType classifies a flake URL and checks its syntax.
func flakeURLType(u string) (string, error) {
	if u == "" {
		return "", fmt.Errorf("empty flake URL")
	}
	// Local paths.
	if u == "." || u == ".." || strings.HasPrefix(u, "/") || strings.HasPrefix(u, "./") || strings.HasPrefix(u, "../") {
		path, query, _ := strings.Cut(u, "?")
		if path == "" {
			return "", fmt.Errorf("empty path")
		}
		if err := checkQuery(query); err != nil {
			return "", err
		}
		return "path", nil
	}
	scheme, rest, hasScheme := strings.Cut(u, ":")
	if !hasScheme || strings.Contains(scheme, "/") {
		// No scheme: an indirect reference like "nixpkgs" or "nixpkgs/nixos-24.05".
		id, query, _ := strings.Cut(u, "?")
		if !flakeIDRe.MatchString(id) {
			return "", fmt.Errorf("%q is neither a URL with a scheme, a path starting with '/' or '.', nor a flake registry name", u)
		}
		if err := checkQuery(query); err != nil {
			return "", err
		}
		return "indirect", nil
	}
	if scheme == "" {
		return "", fmt.Errorf("%q has an empty URL scheme", u)
	}
	switch scheme {
	case "path":
		path, query, _ := strings.Cut(rest, "?")
		if path == "" {
			return "", fmt.Errorf("path: reference without a path")
		}
		if err := checkQuery(query); err != nil {
			return "", err
		}
		return "path", nil
	case "flake":
		id, query, _ := strings.Cut(rest, "?")
		if !flakeIDRe.MatchString(id) {
			return "", fmt.Errorf("flake: reference %q: want an identifier, optionally followed by /ref and /rev", u)
		}
		if err := checkQuery(query); err != nil {
			return "", err
		}
		return "indirect", nil
	case "github", "gitlab", "sourcehut":
		path, query, _ := strings.Cut(rest, "?")
		parts := strings.Split(path, "/")
		if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
			return "", fmt.Errorf("%s: reference %q: want %s:OWNER/REPO[/REF-OR-REV]", scheme, u, scheme)
		}
		for _, p := range parts[2:] {
			if p == "" {
				return "", fmt.Errorf("%s: reference %q has an empty path component", scheme, u)
			}
		}
		if err := checkQuery(query); err != nil {
			return "", err
		}
		return scheme, nil
	}
	// Schemes with an application part: git+https, tarball+file, …
	app, transport, hasApp := strings.Cut(scheme, "+")
	if !hasApp {
		app, transport = "", scheme
	}
	var typ string
	switch app {
	case "git":
		switch transport {
		case "http", "https", "ssh", "file":
		default:
			return "", fmt.Errorf("%q: git+%s is not a transport Nix's git fetcher supports (http, https, ssh, file)", u, transport)
		}
		typ = "git"
	case "hg":
		switch transport {
		case "http", "https", "ssh", "file":
		default:
			return "", fmt.Errorf("%q: hg+%s is not a transport Nix's mercurial fetcher supports (http, https, ssh, file)", u, transport)
		}
		typ = "mercurial"
	case "tarball", "file":
		switch transport {
		case "http", "https", "file":
		default:
			return "", fmt.Errorf("%q: %s+%s: want http, https or file after '%s+'", u, app, transport, app)
		}
		typ = app
	case "":
		switch scheme {
		case "git":
			typ = "git" // git://host/repo
		case "http", "https", "file":
			typ = "file"
		default:
			return "", fmt.Errorf("%q has unknown URL scheme %q", u, scheme)
		}
	default:
		return "", fmt.Errorf("%q has unknown URL scheme %q", u, scheme)
	}
	parsed, err := url.Parse(transport + ":" + rest)
	if err != nil {
		return "", fmt.Errorf("%q: %w", u, err)
	}
	if transport != "file" && parsed.Host == "" {
		return "", fmt.Errorf("%q has no host", u)
	}
	if transport == "file" && parsed.Path == "" {
		return "", fmt.Errorf("%q has no path", u)
	}
	if err := checkQuery(parsed.RawQuery); err != nil {
		return "", err
	}
	if app == "" && typ == "file" && hasArchiveSuffix(parsed.Path) {
		typ = "tarball"
	}
	return typ, nil
}

// hasArchiveSuffix reports whether a URL path names an archive that Nix
// fetches as a tarball when given a plain http(s) or file URL.
func hasArchiveSuffix(p string) bool {
	for _, suf := range [...]string{".zip", ".tar", ".tgz", ".tar.gz", ".tar.xz", ".tar.bz2", ".tar.zst"} {
		if strings.HasSuffix(p, suf) {
			return true
		}
	}
	return false
}

// checkQuery validates a URL query string: well-formed escapes and a name in
// every parameter.
func checkQuery(q string) error {
	if q == "" {
		return nil
	}
	for _, kv := range strings.Split(q, "&") {
		k, _, _ := strings.Cut(kv, "=")
		if k == "" {
			return fmt.Errorf("query %q has a parameter without a name", q)
		}
	}
	if _, err := url.ParseQuery(q); err != nil {
		return fmt.Errorf("query %q: %w", q, err)
	}
	return nil
}
