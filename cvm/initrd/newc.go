package initrd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// The encoder below is written by hand rather than taken from a cpio
// library. github.com/cavaliergopher/cpio writes rdevmajor and rdevminor as
// zero always, so it cannot write /dev/console (c 5 1), and its reader turns
// a field that is not hex into 0 instead of an error. The pkg/cpio of
// github.com/u-root/u-root would add the whole u-root module's requirement
// list to go.mod, and its reader allocates a name
// buffer of whatever size the header claims (up to 4 GiB) and rewrites the
// names it reads. The newc format is 110 bytes of ASCII hex and two paddings;
// owning those few lines keeps every byte of the output visible here.

// Mode bits of the newc c_mode field (those of Linux's st_mode).
const (
	modeType    = 0o170000
	modeSocket  = 0o140000
	modeSymlink = 0o120000
	modeRegular = 0o100000
	modeBlock   = 0o060000
	modeDir     = 0o040000
	modeChar    = 0o020000
	modeFIFO    = 0o010000
	modeSetuid  = 0o4000
	modeSetgid  = 0o2000
	modeSticky  = 0o1000
	modePerm    = 0o7777
)

const (
	newcMagic   = "070701"
	headerSize  = 110
	trailerName = "TRAILER!!!"

	// MaxNameLen is the longest path, in bytes, that the writer stores
	// and the reader accepts: Linux's PATH_MAX (4096) less the NUL that
	// ends the name in the archive. The kernel's unpacker refuses longer
	// names and symlink targets.
	MaxNameLen = 4095
	// MaxFileSize is the largest file a newc archive can hold: its size
	// field has 32 bits.
	MaxFileSize = 1<<32 - 1
)

// A Header is one entry of a newc cpio archive, as read by [Reader.Next].
type Header struct {
	Name      string // path as stored, without the terminating NUL
	Linkname  string // target of a symbolic link
	Mode      uint32 // c_mode: file type and permission bits, as in st_mode
	Ino       uint32
	UID       uint32
	GID       uint32
	NLink     uint32
	MTime     uint32 // seconds since the Unix epoch
	Size      uint32 // length of the data (of the target, for a symbolic link)
	DevMajor  uint32
	DevMinor  uint32
	RDevMajor uint32 // device number of a character or block device node
	RDevMinor uint32
}

