package nixinputs

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const (
	revA = "0123456789abcdef0123456789abcdef01234567"
	revB = "89abcdef0123456789abcdef0123456789abcdef"
	revC = "fedcba9876543210fedcba9876543210fedcba98"
	revD = "1111111111111111111111111111111111111111"
	revE = "2222222222222222222222222222222222222222"
	// narHashes with '+', '/' and '=' to exercise URL encoding.
	nhA = "sha256-ObCKG2zzWU17R7Pd7H+O2TPDYBYZ0ADUFxGYF0sP8dg="
	nhB = "sha256-XvuGgpP/UylNqmXMp8zdQ8Dy6jv6ZFckVpUEGNmE2sw="
	nhC = "sha256-IRgPFZw3aLnmyUbEtxvUCiKahqBavMvyPBDIRuDf72k="
)

// testLock covers every node kind: github (with host), git, path, tarball,
// file, an indirect original resolved to github, a non-flake input, follows
// (including a follows whose target is itself a follows) and a follows of the
// root flake itself.
const testLock = `{
  "nodes": {
    "bar": {
      "inputs": { "nixpkgs": ["foo", "nixpkgs"], "utils": ["utils"] },
      "locked": { "lastModified": 1700000300, "narHash": "` + nhC + `", "path": "/src/bar", "type": "path" },
      "original": { "path": "/src/bar", "type": "path" }
    },
    "foo": {
      "inputs": { "bar": "bar", "nixpkgs": ["nixpkgs"], "self": [] },
      "locked": { "lastModified": 1700000200, "narHash": "` + nhB + `", "ref": "main", "rev": "` + revB + `", "revCount": 42, "submodules": false, "type": "git", "url": "https://example.org/foo.git" },
      "original": { "ref": "main", "type": "git", "url": "https://example.org/foo.git" }
    },
    "ghe": {
      "locked": { "host": "github.example.com", "narHash": "` + nhA + `", "owner": "o", "repo": "r", "rev": "` + revE + `", "type": "github" },
      "original": { "host": "github.example.com", "owner": "o", "repo": "r", "type": "github" }
    },
    "nixpkgs": {
      "locked": { "lastModified": 1700000000, "narHash": "` + nhA + `", "owner": "NixOS", "repo": "nixpkgs", "rev": "` + revA + `", "type": "github" },
      "original": { "owner": "NixOS", "ref": "nixos-23.11", "repo": "nixpkgs", "type": "github" }
    },
    "reg": {
      "locked": { "lastModified": 1700000400, "narHash": "` + nhB + `", "owner": "NixOS", "repo": "nixpkgs", "rev": "` + revC + `", "type": "github" },
      "original": { "id": "nixpkgs", "type": "indirect" }
    },
    "root": {
      "inputs": { "foo": "foo", "ghe": "ghe", "nixpkgs": "nixpkgs", "reg": "reg", "src": "src", "utils": "utils", "single": "single", "me": [] }
    },
    "single": {
      "flake": false,
      "locked": { "narHash": "` + nhC + `", "type": "file", "url": "https://example.org/one.patch" },
      "original": { "type": "file", "url": "https://example.org/one.patch" }
    },
    "src": {
      "flake": false,
      "locked": { "narHash": "` + nhC + `", "type": "tarball", "url": "https://example.org/src-1.0.tar.gz" },
      "original": { "type": "tarball", "url": "https://example.org/src-1.0.tar.gz" }
    },
    "systems": {
      "locked": { "lastModified": 1681028828, "narHash": "` + nhA + `", "owner": "nix-systems", "repo": "default", "rev": "` + revD + `", "type": "github" },
      "original": { "owner": "nix-systems", "repo": "default", "type": "github" }
    },
    "utils": {
      "inputs": { "systems": "systems" },
      "locked": { "lastModified": 1701680307, "narHash": "` + nhB + `", "owner": "numtide", "repo": "flake-utils", "rev": "` + revD + `", "type": "github" },
      "original": { "owner": "numtide", "repo": "flake-utils", "type": "github" }
    }
  },
  "root": "root",
  "version": 7
}`

