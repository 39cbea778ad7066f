package nixinputs

import (
	"strings"
	"testing"
)

// TestLockedAttrsEstablished: revision attributes are recorded only for
// the input types whose fetchers establish them; a path or file node (from
// the flake's own metadata or any flake.lock node) that carries one is
// refused, naming the attribute.
func TestLockedAttrsEstablished(t *testing.T) {
	const nh = "sha256-IRgPFZw3aLnmyUbEtxvUCiKahqBavMvyPBDIRuDf72k="
	const rev = "1111111111111111111111111111111111111111"
	for _, tc := range []struct {
		attrs map[string]any
		want  string // "" for accepted
	}{
		{map[string]any{"type": "path", "path": "/src", "narHash": nh, "lastModified": 5.0}, ""},
		{map[string]any{"type": "path", "path": "/src", "narHash": nh, "rev": rev}, `"rev"`},
		{map[string]any{"type": "path", "path": "/src", "narHash": nh, "revCount": 7.0}, `"revCount"`},
		{map[string]any{"type": "path", "path": "/src", "narHash": nh, "ref": "main"}, `"ref"`},
		{map[string]any{"type": "path", "path": "/src", "narHash": nh, "shortRev": "1111111"}, `"shortRev"`},
		{map[string]any{"type": "file", "url": "https://example.com/x", "narHash": nh, "rev": rev}, `"rev"`},
		{map[string]any{"type": "other", "narHash": nh, "rev": rev}, `"rev"`},
		{map[string]any{"type": "git", "url": "https://example.com/r", "narHash": nh, "rev": rev, "ref": "main", "revCount": 3.0}, ""},
		{map[string]any{"type": "github", "owner": "o", "repo": "r", "narHash": nh, "rev": rev}, ""},
		{map[string]any{"type": "tarball", "url": "https://example.com/x.tar.gz", "narHash": nh, "rev": rev}, ""},
	} {
		_, err := LockedURLFromAttrs(tc.attrs)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: refused: %v", tc.attrs, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: error %v, want one naming %s", tc.attrs, err, tc.want)
		}
	}

	// The same rule for a flake.lock node.
	lock := `{"nodes":{"root":{"inputs":{"src":"src"}},"src":{"flake":false,"locked":{"type":"path","path":"/src","narHash":"` + nh +
		`","rev":"` + rev + `"},"original":{"type":"path","path":"/src"}}},"root":"root","version":7}`
	l, err := ParseFlakeLock([]byte(lock))
	if err == nil {
		_, err = l.LockedInputs()
	}
	if err == nil || !strings.Contains(err.Error(), `"rev"`) {
		t.Errorf("flake.lock path node with rev: error %v", err)
	}
}