// FileMode returns the entry's mode as an [fs.FileMode].
func (h *Header) FileMode() fs.FileMode {
	m := fs.FileMode(h.Mode & 0o777)
	switch h.Mode & modeType {
	case modeDir:
		m |= fs.ModeDir
	case modeSymlink:
		m |= fs.ModeSymlink
	case modeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case modeBlock:
		m |= fs.ModeDevice
	case modeFIFO:
		m |= fs.ModeNamedPipe
	case modeSocket:
		m |= fs.ModeSocket
	}
	if h.Mode&modeSetuid != 0 {
		m |= fs.ModeSetuid
	}
	if h.Mode&modeSetgid != 0 {
		m |= fs.ModeSetgid
	}
	if h.Mode&modeSticky != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// String formats the entry as one line of a listing, like ls -ln: mode,
// links, owner, group, size (major, minor for a device), mtime, inode and
// name, then the target of a symbolic link.
func (h *Header) String() string {
	var b strings.Builder
	b.WriteString(lsMode(h.Mode))
	fmt.Fprintf(&b, " %d %d %d ", h.NLink, h.UID, h.GID)
	if t := h.Mode & modeType; t == modeChar || t == modeBlock {
		fmt.Fprintf(&b, "%d,%d", h.RDevMajor, h.RDevMinor)
	} else {
		fmt.Fprintf(&b, "%d", h.Size)
	}
	fmt.Fprintf(&b, " %d %d %s", h.MTime, h.Ino, h.Name)
	if h.Mode&modeType == modeSymlink {
		b.WriteString(" -> ")
		b.WriteString(h.Linkname)
	}
	return b.String()
}

// lsMode formats st_mode bits as ls does ("drwxr-xr-x", "-rwsr-xr-x").
func lsMode(m uint32) string {
	var b [10]byte
	switch m & modeType {
	case modeDir:
		b[0] = 'd'
	case modeSymlink:
		b[0] = 'l'
	case modeChar:
		b[0] = 'c'
	case modeBlock:
		b[0] = 'b'
	case modeFIFO:
		b[0] = 'p'
	case modeSocket:
		b[0] = 's'
	default:
		b[0] = '-'
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if m&(1<<(8-i)) != 0 {
			b[1+i] = rwx[i]
		} else {
			b[1+i] = '-'
		}
	}
	special := func(i int, set bool, on, off byte) {
		if !set {
			return
		}
		if b[i] == '-' {
			b[i] = off
		} else {
			b[i] = on
		}
	}
	special(3, m&modeSetuid != 0, 's', 'S')
	special(6, m&modeSetgid != 0, 's', 'S')
	special(9, m&modeSticky != 0, 't', 'T')
	return string(b[:])
}

// pad4 returns how many bytes bring n to a multiple of 4.
func pad4(n int64) int64 { return -n & 3 }

var zeros [4]byte

// writeHeader writes h in the newc format, with its name and the padding
// after the name. The data, if any, and its padding are the caller's.
func writeHeader(w io.Writer, h *Header) error {
	var buf [headerSize]byte
	copy(buf[:], newcMagic)
	fields := [...]uint32{
		h.Ino, h.Mode, h.UID, h.GID, h.NLink, h.MTime, h.Size,
		h.DevMajor, h.DevMinor, h.RDevMajor, h.RDevMinor,
		uint32(len(h.Name) + 1),
		0, // c_check: zero in the newc (070701) format
	}
	const hexDigits = "0123456789abcdef"
	for i, v := range fields {
		f := buf[6+8*i : 14+8*i]
		for j := 7; j >= 0; j-- {
			f[j] = hexDigits[v&0xf]
			v >>= 4
		}
	}
	if _, err := w.Write(buf[:]); err != nil {
		return err
	}
	if _, err := io.WriteString(w, h.Name); err != nil {
		return err
	}
	_, err := w.Write(zeros[:1+pad4(headerSize+int64(len(h.Name))+1)])
	return err
}

// ErrFormat is the error that [Reader.Next] wraps when its input is not a
// well-formed newc archive.
var ErrFormat = errors.New("not a well-formed newc cpio archive")

// A Reader reads the entries of an uncompressed newc cpio archive in the
// order they are stored, up to and including its TRAILER!!! entry. It holds
// at most one name and one symbolic link target in memory; file data is
// read through [Reader.Read] or skipped.
type Reader struct {
	r      *bufio.Reader
	offset int64  // bytes consumed from r
	data   int64  // unread data bytes of the current entry
	pad    int64  // padding after the current entry's data
	done   bool   // the trailer has been read
	err    error  // sticky error
	name   []byte // scratch buffer for names and link targets
}

// NewReader returns a Reader of the newc archive in r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReader(r)}
}

// Next advances to the next entry, skipping the data of the current one.
// It returns io.EOF after the trailer, and an error wrapping [ErrFormat]
// (or io.ErrUnexpectedEOF) for malformed input, giving its byte offset.
func (r *Reader) Next() (*Header, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.done {
		return nil, io.EOF
	}
	h, err := r.next()
	if err == nil && h == nil {
		return nil, io.EOF // the trailer
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		r.err = fmt.Errorf("cpio at byte %d: %w", r.offset, err)
		return nil, r.err
	}
	return h, nil
}

