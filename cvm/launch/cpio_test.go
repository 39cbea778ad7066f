package launch

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// cpioEntry is one file of a test initrd.
type cpioEntry struct {
	name         string
	mode         uint32 // with the file type bits
	data         []byte
	major, minor uint32 // for device nodes
}

// Mode bits of the cpio newc format.
const (
	cpioDir  = 0o040000
	cpioReg  = 0o100000
	cpioChar = 0o020000
)

// writeCPIO writes entries as an uncompressed cpio newc archive to a new
// file in t's temporary directory and returns its path.
func writeCPIO(t *testing.T, entries []cpioEntry) string {
	t.Helper()
	var b bytes.Buffer
	pad := func() {
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	write := func(ino int, e cpioEntry) {
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, e.mode, 0, 0, 1, 0, len(e.data), 0, 0, e.major, e.minor, len(e.name)+1, 0)
		b.WriteString(e.name)
		b.WriteByte(0)
		pad()
		b.Write(e.data)
		pad()
	}
	for i, e := range entries {
		write(i+1, e)
	}
	write(0, cpioEntry{name: "TRAILER!!!"})
	path := t.TempDir() + "/initrd.cpio"
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// busyboxInitrd returns an initrd holding a static busybox and an /init
// shell script with the given body.
func busyboxInitrd(t *testing.T, body string) string {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("no static busybox (Debian package busybox-static): %v", err)
	}
	script := "#!/bin/busybox sh\n" + body
	return writeCPIO(t, []cpioEntry{
		{name: "bin", mode: cpioDir | 0o755},
		{name: "bin/busybox", mode: cpioReg | 0o755, data: bb},
		{name: "dev", mode: cpioDir | 0o755},
		{name: "dev/console", mode: cpioChar | 0o600, major: 5, minor: 1},
		{name: "init", mode: cpioReg | 0o755, data: []byte(script)},
		{name: "proc", mode: cpioDir | 0o755},
		{name: "sys", mode: cpioDir | 0o755},
	})
}
