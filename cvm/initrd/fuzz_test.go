package initrd

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"
)

// FuzzReader feeds Decompress and Reader arbitrary bytes: they must not
// panic, and an archive they accept must read back the same after being
// written again by writeHeader.
func FuzzReader(f *testing.F) {
	tr := apiTree(f, nil)
	for _, c := range Compressions() {
		var buf bytes.Buffer
		if err := tr.Write(&buf, Options{Compression: c, MTime: 7}); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte(entry0(modeRegular|0o644, 3, "f") + "abc\x00" + trailer))
	f.Add([]byte(entry0(modeSymlink|0o777, 2, "l") + "ab\x00\x00" + trailer))
	f.Add([]byte(rawHeader(modeDir, 0, 0xffffffff, "") + trailer))
	f.Add([]byte(strings.ToUpper(entry0(modeChar|0o600, 0, "c")[:110]) + "c\x00" + trailer))
	f.Add([]byte("\x1f\x8b\x08\x00garbage"))
	f.Add([]byte("\xfd7zXZ\x00garbage"))
	f.Add([]byte("\x28\xb5\x2f\xfdgarbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rc, _, err := Decompress(bytes.NewReader(data))
		if err != nil {
			return
		}
		defer rc.Close()
		hs, contents, err := readEntries(io.LimitReader(rc, 64<<20))
		if err != nil {
			return
		}
		var again bytes.Buffer
		for i, h := range hs {
			if err := writeHeader(&again, h); err != nil {
				t.Fatal(err)
			}
			switch h.Mode & modeType {
			case modeRegular:
				again.WriteString(contents[i])
			case modeSymlink:
				again.WriteString(h.Linkname)
			}
			again.Write(zeros[:pad4(int64(h.Size))])
		}
		if err := writeHeader(&again, &Header{Name: trailerName, NLink: 1}); err != nil {
			t.Fatal(err)
		}
		hs2, contents2, err := readEntries(&again)
		if err != nil {
			t.Fatalf("rewritten archive: %v", err)
		}
		if !reflect.DeepEqual(hs, hs2) || !reflect.DeepEqual(contents, contents2) {
			t.Fatalf("rewritten archive reads differently")
		}
	})
}

func readEntries(r io.Reader) ([]*Header, []string, error) {
	cr := NewReader(r)
	var hs []*Header
	var contents []string
	for {
		h, err := cr.Next()
		if err == io.EOF {
			return hs, contents, nil
		}
		if err != nil {
			return nil, nil, err
		}
		b, err := io.ReadAll(cr)
		if err != nil {
			return nil, nil, err
		}
		hs = append(hs, h)
		contents = append(contents, string(b))
	}
}

// FuzzParseSpec: the parser must not panic, every entry it accepts has a
// valid name, and its String form parses back to the same entry.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{
		"# an initrd\n/init=kettle\n/bin/sh->busybox\n",
		"dir /tmp 1777\nchardev /dev/console 5 1 600\nfile /bin/su ./su 4755\n",
		"copy / rootfs\nsymlink /usr/bin ../bin\n",
		"dir /x 789\n", "chardev /x 4096 0\n", "../x=y\n", "a=b->c\n",
		"dir /a\x00b\n", "TRAILER!!!=x\n", "=\n", "->\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		specs, err := ParseSpec(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, s := range specs {
			if !(s.Kind == SpecCopy && s.Name == "/") {
				if _, err := cleanName(s.Name); err != nil {
					t.Fatalf("accepted %+v: %v", s, err)
				}
			}
			back, err := ParseSpecLine(s.String())
			if err != nil {
				t.Fatalf("%q (from %+v) does not parse: %v", s.String(), s, err)
			}
			if !reflect.DeepEqual(back, s) {
				t.Fatalf("%q parses to %+v, want %+v", s.String(), back, s)
			}
		}
	})
}