func TestParseFlakeLock(t *testing.T) {
	for _, version := range []string{"5", "6", "7"} {
		data := strings.Replace(testLock, `"version": 7`, `"version": `+version, 1)
		l, err := ParseFlakeLock([]byte(data))
		if err != nil {
			t.Fatalf("version %s: %v", version, err)
		}
		if l.Version != int(version[0]-'0') || l.Root != "root" || len(l.Nodes) != 10 {
			t.Errorf("version %s: got Version %d Root %q and %d nodes", version, l.Version, l.Root, len(l.Nodes))
		}
	}
	l, err := ParseFlakeLock([]byte(testLock))
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Nodes["bar"].Inputs["nixpkgs"]; !reflect.DeepEqual(got, InputTarget{Follows: []string{"foo", "nixpkgs"}}) || !got.IsFollows() {
		t.Errorf("bar.inputs.nixpkgs = %+v", got)
	}
	if got := l.Nodes["root"].Inputs["me"]; got.Follows == nil || len(got.Follows) != 0 {
		t.Errorf("root.inputs.me = %#v, want an empty follows path", got)
	}
	if got := l.Nodes["foo"].Inputs["bar"]; !reflect.DeepEqual(got, InputTarget{Node: "bar"}) {
		t.Errorf("foo.inputs.bar = %+v", got)
	}
	if f := l.Nodes["src"].Flake; f == nil || *f {
		t.Errorf("src.flake = %v, want false", f)
	}
	if l.Nodes["nixpkgs"].Flake != nil {
		t.Errorf("nixpkgs.flake set, want nil")
	}
	if n, ok := l.Nodes["foo"].Locked["revCount"].(json.Number); !ok || n != "42" {
		t.Errorf("foo.locked.revCount = %#v, want json.Number 42", l.Nodes["foo"].Locked["revCount"])
	}

	got, err := l.LockedInputs()
	if err != nil {
		t.Fatal(err)
	}
	want := []LockedInput{
		{Path: "foo", Node: "foo", Type: "git", Rev: revB, NarHash: nhB,
			URL: "git+https://example.org/foo.git?ref=main&rev=" + revB},
		{Path: "foo/bar", Node: "bar", Type: "path", NarHash: nhC,
			URL: "path:/src/bar?lastModified=1700000300&narHash=sha256-IRgPFZw3aLnmyUbEtxvUCiKahqBavMvyPBDIRuDf72k%3D"},
		{Path: "ghe", Node: "ghe", Type: "github", Rev: revE, NarHash: nhA,
			URL: "github:o/r/" + revE + "?host=github.example.com"},
		{Path: "nixpkgs", Node: "nixpkgs", Type: "github", Rev: revA, NarHash: nhA,
			URL: "github:NixOS/nixpkgs/" + revA},
		{Path: "reg", Node: "reg", Type: "github", Rev: revC, NarHash: nhB,
			URL: "github:NixOS/nixpkgs/" + revC},
		{Path: "single", Node: "single", Type: "file", NarHash: nhC,
			URL: "https://example.org/one.patch"},
		{Path: "src", Node: "src", Type: "tarball", NarHash: nhC,
			URL: "https://example.org/src-1.0.tar.gz"},
		{Path: "utils", Node: "utils", Type: "github", Rev: revD, NarHash: nhB,
			URL: "github:numtide/flake-utils/" + revD},
		{Path: "utils/systems", Node: "systems", Type: "github", Rev: revD, NarHash: nhA,
			URL: "github:nix-systems/default/" + revD},
	}
	if !reflect.DeepEqual(got, want) {
		for i := range got {
			t.Logf("got  %+v", got[i])
		}
		t.Errorf("LockedInputs mismatch, want\n%+v", want)
	}
}

