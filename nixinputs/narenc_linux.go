package nixinputs

import (
	"encoding/binary"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// readDir lists the directory fd into lv with getdents64, which gives each
// entry's type, so that no per-entry stat is needed on file systems that fill
// it in.
func (e *narEncoder) readDir(fd int, lv *dirLevel) error {
	lv.arena, lv.ents = lv.arena[:0], lv.ents[:0]
	if e.dirbuf == nil {
		e.dirbuf = make([]byte, 32<<10)
	}
	for {
		n, err := unix.Getdents(fd, e.dirbuf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			break
		}
		if err := lv.parseDirents(e.dirbuf[:n]); err != nil {
			return err
		}
	}
	lv.finish()
	return nil
}

// parseDirents adds the entries of a getdents64 buffer to lv. Each record
// is: d_ino uint64, d_off int64, d_reclen uint16, d_type uint8, then the
// NUL-terminated name, padded to d_reclen.
func (lv *dirLevel) parseDirents(b []byte) error {
	const nameOff = 19
	for len(b) > 0 {
		if len(b) < nameOff {
			return fmt.Errorf("short directory entry (%d bytes)", len(b))
		}
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen <= nameOff || reclen > len(b) {
			return fmt.Errorf("bad directory entry length %d", reclen)
		}
		name := b[nameOff:reclen]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		lv.add(name, direntType(b[18]))
		b = b[reclen:]
	}
	return nil
}

func direntType(t uint8) fs.FileMode {
	switch t {
	case unix.DT_REG:
		return 0
	case unix.DT_DIR:
		return fs.ModeDir
	case unix.DT_LNK:
		return fs.ModeSymlink
	case unix.DT_FIFO:
		return fs.ModeNamedPipe
	case unix.DT_SOCK:
		return fs.ModeSocket
	case unix.DT_CHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.DT_BLK:
		return fs.ModeDevice
	}
	return typeUnknown
}
