package tlog

import (
	"strings"
	"testing"

	"github.com/transparency-dev/tessera/api/layout"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		path  string
		dir   bool
		kind  fileKind
		level uint64
		index uint64
		width uint8
	}{
		{path: "checkpoint", kind: kindCheckpoint},
		{path: "log.vkey", kind: kindVKey},
		{path: "append.lock", kind: kindLock},
		{path: ".state/treeState", kind: kindState},
		{path: ".state/version", kind: kindState},
		{path: "tile/entries/000", kind: kindEntryBundle},
		{path: "tile/entries/x001/234.p/17", kind: kindEntryBundle, index: 1234, width: 17},
		{path: "tile/0/x001/x002/003", kind: kindTile, index: 1002003},
		{path: "tile/2/005.p/255", kind: kindTile, level: 2, index: 5, width: 255},
		{path: "bundles/" + hexA + ".tar", kind: kindBundle},
		{path: "bundles/.stage-123.tar", kind: kindStaged},
		{path: "tile", dir: true, kind: kindDir},
		{path: "tile/entries/x001", dir: true, kind: kindDir},
		{path: "tile/3/x001/234.p", dir: true, kind: kindDir},
		{path: ".state", dir: true, kind: kindDir},
		{path: "bundles", dir: true, kind: kindDir},
	} {
		lp, err := classify(tc.path, tc.dir)
		if err != nil {
			t.Errorf("classify(%q): %v", tc.path, err)
			continue
		}
		if lp.kind != tc.kind || lp.level != tc.level || lp.index != tc.index || lp.width != tc.width {
			t.Errorf("classify(%q) = %+v", tc.path, lp)
		}
	}
}

// TestClassifyRefuses: anything else in a log directory is an unknown
// file, tile paths in a spelling other than the canonical one included.
func TestClassifyRefuses(t *testing.T) {
	for _, tc := range []struct {
		path string
		dir  bool
	}{
		{path: "README"},
		{path: "checkpoint12345"}, // tessera's temporary file
		{path: ".state/other"},
		{path: "tile/entries/1"},
		{path: "tile/entries/0001"},
		{path: "tile/entries/x000/001"}, // not canonical
		{path: "tile/entries/001.p/0"},
		{path: "tile/entries/001.p/256"},
		{path: "tile/entries/001.p/07"},
		{path: "tile/entries/001.p"},
		{path: "tile/00/001"},
		{path: "tile/64/001"},
		{path: "tile/x/001"},
		{path: "tile/0/001.p/5/6"},
		{path: "tile/0"},
		{path: "bundles/" + hexA},
		{path: "bundles/" + strings.ToUpper(hexA) + ".tar"},
		{path: "bundles/x.tar"},
		{path: "bundles/sub/" + hexA + ".tar"},
		{path: "other", dir: true},
		{path: "tile/entries/001", dir: true},
		{path: "tile/0/x1", dir: true},
		{path: "tile/0/001.p/x001", dir: true},
		{path: "bundles/sub", dir: true},
		{path: ".state/sub", dir: true},
		{path: "tile/01", dir: true},
	} {
		if lp, err := classify(tc.path, tc.dir); err == nil {
			t.Errorf("classify(%q, dir %v) = %+v, want an error", tc.path, tc.dir, lp)
		} else if !strings.Contains(err.Error(), "unknown file") || !strings.HasPrefix(err.Error(), tc.path+":") {
			t.Errorf("classify(%q): %v", tc.path, err)
		}
	}
}

// FuzzClassify: a path accepted as a tile or entry bundle is the one
// tessera's layout spells for it.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"checkpoint", "tile/entries/x001/234.p/17", "tile/0/000", "tile/1/x001/002.p/3", "bundles/" + hexA + ".tar", ".state/version", "tile/entries/001.p"} {
		f.Add(s, false)
	}
	f.Add("tile/0/x001", true)
	f.Fuzz(func(t *testing.T, p string, dir bool) {
		lp, err := classify(p, dir)
		if err != nil {
			if !strings.Contains(err.Error(), "unknown file") {
				t.Fatalf("error %q", err)
			}
			return
		}
		switch lp.kind {
		case kindTile:
			if layout.TilePath(lp.level, lp.index, lp.width) != p {
				t.Fatalf("%q classified as %+v", p, lp)
			}
		case kindEntryBundle:
			if layout.EntriesPath(lp.index, lp.width) != p {
				t.Fatalf("%q classified as %+v", p, lp)
			}
		case kindBundle:
			if p != bundleRel(lp.digest) {
				t.Fatalf("%q classified as %+v", p, lp)
			}
		case kindDir:
			if !dir {
				t.Fatalf("file %q classified as a directory", p)
			}
		}
	})
}