func TestLockedInputsShortestPath(t *testing.T) {
	// "a/z/x" and "b/x" both reach x; the shorter wins even though it sorts
	// later. "c" and "b" both reach y at depth 1: "b" wins.
	const lock = `{"version":7,"root":"root","nodes":{
	  "root":{"inputs":{"a":"a","c":"y","b":"b"}},
	  "a":{"inputs":{"z":"z"},"locked":{"type":"path","path":"/a","narHash":"` + nhA + `"},"original":{"type":"path","path":"/a"}},
	  "z":{"inputs":{"x":"x"},"locked":{"type":"path","path":"/z","narHash":"` + nhA + `"},"original":{"type":"path","path":"/z"}},
	  "b":{"inputs":{"x":"x","y":"y"},"locked":{"type":"path","path":"/b","narHash":"` + nhA + `"},"original":{"type":"path","path":"/b"}},
	  "x":{"locked":{"type":"path","path":"/x","narHash":"` + nhA + `"},"original":{"type":"path","path":"/x"}},
	  "y":{"locked":{"type":"path","path":"/y","narHash":"` + nhA + `"},"original":{"type":"path","path":"/y"}},
	  "orphan":{"locked":{"type":"path","path":"/o"},"original":{"type":"path","path":"/o"}}
	}}`
	l, err := ParseFlakeLock([]byte(lock))
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.LockedInputs()
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, in := range got {
		paths = append(paths, in.Path+"="+in.Node)
	}
	want := []string{"a=a", "a/z=z", "b=b", "b/x=x", "c=y"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("paths = %v, want %v (the unreachable, unlocked orphan must not appear)", paths, want)
	}
}

