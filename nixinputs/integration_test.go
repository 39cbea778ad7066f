package nixinputs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// These tests drive the real nix binary, offline, with Kettle's own
// configuration; they skip when nix is not on PATH.

const offlineNixConfig = "experimental-features = nix-command flakes\n" +
	"substituters =\nsandbox = true\nbuild-users-group = nixbld\nflake-registry =\n"

func nixEnv() []string { return []string{"NIX_CONFIG=" + offlineNixConfig} }

// realNix returns a driver for the nix on PATH, or skips the test.
func realNix(tb testing.TB) *Driver {
	tb.Helper()
	if _, err := exec.LookPath("nix"); err != nil {
		tb.Skip("nix is not on PATH: skipping test against the real nix")
	}
	return &Driver{Env: nixEnv()}
}

// runTool runs a Nix tool (nix, nix-store, nix-instantiate) with the
// offline configuration and returns its stdout.
func runTool(tb testing.TB, name string, args ...string) []byte {
	tb.Helper()
	if _, err := exec.LookPath(name); err != nil {
		tb.Skipf("%s is not on PATH", name)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), nixEnv()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

const testFlakeNix = `{
  inputs.busybox = { url = "path:/bin/busybox"; flake = false; };
  outputs = { self, busybox }: let
    system = "x86_64-linux";
    bb = derivation {
      name = "busybox-dir"; inherit system;
      builder = "builtin:unpack-channel"; channelName = "bin";
      src = builtins.toFile "busybox.mtree" ''
        #mtree
        ./bin type=dir mode=0555
        ./bin/busybox type=link link=${busybox}
      '';
    };
    sh = "${bb}/bin/busybox";
    fodFlat = derivation {
      name = "fod-flat"; inherit system; builder = sh;
      args = [ "sh" "-c" "echo hi > $out" ];
      outputHashMode = "flat"; outputHashAlgo = "sha256";
      outputHash = "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4";
      url = "https://example.org/hi.txt";
    };
    fodRec = derivation {
      name = "fod-rec"; inherit system; builder = sh;
      args = [ "sh" "-c" "${sh} mkdir $out; echo hi > $out/hi" ];
      outputHashMode = "recursive"; outputHashAlgo = "sha256";
      outputHash = "@RECHASH@";
      urls = [ "https://a.example/x" "https://b.example/x" ];
    };
  in {
    packages.${system} = {
      default = derivation {
        name = "hello"; inherit system; builder = sh;
        args = [ "sh" "-c" "$bb mkdir -p $out/bin\n$bb cat $fodFlat $fodRec/hi $script > \"$out/bin/hello\"" ];
        bb = sh; inherit fodFlat fodRec;
        script = ./hello.txt;
      };
      broken = derivation {
        name = "broken"; inherit system; builder = sh;
        args = [ "sh" "-c" "echo boom-from-the-builder >&2; exit 1" ];
      };
    };
  };
}
`

// testFlake is a locked offline flake.
type testFlake struct {
	dir     string
	url     string
	recHash NarHash // NAR hash of fodRec's output
}

// makeTestFlake writes the test flake into a fresh directory and locks it.
func makeTestFlake(t *testing.T) *testFlake {
	t.Helper()
	d := realNix(t)
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("/bin/busybox (Debian busybox-static) is missing: skipping flake tests")
	}
	dir := t.TempDir()
	// The recursive fixed output is a directory holding hi = "hi\n".
	rec := filepath.Join(dir, "rec")
	writeFile(t, filepath.Join(rec, "hi"), "hi\n")
	recHash, err := HashPath(rec)
	if err != nil {
		t.Fatal(err)
	}
	fdir := filepath.Join(dir, "flake")
	writeFile(t, filepath.Join(fdir, "flake.nix"), strings.Replace(testFlakeNix, "@RECHASH@", recHash.SRI(), 1))
	writeFile(t, filepath.Join(fdir, "hello.txt"), "hello from the flake\n")
	if _, err := d.run(context.Background(), "flake", "lock", "path:"+fdir); err != nil {
		t.Fatal(err)
	}
	return &testFlake{dir: fdir, url: "path:" + fdir, recHash: recHash}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestIntegrationFlake drives nix on one locked offline flake.
func TestIntegrationFlake(t *testing.T) {
	f := makeTestFlake(t)
	t.Run("Metadata", func(t *testing.T) { testMetadata(t, f) })
	t.Run("MetadataRefusals", func(t *testing.T) { testMetadataRefusals(t, f) })
	t.Run("BuildWalkHash", func(t *testing.T) { testBuildWalkHash(t, f) })
	t.Run("BuildErrors", func(t *testing.T) { testBuildErrors(t, f) })
}

func mustParseHash(t *testing.T, s string) [32]byte {
	t.Helper()
	h, err := ParseHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func testMetadata(t *testing.T, f *testFlake) {
	d := realNix(t)
	ctx := context.Background()
	m, err := d.Metadata(ctx, f.url)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.LockedURL, f.url+"?lastModified=") || !strings.Contains(m.LockedURL, "&narHash=sha256-") {
		t.Errorf("LockedURL = %s", m.LockedURL)
	}
	if m.Rev != "" || m.LastModified == 0 || m.OriginalURL != f.url {
		t.Errorf("Metadata = %+v", m)
	}
	// The source's narHash is the NAR hash of its store path.
	h, err := HashPath(m.StorePath)
	if err != nil {
		t.Fatal(err)
	}
	if h.SHA256 != mustParseHash(t, m.NarHash) {
		t.Errorf("HashPath(%s) = %s, nix says %s", m.StorePath, h.SRI(), m.NarHash)
	}

	ins, err := m.Lock.LockedInputs()
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 || ins[0].Path != "busybox" || ins[0].Type != "path" ||
		!strings.HasPrefix(ins[0].URL, "path:/bin/busybox?lastModified=") {
		t.Fatalf("LockedInputs = %+v", ins)
	}
	// A path input's narHash is the NAR hash of the file itself.
	bb, err := HashPath("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if bb.SHA256 != mustParseHash(t, ins[0].NarHash) {
		t.Errorf("HashPath(/bin/busybox) = %s, flake.lock says %s", bb.SRI(), ins[0].NarHash)
	}

	// The flake.lock on disk parses to the same inputs.
	data, err := os.ReadFile(filepath.Join(f.dir, "flake.lock"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := ParseFlakeLock(data)
	if err != nil {
		t.Fatal(err)
	}
	if ins2, err := l.LockedInputs(); err != nil || !reflect.DeepEqual(ins, ins2) {
		t.Errorf("flake.lock inputs %+v, %v; metadata %+v", ins2, err, ins)
	}
}

func testMetadataRefusals(t *testing.T, f *testFlake) {
	d := realNix(t)
	ctx := context.Background()

	// A flake whose inputs are not in its lock file is refused, and no lock
	// file is written.
	unlocked := t.TempDir()
	writeFile(t, filepath.Join(unlocked, "flake.nix"), strings.Replace(testFlakeNix, "@RECHASH@", f.recHash.SRI(), 1))
	_, err := d.Metadata(ctx, "path:"+unlocked)
	if err == nil || !strings.Contains(err.Error(), "--no-update-lock-file") {
		t.Errorf("unlocked flake: error %v", err)
	}
	if _, err := os.Stat(filepath.Join(unlocked, "flake.lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Metadata wrote a flake.lock into the user's tree")
	}

	// A dirty git work tree is refused.
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not on PATH")
	}
	repo := t.TempDir()
	for _, name := range []string{"flake.nix", "flake.lock", "hello.txt"} {
		b, err := os.ReadFile(filepath.Join(f.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=k", "-c", "user.email=k@example.org"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-qm", "init")
	m, err := d.Metadata(ctx, "git+file://"+repo)
	if err != nil {
		t.Fatalf("clean git tree: %v", err)
	}
	if len(m.Rev) != 40 || !strings.Contains(m.LockedURL, "rev="+m.Rev) {
		t.Errorf("clean git tree: Rev %q LockedURL %q", m.Rev, m.LockedURL)
	}
	if err := os.WriteFile(filepath.Join(repo, "hello.txt"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"git+file://" + repo, repo} {
		if _, err := d.Metadata(ctx, u); err == nil || !strings.Contains(err.Error(), "is dirty: commit your changes") {
			t.Errorf("dirty tree %s: error %v", u, err)
		}
	}
}

func testBuildWalkHash(t *testing.T, f *testFlake) {
	d := realNix(t)
	ctx := context.Background()

	res, err := d.Build(ctx, f.url+"#default")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 {
		t.Fatalf("Build = %+v", res)
	}
	drvPath, out := res[0].DrvPath, res[0].Outputs["out"]
	if out == "" {
		t.Fatalf("no out output: %+v", res[0])
	}
	// The locked URL Kettle renders is one Nix takes back.
	m, err := d.Metadata(ctx, f.url)
	if err != nil {
		t.Fatal(err)
	}
	if res2, err := d.Build(ctx, m.LockedURL+"#default"); err != nil || !reflect.DeepEqual(res2, res) {
		t.Errorf("Build(%s#default) = %+v, %v; want %+v", m.LockedURL, res2, err, res)
	}

	// The output's NAR hash agrees with the Nix database.
	infos, err := d.PathInfo(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	h, err := HashPath(out)
	if err != nil {
		t.Fatal(err)
	}
	if infos[out].NarHash != h.SHA256 || infos[out].NarSize != h.Size || infos[out].Deriver != drvPath {
		t.Errorf("path-info %+v; HashPath %s/%d", infos[out], h.SRI(), h.Size)
	}

	// The closure walk finds exactly the .drv files nix-store -qR lists.
	c, err := WalkClosure(ctx, []string{drvPath}, WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wantDrvs, wantOther []string
	for _, p := range strings.Fields(string(runTool(t, "nix-store", "-qR", drvPath))) {
		if strings.HasSuffix(p, ".drv") {
			wantDrvs = append(wantDrvs, p)
		} else {
			wantOther = append(wantOther, p)
		}
	}
	sort.Strings(wantDrvs)
	if got := c.Paths(); !reflect.DeepEqual(got, wantDrvs) {
		t.Errorf("WalkClosure = %v\nnix-store -qR = %v", got, wantDrvs)
	}
	for _, s := range c.InputSrcs() {
		if !contains(wantOther, s) {
			t.Errorf("input source %s is not in nix-store -qR", s)
		}
	}

	byName := map[string]*Derivation{}
	for p, drv := range c.Derivations {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if drv.ATermSHA256 != sha256.Sum256(b) {
			t.Errorf("%s: ATermSHA256 is not the SHA-256 of the file", p)
		}
		byName[drv.Name] = drv
	}
	hello := byName["hello"]
	if hello == nil || hello.Outputs["out"].Path != out {
		t.Fatalf("hello derivation: %+v", hello)
	}
	if want := "$bb mkdir -p $out/bin\n$bb cat $fodFlat $fodRec/hi $script > \"$out/bin/hello\""; len(hello.Args) != 3 || hello.Args[2] != want {
		t.Errorf("hello args = %q, want the script with its newline and quotes decoded", hello.Args)
	}
	if fo, ok := byName["fod-flat"].FixedOutput(); !ok || fo != (FixedOutput{
		Name: "fod-flat", Mode: "flat", Algo: "sha256", URL: "https://example.org/hi.txt",
		Hash: "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4",
	}) {
		t.Errorf("fod-flat: %+v, %v", fo, ok)
	}
	if fo, ok := byName["fod-rec"].FixedOutput(); !ok || fo != (FixedOutput{
		Name: "fod-rec", Mode: "recursive", Algo: "sha256", URL: "https://a.example/x", Hash: f.recHash.Hex(),
	}) {
		t.Errorf("fod-rec: %+v, %v", fo, ok)
	}
	if _, ok := hello.FixedOutput(); ok {
		t.Error("hello reported as fixed-output")
	}

	// Kettle's NAR hashes of the input sources agree with the Nix database.
	srcs := c.InputSrcs()
	if len(srcs) < 2 {
		t.Fatalf("input sources %v: want the flake source and busybox.mtree", srcs)
	}
	hashes, err := HashPaths(ctx, srcs, 0)
	if err != nil {
		t.Fatal(err)
	}
	dbInfos, err := d.PathInfo(ctx, srcs...)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range srcs {
		if hashes[s].SHA256 != dbInfos[s].NarHash || hashes[s].Size != dbInfos[s].NarSize {
			t.Errorf("%s: Kettle %s/%d, Nix %x/%d", s, hashes[s].SRI(), hashes[s].Size, dbInfos[s].NarHash, dbInfos[s].NarSize)
		}
	}
}

func testBuildErrors(t *testing.T, f *testFlake) {
	d := realNix(t)
	ctx := context.Background()
	for _, tc := range []struct{ attr, want string }{
		{"nope", "does not provide attribute"},
		{"broken", "boom-from-the-builder"},
	} {
		_, err := d.Build(ctx, f.url+"#"+tc.attr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Build #%s: error %v, want it to contain %q", tc.attr, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("Build #%s: error spans several lines: %q", tc.attr, err)
		}
	}
	missing := "/nix/store/00000000000000000000000000000000-kettle-missing"
	if _, err := d.PathInfo(ctx, missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("PathInfo of a missing path: error %v", err)
	}
}

func TestIntegrationDriverInfo(t *testing.T) {
	d := realNix(t)
	ctx := context.Background()
	v, err := d.Version(ctx)
	if err != nil || !versionRe.MatchString(v) {
		t.Errorf("Version = %q, %v", v, err)
	}
	bin, err := d.BinaryPath()
	if err != nil || !filepath.IsAbs(bin) {
		t.Errorf("BinaryPath = %q, %v", bin, err)
	}
	if resolved, _ := filepath.EvalSymlinks(bin); resolved != bin {
		t.Errorf("BinaryPath %q is not resolved (%q)", bin, resolved)
	}
	dir, err := d.StoreDir(ctx)
	if err != nil || dir != "/nix/store" {
		t.Errorf("StoreDir = %q, %v", dir, err)
	}
}

// nixHashPath returns `nix hash path` of p in nix32 and SRI form.
func nixHashPath(t *testing.T, p string) (string, string) {
	t.Helper()
	b32 := strings.TrimSpace(string(runTool(t, "nix", "hash", "path", "--type", "sha256", "--base32", p)))
	sri := strings.TrimSpace(string(runTool(t, "nix", "hash", "path", "--type", "sha256", p)))
	return b32, sri
}

func TestIntegrationHashPathAgreesWithNix(t *testing.T) {
	realNix(t)
	tree := makeTree(t)
	single := filepath.Join(t.TempDir(), "single")
	if err := os.WriteFile(single, []byte("one file"), 0o600); err != nil {
		t.Fatal(err)
	}
	paths := []string{tree, single, filepath.Join(tree, "link"), filepath.Join(tree, "empty"), filepath.Join(tree, "emptydir"), filepath.Join(tree, "exe")}
	if src := filepath.Join(goRoot(), "src", "encoding"); dirExists(src) {
		paths = append(paths, src)
	}
	for _, p := range paths {
		h, err := HashPath(p)
		if err != nil {
			t.Fatal(err)
		}
		b32, sri := nixHashPath(t, p)
		if h.Nix32() != b32 || h.SRI() != sri {
			t.Errorf("%s: Kettle %s %s, nix hash path %s %s", p, h.Nix32(), h.SRI(), b32, sri)
		}
	}

	// The serialisation itself is byte for byte what nix-store --dump writes.
	var buf bytes.Buffer
	if err := WriteNAR(&buf, tree); err != nil {
		t.Fatal(err)
	}
	if want := runTool(t, "nix-store", "--dump", tree); !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("WriteNAR differs from nix-store --dump at byte %d (%d vs %d bytes)", firstDiff(buf.Bytes(), want), buf.Len(), len(want))
	}
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// goRoot is `go env GOROOT`, a large real tree to hash, or "" without a go
// on PATH. (runtime.GOROOT is deprecated since Go 1.24.)
func goRoot() string {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// instantiateClosure writes n derivations into the store with
// nix-instantiate, shaped like fakeStore.genClosure, and returns the root.
// Nothing is built.
func instantiateClosure(tb testing.TB, n int, salt string) string {
	tb.Helper()
	expr := fmt.Sprintf(`let
  n = %d;
  mk = i: derivation {
    name = "kettle-gen-%s-${toString i}";
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" "echo ${toString i} > $out" ];
    deps = map (j: nodes.${toString j}) (builtins.filter (j: j < n) [ (2 * i + 1) (2 * i + 2) (2 * i + 3) ]);
  };
  nodes = builtins.listToAttrs (builtins.genList (i: { name = toString i; value = mk i; }) n);
in nodes."0"`, n, salt)
	return strings.TrimSpace(string(runTool(tb, "nix-instantiate", "--expr", expr)))
}

func TestIntegrationWalkGeneratedClosure(t *testing.T) {
	realNix(t)
	root := instantiateClosure(t, 300, "test")
	c, err := WalkClosure(context.Background(), []string{root}, WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range strings.Fields(string(runTool(t, "nix-store", "-qR", root))) {
		if strings.HasSuffix(p, ".drv") {
			want = append(want, p)
		}
	}
	sort.Strings(want)
	if got := c.Paths(); len(got) != 300 || !reflect.DeepEqual(got, want) {
		t.Errorf("WalkClosure found %d derivations, nix-store -qR %d", len(got), len(want))
	}
}
