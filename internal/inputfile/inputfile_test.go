package inputfile

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

type reader struct {
	name string
	read func(path string, limit int64) ([]byte, error)
}

// readers returns the three ways of reading a whole file, which must agree.
func readers() []reader {
	return []reader{
		{"Read", Read},
		{"Append", func(path string, limit int64) ([]byte, error) {
			b, err := Append([]byte("prefix"), path, limit)
			if !bytes.HasPrefix(b, []byte("prefix")) {
				return nil, errors.New("Append lost the prefix")
			}
			if err != nil {
				if len(b) != len("prefix") {
					return nil, errors.New("Append returned data with an error")
				}
				return nil, err
			}
			return b[len("prefix"):], nil
		}},
		{"Open", func(path string, limit int64) ([]byte, error) {
			f, err := Open(path, limit)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			return io.ReadAll(f)
		}},
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	null := filepath.Join(dir, "null")
	if err := os.Symlink(os.DevNull, null); err != nil {
		t.Fatal(err)
	}
	for _, r := range readers() {
		for _, tc := range []struct {
			path  string
			limit int64
			want  string
		}{
			{file, 10, "0123456789"},
			{file, 1 << 40, "0123456789"},
			{link, 10, "0123456789"},
			{empty, 0, ""},
			// The null device reads as an empty file, under any name.
			{os.DevNull, 0, ""},
			{null, 10, ""},
		} {
			got, err := r.read(tc.path, tc.limit)
			if err != nil || string(got) != tc.want {
				t.Errorf("%s(%s, %d) = %q, %v; want %q", r.name, tc.path, tc.limit, got, err, tc.want)
			}
		}
	}
}

func TestReadRefuses(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zeroLink := filepath.Join(dir, "zero.drv")
	if err := os.Symlink("/dev/zero", zeroLink); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, r := range readers() {
		for _, tc := range []struct {
			path  string
			limit int64
			want  string
		}{
			{file, 9, file + ": 10 bytes, larger than the limit of 9 bytes"},
			{file, 0, file + ": 10 bytes, larger than the limit of 0 bytes"},
			{"/dev/zero", 1 << 30, "/dev/zero: a character device, not a regular file"},
			{zeroLink, 1 << 30, zeroLink + ": a character device, not a regular file"},
			{fifo, 1 << 30, fifo + ": a named pipe (FIFO), not a regular file"},
			{sock, 1 << 30, "no such device or address"}, // a socket cannot be opened
			{dir, 1 << 30, dir + ": a directory, not a regular file"},
			{filepath.Join(dir, "missing"), 1, "no such file or directory"},
			// procfs files are regular with a size of 0: the cap holds
			// while reading.
			{"/proc/self/status", 10, "/proc/self/status: larger than the limit of 10 bytes"},
		} {
			got, err := r.read(tc.path, tc.limit)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s(%s, %d) = %d bytes, %v; want error %q", r.name, tc.path, tc.limit, len(got), err, tc.want)
			}
		}
	}
	_, err = Read(filepath.Join(dir, "missing"), 1)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read(missing) = %v, want fs.ErrNotExist", err)
	}
	var le *LimitError
	if _, err := Read(file, 9); !errors.As(err, &le) || le.Limit != 9 || le.Size != 10 || le.Path != file {
		t.Errorf("Read over the limit = %#v, want a *LimitError", err)
	}
}

// TestOpenGrown checks that a file that grows past its cap after Open
// fails at the cap.
func TestOpenGrown(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("0123"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(file, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Size() != 4 || f.Name() != file {
		t.Errorf("Size, Name = %d, %s; want 4, %s", f.Size(), f.Name(), file)
	}
	if err := os.WriteFile(file, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	var le *LimitError
	if !errors.As(err, &le) || le.Size != -1 || string(got) != "01234567" {
		t.Errorf("reading a grown file = %q, %v; want the first 8 bytes and a *LimitError", got, err)
	}
}
