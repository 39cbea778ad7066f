package nixinputs

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestParseDerivation(t *testing.T) {
	dep := fakeStorePath("s", "dep.drv")
	d := simpleDrv("s", "hello-2.12", dep)
	d.env = map[string]string{"weird": "a \"quoted\"\nline\twith\\escapes"}
	d.args = []string{"-c", "echo \"$out\"\nexit 0\t# back\\slash"}
	path := fakeStorePath("s", "hello-2.12.drv")
	data := []byte(d.aterm())

	got, err := ParseDerivation(path, data)
	if err != nil {
		t.Fatalf("ParseDerivation: %v", err)
	}
	if got.Path != path || got.Name != "hello-2.12" {
		t.Errorf("Path, Name = %q, %q", got.Path, got.Name)
	}
	if got.ATermSHA256 != sha256.Sum256(data) {
		t.Errorf("ATermSHA256 is not the SHA-256 of the bytes")
	}
	if !reflect.DeepEqual(got.InputDrvs, map[string][]string{dep: {"out"}}) {
		t.Errorf("InputDrvs = %v", got.InputDrvs)
	}
	if !reflect.DeepEqual(got.InputSrcs, d.inputSrcs) {
		t.Errorf("InputSrcs = %v, want %v", got.InputSrcs, d.inputSrcs)
	}
	if got.Outputs["out"].Path != d.outputs["out"].Path {
		t.Errorf("Outputs = %v", got.Outputs)
	}
	if got.Builder != "/bin/sh" || got.System != "x86_64-linux" || !reflect.DeepEqual(got.Args, d.args) {
		t.Errorf("Builder, System, Args = %q, %q, %q", got.Builder, got.System, got.Args)
	}
	if got.Env["weird"] != d.env["weird"] {
		t.Errorf("escaped env value = %q, want %q", got.Env["weird"], d.env["weird"])
	}
	if _, ok := got.FixedOutput(); ok {
		t.Errorf("FixedOutput reported for an input-addressed derivation")
	}
}

