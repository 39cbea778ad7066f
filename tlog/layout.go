package tlog

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/transparency-dev/tessera/api/layout"
)

// The files of a log directory besides tessera's tiles (tile/…) and its
// checkpoint.
const (
	// FileVKey holds the log's verifier key, written by Init. Appending
	// checks the signer against it; verifying takes the key from the user.
	FileVKey = "log.vkey"
	// FileLock is locked by the process appending to the log.
	FileLock = "append.lock"
	// DirBundles holds a copy of every logged bundle, as
	// bundles/<provenance-sha256>.tar.
	DirBundles = "bundles"
	// dirState is tessera's POSIX driver's state directory.
	dirState = ".state"
)

// isStateFile reports whether name is one of the files tessera's POSIX
// driver keeps in .state/.
func isStateFile(name string) bool {
	switch name {
	case "version", "treeState", "treeState.lock", "publish.lock", "gcState", "gcState.lock":
		return true
	}
	return false
}

// fileKind is what a path in a log directory is.
type fileKind int

const (
	kindCheckpoint fileKind = iota + 1
	kindVKey
	kindLock
	kindState // a file of .state/
	kindEntryBundle
	kindTile
	kindBundle // bundles/<hex>.tar
	kindStaged // bundles/.stage-*.tar, a bundle an append is checking
	kindDir    // a directory of the layout
)

// logPath is a classified path of a log directory.
type logPath struct {
	kind         fileKind
	level, index uint64   // kindTile (level) and kindEntryBundle, kindTile (index)
	width        uint8    // a partial tile's or entry bundle's width, 0 for a full one
	digest       [32]byte // kindBundle: the provenance SHA-256 its name gives
}

// stagePrefix starts the name of a bundle being staged in bundles/.
const stagePrefix = ".stage-"

// classify names what the slash-separated path rel of a log directory is,
// or fails for a path that no log holds. The layout is tessera's POSIX
// driver's, which is the C2SP tlog-tiles layout (checkpoint, tile/<L>/<N>,
// tile/entries/<N>, with ".p/<W>" for partial ones), plus .state/ and
// Kettle's files; tile paths must be in their one canonical spelling.
func classify(rel string, isDir bool) (logPath, error) {
	if isDir {
		if validDir(rel) {
			return logPath{kind: kindDir}, nil
		}
		return logPath{}, errUnknown(rel)
	}
	switch rel {
	case "checkpoint":
		return logPath{kind: kindCheckpoint}, nil
	case FileVKey:
		return logPath{kind: kindVKey}, nil
	case FileLock:
		return logPath{kind: kindLock}, nil
	}
	if name, ok := strings.CutPrefix(rel, dirState+"/"); ok {
		if isStateFile(name) {
			return logPath{kind: kindState}, nil
		}
		return logPath{}, errUnknown(rel)
	}
	if name, ok := strings.CutPrefix(rel, DirBundles+"/"); ok {
		if strings.HasPrefix(name, stagePrefix) && strings.HasSuffix(name, ".tar") && !strings.Contains(name, "/") {
			return logPath{kind: kindStaged}, nil
		}
		hexName, ok := strings.CutSuffix(name, ".tar")
		if !ok {
			return logPath{}, errUnknown(rel)
		}
		d, err := parseHexDigest(hexName)
		if err != nil {
			return logPath{}, errUnknown(rel)
		}
		return logPath{kind: kindBundle, digest: d}, nil
	}
	if rest, ok := strings.CutPrefix(rel, "tile/entries/"); ok {
		index, width, err := layout.ParseTileIndexPartial(rest)
		if err != nil || layout.EntriesPath(index, width) != rel {
			return logPath{}, errUnknown(rel)
		}
		return logPath{kind: kindEntryBundle, index: index, width: width}, nil
	}
	if rest, ok := strings.CutPrefix(rel, "tile/"); ok {
		level, rest, ok := strings.Cut(rest, "/")
		if !ok {
			return logPath{}, errUnknown(rel)
		}
		l, index, width, err := layout.ParseTileLevelIndexPartial(level, rest)
		if err != nil || layout.TilePath(l, index, width) != rel {
			return logPath{}, errUnknown(rel)
		}
		return logPath{kind: kindTile, level: l, index: index, width: width}, nil
	}
	return logPath{}, errUnknown(rel)
}

// validDir reports whether rel is a directory of the layout: .state,
// bundles, tile, tile/entries or tile/<level>, and under the last two the
// "x<3 digits>" directories of an index path and "<3 digits>.p".
func validDir(rel string) bool {
	switch rel {
	case dirState, DirBundles, "tile", "tile/entries":
		return true
	}
	rest, ok := strings.CutPrefix(rel, "tile/")
	if !ok {
		return false
	}
	parts := strings.Split(rest, "/")
	if parts[0] != "entries" {
		l, err := layout.ParseTileLevel(parts[0])
		if err != nil || strconv.FormatUint(l, 10) != parts[0] {
			return false
		}
	}
	for i, p := range parts[1:] {
		last := i == len(parts)-2
		switch {
		case len(p) == 4 && p[0] == 'x' && digits(p[1:]):
		case last && len(p) == 5 && strings.HasSuffix(p, ".p") && digits(p[:3]):
		default:
			return false
		}
	}
	return true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// errUnknown is the error for a path no log holds.
func errUnknown(rel string) error {
	return fmt.Errorf("%s: unknown file: a Kettle log holds only checkpoint, %s, %s, %s/ (tessera's state), tile/ (C2SP tlog-tiles) and %s/<provenance-sha256>.tar (a leftover of an interrupted write is refused too: remove it)", rel, FileVKey, FileLock, dirState, DirBundles)
}
