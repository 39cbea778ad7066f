package rebuild

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzListNAR reads arbitrary bytes as a NAR, as the listing of a bundle's
// artifact does. Whatever it accepts unpacks, and the unpacked tree lists
// the same.
func FuzzListNAR(f *testing.F) {
	f.Add(narOf(f, writeTree(f, map[string]string{
		"bin/x*": "#!/bin/sh\n", "share/a-b": "1", "share/a/b": "2", "link": "->share", "empty/": "",
	})))
	f.Add(narOf(f, writeTree(f, map[string]string{"stamp.txt": "1700000000\n"})))
	f.Add(dirNAR(func(w *narWriter) { w.entry("a", "x").entry("a", "y") }))
	f.Add(dirNAR(func(w *narWriter) { w.entry("..", "x") }))
	f.Add(dirNAR(func(w *narWriter) { w.str("junk").entry("a", "x") }))
	f.Add((&narWriter{}).str("nix-archive-1", "(", "type", "symlink", "target", "/nix/store/x", ")").Bytes())
	f.Add((&narWriter{}).str("nix-archive-1", "(", "type", "regular", "executable", "", "contents", "data", ")").Bytes())
	f.Add([]byte("nix-archive-1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		list, _, err := listNAR(bytes.NewReader(data), true)
		if err != nil {
			return
		}
		dest := filepath.Join(t.TempDir(), "u")
		if err := unpackNAR(bytes.NewReader(data), dest); err != nil {
			t.Fatalf("listed, but does not unpack: %v", err)
		}
		again, _, err := listTree(context.Background(), dest, false)
		if err != nil {
			t.Fatalf("the unpacked tree does not list: %v", err)
		}
		if !reflect.DeepEqual(list, again) {
			t.Fatalf("the unpacked tree lists\n%v\nthe NAR\n%v", again, list)
		}
	})
}