func TestParseDerivationBad(t *testing.T) {
	good := simpleDrv("s", "x").aterm()
	goodPath := fakeStorePath("s", "x.drv")
	fod := func(algo, hash string) string {
		d := simpleDrv("s", "x")
		d.outputs = map[string]Output{"out": {Path: fakeStorePath("s", "x"), HashAlgo: algo, Hash: hash}}
		return d.aterm()
	}
	for _, tc := range []struct {
		name, path, data, want string
	}{
		{"empty", goodPath, "", "malformed"},
		{"garbage", goodPath, "hello world, not a derivation", "malformed"},
		{"json", goodPath, `{"outputs":{}}`, "malformed"},
		{"truncated", goodPath, good[:len(good)/2], "malformed"},
		{"truncated by one", goodPath, good[:len(good)-1], "malformed"},
		{"trailing garbage", goodPath, good + "x", "malformed"},
		{"no outputs", goodPath, strings.Replace(good, `[("out",`+atermString(fakeStorePath("s", "x"))+`,"","")]`, "[]", 1), "output"},
		{"number instead of string", goodPath, strings.Replace(good, `"x86_64-linux"`, `42`, 1), "malformed"},
		{"list instead of string", goodPath, strings.Replace(good, `"/bin/sh"`, `["/bin/sh"]`, 1), "malformed"},
		{"unsorted env", goodPath, strings.Replace(good, `("builder",`, `("zzz","1"),("builder",`, 1), "malformed"},
		{"bad input drv path", goodPath, strings.Replace(good, "],[],[", `],[("/tmp/x.drv",["out"])],[`, 1), "malformed"},
		{"input drv not .drv", goodPath, strings.Replace(good, "],[],[", `],[(`+atermString(fakeStorePath("s", "notadrv"))+`,["out"])],[`, 1), "does not end in .drv"},
		{"fod with bad hash", goodPath, fod("sha256", "xyz"), "sha256 digest"},
		{"fod with unknown algo", goodPath, fod("r:sha3", "00"), "unknown hash algorithm"},
		{"fod with non-hex", goodPath, fod("sha256", strings.Repeat("g", 64)), "invalid byte"},
		{"parentheses for lists", goodPath, "Derive([(\"out\",\"\",\"\"\"\")],(),(),\"0\",\"0\",(),[(\"name\")])", "malformed"},
		{"missing env value", goodPath, strings.Replace(good, `("name","x")`, `("name")`, 1), "canonical"},
		{"space after comma", goodPath, strings.Replace(good, `],[`, `], [`, 1), "malformed"},
		{"needless escape", goodPath, strings.Replace(good, `("name","x")`, `("name","\x")`, 1), "canonical"},
		{"bad output name", goodPath, strings.Replace(good, `[("out",`, `[("o/ut",`, 1), "invalid output name"},
		{"bare base64 hash", goodPath, fod("r:sha256", strings.Repeat("0", 44)), "got 44 characters"},
		{"hash without algo", goodPath, fod("", strings.Repeat("ab", 32)), "no hash algorithm"},
		{"floating with unknown algo", goodPath, fod("r:sha3", ""), "unknown hash algorithm"},
		{"relative path", "x.drv", good, "not an absolute path"},
		{"no store dir", "/" + strings.Repeat("a", 32) + "-x.drv", good, "not an absolute path"},
		{"no name", "/nix/store/" + strings.Repeat("a", 32) + "-.drv", good, "starts with '.'"},
		{"not .drv", "/nix/store/" + strings.Repeat("a", 32) + "-x", good, "want a store path"},
		{"short hash", "/nix/store/abc-x.drv", good, "not a store path"},
		{"long name", "/nix/store/" + strings.Repeat("a", 32) + "-" + strings.Repeat("x", 212) + ".drv", good, "more than 211"},
		{"bad output path", goodPath, strings.Replace(good, `[("out",`+atermString(fakeStorePath("s", "x"))+`,`, `[("out","/nix/store0000000000000000000000000000000000",`, 1), "output \"out\": path"},
		{"bad input source", goodPath, strings.Replace(good, atermString(fakeStorePath("s", "x-src")), `"/nix/store/`+strings.Repeat("a", 33)+`"`, 1), "input source"},
		{"raw quote in env name", goodPath, strings.Replace(good, `("system","x86_64-linux")`, `("system","x86_64-linux"),("x00""","")`, 1), "stray quote"},
		{"odd escape in argument", goodPath, strings.Replace(good, `["-c",`, `["-\c",`, 1), "escape Nix does not write"},
		{"bad name char", "/nix/store/" + strings.Repeat("a", 32) + "-x y.drv", good, "does not allow"},
		{"bad hash char", "/nix/store/" + strings.Repeat("e", 32) + "-x.drv", good, "base-32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDerivation(tc.path, []byte(tc.data))
			if err == nil {
				t.Fatalf("ParseDerivation succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.HasPrefix(tc.path, "/") && tc.want == "malformed" && !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name the file %s", err, tc.path)
			}
		})
	}
}

func TestFixedOutput(t *testing.T) {
	const hexHash = "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4"
	for _, tc := range []struct {
		name       string
		algo, hash string
		env        map[string]string
		want       FixedOutput
	}{
		{"flat hex", "sha256", hexHash, map[string]string{"url": "https://example.org/a.tar.gz"},
			FixedOutput{Mode: "flat", Algo: "sha256", Hash: hexHash, URL: "https://example.org/a.tar.gz"}},
		{"recursive, urls", "r:sha256", hexHash, map[string]string{"urls": "https://a.example/x https://b.example/x"},
			FixedOutput{Mode: "recursive", Algo: "sha256", Hash: hexHash, URL: "https://a.example/x"}},
		{"text, no url", "text:sha256", hexHash, nil,
			FixedOutput{Mode: "text", Algo: "sha256", Hash: hexHash, URL: "-"}},
		{"nix32 hash", "r:sha256", "sha256:" + mustNix32(t, hexHash), nil,
			FixedOutput{Mode: "recursive", Algo: "sha256", Hash: hexHash, URL: "-"}},
		{"SRI hash", "sha256", "sha256-mOpuTyFvL7S2n/+bOkSELDhobKaF8/VdxIxdP7EQe+Q=", map[string]string{"url": "", "urls": ""},
			FixedOutput{Mode: "flat", Algo: "sha256", Hash: hexHash, URL: "-"}},
		{"sha1", "sha1", "a9993e364706816aba3e25717850c26c9cd0d89d", nil,
			FixedOutput{Mode: "flat", Algo: "sha1", Hash: "a9993e364706816aba3e25717850c26c9cd0d89d", URL: "-"}},
		{"upper-case hex", "sha256", strings.ToUpper(hexHash), nil,
			FixedOutput{Mode: "flat", Algo: "sha256", Hash: hexHash, URL: "-"}},
		{"structured attrs", "r:sha256", hexHash, map[string]string{"__json": `{"name":"src","urls":["https://s.example/1","https://s.example/2"]}`},
			FixedOutput{Mode: "recursive", Algo: "sha256", Hash: hexHash, URL: "https://s.example/1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := simpleDrv("s", "src")
			d.outputs = map[string]Output{"out": {Path: fakeStorePath("s", "src"), HashAlgo: tc.algo, Hash: tc.hash}}
			d.env = tc.env
			drv, err := ParseDerivation(fakeStorePath("s", "src.drv"), []byte(d.aterm()))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := drv.FixedOutput()
			if !ok {
				t.Fatal("FixedOutput reported none")
			}
			tc.want.Name = "src"
			if got != tc.want {
				t.Errorf("FixedOutput = %+v, want %+v", got, tc.want)
			}
		})
	}

	// Floating content-addressed and impure outputs have no fixed hash.
	for _, hash := range []string{"", "impure"} {
		d := &Derivation{Name: "ca", Outputs: map[string]Output{"out": {HashAlgo: "r:sha256", Hash: hash}}}
		if _, ok := d.FixedOutput(); ok {
			t.Errorf("FixedOutput reported for hash %q", hash)
		}
	}
}

