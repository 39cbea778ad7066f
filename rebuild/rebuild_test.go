package rebuild

import (
	"strings"
	"testing"

	"github.com/kettle-build/kettle/provenance"
)

func TestSetInstallable(t *testing.T) {
	for _, tc := range []struct{ uri, attr, want, err string }{
		{"path:/src/hello?lastModified=1&narHash=sha256-AAAA", "default", "path:/src/hello?lastModified=1&narHash=sha256-AAAA#default", ""},
		{"github:o/r/0123456789abcdef0123456789abcdef01234567", "packages.x86_64-linux.x", "github:o/r/0123456789abcdef0123456789abcdef01234567#packages.x86_64-linux.x", ""},
		{"", "default", "", "no locked source URL"},
		{"github:o/r", "", "", "no locked source URL or attribute"},
		{"nixpkgs", "hello", "", "not a locked flake URL with a scheme (its kind: indirect)"},
		{"flake:nixpkgs", "hello", "", "not a locked flake URL"},
		{"/src/hello", "default", "", "not a locked flake URL"},
		{"./hello", "default", "", "not a locked flake URL"},
		{"--option", "x", "", "the locked source and attribute"},
		{"github:o/r", "a#b", "", "more than one '#'"},
		{"github:o/r", "x y", "", "whitespace"},
		{"github:o/r", "a..b", "", "the locked source and attribute"},
	} {
		r := &rebuilder{res: &Result{}}
		err := r.setInstallable(&provenance.Statement{BuildInfo: provenance.BuildInfo{Source: provenance.Dependency{URI: tc.uri}, Attribute: tc.attr}})
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q#%q: %v", tc.uri, tc.attr, err)
		case tc.err == "" && r.res.Installable != tc.want:
			t.Errorf("%q#%q: installable %q, want %q", tc.uri, tc.attr, r.res.Installable, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q#%q: %v, want an error containing %q", tc.uri, tc.attr, err, tc.err)
		}
	}
}
