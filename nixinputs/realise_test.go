package nixinputs

import (
	"slices"
	"strings"
	"testing"
)

func TestDecodeArchive(t *testing.T) {
	good := `{"path":"/nix/store/f6mh53y1aqrjgv8bm8mjwicdnnljr87g-source","inputs":{"busybox":{"path":"/nix/store/p8mwzyiaprmv5ajlqjrnxckzvsvs4c9v-source","inputs":{}},"again":{"path":"/nix/store/p8mwzyiaprmv5ajlqjrnxckzvsvs4c9v-source","inputs":{}}}}`
	paths, err := decodeArchive([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(paths, []string{"/nix/store/f6mh53y1aqrjgv8bm8mjwicdnnljr87g-source", "/nix/store/p8mwzyiaprmv5ajlqjrnxckzvsvs4c9v-source"}) {
		t.Errorf("paths %v", paths)
	}
	for _, tc := range []struct{ in, want string }{
		{``, "nix flake archive"},
		{`{"path":"/etc/passwd"}`, "flake: path"},
		{`{"path":"/nix/store/f6mh53y1aqrjgv8bm8mjwicdnnljr87g-source","inputs":{"x":{"path":"relative"}}}`, "flake/x: path"},
		{`{"path":"/nix/store/f6mh53y1aqrjgv8bm8mjwicdnnljr87g-source","extra":1}`, "extra"},
	} {
		if _, err := decodeArchive([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
}
