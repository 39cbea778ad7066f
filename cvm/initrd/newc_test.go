package initrd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// rawHeader returns a newc header with the given fields (in hex, in the
// order of the format), name and name padding, for building bad input.
func rawHeader(mode, size, nameSize uint32, name string) string {
	s := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%s",
		1, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, nameSize, 0, name)
	return s + strings.Repeat("\x00", int(pad4(int64(len(s)))))
}

func entry0(mode, size uint32, name string) string {
	return rawHeader(mode, size, uint32(len(name)+1), name+"\x00")
}

var trailer = entry0(0, 0, trailerName)

// listRaw reads every entry of an uncompressed archive, draining file data.
func listRaw(b []byte) ([]*Header, error) {
	r := NewReader(bytes.NewReader(b))
	var hs []*Header
	for {
		h, err := r.Next()
		if err == io.EOF {
			return hs, nil
		}
		if err != nil {
			return hs, err
		}
		hs = append(hs, h)
		if len(hs)%2 == 0 { // drain some, skip others
			if _, err := io.Copy(io.Discard, r); err != nil {
				return hs, err
			}
		}
	}
}

func TestReaderBadInput(t *testing.T) {
	good := entry0(modeRegular|0o644, 3, "f") + "abc\x00" + trailer
	if hs, err := listRaw([]byte(good)); err != nil || len(hs) != 1 {
		t.Fatalf("good archive: %v, %v", hs, err)
	}
	tests := []struct {
		name, in string
		want     string
	}{
		{"empty", "", "unexpected EOF"},
		{"no trailer", entry0(modeDir|0o755, 0, "d"), "unexpected EOF"},
		{"short header", good[:50], "unexpected EOF"},
		{"old binary cpio", "\xc7\x71" + good[2:], "magic"},
		{"odc", "070707" + good[6:], "magic"},
		{"crc format", "070702" + good[6:], "magic"},
		{"not hex", strings.Replace(good, "000081a4", "0000g1a4", 1), "not 8 hex digits"},
		{"space in field", strings.Replace(good, "000081a4", " 00081a4", 1), "not 8 hex digits"},
		{"sign in field", strings.Replace(good, "000081a4", "-00081a4", 1), "not 8 hex digits"},
		{"name size 0", rawHeader(modeDir, 0, 0, "") + trailer, "name size 0"},
		{"name size 1", rawHeader(modeDir, 0, 1, "\x00") + trailer, "name size 1"},
		{"name size huge", rawHeader(modeDir, 0, 0xffffffff, "") + trailer, "name size 4294967295"},
		{"name size past end", rawHeader(modeDir, 0, 4000, "d\x00"), "unexpected EOF"},
		{"name without NUL", rawHeader(modeDir, 0, 2, "dd") + trailer, "not terminated by NUL"},
		{"NUL in name", rawHeader(modeDir, 0, 4, "d\x00d\x00") + trailer, "NUL inside name"},
		{"name padding", strings.Replace(entry0(modeDir, 0, "dd"), "dd\x00\x00", "dd\x00x", 1) + trailer, "padding byte"},
		{"data padding", entry0(modeRegular|0o644, 3, "f") + "abcx" + trailer, "padding byte"},
		{"truncated data", entry0(modeRegular|0o644, 3000, "f") + "abc", "unexpected EOF"},
		{"empty symlink", entry0(modeSymlink|0o777, 0, "l") + trailer, "symbolic link target of 0 bytes"},
		{"huge symlink", entry0(modeSymlink|0o777, 1<<20, "l") + trailer, "symbolic link target of 1048576 bytes"},
		{"NUL in symlink", entry0(modeSymlink|0o777, 2, "l") + "a\x00\x00\x00" + trailer, "NUL in symbolic link target"},
		{"truncated symlink", entry0(modeSymlink|0o777, 200, "l") + "abc", "unexpected EOF"},
		{"dir with data", entry0(modeDir|0o755, 4, "d") + "abcd" + trailer, "4 bytes of data in a d"},
		{"device with data", entry0(modeChar|0o600, 4, "c") + "abcd" + trailer, "4 bytes of data in a c"},
		{"no file type", entry0(0o644, 0, "x") + trailer, "unknown file type"},
		{"bad file type", entry0(0o170644, 0, "x") + trailer, "unknown file type"},
		{"trailer with data", entry0(0, 4, trailerName) + "abcd", "trailer with 4 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := listRaw([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if !errors.Is(err, ErrFormat) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("error %v wraps neither ErrFormat nor io.ErrUnexpectedEOF", err)
			}
		})
	}
}

func TestReaderStopsAtTrailer(t *testing.T) {
	in := entry0(modeDir|0o755, 0, "d") + trailer + "garbage after the trailer"
	r := NewReader(strings.NewReader(in))
	if h, err := r.Next(); err != nil || h.Name != "d" {
		t.Fatalf("Next = %v, %v", h, err)
	}
	for i := 0; i < 2; i++ {
		if h, err := r.Next(); err != io.EOF {
			t.Fatalf("Next = %v, %v; want io.EOF", h, err)
		}
	}
}

func TestReaderUpperCaseHexAndRead(t *testing.T) {
	in := strings.ToUpper(entry0(modeRegular|0o644, 5, "f")[:110]) + "f\x00" + "hello\x00\x00\x00" + trailer
	r := NewReader(strings.NewReader(in))
	h, err := r.Next()
	if err != nil || h.Size != 5 || h.Mode != modeRegular|0o644 {
		t.Fatalf("Next = %+v, %v", h, err)
	}
	buf := make([]byte, 2)
	var got []byte
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if string(got) != "hello" {
		t.Errorf("data %q", got)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("Next: %v, want io.EOF", err)
	}
}

func TestDecompressBadInput(t *testing.T) {
	for _, in := range []string{
		"\x1f\x8b\x08\x00garbage",
		"\xfd7zXZ\x00garbage",
		"\x28\xb5\x2f\xfdgarbage",
	} {
		rc, c, err := Decompress(strings.NewReader(in))
		if err == nil {
			_, err = listRaw(mustReadAll(rc))
			rc.Close()
		}
		if err == nil {
			t.Errorf("%s %q: no error", c, in)
		}
	}
}

func mustReadAll(r io.Reader) []byte {
	b, _ := io.ReadAll(r)
	return b
}

func TestFileModeAndString(t *testing.T) {
	for _, tt := range []struct {
		mode uint32
		ls   string
		fm   string
	}{
		{modeDir | 0o755, "drwxr-xr-x", "drwxr-xr-x"},
		{modeRegular | 0o4755, "-rwsr-xr-x", "urwxr-xr-x"},
		{modeRegular | 0o2644, "-rw-r-Sr--", "grw-r--r--"},
		{modeDir | 0o1777, "drwxrwxrwt", "dtrwxrwxrwx"},
		{modeSymlink | 0o777, "lrwxrwxrwx", "Lrwxrwxrwx"},
		{modeChar | 0o600, "crw-------", "Dcrw-------"},
		{modeBlock | 0o660, "brw-rw----", "Drw-rw----"},
		{modeFIFO | 0o644, "prw-r--r--", "prw-r--r--"},
		{modeSocket | 0o755, "srwxr-xr-x", "Srwxr-xr-x"},
	} {
		h := Header{Mode: tt.mode}
		if got := lsMode(tt.mode); got != tt.ls {
			t.Errorf("lsMode(%#o) = %s, want %s", tt.mode, got, tt.ls)
		}
		if got := h.FileMode().String(); got != tt.fm {
			t.Errorf("FileMode(%#o) = %s, want %s", tt.mode, got, tt.fm)
		}
	}
}