func mustNix32(t *testing.T, hexHash string) string {
	t.Helper()
	h, err := ParseHash(hexHash)
	if err != nil {
		t.Fatal(err)
	}
	return NarHash{SHA256: h}.Nix32()
}

func TestWalkClosure(t *testing.T) {
	s := newFakeStore(t)
	root, all := s.genClosure(t, 200)
	for _, workers := range []int{0, 1, 7} {
		c, err := WalkClosure(context.Background(), []string{root, root}, WalkOptions{Workers: workers, StoreRoot: s.root})
		if err != nil {
			t.Fatalf("workers=%d: %v", workers, err)
		}
		want := append([]string(nil), all...)
		sort.Strings(want)
		if got := c.Paths(); !reflect.DeepEqual(got, want) {
			t.Fatalf("workers=%d: walked %d derivations, want %d", workers, len(got), len(want))
		}
		if !reflect.DeepEqual(c.Roots, []string{root}) {
			t.Errorf("Roots = %v", c.Roots)
		}
		srcs := c.InputSrcs()
		if len(srcs) != len(all) || !sort.StringsAreSorted(srcs) {
			t.Errorf("InputSrcs: %d sorted=%v, want %d", len(srcs), sort.StringsAreSorted(srcs), len(all))
		}
		for p, d := range c.Derivations {
			if d.Path != p {
				t.Errorf("Derivations[%s].Path = %s", p, d.Path)
			}
		}
	}

	if c, err := WalkClosure(context.Background(), nil, WalkOptions{}); err != nil || len(c.Derivations) != 0 {
		t.Errorf("empty walk = %v, %v", c, err)
	}
}

func TestWalkClosureErrors(t *testing.T) {
	s := newFakeStore(t)
	missing := fakeStorePath(s.seed, "missing.drv")
	top := s.add(t, simpleDrv(s.seed, "top", missing))
	_, err := WalkClosure(context.Background(), []string{top}, WalkOptions{StoreRoot: s.root})
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "an input of "+top) {
		t.Errorf("missing input: error %v, want it to name %s and %s", err, missing, top)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing input: error %v does not wrap os.ErrNotExist", err)
	}

	bad := fakeStorePath(s.seed, "bad.drv")
	s.write(t, bad, "Derive([garbage")
	top2 := s.add(t, simpleDrv(s.seed, "top2", bad))
	_, err = WalkClosure(context.Background(), []string{top2}, WalkOptions{StoreRoot: s.root})
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("malformed input: error %v, want it to name %s", err, bad)
	}

	if _, err := WalkClosure(context.Background(), []string{"/nix/store/x-notadrv"}, WalkOptions{}); err == nil {
		t.Error("non-.drv root accepted")
	}

	// Unreadable: a directory where a file should be.
	dir := fakeStorePath(s.seed, "dir.drv")
	if err := os.Mkdir(filepath.Join(s.root, dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := WalkClosure(context.Background(), []string{dir}, WalkOptions{StoreRoot: s.root}); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("directory as .drv: error %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	root, _ := s.genClosure(t, 50)
	if _, err := WalkClosure(ctx, []string{root}, WalkOptions{StoreRoot: s.root}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled walk: error %v, want context.Canceled", err)
	}
}
