package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := Write(p, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "two" {
		t.Fatalf("%q %v", b, err)
	}
	if err := Write(filepath.Join(dir, "missing", "f"), nil, 0o644); err == nil {
		t.Error("a write into a missing directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left beside the file: %v", entries)
	}
}

func TestRenameNoReplace(t *testing.T) {
	dir := t.TempDir()
	for _, rename := range []struct {
		name string
		f    func(from, to string) error
	}{{"RenameNoReplace", RenameNoReplace}, {"portable", renamePortable}} {
		t.Run(rename.name, func(t *testing.T) {
			sub := filepath.Join(dir, rename.name)
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			file, dirFrom := filepath.Join(sub, "f.tmp"), filepath.Join(sub, "d.tmp")
			if err := os.WriteFile(file, []byte("new"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(dirFrom, 0o755); err != nil {
				t.Fatal(err)
			}
			// Existing names are never replaced: a file, an empty directory.
			taken, empty := filepath.Join(sub, "taken"), filepath.Join(sub, "empty")
			if err := os.WriteFile(taken, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(empty, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := rename.f(file, taken); !errors.Is(err, ErrExists) {
				t.Errorf("file onto a file: %v, want ErrExists", err)
			}
			if err := rename.f(dirFrom, empty); !errors.Is(err, ErrExists) {
				t.Errorf("directory onto an empty directory: %v, want ErrExists", err)
			}
			if data, _ := os.ReadFile(taken); string(data) != "old" {
				t.Errorf("the existing file now holds %q", data)
			}
			// Free names are taken.
			if err := rename.f(file, filepath.Join(sub, "f")); err != nil {
				t.Errorf("file: %v", err)
			}
			if err := rename.f(dirFrom, filepath.Join(sub, "d")); err != nil {
				t.Errorf("directory: %v", err)
			}
			for _, gone := range []string{file, dirFrom} {
				if _, err := os.Lstat(gone); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s still there: %v", gone, err)
				}
			}
		})
	}
}