// next reads the next entry; it returns nil, nil for the trailer.
func (r *Reader) next() (*Header, error) {
	if err := r.skipData(); err != nil {
		return nil, err
	}
	var buf [headerSize]byte
	if err := r.readFull(buf[:]); err != nil {
		return nil, err
	}
	if string(buf[:6]) != newcMagic {
		return nil, fmt.Errorf("%w: magic %q, want %q", ErrFormat, buf[:6], newcMagic)
	}
	var f [13]uint32
	for i := range f {
		v, ok := parseHex8(buf[6+8*i : 14+8*i])
		if !ok {
			return nil, fmt.Errorf("%w: header field %d is %q, not 8 hex digits", ErrFormat, i, buf[6+8*i:14+8*i])
		}
		f[i] = v
	}
	h := &Header{
		Ino: f[0], Mode: f[1], UID: f[2], GID: f[3], NLink: f[4], MTime: f[5], Size: f[6],
		DevMajor: f[7], DevMinor: f[8], RDevMajor: f[9], RDevMinor: f[10],
	}
	nameSize := f[11]
	if nameSize < 2 || nameSize > MaxNameLen+1 {
		return nil, fmt.Errorf("%w: name size %d, want 2 to %d", ErrFormat, nameSize, MaxNameLen+1)
	}
	name, err := r.readPadded(int64(nameSize), headerSize)
	if err != nil {
		return nil, err
	}
	if name[nameSize-1] != 0 {
		return nil, fmt.Errorf("%w: name not terminated by NUL", ErrFormat)
	}
	if i := strings.IndexByte(string(name[:nameSize-1]), 0); i >= 0 {
		return nil, fmt.Errorf("%w: NUL inside name %q", ErrFormat, name[:i])
	}
	h.Name = string(name[:nameSize-1])
	if h.Name == trailerName {
		if h.Size != 0 {
			return nil, fmt.Errorf("%w: trailer with %d bytes of data", ErrFormat, h.Size)
		}
		r.done = true
		return nil, nil
	}
	switch h.Mode & modeType {
	case modeRegular:
		r.data, r.pad = int64(h.Size), pad4(int64(h.Size))
	case modeSymlink:
		if h.Size < 1 || h.Size > MaxNameLen {
			return nil, fmt.Errorf("%w: %s: symbolic link target of %d bytes, want 1 to %d", ErrFormat, h.Name, h.Size, MaxNameLen)
		}
		target, err := r.readPadded(int64(h.Size), 0)
		if err != nil {
			return nil, err
		}
		if strings.IndexByte(string(target), 0) >= 0 {
			return nil, fmt.Errorf("%w: %s: NUL in symbolic link target", ErrFormat, h.Name)
		}
		h.Linkname = string(target)
	case modeDir, modeChar, modeBlock, modeFIFO, modeSocket:
		if h.Size != 0 {
			return nil, fmt.Errorf("%w: %s: %d bytes of data in a %s", ErrFormat, h.Name, h.Size, lsMode(h.Mode)[:1])
		}
	default:
		return nil, fmt.Errorf("%w: %s: unknown file type in mode %#o", ErrFormat, h.Name, h.Mode)
	}
	return h, nil
}

// Read reads the data of the current entry, a regular file; it returns
// io.EOF at the end of that data.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.data == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.data {
		p = p[:r.data]
	}
	n, err := r.r.Read(p)
	r.offset += int64(n)
	r.data -= int64(n)
	if err == io.EOF && r.data > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		r.err = fmt.Errorf("cpio at byte %d: %w", r.offset, err)
		return n, r.err
	}
	return n, nil
}

// readPadded reads n bytes that began at offset start mod 4 (the header's
// length, for a name) and the zero padding that follows them.
func (r *Reader) readPadded(n, start int64) ([]byte, error) {
	total := n + pad4(start+n)
	if int64(cap(r.name)) < total {
		r.name = make([]byte, total)
	}
	b := r.name[:total]
	if err := r.readFull(b); err != nil {
		return nil, err
	}
	for _, c := range b[n:] {
		if c != 0 {
			return nil, fmt.Errorf("%w: padding byte %#x is not zero", ErrFormat, c)
		}
	}
	return b[:n], nil
}

func (r *Reader) readFull(b []byte) error {
	n, err := io.ReadFull(r.r, b)
	r.offset += int64(n)
	return err
}

// skipData discards the rest of the current entry's data, then its padding
// (which must be zero).
func (r *Reader) skipData() error {
	for r.data > 0 {
		n, err := r.r.Discard(int(min(r.data, 1<<30)))
		r.offset += int64(n)
		r.data -= int64(n)
		if err != nil {
			return err
		}
	}
	var buf [3]byte
	pad := buf[:r.pad]
	r.pad = 0
	if err := r.readFull(pad); err != nil {
		return err
	}
	for _, c := range pad {
		if c != 0 {
			return fmt.Errorf("%w: padding byte %#x is not zero", ErrFormat, c)
		}
	}
	return nil
}

func parseHex8(b []byte) (uint32, bool) {
	var v uint32
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(c)
	}
	return v, true
}
