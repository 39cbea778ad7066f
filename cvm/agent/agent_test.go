package agent

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/attest"
	"github.com/kettle-build/kettle/builder"
)

const goodRequest = `{"version":1,"flakeRef":"path:/nix/store/0123456789abcdfghijklmnpqrsvwxyz-source?narHash=sha256-x","substitute":["/nix/store/0123456789abcdfghijklmnpqrsvwxyz-source"],"platform":"sim-snp","nonce":"` +
	"0000000000000000000000000000000000000000000000000000000000000001" + `"}`

func TestDecodeRequest(t *testing.T) {
	r, err := DecodeRequest([]byte(goodRequest))
	if err != nil {
		t.Fatal(err)
	}
	if n := r.NonceBytes(); n[31] != 1 || r.Platform != attest.PlatformSimSNP {
		t.Errorf("request %+v", r)
	}
	hex48 := strings.Repeat("ab", 48)
	for _, tc := range []struct{ name, in, want string }{
		{"empty", ``, "request"},
		{"not an object", `[1]`, "request"},
		{"unknown key", `{"version":1,"flakeRef":"path:/x","platform":"sim-snp","extra":1}`, "extra"},
		{"duplicate key", `{"version":1,"version":1,"flakeRef":"path:/x","platform":"sim-snp"}`, "version"},
		{"trailing data", goodRequest + `{}`, "request"},
		{"version 2", `{"version":2,"flakeRef":"path:/x","platform":"sim-snp"}`, "version: 2"},
		{"no flake", `{"version":1,"platform":"sim-snp"}`, "flakeRef: missing"},
		{"flake with space", `{"version":1,"flakeRef":"path:/x y","platform":"sim-snp"}`, "whitespace"},
		{"substitute not a store path", `{"version":1,"flakeRef":"path:/x","platform":"sim-snp","substitute":["/etc/passwd"]}`, "substitute[0]"},
		{"substitute in another store", `{"version":1,"flakeRef":"path:/x","platform":"sim-snp","substitute":["/tmp/store/0123456789abcdfghijklmnpqrsvwxyz-x"]}`, "not under /nix/store"},
		{"unknown platform", `{"version":1,"flakeRef":"path:/x","platform":"sgx"}`, "platform"},
		{"none platform", `{"version":1,"flakeRef":"path:/x","platform":"none"}`, "platform"},
		{"sim measurement for hardware", `{"version":1,"flakeRef":"path:/x","platform":"sev-snp","simMeasurement":"` + hex48 + `"}`, "simMeasurement: given for sev-snp"},
		{"short sim measurement", `{"version":1,"flakeRef":"path:/x","platform":"sim-snp","simMeasurement":"abcd"}`, "simMeasurement"},
		{"upper-case nonce", `{"version":1,"flakeRef":"path:/x","platform":"sim-snp","nonce":"` + strings.Repeat("AB", 32) + `"}`, "nonce"},
		{"deepHash not a bool", `{"version":1,"flakeRef":"path:/x","platform":"sim-snp","deepHash":"yes"}`, "deepHash"},
		{"bad artifacts", `{"version":1,"flakeRef":"path:/x","platform":"sim-snp","artifacts":"gzip"}`, "artifacts"},
		{"too large", `{"version":1,"flakeRef":"` + strings.Repeat("a", MaxRequestSize) + `","platform":"sim-snp"}`, "larger than the limit"},
	} {
		if _, err := DecodeRequest([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestResultRoundTrip(t *testing.T) {
	var disk bytes.Buffer
	bundle := []byte("a bundle as a tar")
	if err := WriteResult(&disk, Result{OK: true, Timings: map[string]string{"build": "1s"}}, bundle); err != nil {
		t.Fatal(err)
	}
	disk.Write(make([]byte, 8192)) // the rest of the disk
	res, got, err := ReadResult(bytes.NewReader(disk.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || !bytes.Equal(got, bundle) || res.Timings["build"] != "1s" {
		t.Errorf("result %+v, bundle %q", res, got)
	}

	disk.Reset()
	if err := WriteResult(&disk, Result{Error: strings.Repeat("nix said no ", 1000)}, nil); err != nil {
		t.Fatal(err)
	}
	res, got, err = ReadResult(bytes.NewReader(disk.Bytes()))
	if err != nil || res.OK || got != nil || !strings.HasPrefix(res.Error, "nix said no") {
		t.Errorf("failed result: %+v %q %v", res, got, err)
	}
}

func TestReadResultBad(t *testing.T) {
	header := func(json string) []byte {
		b := make([]byte, ResultHeaderSize)
		copy(b, ResultMagic+json+"\n")
		return b
	}
	var good bytes.Buffer
	if err := WriteResult(&good, Result{OK: true}, []byte("bundle")); err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good.Bytes())
	flipped[len(flipped)-1] ^= 1
	trailer := bytes.Clone(good.Bytes())
	trailer[ResultHeaderSize-1] = 'x'
	for _, tc := range []struct {
		name string
		disk []byte
		want string
	}{
		{"empty disk", nil, "header"},
		{"zeros (the agent never wrote)", make([]byte, 2*ResultHeaderSize), "did not finish"},
		{"unterminated", append([]byte(ResultMagic), bytes.Repeat([]byte{'x'}, ResultHeaderSize)...), "not terminated"},
		{"not JSON", header(`nope`), "header"},
		{"unknown key", header(`{"version":1,"ok":true,"bundleSize":1,"more":1}`), "more"},
		{"version 2", header(`{"version":2,"ok":false,"bundleSize":0}`), "version 2"},
		{"negative size", header(`{"version":1,"ok":true,"bundleSize":-1}`), "out of range"},
		{"huge size", header(`{"version":1,"ok":true,"bundleSize":99999999999}`), "out of range"},
		{"failure with bundle", header(`{"version":1,"ok":false,"bundleSize":3}`), "carries a bundle"},
		{"success without bundle", header(`{"version":1,"ok":true,"bundleSize":0}`), "without a bundle"},
		{"short bundle", header(`{"version":1,"ok":true,"bundleSize":10,"bundleSha256":"00"}`), "bundle"},
		{"flipped bundle byte", flipped, "SHA-256"},
		{"data after the header", trailer, "after the header"},
	} {
		if _, _, err := ReadResult(bytes.NewReader(tc.disk)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// inputArchive builds an input disk by hand, entry by entry.
func inputArchive(t *testing.T, entries ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		body := []byte(h.Linkname)
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if h.Typeflag != tar.TypeSymlink {
			h.Linkname = ""
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(body)
		}
	}
	tw.Close()
	return buf.Bytes()
}

func TestInputRoundTrip(t *testing.T) {
	cache := t.TempDir()
	os.MkdirAll(filepath.Join(cache, "nar"), 0o755)
	os.WriteFile(filepath.Join(cache, "nix-cache-info"), []byte("StoreDir: /nix/store\n"), 0o644)
	os.WriteFile(filepath.Join(cache, "nar", "x.nar.xz"), []byte("nar"), 0o644)
	req, err := DecodeRequest([]byte(goodRequest))
	if err != nil {
		t.Fatal(err)
	}
	var disk bytes.Buffer
	if err := WriteInput(&disk, req, cache); err != nil {
		t.Fatal(err)
	}
	disk.Write(make([]byte, 4096)) // the disk is larger than the archive
	out := t.TempDir()
	got, err := ReadInput(&disk, out)
	if err != nil {
		t.Fatal(err)
	}
	if got.FlakeRef != req.FlakeRef {
		t.Errorf("request %+v", got)
	}
	if b, err := os.ReadFile(filepath.Join(out, "nar", "x.nar.xz")); err != nil || string(b) != "nar" {
		t.Errorf("cache file: %q %v", b, err)
	}
}

func TestReadInputBad(t *testing.T) {
	req := tar.Header{Name: InputRequest, Typeflag: tar.TypeReg, Linkname: goodRequest}
	file := func(name, body string) tar.Header {
		return tar.Header{Name: name, Typeflag: tar.TypeReg, Linkname: body}
	}
	for _, tc := range []struct {
		name    string
		entries []tar.Header
		want    string
	}{
		{"empty", nil, "no request.json"},
		{"cache first", []tar.Header{file("cache/nix-cache-info", "x"), req}, "first entry"},
		{"bad request", []tar.Header{file(InputRequest, "{}")}, "version"},
		{"outside the cache", []tar.Header{req, file("etc/passwd", "x")}, "not a file under cache/"},
		{"dot dot", []tar.Header{req, file("cache/../x", "x")}, "not a file under cache/"},
		{"absolute", []tar.Header{req, file("/cache/x", "x")}, "not a file under cache/"},
		{"unclean", []tar.Header{req, file("cache/a//b", "x")}, "not a file under cache/"},
		{"symlink", []tar.Header{req, {Name: "cache/l", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}}, "want a regular file"},
		{"twice", []tar.Header{req, file("cache/x", "a"), file("cache/x", "b")}, "exists"},
		{"under a file", []tar.Header{req, file("cache/x", "a"), file("cache/x/y", "b")}, "entry"},
		{"request twice", []tar.Header{req, req}, "not a file under cache/"},
	} {
		out := t.TempDir()
		if _, err := ReadInput(bytes.NewReader(inputArchive(t, tc.entries...)), out); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// fakeSystem is a VM without a VM: the disks are byte buffers.
type fakeSystem struct {
	setupErr error
	input    []byte
	result   bytes.Buffer
	setups   int
}

func (f *fakeSystem) Setup(context.Context) error { f.setups++; return f.setupErr }
func (f *fakeSystem) OpenInput() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(f.input)), nil
}
func (f *fakeSystem) OpenResult() (io.WriteCloser, error) { return nopWriteCloser{&f.result}, nil }

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// TestRun: the agent sets up, reads the request, builds with the options
// the request asks for, and writes the bundle; any failure ends up on the
// result disk as an error, never as a bundle.
func TestRun(t *testing.T) {
	noSubst := strings.Replace(goodRequest, `"substitute":["/nix/store/0123456789abcdfghijklmnpqrsvwxyz-source"],`, "", 1)
	var disk bytes.Buffer
	r, err := DecodeRequest([]byte(noSubst))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteInput(&disk, r, ""); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	build := func(_ context.Context, opts builder.BuildOptions) (*builder.BuildResult, error) {
		if opts.FlakeRef != r.FlakeRef || opts.Nonce[31] != 1 || opts.Attester.Platform() != attest.PlatformSimSNP {
			return nil, errors.New("unexpected options")
		}
		if err := os.WriteFile(opts.Output, []byte("bundle bytes"), 0o644); err != nil {
			return nil, err
		}
		return &builder.BuildResult{ProvenanceSHA256: "ab", Timings: map[string]string{"realise": "2s"}}, nil
	}
	sys := &fakeSystem{input: disk.Bytes()}
	cfg := Config{Nix: "nix", NixConf: filepath.Join(work, "nix.conf"), WorkDir: work, Build: build}
	if err := Run(context.Background(), sys, cfg); err != nil {
		t.Fatal(err)
	}
	res, bundle, err := ReadResult(bytes.NewReader(sys.result.Bytes()))
	if err != nil || !res.OK || string(bundle) != "bundle bytes" || res.Timings["build/realise"] != "2s" {
		t.Fatalf("result %+v %q %v", res, bundle, err)
	}
	conf, err := os.ReadFile(cfg.NixConf)
	if err != nil || !strings.Contains(string(conf), "substituters = file://"+filepath.Join(work, "cache")) || !strings.Contains(string(conf), "require-sigs = true") {
		t.Errorf("nix.conf:\n%s", conf)
	}

	for _, tc := range []struct {
		name string
		sys  *fakeSystem
		fail func(context.Context, builder.BuildOptions) (*builder.BuildResult, error)
		want string
	}{
		{"setup fails", &fakeSystem{setupErr: errors.New("no disks"), input: disk.Bytes()}, build, "setting up the VM: no disks"},
		{"input garbage", &fakeSystem{input: []byte("garbage")}, build, "input disk"},
		{"build fails", &fakeSystem{input: disk.Bytes()}, func(context.Context, builder.BuildOptions) (*builder.BuildResult, error) {
			return nil, errors.New("error: builder for '/nix/store/x.drv' failed")
		}, "builder for"},
	} {
		cfg := cfg
		cfg.WorkDir, cfg.Build = t.TempDir(), tc.fail
		if err := Run(context.Background(), tc.sys, cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		res, bundle, err := ReadResult(bytes.NewReader(tc.sys.result.Bytes()))
		if err != nil || res.OK || bundle != nil || !strings.Contains(res.Error, tc.want) {
			t.Errorf("%s: result %+v %q %v", tc.name, res, bundle, err)
		}
	}
}
