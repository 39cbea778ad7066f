package nixinputs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/internal/nixstore"
)

func FuzzParseFlakeRef(f *testing.F) {
	for _, s := range []string{
		"github:NixOS/nixpkgs/nixos-24.05#hello", "gitlab:o/r?dir=x", "sourcehut:~u/r",
		"git+https://example.org/r?ref=main&rev=0123456789abcdef0123456789abcdef01234567",
		"git+file:///x", "hg+https://h/r", "path:/x", "/abs#a.b", "./rel#\"a.b\".c", ".",
		"tarball+https://h/x", "https://h/x.tar.gz", "file+https://h/x", "flake:nixpkgs/ref",
		"nixpkgs#hello", "", "#", "a#b#c", "github:o", "x:y", "path:", `.#"unterminated`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseFlakeRef(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		// Accepted references round-trip and classify.
		if r.String() != s {
			t.Fatalf("String() = %q, want %q", r.String(), s)
		}
		r2, err := ParseFlakeRef(r.String())
		if err != nil || r2 != r {
			t.Fatalf("re-parse of %q = %+v, %v", s, r2, err)
		}
		if r.URL == "" || strings.ContainsAny(r.URL, "# \t\n") {
			t.Fatalf("URL %q", r.URL)
		}
		if r.Type() == "" {
			t.Fatalf("accepted %q but Type() is empty", s)
		}
		if r.IsLocalPath() != (r.Type() == "path") {
			t.Fatalf("IsLocalPath and Type disagree for %q", s)
		}
	})
}

func FuzzParseFlakeLock(f *testing.F) {
	f.Add([]byte(testLock))
	f.Add([]byte(`{"nodes":{"root":{}},"root":"root","version":7}`))
	f.Add([]byte(`{"version":7,"root":"root","nodes":{"root":{"inputs":{"a":["b"],"b":["a"]}}}}`))
	f.Add([]byte(`{"version":5,"root":"r","nodes":{"r":{"inputs":{"x":"x","y":["x"]}},"x":{"locked":{"type":"path","path":"/x","narHash":"` + nhA + `"},"original":{"type":"path","path":"/x"}}}}`))
	f.Add([]byte(metaPath28))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseFlakeLock(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "flake.lock: ") {
				t.Fatalf("error %q does not name flake.lock", err)
			}
			return
		}
		if l.Nodes[l.Root] == nil {
			t.Fatal("accepted a lock without its root node")
		}
		if l.Version < 5 || l.Version > 7 {
			t.Fatalf("accepted version %d", l.Version)
		}
		for name, n := range l.Nodes {
			if name != l.Root && (n.Locked == nil || n.Original == nil) {
				t.Fatalf("node %q accepted without locked/original", name)
			}
		}
		ins, err := l.LockedInputs()
		if err != nil {
			return
		}
		again, err := l.LockedInputs()
		if err != nil || !reflect.DeepEqual(ins, again) {
			t.Fatal("LockedInputs is not deterministic")
		}
		seenNode := map[string]bool{}
		for i, in := range ins {
			if i > 0 && ins[i-1].Path >= in.Path {
				t.Fatalf("paths not sorted and unique: %q, %q", ins[i-1].Path, in.Path)
			}
			if in.Node == l.Root || l.Nodes[in.Node] == nil || seenNode[in.Node] {
				t.Fatalf("input %q: bad or repeated node %q", in.Path, in.Node)
			}
			seenNode[in.Node] = true
			if in.URL == "" || in.Type == "" {
				t.Fatalf("input %q: empty URL or type", in.Path)
			}
			if _, err := ParseHash(in.NarHash); err != nil {
				t.Fatalf("input %q: narHash %q: %v", in.Path, in.NarHash, err)
			}
		}
	})
}

