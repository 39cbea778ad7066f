package nixcache

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/nixinputs"
)

// These tests export real store paths and have the real nix take them from
// the cache into a fresh store, with signatures required. They skip when
// nix is not on PATH.

const offlineNixConfig = "experimental-features = nix-command flakes\n" +
	"substituters =\nsandbox = true\nbuild-users-group = nixbld\nflake-registry =\n"

// realStore is what the tests take from the machine's store: the hello
// example's flake source and busybox input (content-addressed), the
// greeting (a flat fixed-output path) and the built hello and busybox-dir
// (input-addressed).
type realStore struct {
	d                      *nixinputs.Driver
	source, busybox, hello string
	closure                []string // of hello, with the flake source
}

func newRealStore(t *testing.T) *realStore {
	t.Helper()
	if _, err := exec.LookPath("nix"); err != nil {
		t.Skip("nix is not on PATH: skipping test against the real nix")
	}
	if os.Getuid() != 0 {
		t.Skip("a chroot store needs root")
	}
	ctx := context.Background()
	d := &nixinputs.Driver{Env: []string{"NIX_CONFIG=" + offlineNixConfig}}
	flake, err := filepath.Abs("../examples/hello")
	if err != nil {
		t.Fatal(err)
	}
	md, err := d.Metadata(ctx, "path:"+flake)
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Build(ctx, "path:"+flake+"#hello")
	if err != nil {
		t.Fatal(err)
	}
	s := &realStore{d: d, source: md.StorePath, hello: res[0].Outputs["out"]}
	out := nixTool(t, "nix-store", "-qR", s.hello)
	s.closure = append(strings.Fields(string(out)), s.source)
	infos, err := d.PathInfo(ctx, s.closure...)
	if err != nil {
		t.Fatal(err)
	}
	for p, info := range infos {
		if strings.HasSuffix(p, "-source") && p != s.source {
			s.busybox = p
		}
		t.Logf("%s ca=%q", p, info.CA)
	}
	if s.busybox == "" || infos[s.source].CA == "" || infos[s.busybox].CA == "" || infos[s.hello].CA != "" {
		t.Fatalf("unexpected closure: %v", infos)
	}
	return s
}

func nixTool(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "NIX_CONFIG="+offlineNixConfig)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// nixCopy runs `nix copy --from file://cache` of paths into a fresh chroot
// store with signatures required and only trusted trusted, and returns
// Nix's error text, "" if it succeeded.
func nixCopy(t *testing.T, cache string, trusted []PublicKey, paths ...string) string {
	t.Helper()
	root := t.TempDir()
	t.Cleanup(func() { makeWritable(root) })
	keys := make([]string, len(trusted))
	for i, k := range trusted {
		keys[i] = k.String()
	}
	args := append([]string{"copy", "--from", "file://" + cache, "--to", filepath.Join(root, "store"),
		"--option", "require-sigs", "true", "--option", "trusted-public-keys", strings.Join(keys, " ")}, paths...)
	cmd := exec.Command("nix", args...)
	cmd.Env = append(os.Environ(), "NIX_CONFIG="+offlineNixConfig)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		// Nix's error, without the progress lines before it.
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndex(msg, "\nerror: "); i >= 0 {
			msg = msg[i+1:]
		}
		if msg == "" {
			msg = err.Error()
		}
		return msg
	}
	// The copied paths are in the new store, with the contents they had.
	for _, p := range paths {
		want := nixTool(t, "nix", "path-info", "--json", p)
		got := nixTool(t, "nix", "path-info", "--json", "--store", filepath.Join(root, "store"), p)
		if !bytes.Contains(got, []byte(narHashField(want))) {
			t.Errorf("%s in the new store: %s, want %s", p, got, want)
		}
	}
	return ""
}

func narHashField(pathInfoJSON []byte) string {
	s := string(pathInfoJSON)
	i := strings.Index(s, `"narHash":`)
	if i < 0 {
		return s
	}
	j := strings.Index(s[i:], ",")
	return s[i : i+j]
}

func makeWritable(root string) {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
}

