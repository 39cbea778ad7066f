// Package initrd writes reproducible Linux initramfs images: a cpio
// archive in the newc format, compressed with pinned settings, whose bytes
// depend only on the entries added to a [Tree] and on the [Options] given
// to [Tree.Write] — not on the order of the calls, nor on the mtimes,
// owners, inode numbers or device of the files copied in.
//
// The archive that [Tree.Write] produces follows these rules:
//
//   - Entries are sorted bytewise by path, so that every directory comes
//     before what it holds. Paths are stored without a leading slash
//     ("dev/console"), as Linux's gen_init_cpio stores them; the root
//     directory itself has no entry.
//   - Every directory that holds an entry is in the archive: those not
//     added have mode 0755.
//   - Inode numbers count from 1 in archive order. Every regular file has
//     its own inode and a link count of 1: hard links in a copied tree are
//     stored as separate files, since the kernel's unpacker would link
//     entries with equal inode numbers and a link count above 1, and
//     deciding which to link would make the archive depend on the
//     source's inode numbers. A directory's link count is 2 plus the
//     number of directories in it; other entries have 1.
//   - The owner and group are 0, the mtime is Options.MTime for every
//     entry, c_devmajor and c_devminor are 0, and c_rdevmajor and
//     c_rdevminor are set only for device nodes added with
//     [Tree.AddCharDev].
//   - A file keeps its permission bits (and the sticky bit); setuid and
//     setgid are dropped from copied trees and kept only when asked for
//     explicitly in a mode given to [Tree.AddFile], [Tree.AddBytes] or
//     [Tree.AddDir]. Symbolic links have mode 0777 and their target as
//     read, unchanged.
//   - Names and headers are padded to 4 bytes with zeros, as are file
//     data; the archive ends with the TRAILER!!! entry (link count 1,
//     everything else 0) and is not padded further.
//
// A [Reader] reads such archives back, and [Decompress] undoes any of the
// [Compression] formats, for listing and checking an initrd.
package initrd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// A Tree is the set of entries of an initrd, keyed by path. The zero value
// is an empty Tree ready to use. A Tree records where each file's contents
// are on the host when the file is added, and reads them in [Tree.Write].
type Tree struct {
	entries map[string]*entry
}

type entry struct {
	mode     uint32 // st_mode: type and permission bits
	src      string // regular file: host path of the contents, or ""
	data     []byte // regular file: the contents, when src is ""
	size     int64  // regular file: length of the contents
	target   string // symbolic link
	rdev     [2]uint32
	implicit bool // a directory created as the parent of another entry
}

func (e *entry) isDir() bool { return e.mode&modeType == modeDir }

// Options are the parameters of [Tree.Write].
type Options struct {
	Compression Compression
	// MTime is the modification time of every entry, in seconds since
	// the Unix epoch (a SOURCE_DATE_EPOCH); 0 by default.
	MTime uint32
}

// cleanName returns name as stored in the archive: without its leading
// slash, and checked to be a clean, relative slash-separated path
// ([fs.ValidPath]) that fits in the archive.
func cleanName(name string) (string, error) {
	n := strings.TrimPrefix(name, "/")
	switch {
	case n == "" || n == ".":
		return "", fmt.Errorf("the root directory cannot be an entry")
	case !fs.ValidPath(n):
		return "", fmt.Errorf("%q is not a clean path (no empty, . or .. elements, no trailing slash)", name)
	case strings.IndexByte(n, 0) >= 0:
		return "", fmt.Errorf("%q contains NUL", name)
	case len(n) > MaxNameLen:
		return "", fmt.Errorf("%.40q...: path of %d bytes, longer than %d", name, len(n), MaxNameLen)
	case n == trailerName:
		return "", fmt.Errorf("%q is the name of the archive's end marker", name)
	}
	return n, nil
}

// permBits converts the permission bits of perm (with setuid, setgid and
// sticky) to st_mode bits, refusing any other bit.
func permBits(perm fs.FileMode) (uint32, error) {
	if extra := perm &^ (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky); extra != 0 {
		return 0, fmt.Errorf("mode %v has bits other than permissions, setuid, setgid and sticky (fs.ModeSetuid, fs.ModeSetgid, fs.ModeSticky; not 0o7000)", perm)
	}
	m := uint32(perm & fs.ModePerm)
	if perm&fs.ModeSetuid != 0 {
		m |= modeSetuid
	}
	if perm&fs.ModeSetgid != 0 {
		m |= modeSetgid
	}
	if perm&fs.ModeSticky != 0 {
		m |= modeSticky
	}
	return m, nil
}