// renderDerivation writes d back in ATerm form, for the round-trip check.
func renderDerivation(d *Derivation) string {
	td := testDrv{
		outputs:   d.Outputs,
		inputDrvs: d.InputDrvs,
		inputSrcs: d.InputSrcs,
		builder:   d.Builder,
		args:      d.Args,
	}
	var b strings.Builder
	b.WriteString("Derive([")
	for i, name := range slices.Sorted(maps.Keys(td.outputs)) {
		o := td.outputs[name]
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%s,%s,%s,%s)", atermString(name), atermString(o.Path), atermString(o.HashAlgo), atermString(o.Hash))
	}
	b.WriteString("],[")
	for i, p := range slices.Sorted(maps.Keys(td.inputDrvs)) {
		if i > 0 {
			b.WriteByte(',')
		}
		q := make([]string, len(td.inputDrvs[p]))
		for j, o := range td.inputDrvs[p] {
			q[j] = atermString(o)
		}
		fmt.Fprintf(&b, "(%s,[%s])", atermString(p), strings.Join(q, ","))
	}
	b.WriteString("],[")
	for i, s := range td.inputSrcs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(atermString(s))
	}
	fmt.Fprintf(&b, "],%s,%s,[", atermString(d.System), atermString(d.Builder))
	for i, a := range d.Args {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(atermString(a))
	}
	b.WriteString("],[")
	for i, k := range slices.Sorted(maps.Keys(d.Env)) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%s,%s)", atermString(k), atermString(d.Env[k]))
	}
	b.WriteString("])")
	return b.String()
}

func FuzzParseDerivation(f *testing.F) {
	dep := fakeStorePath("s", "dep.drv")
	f.Add([]byte(simpleDrv("s", "x", dep).aterm()))
	fod := simpleDrv("s", "src")
	fod.outputs = map[string]Output{"out": {Path: fakeStorePath("s", "src"), HashAlgo: "r:sha256", Hash: strings.Repeat("ab", 32)}}
	fod.env = map[string]string{"url": "https://example.org/src.tar.gz", "esc": "a\\b\"c\nd"}
	f.Add([]byte(fod.aterm()))
	f.Add([]byte(`Derive([("out","","r:sha256","")],[],[],"x86_64-linux","builtin:fetchurl",[],[("name","ca")])`))
	f.Add([]byte(`Derive(`))
	f.Add([]byte(``))
	path := fakeStorePath("s", "x.drv")
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDerivation(path, data)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if d.ATermSHA256 != sha256.Sum256(data) || d.Path != path || d.Name != "x" {
			t.Fatal("Path, Name or ATermSHA256 wrong")
		}
		if len(d.Outputs) == 0 {
			t.Fatal("accepted a derivation without outputs")
		}
		for in := range d.InputDrvs {
			if !strings.HasSuffix(in, ".drv") {
				t.Fatalf("input derivation %q accepted", in)
			}
		}
		if !sort.StringsAreSorted(d.InputSrcs) {
			t.Fatal("input sources not sorted")
		}
		if fo, ok := d.FixedOutput(); ok {
			if _, err := hex.DecodeString(fo.Hash); err != nil || fo.Hash != strings.ToLower(fo.Hash) || len(fo.Hash) != 2*nixstore.HashSize(fo.Algo) {
				t.Fatalf("FixedOutput hash %q is not lower-case hex of %s", fo.Hash, fo.Algo)
			}
			if fo.URL == "" || strings.ContainsAny(fo.URL, " \t\n\r") {
				t.Fatalf("FixedOutput URL %q", fo.URL)
			}
		}
		// Round trip: what was parsed renders to a derivation that parses
		// to the same thing.
		again, err := ParseDerivation(path, []byte(renderDerivation(d)))
		if err != nil {
			t.Fatalf("re-parse of the rendered derivation: %v", err)
		}
		again.ATermSHA256 = d.ATermSHA256
		if !reflect.DeepEqual(normDrv(again), normDrv(d)) {
			t.Fatalf("round trip changed the derivation:\n%+v\n%+v", again, d)
		}
	})
}

// normDrv maps empty slices to nil so DeepEqual compares contents.
func normDrv(d *Derivation) *Derivation {
	c := *d
	if len(c.InputSrcs) == 0 {
		c.InputSrcs = nil
	}
	if len(c.Args) == 0 {
		c.Args = nil
	}
	return &c
}