func exportTo(t *testing.T, s *realStore, opts Options, paths ...string) (string, map[string]*NarInfo) {
	t.Helper()
	dir := t.TempDir()
	w, err := Create(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := Export(context.Background(), s.d, w, paths...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*NarInfo{}
	for _, n := range ns {
		out[n.StorePath] = n
	}
	return dir, out
}

func TestRealNixAcceptsUnsignedContentAddressed(t *testing.T) {
	s := newRealStore(t)
	for _, comp := range []string{CompressionXZ, CompressionZstd} {
		dir, _ := exportTo(t, s, Options{Compression: comp}, s.source, s.busybox)
		if _, err := Verify(dir, nil); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if msg := nixCopy(t, dir, nil, s.source, s.busybox); msg != "" {
			t.Errorf("%s: nix refused unsigned content-addressed paths: %s", comp, msg)
		}
	}
}

// sigRefused is in Nix's error for an input-addressed path without a
// signature by a trusted key: "cannot add path '…' because it lacks a valid
// signature" (Nix 2.8), "… lacks a signature by a trusted key" (later).
const sigRefused = "because it lacks a"

func TestRealNixSignatures(t *testing.T) {
	s := newRealStore(t)
	key := testKey(t, "kettle-test-1")
	other := testKey(t, "kettle-other-1")
	signed, _ := exportTo(t, s, Options{Key: &key}, s.closure...)
	if _, err := Verify(signed, []PublicKey{key.PublicKey()}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if msg := nixCopy(t, signed, []PublicKey{key.PublicKey()}, s.hello); msg != "" {
		t.Errorf("nix refused a signed input-addressed path: %s", msg)
	}
	unsigned, _ := exportTo(t, s, Options{}, s.closure...)
	refused := func(name, dir string, keys []PublicKey, want string) {
		t.Helper()
		msg := nixCopy(t, dir, keys, s.hello)
		t.Logf("%s: nix says: %s", name, msg)
		if msg == "" {
			t.Errorf("%s: nix accepted it", name)
		} else if !strings.Contains(msg, want) {
			t.Errorf("%s: nix's error %q does not mention %q", name, msg, want)
		}
	}
	refused("unsigned", unsigned, []PublicKey{key.PublicKey()}, sigRefused)
	refused("wrong key", signed, []PublicKey{other.PublicKey()}, sigRefused)

	tampered := func(name string, tamper func(dir string, n *NarInfo), want string) {
		t.Helper()
		dir, ns := exportTo(t, s, Options{Key: &key}, s.closure...)
		tamper(dir, ns[s.hello])
		if _, err := Verify(dir, []PublicKey{key.PublicKey()}); err == nil {
			t.Errorf("%s: Verify accepted it", name)
		} else {
			t.Logf("%s: Verify says: %v", name, err)
		}
		refused(name, dir, []PublicKey{key.PublicKey()}, want)
	}
	tampered("NAR byte flipped", func(dir string, n *NarInfo) {
		flip(t, filepath.Join(dir, n.URL), int(n.FileSize/2))
	}, "")
	tampered("NAR swapped, NarHash changed to match", func(dir string, n *NarInfo) {
		swapNAR(t, dir, n, func(b []byte) { b[len(b)-30] ^= 1 }, true)
	}, sigRefused)
	tampered("signature tampered", func(dir string, n *NarInfo) {
		n.Sigs[0].Sig[5] ^= 1
		writeNarInfo(t, dir, n)
	}, sigRefused)
}

func TestRealNixRefusesSwappedContentAddressed(t *testing.T) {
	s := newRealStore(t)
	for _, tc := range []struct {
		name   string
		change func(b []byte)
		narSum bool
		want   string
	}{
		{"NAR swapped", func(b []byte) { b[len(b)-30] ^= 1 }, false, "hash mismatch importing path"},
		{"NAR swapped, NarHash changed to match", func(b []byte) { b[len(b)-30] ^= 1 }, true, "ca hash mismatch importing path"},
	} {
		dir, ns := exportTo(t, s, Options{}, s.busybox)
		swapNAR(t, dir, ns[s.busybox], tc.change, tc.narSum)
		if _, err := Verify(dir, nil); err == nil {
			t.Errorf("%s: Verify accepted it", tc.name)
		} else {
			t.Logf("%s: Verify says: %v", tc.name, err)
		}
		msg := nixCopy(t, dir, nil, s.busybox)
		t.Logf("%s: nix says: %s", tc.name, msg)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%s: nix's error %q does not mention %q", tc.name, msg, tc.want)
		}
	}
}