// add adds e at the clean path name, creating its missing parents.
func (t *Tree) add(name string, e *entry) error {
	if t.entries == nil {
		t.entries = make(map[string]*entry)
	}
	if old, ok := t.entries[name]; ok {
		switch {
		case old.isDir() && e.isDir() && (old.implicit || e.implicit || old.mode == e.mode):
			if old.implicit {
				t.entries[name] = e
			}
			return nil
		case old.isDir() && e.isDir():
			return fmt.Errorf("initrd: %s: directory added with mode %s and %s", name, lsMode(old.mode), lsMode(e.mode))
		}
		return fmt.Errorf("initrd: %s: added twice", name)
	}
	for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
		if p, ok := t.entries[dir]; ok {
			if !p.isDir() {
				return fmt.Errorf("initrd: %s: parent %s is not a directory", name, dir)
			}
			break // its parents are there already
		}
	}
	for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
		if _, ok := t.entries[dir]; ok {
			break
		}
		t.entries[dir] = &entry{mode: modeDir | 0o755, implicit: true}
	}
	t.entries[name] = e
	return nil
}

// AddDir adds a directory. Adding a directory that is already there with
// the same mode, or only as the parent of other entries, is not an error.
func (t *Tree) AddDir(name string, perm fs.FileMode) error {
	n, err := cleanName(name)
	if err != nil {
		return fmt.Errorf("initrd: %w", err)
	}
	m, err := permBits(perm)
	if err != nil {
		return fmt.Errorf("initrd: %s: %w", n, err)
	}
	return t.add(n, &entry{mode: modeDir | m})
}

// AddFile adds a regular file with permission bits perm whose contents are
// those of the host file src (after symbolic links) when [Tree.Write] runs.
func (t *Tree) AddFile(name, src string, perm fs.FileMode) error {
	n, err := cleanName(name)
	if err != nil {
		return fmt.Errorf("initrd: %w", err)
	}
	m, err := permBits(perm)
	if err != nil {
		return fmt.Errorf("initrd: %s: %w", n, err)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("initrd: %s: %w", n, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("initrd: %s: %s is not a regular file (%v)", n, src, fi.Mode().Type())
	}
	if fi.Size() > MaxFileSize {
		return fmt.Errorf("initrd: %s: %s has %d bytes, more than a newc archive holds (%d)", n, src, fi.Size(), int64(MaxFileSize))
	}
	return t.add(n, &entry{mode: modeRegular | m, src: src, size: fi.Size()})
}

// AddBytes adds a regular file with permission bits perm and contents data.
// The Tree keeps data; the caller must not change it afterwards.
func (t *Tree) AddBytes(name string, data []byte, perm fs.FileMode) error {
	n, err := cleanName(name)
	if err != nil {
		return fmt.Errorf("initrd: %w", err)
	}
	m, err := permBits(perm)
	if err != nil {
		return fmt.Errorf("initrd: %s: %w", n, err)
	}
	if int64(len(data)) > MaxFileSize {
		return fmt.Errorf("initrd: %s: %d bytes, more than a newc archive holds", n, len(data))
	}
	return t.add(n, &entry{mode: modeRegular | m, data: data, size: int64(len(data))})
}

// AddSymlink adds a symbolic link to target, which is stored as given.
func (t *Tree) AddSymlink(name, target string) error {
	n, err := cleanName(name)
	if err != nil {
		return fmt.Errorf("initrd: %w", err)
	}
	if err := checkTarget(target); err != nil {
		return fmt.Errorf("initrd: %s: %w", n, err)
	}
	return t.add(n, &entry{mode: modeSymlink | 0o777, target: target})
}

func checkTarget(target string) error {
	switch {
	case target == "":
		return errors.New("empty symbolic link target")
	case len(target) > MaxNameLen:
		return fmt.Errorf("symbolic link target of %d bytes, longer than %d", len(target), MaxNameLen)
	case strings.IndexByte(target, 0) >= 0:
		return errors.New("NUL in symbolic link target")
	}
	return nil
}

// AddCharDev adds a character device node, such as dev/console (5, 1),
// which the kernel opens for init's standard streams.
func (t *Tree) AddCharDev(name string, perm fs.FileMode, major, minor uint32) error {
	n, err := cleanName(name)
	if err != nil {
		return fmt.Errorf("initrd: %w", err)
	}
	m, err := permBits(perm)
	if err != nil {
		return fmt.Errorf("initrd: %s: %w", n, err)
	}
	if major > MaxMajor || minor > MaxMinor {
		return fmt.Errorf("initrd: %s: device number %d,%d out of range (at most %d,%d)", n, major, minor, MaxMajor, MaxMinor)
	}
	return t.add(n, &entry{mode: modeChar | m, rdev: [2]uint32{major, minor}})
}

// AddTree adds the host file, symbolic link or directory tree at src under
// name; name "/" puts the contents of a directory src at the root. Regular
// files and directories keep their permission bits less setuid and setgid,
// symbolic links (src itself included) are stored as links, and any other
// kind of file is an error. Files are read in [Tree.Write]; the sizes
// recorded now are checked then.
func (t *Tree) AddTree(name, src string) error {
	root := name == "/" || name == ""
	var n string
	if !root {
		var err error
		if n, err = cleanName(name); err != nil {
			return fmt.Errorf("initrd: %w", err)
		}
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("initrd: %w", err)
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return fmt.Errorf("initrd: %w", err)
		}
		var dest string
		switch {
		case rel == "." && root:
			if !d.IsDir() {
				return fmt.Errorf("initrd: %s is not a directory, to be copied to /", src)
			}
			return nil
		case rel == ".":
			dest = n
		case root:
			dest = filepath.ToSlash(rel)
		default:
			dest = n + "/" + filepath.ToSlash(rel)
		}
		if len(dest) > MaxNameLen {
			return fmt.Errorf("initrd: %s: path of %d bytes in the archive, longer than %d", p, len(dest), MaxNameLen)
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("initrd: %w", err)
		}
		perm := uint32(fi.Mode().Perm())
		if fi.Mode()&fs.ModeSticky != 0 {
			perm |= modeSticky
		}
		var e *entry
		switch fi.Mode().Type() {
		case fs.ModeDir:
			e = &entry{mode: modeDir | perm}
		case 0:
			if fi.Size() > MaxFileSize {
				return fmt.Errorf("initrd: %s has %d bytes, more than a newc archive holds (%d)", p, fi.Size(), int64(MaxFileSize))
			}
			e = &entry{mode: modeRegular | perm, src: p, size: fi.Size()}
		case fs.ModeSymlink:
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("initrd: %w", err)
			}
			if err := checkTarget(target); err != nil {
				return fmt.Errorf("initrd: %s: %w", p, err)
			}
			e = &entry{mode: modeSymlink | 0o777, target: target}
		default:
			return fmt.Errorf("initrd: %s: cannot copy a %v", p, fi.Mode().Type())
		}
		return t.add(dest, e)
	})
}

