package nixinputs

import (
	"strings"
	"testing"
)

func TestParseFlakeRef(t *testing.T) {
	for _, tc := range []struct {
		in, url, attr, typ string
		local              bool
	}{
		{"github:NixOS/nixpkgs", "github:NixOS/nixpkgs", "", "github", false},
		{"github:NixOS/nixpkgs/nixos-24.05#hello", "github:NixOS/nixpkgs/nixos-24.05", "hello", "github", false},
		{"github:o/r/0123456789abcdef0123456789abcdef01234567", "github:o/r/0123456789abcdef0123456789abcdef01234567", "", "github", false},
		{"github:o/r/release/23.05?dir=lib", "github:o/r/release/23.05?dir=lib", "", "github", false},
		{"github:o/r?host=github.example.com", "github:o/r?host=github.example.com", "", "github", false},
		{"gitlab:o/r#packages.x86_64-linux.default", "gitlab:o/r", "packages.x86_64-linux.default", "gitlab", false},
		{"sourcehut:~user/repo", "sourcehut:~user/repo", "", "sourcehut", false},
		{"git+https://example.org/r.git?ref=main&rev=0123456789abcdef0123456789abcdef01234567", "git+https://example.org/r.git?ref=main&rev=0123456789abcdef0123456789abcdef01234567", "", "git", false},
		{"git+ssh://git@example.org/r", "git+ssh://git@example.org/r", "", "git", false},
		{"git+file:///home/u/src", "git+file:///home/u/src", "", "git", false},
		{"git://example.org/r", "git://example.org/r", "", "git", false},
		{"hg+https://example.org/r", "hg+https://example.org/r", "", "mercurial", false},
		{"path:/x", "path:/x", "", "path", true},
		{"path:./sub?narHash=sha256-AAAA", "path:./sub?narHash=sha256-AAAA", "", "path", true},
		{"/abs/dir#x", "/abs/dir", "x", "path", true},
		{"./rel", "./rel", "", "path", true},
		{"../up#a.b", "../up", "a.b", "path", true},
		{".", ".", "", "path", true},
		{".#default", ".", "default", "path", true},
		{"tarball+https://example.org/src", "tarball+https://example.org/src", "", "tarball", false},
		{"https://example.org/x.tar.gz", "https://example.org/x.tar.gz", "", "tarball", false},
		{"https://example.org/x.zip#pkg", "https://example.org/x.zip", "pkg", "tarball", false},
		{"https://example.org/flake.nix", "https://example.org/flake.nix", "", "file", false},
		{"file+https://example.org/x.tar.gz", "file+https://example.org/x.tar.gz", "", "file", false},
		{"file:///tmp/x.tar.xz", "file:///tmp/x.tar.xz", "", "tarball", false},
		{"flake:nixpkgs", "flake:nixpkgs", "", "indirect", false},
		{"nixpkgs", "nixpkgs", "", "indirect", false},
		{"nixpkgs#hello", "nixpkgs", "hello", "indirect", false},
		{"nixpkgs/nixos-24.05", "nixpkgs/nixos-24.05", "", "indirect", false},
		{`.#"foo.bar".baz`, ".", `"foo.bar".baz`, "path", true},
		{`.#a."b\"c"`, ".", `a."b\"c"`, "path", true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseFlakeRef(tc.in)
			if err != nil {
				t.Fatalf("ParseFlakeRef(%q): %v", tc.in, err)
			}
			if r.URL != tc.url || r.Attr != tc.attr {
				t.Errorf("got URL %q Attr %q, want %q %q", r.URL, r.Attr, tc.url, tc.attr)
			}
			if r.Type() != tc.typ {
				t.Errorf("Type() = %q, want %q", r.Type(), tc.typ)
			}
			if r.IsLocalPath() != tc.local {
				t.Errorf("IsLocalPath() = %v, want %v", r.IsLocalPath(), tc.local)
			}
			if r.String() != tc.in {
				t.Errorf("String() = %q, want %q", r.String(), tc.in)
			}
		})
	}
}

func TestParseFlakeRefBad(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{" github:o/r", "whitespace"},
		{"github:o/r ", "whitespace"},
		{"github:o/r#a b", "whitespace"},
		{"github:o/\tr", "whitespace"},
		{"github:o/r\x00", "control"},
		{"path:/x\n", "whitespace"},
		{"\xff\xfe", "UTF-8"},
		{"#foo", "no flake URL"},
		{"github:o/r#a#b", "more than one '#'"},
		{"github:o/r#", "empty attribute path"},
		{"github:o/r#.a", "empty component"},
		{"github:o/r#a..b", "empty component"},
		{"github:o/r#a.", "empty component"},
		{`github:o/r#"a.b`, "unbalanced quote"},
		{`github:o/r#a"b"`, "quote inside"},
		{`github:o/r#"a"b`, "expected '.'"},
		{`github:o/r#""`, "empty quoted"},
		{"github:", "OWNER/REPO"},
		{"github:o", "OWNER/REPO"},
		{"github:o/", "OWNER/REPO"},
		{"github:/r", "OWNER/REPO"},
		{"github:o/r/", "empty path component"},
		{"gitlab:o//r", "OWNER/REPO"},
		{"sourcehut:~u", "OWNER/REPO"},
		{"foo:bar", "unknown URL scheme"},
		{"ftp://example.org/x", "unknown URL scheme"},
		{"svn+https://example.org/x", "unknown URL scheme"},
		{"git+gopher://example.org/x", "transport"},
		{"tarball+ssh://example.org/x", "want http, https or file"},
		{":foo", "empty URL scheme"},
		{"git+https:///path-only", "no host"},
		{"https://", "no host"},
		{"git+file:", "no path"},
		{"path:", "without a path"},
		{"path:?x=1", "without a path"},
		{"flake:", "want an identifier"},
		{"flake:9abc", "want an identifier"},
		{"-x", "neither a URL"},
		{"nixpkgs/-x", "neither a URL"},
		{"github:o/r?=x", "without a name"},
		{"github:o/r?a=%zz", "invalid URL escape"},
		{"/x?a=%", "invalid URL escape"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseFlakeRef(tc.in)
			if err == nil {
				t.Fatalf("ParseFlakeRef(%q) = %+v, want error containing %q", tc.in, r, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestFlakeRefAbsolute(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"path:.", "path:/work/dir"},
		{"path:./x#pkg", "path:/work/dir/x#pkg"},
		{"path:../y?narHash=sha256-AAAA#a.b", "path:/work/y?narHash=sha256-AAAA#a.b"},
		{"path:/abs?narHash=x", "path:/abs?narHash=x"},
		{".", "."},
		{"./x#pkg", "./x#pkg"},
		{"github:o/r#pkg", "github:o/r#pkg"},
		{"git+file:///repo?dir=x", "git+file:///repo?dir=x"},
	} {
		r, err := ParseFlakeRef(tc.in)
		if err != nil {
			t.Fatalf("ParseFlakeRef(%q): %v", tc.in, err)
		}
		if got := r.Absolute("/work/dir").String(); got != tc.want {
			t.Errorf("Absolute(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
