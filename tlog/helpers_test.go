package tlog

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

func TestMain(m *testing.M) {
	// tessera logs through klog; the tests read its errors from the
	// values it returns.
	klog.SetLogger(logr.Discard())
	code := m.Run()
	for _, dir := range []string{baseLog.tmp, bigLog.tmp} {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

// testKey makes a signing key for a log named name.
func testKey(t testing.TB, name string) *SigningKey {
	t.Helper()
	skey, _, err := GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// bundleTar returns a small bundle archive: three JSON files that open as
// a bundle (they do not verify), distinct for each n.
func bundleTar(t testing.TB, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range []struct{ name, body string }{
		{"provenance.json", fmt.Sprintf(`{"n":%d}`, n)},
		{"evidence.json", `{"version":1}`},
		{"manifest.json", `{"version":1}`},
	} {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.body)), ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// writeBundles writes bundles first..first+n-1 into dir and returns their
// paths.
func writeBundles(t testing.TB, dir string, first, n int) []string {
	t.Helper()
	paths := make([]string, n)
	for i := range n {
		paths[i] = filepath.Join(dir, fmt.Sprintf("b%d.tar", first+i))
		if err := os.WriteFile(paths[i], bundleTar(t, first+i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return paths
}

// newLog makes an empty log in a temporary directory.
func newLog(t testing.TB, key *SigningKey) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "log")
	if err := Init(context.Background(), dir, key); err != nil {
		t.Fatal(err)
	}
	return dir
}

// appendBundles stages and appends the bundles as unverified ones.
func appendBundles(t testing.TB, dir string, key *SigningKey, paths []string) []Appended {
	t.Helper()
	ctx := context.Background()
	l, err := Open(ctx, dir, key)
	if err != nil {
		t.Fatal(err)
	}
	items := make([]Item, len(paths))
	for i, p := range paths {
		s, err := l.Stage(p)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Discard()
		items[i] = Item{Bundle: s, Verdict: Verdict{Reason: "test bundle"}}
	}
	out, err := l.Append(ctx, items, AppendOptions{AllowUnverified: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return out
}
