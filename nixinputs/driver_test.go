package nixinputs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeNix writes a stand-in for nix that records its arguments and prints
// what the FAKE_NIX_* variables say. It returns the driver and the file the
// arguments are written to.
func fakeNix(t *testing.T, stdout, stderr string, exit int) (*Driver, string) {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "nix")
	const body = `#!/bin/sh
printf '%s\n' "$@" > "$FAKE_NIX_ARGS"
printf '%s' "$FAKE_NIX_STDERR" >&2
printf '%s' "$FAKE_NIX_STDOUT"
exit "$FAKE_NIX_EXIT"
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	args := filepath.Join(dir, "args")
	return &Driver{
		Nix: script,
		Env: []string{
			"FAKE_NIX_ARGS=" + args,
			"FAKE_NIX_STDOUT=" + stdout,
			"FAKE_NIX_STDERR=" + stderr,
			"FAKE_NIX_EXIT=" + string(rune('0'+exit)),
		},
	}, args
}

func readArgs(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	// Every command line starts with the feature flags; the tests compare the rest.
	if pre := featureArgs(); len(args) < len(pre) || !reflect.DeepEqual(args[:len(pre)], pre) {
		t.Fatalf("nix command line %q does not start with %q", args, pre)
	}
	return args[len(featureArgs()):]
}

func TestDriverMetadata(t *testing.T) {
	d, args := fakeNix(t, metaPath28, "", 0)
	m, err := d.Metadata(context.Background(), "path:/tmp/ha/flake")
	if err != nil {
		t.Fatal(err)
	}
	if m.StorePath != "/nix/store/avkifl6j71ky6dcdn197j0jwbfp7rjah-source" {
		t.Errorf("StorePath = %q", m.StorePath)
	}
	if got, want := readArgs(t, args), []string{"flake", "metadata", "--json", "--no-update-lock-file", "path:/tmp/ha/flake"}; !reflect.DeepEqual(got, want) {
		t.Errorf("args = %q, want %q", got, want)
	}

	d, _ = fakeNix(t, metaDirty28, "warning: Git tree '/tmp/ha/gflake' is dirty\n", 0)
	if _, err := d.Metadata(context.Background(), "/tmp/ha/gflake"); err == nil || !strings.Contains(err.Error(), `git tree of "/tmp/ha/gflake" is dirty`) {
		t.Errorf("dirty tree: error %v", err)
	}
}

func TestDriverBuild(t *testing.T) {
	d, args := fakeNix(t, `[{"drvPath":"/nix/store/zsfmg8is3bh6ak0ykn1gr7silx3h2xx9-hello.drv","outputs":{"out":"/nix/store/z2w5m5x05k1khkzl7jijqqg5bzl9vam3-hello"}}]`, "", 0)
	res, err := d.Build(context.Background(), "path:/x#default")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Outputs["out"] != "/nix/store/z2w5m5x05k1khkzl7jijqqg5bzl9vam3-hello" {
		t.Errorf("Build = %+v", res)
	}
	if got, want := readArgs(t, args), []string{"build", "--json", "--no-link", "--no-update-lock-file", "path:/x#default"}; !reflect.DeepEqual(got, want) {
		t.Errorf("args = %q, want %q", got, want)
	}

	// A failing build: the error carries Nix's own message on one line, and
	// the log sink sees everything.
	const stderr = "building '/nix/store/x.drv'...\n" +
		"error: builder for '/nix/store/x.drv' failed with exit code 1;\n" +
		"       last 1 log lines:\n" +
		"       > boom\n" +
		"       For full logs, run 'nix log /nix/store/x.drv'.\n"
	d, _ = fakeNix(t, "", stderr, 1)
	var log bytes.Buffer
	d.Stderr = &log
	_, err = d.Build(context.Background(), "path:/x#default")
	if err == nil {
		t.Fatal("failing build succeeded")
	}
	want := "nix build --json --no-link --no-update-lock-file path:/x#default: error: builder for '/nix/store/x.drv' failed with exit code 1; last 1 log lines: > boom For full logs, run 'nix log /nix/store/x.drv'."
	if err.Error() != want {
		t.Errorf("error:\n got %s\nwant %s", err, want)
	}
	var ne *NixError
	if !errors.As(err, &ne) || ne.Stderr != stderr {
		t.Errorf("error is not a *NixError with the stderr: %#v", err)
	}
	if log.String() != stderr {
		t.Errorf("Stderr sink got %q", log.String())
	}

	d, _ = fakeNix(t, "not json", "", 0)
	if _, err := d.Build(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "want an array") {
		t.Errorf("garbage output: error %v", err)
	}
}

func TestDriverPathInfo(t *testing.T) {
	const out = `[{"path":"` + piOut + `","narHash":"` + piSRI + `","narSize":456,"references":[],"deriver":"` + piDrv + `"},{"path":"` + piGone + `","valid":false}]`
	d, args := fakeNix(t, out, "", 0)
	infos, err := d.PathInfo(context.Background(), piOut)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[piOut].NarSize != 456 || infos[piOut].Deriver != piDrv {
		t.Errorf("PathInfo = %+v", infos)
	}
	if got, want := readArgs(t, args), []string{"path-info", "--json", piOut}; !reflect.DeepEqual(got, want) {
		t.Errorf("args = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		paths []string
		want  string
	}{
		{[]string{piOut, piGone}, piGone + " is not a valid path"},
		{[]string{piDep}, "did not report " + piDep},
		{[]string{piDrv}, "takes a .drv path to mean its outputs"},
		{[]string{"relative"}, "not an absolute store path"},
	} {
		if _, err := d.PathInfo(context.Background(), tc.paths...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("PathInfo(%v): error %v, want it to contain %q", tc.paths, err, tc.want)
		}
	}
	if infos, err := d.PathInfo(context.Background()); err != nil || len(infos) != 0 {
		t.Errorf("PathInfo() = %v, %v", infos, err)
	}

	// Newer Nix fails outright on an invalid path.
	d, _ = fakeNix(t, "", "error: path '"+piGone+"' is not valid\n", 1)
	if _, err := d.PathInfo(context.Background(), piGone); err == nil || !strings.Contains(err.Error(), "is not valid") {
		t.Errorf("invalid path on newer Nix: error %v", err)
	}
}

func TestDriverVersionStoreDirBinary(t *testing.T) {
	d, _ := fakeNix(t, "nix (Nix) 2.8.0\n", "", 0)
	if v, err := d.Version(context.Background()); err != nil || v != "2.8.0" {
		t.Errorf("Version = %q, %v", v, err)
	}
	d, args := fakeNix(t, "/nix/store", "", 0)
	if dir, err := d.StoreDir(context.Background()); err != nil || dir != "/nix/store" {
		t.Errorf("StoreDir = %q, %v", dir, err)
	}
	if got, want := readArgs(t, args), []string{"eval", "--raw", "--expr", "builtins.storeDir"}; !reflect.DeepEqual(got, want) {
		t.Errorf("args = %q, want %q", got, want)
	}
	d, _ = fakeNix(t, "store", "", 0)
	if _, err := d.StoreDir(context.Background()); err == nil {
		t.Error("relative store dir accepted")
	}

	// BinaryPath resolves symlinks.
	link := filepath.Join(t.TempDir(), "nix-link")
	if err := os.Symlink(d.Nix, link); err != nil {
		t.Fatal(err)
	}
	want, err := filepath.EvalSymlinks(d.Nix)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := (&Driver{Nix: link}).BinaryPath(); err != nil || got != want {
		t.Errorf("BinaryPath = %q, %v; want %q", got, err, want)
	}
}

func TestDriverErrors(t *testing.T) {
	_, err := (&Driver{Nix: "kettle-no-such-nix-binary"}).Version(context.Background())
	if err == nil || !strings.Contains(err.Error(), "not installed or not on PATH") {
		t.Errorf("missing binary: error %v", err)
	}
	if _, err := (&Driver{Nix: "kettle-no-such-nix-binary"}).BinaryPath(); err == nil {
		t.Error("BinaryPath of a missing binary succeeded")
	}
	d, _ := fakeNix(t, "", "", 3)
	if _, err := d.Version(context.Background()); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("silent failure: error %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, _ = fakeNix(t, "nix (Nix) 2.8.0", "", 0)
	if _, err := d.Version(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v, want context.Canceled", err)
	}
}

func TestParseNixVersion(t *testing.T) {
	for in, want := range map[string]string{
		"nix (Nix) 2.8.0\n":                    "2.8.0",
		"nix (Nix) 2.18.1":                     "2.18.1",
		"nix (Nix) 2.24.0pre20240101_abcdef\n": "2.24.0pre20240101_abcdef",
		"nix (Lix, like Nix) 2.91.1\n":         "2.91.1",
		"nix (Determinate Nix 3.6.2) 2.29.0\n": "2.29.0",
	} {
		if got, err := parseNixVersion(in); err != nil || got != want {
			t.Errorf("parseNixVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "nix", "2.8.0", "nix (Nix) unknown", "lix 2.91"} {
		if got, err := parseNixVersion(in); err == nil {
			t.Errorf("parseNixVersion(%q) = %q, want error", in, got)
		}
	}
}

func TestNixErrorText(t *testing.T) {
	for _, tc := range []struct{ stderr, want string }{
		{"", ""},
		// Nix 2.8: message first.
		{"error: flake 'path:/x' does not provide attribute 'packages.x86_64-linux.nope'\n(use '--show-trace' to show detailed location information)\n",
			"error: flake 'path:/x' does not provide attribute 'packages.x86_64-linux.nope'"},
		// Newer Nix: trace, then the innermost error.
		{"error:\n       … while evaluating the attribute 'x'\n         at /x/flake.nix:3:5:\n       error: attribute 'nope' missing\n",
			"error: attribute 'nope' missing"},
		// Colours stripped.
		{"\x1b[31;1merror:\x1b[0m something \x1b[35;1mbad\x1b[0m\n", "error: something bad"},
		// No error line: the last lines.
		{"a\nb\nc\nd\ne\nf\ng\n", "c d e f g"},
	} {
		if got := nixErrorText(tc.stderr); got != tc.want {
			t.Errorf("nixErrorText(%q) = %q, want %q", tc.stderr, got, tc.want)
		}
	}
	long := "error: " + strings.Repeat("x", 3*maxErrorText)
	if got := nixErrorText(long); len(got) > maxErrorText+len("…") {
		t.Errorf("long error not truncated: %d bytes", len(got))
	}
}

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 10}
	for i := 0; i < 100; i++ {
		if _, err := tb.Write([]byte("0123456789abc")); err != nil {
			t.Fatal(err)
		}
	}
	if got := tb.String(); got != "3456789abc" {
		t.Errorf("tail = %q, want %q", got, "3456789abc")
	}
	if len(tb.buf) > 2*tb.max+13 {
		t.Errorf("buffer grew to %d bytes", len(tb.buf))
	}
}

func TestDecodeDrvList(t *testing.T) {
	got, err := decodeDrvList([]byte("/nix/store/b-y.drv\n/nix/store/a-x.drv\n\n"))
	if err != nil || !reflect.DeepEqual(got, []string{"/nix/store/a-x.drv", "/nix/store/b-y.drv"}) {
		t.Fatalf("decodeDrvList = %q, %v", got, err)
	}
	for _, bad := range []string{"", "\n", "/nix/store/a-x\n", "relative.drv\n", "/nix/store/a x.drv\n", "warning: something\n"} {
		if got, err := decodeDrvList([]byte(bad)); err == nil {
			t.Errorf("decodeDrvList(%q) = %q, want an error", bad, got)
		}
	}
}

// TestDriverValidPathInfo: invalid paths are left out, and a long list is
// asked for in batches that fit on a command line.
func TestDriverValidPathInfo(t *testing.T) {
	const out = `[{"path":"` + piOut + `","narHash":"` + piSRI + `","narSize":456,"references":[]},{"path":"` + piGone + `","valid":false}]`
	d, args := fakeNix(t, out, "", 0)
	infos, err := d.ValidPathInfo(context.Background(), piOut, piGone)
	if err != nil || len(infos) != 1 || infos[piOut].NarSize != 456 {
		t.Fatalf("ValidPathInfo = %v, %v", infos, err)
	}
	if _, err := d.ValidPathInfo(context.Background(), piDep); err == nil || !strings.Contains(err.Error(), "did not report "+piDep) {
		t.Errorf("an unreported path: %v", err)
	}
	if _, err := d.ValidPathInfo(context.Background(), piDrv); err == nil || !strings.Contains(err.Error(), "is a .drv") {
		t.Errorf("a .drv: %v", err)
	}
	long := []string{piOut}
	for len(long) <= pathInfoBatch {
		long = append(long, piGone)
	}
	if infos, err := d.ValidPathInfo(context.Background(), long...); err != nil || len(infos) != 1 {
		t.Fatalf("ValidPathInfo of %d paths = %v, %v", len(long), infos, err)
	}
	// The last batch holds the one path left over.
	if got, want := readArgs(t, args), []string{"path-info", "--json", piGone}; !reflect.DeepEqual(got, want) {
		t.Errorf("last batch's args = %q, want %q", got, want)
	}
}