func TestLockedInputsNoInputs(t *testing.T) {
	l, err := ParseFlakeLock([]byte(`{"nodes":{"root":{}},"root":"root","version":7}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.LockedInputs()
	if err != nil || len(got) != 0 {
		t.Errorf("LockedInputs = %v, %v; want none", got, err)
	}
}

func TestLockedInputsUnlocked(t *testing.T) {
	for _, tc := range []struct{ name, locked, want string }{
		{"indirect", `{"type":"indirect","id":"nixpkgs"}`, `input "dep" (node "dep") is not locked: no narHash`},
		{"github without narHash", `{"type":"github","owner":"o","repo":"r","rev":"` + revA + `"}`, "is not locked: no narHash"},
		{"bad narHash", `{"type":"path","path":"/x","narHash":"md5-1B2M2Y8AsgTpgAmY7PhCfg=="}`, `algorithm "md5" is not supported`},
		{"narHash not a string", `{"type":"path","path":"/x","narHash":42}`, "bad narHash"},
		{"github without owner", `{"type":"github","repo":"r","rev":"` + revA + `","narHash":"` + nhA + `"}`, `no "owner"`},
		{"git without url", `{"type":"git","rev":"` + revA + `","narHash":"` + nhA + `"}`, `no "url"`},
		{"rev not hex", `{"type":"git","url":"https://x/y","rev":"main","narHash":"` + nhA + `"}`, `revision "main": want 40 or 64 hex digits`},
		{"rev upper case", `{"type":"git","url":"https://x/y","rev":"` + strings.ToUpper(revB) + `","narHash":"` + nhA + `"}`, "lower-case hex"},
		{"newline in url", `{"type":"git","url":"https://x/y\nsource:evil","rev":"` + revA + `","narHash":"` + nhA + `"}`, "control character"},
		{"rev not a string", `{"type":"git","url":"https://x/y","rev":5,"narHash":"` + nhA + `"}`, `"rev" is not a non-empty string`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lock := `{"version":7,"root":"root","nodes":{"root":{"inputs":{"dep":"dep"}},
			  "dep":{"locked":` + tc.locked + `,"original":{"type":"indirect","id":"nixpkgs"}}}}`
			l, err := ParseFlakeLock([]byte(lock))
			if err != nil {
				t.Fatal(err)
			}
			_, err = l.LockedInputs()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LockedInputs error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseFlakeLockBad(t *testing.T) {
	node := func(inputs string) string {
		return `{"inputs":` + inputs + `,"locked":{"type":"path","path":"/x","narHash":"` + nhA + `"},"original":{"type":"path","path":"/x"}}`
	}
	lockWith := func(nodes string) string {
		return `{"version":7,"root":"root","nodes":{` + nodes + `}}`
	}
	for _, tc := range []struct{ name, data, want string }{
		{"empty", ``, "flake.lock: empty"},
		{"not JSON", `flake.lock`, "flake.lock: not JSON"},
		{"array", `[]`, "want a JSON object, got an array"},
		{"null", `null`, "got null"},
		{"trailing garbage", `{"version":7,"root":"root","nodes":{"root":{}}}}`, "trailing data"},
		{"duplicate key", `{"version":7,"root":"root","nodes":{"root":{},"root":{}}}`, "flake.lock: nodes.root: duplicate key"},
		{"two documents", `{"version":7,"root":"root","nodes":{"root":{}}} {}`, "trailing data"},
		{"no version", `{"root":"root","nodes":{"root":{}}}`, `missing field "version"`},
		{"version string", `{"version":"7","root":"root","nodes":{"root":{}}}`, `"version": want a number, got a string`},
		{"version 4", `{"version":4,"root":"root","nodes":{"root":{}}}`, "unsupported version 4"},
		{"version 8", `{"version":8,"root":"root","nodes":{"root":{}}}`, "unsupported version 8"},
		{"version fraction", `{"version":7.5,"root":"root","nodes":{"root":{}}}`, "want an integer"},
		{"no root", `{"version":7,"nodes":{"root":{}}}`, `missing field "root"`},
		{"root number", `{"version":7,"root":1,"nodes":{"root":{}}}`, `"root": want a string, got a number`},
		{"root empty", `{"version":7,"root":"","nodes":{"root":{}}}`, `"root" is empty`},
		{"no nodes", `{"version":7,"root":"root"}`, `missing field "nodes"`},
		{"nodes array", `{"version":7,"root":"root","nodes":[]}`, `"nodes": want an object, got an array`},
		{"root node missing", lockWith(`"other":` + node(`{}`)), `root node "root" is not among the nodes`},
		{"node string", lockWith(`"root":"x"`), `node "root": want an object, got a string`},
		{"node null", lockWith(`"root":{},"x":null`), `node "x": want an object, got null`},
		{"inputs array", lockWith(`"root":{"inputs":[]}`), `"inputs": want an object, got an array`},
		{"input number", lockWith(`"root":{"inputs":{"a":1}}`), `input "a": want a node name or a follows path`},
		{"input empty name", lockWith(`"root":{"inputs":{"a":""}}`), `input "a": empty node name`},
		{"input with empty key", lockWith(`"root":{"inputs":{"":"x"}},"x":` + node(`{}`)), "input with an empty name"},
		{"follows non-string", lockWith(`"root":{"inputs":{"a":[1]}}`), `input "a": want a node name or a follows path`},
		{"follows empty component", lockWith(`"root":{"inputs":{"a":["x",""]}}`), "empty input name"},
		{"input to missing node", lockWith(`"root":{"inputs":{"a":"nope"}}`), `input "a" points to missing node "nope"`},
		{"dangling follows", lockWith(`"root":{"inputs":{"a":["nope"]}}`), `input "a" follows "nope"`},
		{"dangling nested follows", lockWith(`"root":{"inputs":{"x":"x"}},"x":` + node(`{"n":["x","missing"]}`)), `node "x" has no input "missing"`},
		{"follows through missing node", lockWith(`"root":{"inputs":{"x":"x","a":["x","y","z"]}},"x":` + node(`{"y":"ghost"}`)), `points to missing node "ghost"`},
		{"follows cycle", lockWith(`"root":{"inputs":{"a":["b"],"b":["a"]}}`), "follows cycle"},
		{"self follows", lockWith(`"root":{"inputs":{"a":["a"]}}`), "follows cycle"},
		{"nested follows cycle", lockWith(`"root":{"inputs":{"x":"x"}},"x":` + node(`{"p":["x","q"],"q":["x","p"]}`)), "follows cycle"},
		{"no locked", lockWith(`"root":{"inputs":{"x":"x"}},"x":{"original":{"type":"path","path":"/x"}}`), `node "x": missing field "locked"`},
		{"no original", lockWith(`"root":{"inputs":{"x":"x"}},"x":{"locked":{"type":"path","path":"/x"}}`), `node "x": missing field "original"`},
		{"locked string", lockWith(`"root":{},"x":{"locked":"github:o/r","original":{"type":"path"}}`), `"locked": want an object, got a string`},
		{"locked without type", lockWith(`"root":{},"x":{"locked":{"path":"/x"},"original":{"type":"path"}}`), `"locked": missing string attribute "type"`},
		{"locked type number", lockWith(`"root":{},"x":{"locked":{"type":3},"original":{"type":"path"}}`), `missing string attribute "type"`},
		{"flake string", lockWith(`"root":{},"x":{"flake":"no","locked":{"type":"path"},"original":{"type":"path"}}`), `"flake": want a boolean, got a string`},
		{"parent string", lockWith(`"root":{},"x":{"parent":"root","locked":{"type":"path"},"original":{"type":"path"}}`), `"parent": want an array of strings`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ParseFlakeLock([]byte(tc.data))
			if err == nil {
				t.Fatalf("ParseFlakeLock succeeded (%+v), want error containing %q", l, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "flake.lock: ") {
				t.Errorf("error %q does not say it is about flake.lock", err)
			}
		})
	}
}

func TestLockedURLFromAttrs(t *testing.T) {
	for _, tc := range []struct {
		attrs map[string]any
		want  string
	}{
		{map[string]any{"type": "github", "owner": "o", "repo": "r", "ref": "release/23.05"}, "github:o/r/release/23.05"},
		{map[string]any{"type": "github", "owner": "o", "repo": "r", "ref": "main", "rev": revA}, "github:o/r/" + revA},
		{map[string]any{"type": "gitlab", "owner": "o", "repo": "r", "rev": revA, "dir": "sub dir"}, "gitlab:o/r/" + revA + "?dir=sub%20dir"},
		{map[string]any{"type": "sourcehut", "owner": "~u", "repo": "r", "rev": revA}, "sourcehut:~u/r/" + revA},
		{map[string]any{"type": "git", "url": "file:///tmp/x", "rev": revA, "submodules": true, "shallow": false, "lastModified": json.Number("5")}, "git+file:///tmp/x?rev=" + revA + "&submodules=1"},
		{map[string]any{"type": "git", "url": "git://example.org/r", "rev": revA}, "git://example.org/r?rev=" + revA},
		{map[string]any{"type": "git", "url": "https://example.org/r?a=1", "ref": "refs/heads/x", "rev": revA}, "git+https://example.org/r?a=1&ref=refs/heads/x&rev=" + revA},
		{map[string]any{"type": "mercurial", "url": "https://example.org/r", "rev": revA}, "hg+https://example.org/r?rev=" + revA},
		{map[string]any{"type": "path", "path": "/a b?", "narHash": nhB, "lastModified": 1.0e9}, "path:/a%20b%3F?lastModified=1000000000&narHash=sha256-XvuGgpP/UylNqmXMp8zdQ8Dy6jv6ZFckVpUEGNmE2sw%3D"},
		{map[string]any{"type": "tarball", "url": "https://example.org/archive/" + revA}, "tarball+https://example.org/archive/" + revA},
		{map[string]any{"type": "tarball", "url": "https://example.org/x.tar.zst", "narHash": nhA}, "https://example.org/x.tar.zst"},
		{map[string]any{"type": "file", "url": "https://example.org/x.tar.gz"}, "file+https://example.org/x.tar.gz"},
		{map[string]any{"type": "indirect", "id": "nixpkgs", "ref": "nixos-24.05"}, "flake:nixpkgs/nixos-24.05"},
		{map[string]any{"type": "brandnew", "z": "1", "a": []any{"x"}}, `brandnew:?a=%5B%22x%22%5D&z=1`},
	} {
		got, err := LockedURLFromAttrs(tc.attrs)
		if err != nil {
			t.Errorf("%v: %v", tc.attrs, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%v:\n got %s\nwant %s", tc.attrs, got, tc.want)
		}
	}
	for _, attrs := range []map[string]any{
		{},
		{"type": 1},
		{"type": "github", "owner": "o"},
		{"type": "github", "owner": 1, "repo": "r"},
		{"type": "git"},
		{"type": "git", "url": "https://x/y?%zz"},
		{"type": "path"},
		{"type": "tarball", "url": ""},
		{"type": "indirect"},
	} {
		if got, err := LockedURLFromAttrs(attrs); err == nil {
			t.Errorf("LockedURLFromAttrs(%v) = %q, want error", attrs, got)
		}
	}
}