func FuzzDecodePathInfo(f *testing.F) {
	f.Add([]byte(`[{"path":"`+piOut+`","narHash":"`+piSRI+`","narSize":456,"references":["`+piOut+`"],"deriver":"`+piDrv+`"},{"path":"`+piGone+`","valid":false}]`), "/nix/store")
	f.Add([]byte(`{"`+piOut+`":{"narHash":"`+piN32+`","narSize":1,"references":[]},"`+piGone+`":null}`), "/nix/store")
	f.Add([]byte(`{"version":2,"storeDir":"/nix/store","info":{"z2w5m5x05k1khkzl7jijqqg5bzl9vam3-hello":{"narHash":{"algorithm":"sha256","hash":"`+piHex+`"},"narSize":1,"references":["z2w5m5x05k1khkzl7jijqqg5bzl9vam3-hello"]}}}`), "")
	f.Add([]byte(`null`), "/nix/store")
	f.Fuzz(func(t *testing.T, data []byte, storeDir string) {
		infos, invalid, err := decodePathInfo(data, storeDir)
		if err != nil {
			return
		}
		if !sort.StringsAreSorted(invalid) {
			t.Fatal("invalid paths not sorted")
		}
		for _, p := range invalid {
			if !strings.HasPrefix(p, "/") {
				t.Fatalf("invalid path %q not absolute", p)
			}
		}
		for p, info := range infos {
			if info.Path != p || !strings.HasPrefix(p, "/") {
				t.Fatalf("info keyed %q has Path %q", p, info.Path)
			}
			if info.Deriver != "" && !strings.HasPrefix(info.Deriver, "/") {
				t.Fatalf("deriver %q not absolute", info.Deriver)
			}
			if !sort.StringsAreSorted(info.References) {
				t.Fatal("references not sorted")
			}
			for _, r := range info.References {
				if !strings.HasPrefix(r, "/") {
					t.Fatalf("reference %q not absolute", r)
				}
			}
		}
	})
}

func FuzzParseHash(f *testing.F) {
	for _, s := range []string{
		piHex, piSRI, piN32, strings.TrimPrefix(piN32, "sha256:"), "sha256:" + piHex,
		"sha256:ObCKG2zzWU17R7Pd7H+O2TPDYBYZ0ADUFxGYF0sP8dg=", strings.ToUpper(piHex),
		"", "sha256-", "md5:00", "sha512-x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHash(s)
		if err != nil {
			return
		}
		n := NarHash{SHA256: h}
		// Every rendering parses back to the same digest …
		for _, form := range []string{n.Hex(), n.SRI(), n.Nix32(), "sha256:" + n.Nix32(), "sha256:" + n.Hex()} {
			got, err := ParseHash(form)
			if err != nil || got != h {
				t.Fatalf("ParseHash(%q) = %x, %v; want %x", form, got, err, h)
			}
		}
		// … and the input was the canonical spelling of its encoding.
		digest := s
		if i := strings.IndexAny(s, ":-"); i >= 0 {
			digest = s[i+1:]
		}
		switch len(digest) {
		case 64:
			if !strings.EqualFold(digest, n.Hex()) {
				t.Fatalf("hex %q decoded to %s", digest, n.Hex())
			}
		case 52:
			if digest != n.Nix32() {
				t.Fatalf("nix32 %q is not canonical (%s)", digest, n.Nix32())
			}
		case 44:
			if "sha256-"+digest != n.SRI() {
				t.Fatalf("base64 %q is not canonical (%s)", digest, n.SRI())
			}
		default:
			t.Fatalf("accepted a %d-character digest", len(digest))
		}
	})
}

func FuzzDecodeMetadata(f *testing.F) {
	for _, s := range []string{metaPath28, metaGit28, metaDirty28, metaDirtyNew, metaGitHubNew, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMetadata("X", data)
		if err != nil {
			return
		}
		if _, err := ParseHash(m.NarHash); err != nil {
			t.Fatalf("accepted narHash %q", m.NarHash)
		}
		if m.LockedURL == "" || m.StorePath == "" {
			t.Fatal("accepted metadata without locked URL or store path")
		}
		if strings.Contains(m.Rev, "dirty") {
			t.Fatal("accepted a dirty revision")
		}
		if m.Lock != nil {
			if _, err := m.Lock.LockedInputs(); err != nil {
				t.Fatalf("accepted a lock with unlocked inputs: %v", err)
			}
		}
		if !bytes.Contains(data, []byte("narHash")) {
			t.Fatal("accepted metadata without a narHash")
		}
	})
}
