// Package inputfile opens the files a user names, on the command line or
// through a bundle, and bounds what reading them can cost.
//
// Only a regular file is read (symbolic links are followed). Its type and
// size are checked with fstat on the descriptor that is then read, so there
// is no window between a check and the open. The file is opened
// non-blocking, so that opening a FIFO does not wait for a writer, and it is
// then refused like a device (such as /dev/zero), a socket or a directory.
// The one exception is /dev/null (under any name), the usual way to name an
// empty file, which is read as one.
// No more than a cap that fits the kind of file is ever read: a file larger
// than its cap at open is refused before any read, and one that grows past
// it while being read fails at the cap.
package inputfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// LimitError reports a file larger than the cap for its kind.
type LimitError struct {
	Path  string
	Size  int64 // the size at open, or -1 if the file grew past Limit while it was read
	Limit int64
}

func (e *LimitError) Error() string {
	if e.Size >= 0 {
		return fmt.Sprintf("%s: %d bytes, larger than the limit of %d bytes", e.Path, e.Size, e.Limit)
	}
	return fmt.Sprintf("%s: larger than the limit of %d bytes", e.Path, e.Limit)
}

// TypeError reports a file that is not a regular file.
type TypeError struct {
	Path string
	Mode fs.FileMode
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("%s: %s, not a regular file", e.Path, describe(e.Mode))
}

func describe(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "a special file"
}

// File is a regular file open for reading. Reading past its limit fails
// with a *LimitError.
type File struct {
	f     *os.File
	size  int64
	limit int64
	n     int64 // bytes read so far
	err   error // sticky *LimitError
}

// Open opens the regular file at path for reading, with reads capped at
// limit bytes. Errors name the file.
func Open(path string, limit int64) (*File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() && !isDevNull(fi) {
		f.Close()
		return nil, &TypeError{Path: path, Mode: fi.Mode()}
	}
	if fi.Size() > limit {
		f.Close()
		return nil, &LimitError{Path: path, Size: fi.Size(), Limit: limit}
	}
	return &File{f: f, size: fi.Size(), limit: limit}, nil
}

// Name returns the path the file was opened with.
func (f *File) Name() string { return f.f.Name() }

// Size returns the size of the file when it was opened.
func (f *File) Size() int64 { return f.size }

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// Read reads from the file. At the limit it reads one byte more to tell
// the end of the file from a file that grew, and fails in the second case.
func (f *File) Read(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.n >= f.limit {
		var b [1]byte
		n, err := f.f.Read(b[:])
		if n > 0 {
			f.err = &LimitError{Path: f.f.Name(), Size: -1, Limit: f.limit}
			return 0, f.err
		}
		return 0, err
	}
	if rest := f.limit - f.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := f.f.Read(p)
	f.n += int64(n)
	return n, err
}

// Read reads the whole regular file at path, of at most limit bytes.
func Read(path string, limit int64) ([]byte, error) {
	f, err := Open(path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// One byte more than the size, so that the end of the file is found
	// without growing the buffer.
	data := make([]byte, 0, f.size+1)
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, err // a *LimitError or an *fs.PathError: both name the file
		}
	}
}

// Append appends the contents of the regular file at path, of at most
// limit bytes, to buf; it makes the same checks as Open and Read.
//
// It uses raw system calls (open, fstat, read until the end of the file,
// close) for walks that read thousands of small files, where the extra
// system calls os.File makes per file (registering with the poller) would
// take a good part of the time.
func Append(buf []byte, path string, limit int64) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return buf, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return buf, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG && !isDevNullStat(&st) {
		return buf, &TypeError{Path: path, Mode: ModeType(uint32(st.Mode))}
	}
	if st.Size > limit {
		return buf, &LimitError{Path: path, Size: st.Size, Limit: limit}
	}
	start := len(buf)
	if want := start + int(st.Size) + 1; cap(buf) < want {
		buf = append(make([]byte, 0, max(want, 64<<10)), buf...)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		room := int64(cap(buf) - len(buf))
		if left := limit - int64(len(buf)-start); left < room {
			room = left + 1 // one byte past the limit tells a grown file
		}
		n, err := unix.Read(fd, buf[len(buf):len(buf)+int(room)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return buf[:start], &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
		if int64(len(buf)-start) > limit {
			return buf[:start], &LimitError{Path: path, Size: -1, Limit: limit}
		}
	}
}

// isDevNull reports whether fi is of the null device, which reads as an
// empty file.
func isDevNull(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && isNullDevice(uint32(st.Mode), uint64(st.Rdev))
}

func isDevNullStat(st *unix.Stat_t) bool { return isNullDevice(uint32(st.Mode), uint64(st.Rdev)) }

// isNullDevice reports whether a stat mode and device number are those of
// the null device, character device 1, 3.
func isNullDevice(mode uint32, rdev uint64) bool {
	return mode&unix.S_IFMT == unix.S_IFCHR && unix.Major(rdev) == 1 && unix.Minor(rdev) == 3
}

// ModeType returns the fs.FileMode type bits of a stat(2) mode.
func ModeType(mode uint32) fs.FileMode {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return 0
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	}
	return fs.ModeIrregular
}
