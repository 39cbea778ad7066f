package tlog

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

func listFiles(t *testing.T, dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func TestSmoke(t *testing.T) {
	key := testKey(t, "example.org/test-log")
	dir := newLog(t, key)
	t.Log(listFiles(t, dir))
	paths := writeBundles(t, t.TempDir(), 0, 3)
	out := appendBundles(t, dir, key, paths)
	for _, a := range out {
		t.Logf("%d %x dup=%v", a.Index, a.ProvenanceSHA256, a.Duplicate)
	}
	t.Log(listFiles(t, dir))
	res, err := Verify(context.Background(), dir, VerifyOptions{Verifier: key.Verifier})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries, %s", res.Size, res.Checkpoint)
	p, err := Prove(context.Background(), dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", p.Marshal())
}
