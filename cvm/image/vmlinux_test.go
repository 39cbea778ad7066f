package image

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVmlinuxDebian: the ELF inside a Debian bzImage (xz payload).
func TestVmlinuxDebian(t *testing.T) {
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(kernels) == 0 {
		t.Skip("no kernel in /boot (apt-get install linux-image-amd64)")
	}
	img, err := os.ReadFile(kernels[0])
	if err != nil {
		t.Skipf("%s: %v", kernels[0], err)
	}
	elf, err := Vmlinux(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(elf) < 4*len(img) {
		t.Errorf("vmlinux %d bytes from a %d-byte bzImage", len(elf), len(img))
	}
}

func TestVmlinuxBad(t *testing.T) {
	hdr := func(mod func(b []byte)) []byte {
		b := make([]byte, 0x1000)
		copy(b[0x202:], "HdrS")
		b[0x206], b[0x207] = 0x0f, 0x02
		b[0x1f1] = 1
		mod(b)
		return b
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "no setup header"},
		{"no HdrS", make([]byte, 0x1000), "no setup header"},
		{"old protocol", hdr(func(b []byte) { b[0x206], b[0x207] = 0x00, 0x02 }), "boot protocol"},
		{"payload outside", hdr(func(b []byte) { b[0x24c] = 0xff; b[0x24d] = 0xff }), "outside the file"},
		{"empty payload", hdr(func(b []byte) {}), "outside the file"},
		{"unknown compression", hdr(func(b []byte) { b[0x24c] = 16 }), "not xz, zstd or gzip"},
		{"not ELF", append(hdr(func(b []byte) { b[0x248] = 0; b[0x24c] = 0x20 }), bytes.Repeat([]byte{0}, 0x20)...), "not xz"},
	} {
		if _, err := Vmlinux(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func FuzzVmlinux(f *testing.F) {
	b := make([]byte, 0x1000)
	copy(b[0x202:], "HdrS")
	b[0x206], b[0x207], b[0x1f1], b[0x24c] = 0x0f, 0x02, 1, 0x10
	copy(b[0x400:], []byte{0xfd, '7', 'z', 'X', 'Z', 0})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Vmlinux(data)
		if err == nil && !bytes.HasPrefix(out, []byte("\x7fELF")) {
			t.Fatal("returned a kernel that is not ELF")
		}
	})
}