// Write writes the archive of t to w, compressed as opt says.
func (t *Tree) Write(w io.Writer, opt Options) error {
	cw, err := newCompressor(w, opt.Compression)
	if err != nil {
		return fmt.Errorf("initrd: %w", err)
	}
	bw := bufio.NewWriterSize(cw, 256<<10)
	if err := t.writeCPIO(bw, opt.MTime); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("initrd: %w", err)
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("initrd: %s: %w", opt.Compression, err)
	}
	return nil
}

func (t *Tree) writeCPIO(w io.Writer, mtime uint32) error {
	names := make([]string, 0, len(t.entries))
	nlink := make(map[string]uint32)
	for name, e := range t.entries {
		names = append(names, name)
		if e.isDir() {
			nlink[name] += 2
			if dir := path.Dir(name); dir != "." {
				nlink[dir]++
			}
		}
	}
	slices.Sort(names)
	var ino uint32
	for _, name := range names {
		e := t.entries[name]
		ino++
		h := Header{Name: name, Ino: ino, Mode: e.mode, NLink: 1, MTime: mtime}
		switch e.mode & modeType {
		case modeDir:
			h.NLink = nlink[name]
		case modeRegular:
			h.Size = uint32(e.size)
		case modeSymlink:
			h.Size = uint32(len(e.target))
		case modeChar:
			h.RDevMajor, h.RDevMinor = e.rdev[0], e.rdev[1]
		}
		if err := writeHeader(w, &h); err != nil {
			return fmt.Errorf("initrd: %w", err)
		}
		var err error
		switch {
		case e.mode&modeType == modeSymlink:
			_, err = io.WriteString(w, e.target)
		case e.src != "":
			err = copyFile(w, e.src, e.size)
		default:
			_, err = w.Write(e.data)
		}
		if err != nil {
			return fmt.Errorf("initrd: %s: %w", name, err)
		}
		if _, err := w.Write(zeros[:pad4(int64(h.Size))]); err != nil {
			return fmt.Errorf("initrd: %w", err)
		}
	}
	if err := writeHeader(w, &Header{Name: trailerName, NLink: 1}); err != nil {
		return fmt.Errorf("initrd: %w", err)
	}
	return nil
}

// copyFile copies the host file src to w, checking that it is still a
// regular file of size bytes.
func copyFile(w io.Writer, src string, size int64) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Size() != size {
		return fmt.Errorf("%s changed since it was added (now %v, %d bytes; was a regular file of %d)", src, fi.Mode().Type(), fi.Size(), size)
	}
	n, err := io.Copy(w, io.LimitReader(f, size))
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%s: shrank while read (%d bytes of %d)", src, n, size)
	}
	if m, _ := f.Read(make([]byte, 1)); m != 0 {
		return fmt.Errorf("%s: grew while read (more than %d bytes)", src, size)
	}
	return nil
}
