package initrd

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseSpecLine(t *testing.T) {
	tests := []struct {
		in   string
		want Spec
	}{
		{"/init=./kettle", Spec{Kind: SpecCopy, Name: "/init", Source: "./kettle"}},
		{"/=rootfs", Spec{Kind: SpecCopy, Name: "/", Source: "rootfs"}},
		{"=rootfs", Spec{Kind: SpecCopy, Name: "/", Source: "rootfs"}},
		{"a=b=c", Spec{Kind: SpecCopy, Name: "a", Source: "b=c"}},
		{"/bin/sh->busybox", Spec{Kind: SpecSymlink, Name: "/bin/sh", Target: "busybox"}},
		{"a=b->c", Spec{Kind: SpecSymlink, Name: "a=b", Target: "c"}},
		{"l->/abs/x=y", Spec{Kind: SpecSymlink, Name: "l", Target: "/abs/x=y"}},
		{"copy /nix/store/x /nix/store/x", Spec{Kind: SpecCopy, Name: "/nix/store/x", Source: "/nix/store/x"}},
		{"file /bin/su  ./su\t4755", Spec{Kind: SpecFile, Name: "/bin/su", Source: "./su", Mode: 0o755 | fs.ModeSetuid, HasMode: true}},
		{"file /etc/x ./x", Spec{Kind: SpecFile, Name: "/etc/x", Source: "./x"}},
		{"dir /tmp 1777", Spec{Kind: SpecDir, Name: "/tmp", Mode: 0o777 | fs.ModeSticky, HasMode: true}},
		{"dir /g 2750", Spec{Kind: SpecDir, Name: "/g", Mode: 0o750 | fs.ModeSetgid, HasMode: true}},
		{"dir proc", Spec{Kind: SpecDir, Name: "proc"}},
		{"dir /x 0", Spec{Kind: SpecDir, Name: "/x", HasMode: true}},
		{"symlink /usr/bin ../bin", Spec{Kind: SpecSymlink, Name: "/usr/bin", Target: "../bin"}},
		{"chardev /dev/console 5 1", Spec{Kind: SpecCharDev, Name: "/dev/console", Major: 5, Minor: 1}},
		{"chardev /dev/null 1 3 666", Spec{Kind: SpecCharDev, Name: "/dev/null", Major: 1, Minor: 3, Mode: 0o666, HasMode: true}},
		{"chardev /dev/x 4095 1048575", Spec{Kind: SpecCharDev, Name: "/dev/x", Major: 4095, Minor: 1048575}},
	}
	for _, tt := range tests {
		got, err := ParseSpecLine(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseSpecLine(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseSpecLineErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty entry"},
		{"   ", "empty entry"},
		{"justaword", "want DEST=SRC"},
		{"dir", "want DEST=SRC"},
		{"a=", "empty SRC"},
		{"a->", "empty symbolic link target"},
		{"->x", "root directory"},
		{"../x=y", "not a clean path"},
		{"a/../../x=y", "not a clean path"},
		{"a//b->c", "not a clean path"},
		{"TRAILER!!!=x", "end marker"},
		{"mkdir /x", "unknown keyword"},
		{"Dir /x", "unknown keyword"},
		{"copy /x", "want copy DEST SRC"},
		{"copy /x a b", "want copy DEST SRC"},
		{"file /x", "want file DEST SRC [MODE]"},
		{"file /x a 644 extra", "want file DEST SRC [MODE]"},
		{"dir /x 755 extra", "want dir DEST [MODE]"},
		{"symlink /x", "want symlink DEST TARGET"},
		{"chardev /x 5", "want chardev DEST MAJOR MINOR [MODE]"},
		{"dir /x 789", "want octal digits"},
		{"dir /x 17777", "want octal digits"},
		{"dir /x -1", "want octal digits"},
		{"dir /x +7", "want octal digits"},
		{"dir /x 0o755", "want octal digits"},
		{"dir /x 7_55", "want octal digits"},
		{"chardev /x 4096 0", "device major"},
		{"chardev /x 1 1048576", "device minor"},
		{"chardev /x -1 0", "device major"},
		{"chardev /x +1 0", "device major"},
		{"chardev /x 0x5 1", "device major"},
		{"chardev /x 99999999999 1", "device major"},
		{"dir /a\x00b", "NUL"},
		{"dir /", "root directory"},
		{"symlink / x", "root directory"},
		{"dir " + strings.Repeat("a", 4096), "longer than 4095"},
		{"symlink /l " + strings.Repeat("a", 4096), "longer than 4095"},
	}
	for _, tt := range tests {
		_, err := ParseSpecLine(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSpecLine(%.60q): error %v, want one containing %q", tt.in, err, tt.want)
		}
	}
}

func TestParseSpec(t *testing.T) {
	in := "# an initrd\n\n  dir /proc 555\r\n\t# indented comment\n/init=kettle\n"
	got, err := ParseSpec(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Spec{
		{Kind: SpecDir, Name: "/proc", Mode: 0o555, HasMode: true},
		{Kind: SpecCopy, Name: "/init", Source: "kettle"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseSpec = %+v, want %+v", got, want)
	}
	_, err = ParseSpec(strings.NewReader("dir /a\n\ndir /b 999\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "line 3: ") {
		t.Errorf("error %v, want one naming line 3", err)
	}
}

func TestReadSpecFile(t *testing.T) {
	dir := t.TempDir()
	mustAdd(t, os.WriteFile(filepath.Join(dir, "kettle"), []byte("#!"), 0o755))
	spec := filepath.Join(dir, "initrd.spec")
	mustAdd(t, os.WriteFile(spec, []byte("/init=kettle\nfile /abs /etc/hostname\nchardev /dev/console 5 1\n"), 0o644))
	specs, err := ReadSpecFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	if specs[0].Source != filepath.Join(dir, "kettle") || specs[1].Source != "/etc/hostname" {
		t.Errorf("sources %q, %q", specs[0].Source, specs[1].Source)
	}
	var tr Tree
	mustAdd(t, tr.Add(specs[0]))
	mustAdd(t, tr.Add(specs[2]))
	hs, data := readAll(t, write(t, &tr, Options{Compression: None}))
	if len(hs) != 3 || data["init"] != "#!" || hs[2].Mode != modeRegular|0o755 {
		t.Errorf("entries %v, data %q", hs, data)
	}

	if _, err := ReadSpecFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: error %v", err)
	}
	big := filepath.Join(dir, "big")
	mustAdd(t, os.WriteFile(big, bytes.Repeat([]byte("# comment\n"), MaxSpecSize/10+1), 0o644))
	if _, err := ReadSpecFile(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: error %v", err)
	}
	bad := filepath.Join(dir, "bad")
	mustAdd(t, os.WriteFile(bad, []byte("dir /ok\nwhat\n"), 0o644))
	if _, err := ReadSpecFile(bad); err == nil || !strings.Contains(err.Error(), bad+": line 2: ") {
		t.Errorf("bad file: error %v", err)
	}
	if _, err := ReadSpecFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestAddSpecFileModes(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "su")
	mustAdd(t, os.WriteFile(src, []byte("x"), 0o755))
	mustAdd(t, os.Chmod(src, 0o750|fs.ModeSetuid))
	var tr Tree
	for _, line := range []string{"file /a " + src, "file /b " + src + " 4755", "dir /d", "chardev /c 5 1", "/e=" + src} {
		s, err := ParseSpecLine(line)
		mustAdd(t, err)
		mustAdd(t, tr.Add(s))
	}
	hs, _ := readAll(t, write(t, &tr, Options{Compression: None}))
	want := []uint32{modeRegular | 0o750, modeRegular | 0o4755, modeChar | 0o600, modeDir | 0o755, modeRegular | 0o750}
	for i, h := range hs {
		if h.Mode != want[i] {
			t.Errorf("%s: mode %#o, want %#o", h.Name, h.Mode, want[i])
		}
	}
	if err := tr.Add(Spec{Kind: "mknod", Name: "x"}); err == nil {
		t.Error("unknown kind: no error")
	}
}
