package nixinputs

import (
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// This file holds the NAR (Nix ARchive) serialiser.
//
// It is written by hand rather than built on go-nix's nar.Writer/nar.DumpPath
// for two reasons found while testing that package (go-nix
// v0.0.0-20250101154619):
//
//   - correctness: nar.Writer derives entry names with filepath.Rel between
//     consecutive headers and treats any name starting with ".." as a step
//     back up the tree, so a legal file named "..foo" makes it fail with
//     "name `d/..foo` is invalid"; Nix itself archives such trees fine.
//   - speed: every header is handed to a goroutine over unbuffered channels
//     and file contents go through a 32 KiB io.Copy, which measured 2.5×
//     slower than `nix hash path` on $(go env GOROOT).
//
// The format is small (length-prefixed, 8-byte padded strings), and the tests
// cross-check this serialiser against go-nix's independent nar.Reader, and
// byte for byte against `nix-store --dump` and `nix hash path`.
//
// Serialisation follows Nix's dumpPath (src/libutil/archive.cc):
//
//	nar       = str("nix-archive-1") node
//	node      = str("(") str("type") body str(")")
//	body      = str("regular") [str("executable") str("")] str("contents") str(bytes)
//	          | str("symlink") str("target") str(target)
//	          | str("directory") { str("entry") str("(") str("name") str(name) str("node") node str(")") }
//	str(s)    = uint64le(len(s)) s zero-padding-to-8
//
// Directory entries are sorted bytewise by name; a regular file is executable
// when its owner-execute bit is set; nothing else (times, owners, other
// permission bits) is recorded.

// narEncoder writes a NAR into a byte buffer and hands full buffers to flush.
// Writing into a buffer it owns lets file contents be read straight into it:
// no intermediate copy between the kernel and the consumer (a hash or an
// io.Writer).
type narEncoder struct {
	ctx   context.Context
	buf   []byte                       // pending output, len(buf) bytes filled
	flush func([]byte) ([]byte, error) // consumes a full buffer, returns an empty one
	size  uint64                       // bytes emitted so far, including buf
}

// room makes sure at least one byte is free in e.buf.
func (e *narEncoder) room() error {
	if len(e.buf) < cap(e.buf) {
		return nil
	}
	b, err := e.flush(e.buf)
	if err != nil {
		return err
	}
	e.buf = b[:0]
	return nil
}

// write appends p, flushing as often as needed.
func (e *narEncoder) write(p []byte) error {
	for len(p) > 0 {
		if err := e.room(); err != nil {
			return err
		}
		n := copy(e.buf[len(e.buf):cap(e.buf)], p)
		e.buf = e.buf[:len(e.buf)+n]
		e.size += uint64(n)
		p = p[n:]
	}
	return nil
}

func (e *narEncoder) u64(n uint64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], n)
	return e.write(b[:])
}

func (e *narEncoder) pad(n uint64) error {
	if m := n % 8; m != 0 {
		var zero [8]byte
		return e.write(zero[m:])
	}
	return nil
}

// str writes a NAR string: length, bytes, zero padding to 8 bytes.
func (e *narEncoder) str(s string) error {
	if err := e.u64(uint64(len(s))); err != nil {
		return err
	}
	// Tokens are short; the []byte conversion does not escape.
	if err := e.write([]byte(s)); err != nil {
		return err
	}
	return e.pad(uint64(len(s)))
}

// strs writes several NAR strings.
func (e *narEncoder) strs(ss ...string) error {
	for _, s := range ss {
		if err := e.str(s); err != nil {
			return err
		}
	}
	return nil
}

// dump writes the NAR of the file system object at path. Like Nix, it
// archives a symlink at path as a symlink, even when written "link/".
func (e *narEncoder) dump(path string) error {
	if path == "" {
		return fmt.Errorf("empty path")
	}
	path = filepath.Clean(path)
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if err := e.str("nix-archive-1"); err != nil {
		return err
	}
	return e.node(path, fi.Mode().Type())
}

// node writes one file system object; typ is its fs.FileMode type bits as
// seen by the parent's directory listing (or Lstat for the root).
func (e *narEncoder) node(path string, typ fs.FileMode) error {
	if err := e.ctx.Err(); err != nil {
		return err
	}
	switch {
	case typ == 0:
		return e.regular(path)
	case typ&fs.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		return e.strs("(", "type", "symlink", "target", target, ")")
	case typ&fs.ModeDir != 0:
		return e.directory(path)
	default:
		return fmt.Errorf("%s: cannot archive a file of type %v (only regular files, directories and symlinks)", path, typ)
	}
}

func (e *narEncoder) directory(path string) error {
	// os.ReadDir sorts by name, bytewise, as Nix does; on Linux the entry
	// types come from getdents, so no per-entry lstat is needed.
	entries, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	if err := e.strs("(", "type", "directory"); err != nil {
		return err
	}
	for _, ent := range entries {
		name := ent.Name()
		if err := e.strs("entry", "(", "name", name, "node"); err != nil {
			return err
		}
		if err := e.node(filepath.Join(path, name), ent.Type()); err != nil {
			return err
		}
		if err := e.str(")"); err != nil {
			return err
		}
	}
	return e.str(")")
}

func (e *narEncoder) regular(path string) error {
	// Raw system calls rather than os.File: opening an os.File costs an
	// extra epoll_ctl (or fcntl) and a finalizer per file, which is a
	// measurable share of the time on trees of many small files.
	//
	// O_NOFOLLOW: if the file was replaced by a symlink since the directory
	// was listed, fail rather than archive the link's target.
	fd, err := openNoFollow(path)
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := fstat(fd, &st); err != nil {
		return &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return fmt.Errorf("%s: changed type while archiving", path)
	}
	if err := e.strs("(", "type", "regular"); err != nil {
		return err
	}
	// Nix marks a file executable when the owner may execute it.
	if st.Mode&syscall.S_IXUSR != 0 {
		if err := e.strs("executable", ""); err != nil {
			return err
		}
	}
	if err := e.str("contents"); err != nil {
		return err
	}
	size := st.Size
	if err := e.u64(uint64(size)); err != nil {
		return err
	}
	if err := e.contents(fd, path, size); err != nil {
		return err
	}
	if err := e.pad(uint64(size)); err != nil {
		return err
	}
	return e.str(")")
}

// contents reads exactly size bytes of the file fd straight into the output
// buffer.
func (e *narEncoder) contents(fd int, path string, size int64) error {
	for left := size; left > 0; {
		if err := e.room(); err != nil {
			return err
		}
		space := e.buf[len(e.buf):cap(e.buf)]
		if int64(len(space)) > left {
			space = space[:left]
		}
		n, err := readFull(fd, space)
		e.buf = e.buf[:len(e.buf)+n]
		e.size += uint64(n)
		left -= int64(n)
		if err != nil {
			return &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n < len(space) {
			return fmt.Errorf("%s: file shrank while archiving (%d of %d bytes read)", path, size-left, size)
		}
	}
	return nil
}

// readFull reads into b until it is full, EOF or an error; EINTR is retried.
func readFull(fd int, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := syscall.Read(fd, b[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

func openNoFollow(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

func fstat(fd int, st *syscall.Stat_t) error {
	for {
		err := syscall.Fstat(fd, st)
		if err != syscall.EINTR {
			return err
		}
	}
}
