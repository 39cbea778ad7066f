package initrd

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A SpecKind is the kind of a [Spec] entry.
type SpecKind string

// The kinds of [Spec] entries, and the keywords that start their lines.
const (
	SpecCopy    SpecKind = "copy"    // copy DEST SRC, or DEST=SRC: [Tree.AddTree]
	SpecFile    SpecKind = "file"    // file DEST SRC [MODE]: [Tree.AddFile]
	SpecDir     SpecKind = "dir"     // dir DEST [MODE]: [Tree.AddDir]
	SpecSymlink SpecKind = "symlink" // symlink DEST TARGET, or DEST->TARGET: [Tree.AddSymlink]
	SpecCharDev SpecKind = "chardev" // chardev DEST MAJOR MINOR [MODE]: [Tree.AddCharDev]
)

// Limits of a specification and of device numbers.
const (
	// MaxSpecSize is the largest specification that [ReadSpecFile] reads.
	MaxSpecSize = 16 << 20
	// MaxMajor and MaxMinor are the largest device numbers Linux has
	// (12 and 20 bits).
	MaxMajor = 1<<12 - 1
	MaxMinor = 1<<20 - 1
)

// A Spec is one entry of an initrd specification, as [ParseSpecLine]
// reads it from one line.
type Spec struct {
	Kind    SpecKind
	Name    string      // path in the initrd; "/" for a copy to the root
	Source  string      // copy, file: host path
	Target  string      // symlink
	Mode    fs.FileMode // dir, file, chardev: permission bits, if HasMode
	HasMode bool
	Major   uint32 // chardev
	Minor   uint32
}

// ParseSpecLine parses one entry of a specification. A line is either one
// word, DEST=SRC (copy) or DEST->TARGET (symlink; "->" is looked for
// before "="), or a keyword and its fields separated by spaces or tabs:
//
//	copy    DEST SRC              the file, symbolic link or tree at SRC
//	file    DEST SRC [MODE]       a regular file (after symbolic links)
//	dir     DEST [MODE]           a directory (default mode 0755)
//	symlink DEST TARGET           a symbolic link
//	chardev DEST MAJOR MINOR [MODE]  a character device (default mode 0600)
//
// MODE is octal, up to 07777; a file or directory keeps setuid and setgid
// only when MODE has them. A file without MODE has the permission bits of
// SRC less setuid and setgid. DEST is an absolute or relative path in the
// initrd (stored without its leading slash). No field can hold spaces,
// tabs or NUL.
func ParseSpecLine(line string) (Spec, error) {
	if strings.IndexByte(line, 0) >= 0 {
		return Spec{}, fmt.Errorf("NUL in line")
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return Spec{}, fmt.Errorf("empty entry")
	}
	var s Spec
	if len(f) == 1 {
		if dest, target, ok := strings.Cut(f[0], "->"); ok {
			s = Spec{Kind: SpecSymlink, Name: dest, Target: target}
		} else if dest, src, ok := strings.Cut(f[0], "="); ok {
			s = Spec{Kind: SpecCopy, Name: dest, Source: src}
		} else {
			return Spec{}, fmt.Errorf("%q: want DEST=SRC, DEST->TARGET or a keyword (copy, file, dir, symlink, chardev) and its fields", f[0])
		}
	} else {
		s.Kind = SpecKind(f[0])
		args := f[1:]
		want := func(lo, hi int, usage string) error {
			if len(args) < lo || len(args) > hi {
				return fmt.Errorf("%s: %d fields, want %s %s", s.Kind, len(args), s.Kind, usage)
			}
			return nil
		}
		var err error
		switch s.Kind {
		case SpecCopy:
			err = want(2, 2, "DEST SRC")
		case SpecFile:
			err = want(2, 3, "DEST SRC [MODE]")
		case SpecDir:
			err = want(1, 2, "DEST [MODE]")
		case SpecSymlink:
			err = want(2, 2, "DEST TARGET")
		case SpecCharDev:
			err = want(3, 4, "DEST MAJOR MINOR [MODE]")
		default:
			return Spec{}, fmt.Errorf("unknown keyword %q (want copy, file, dir, symlink or chardev)", f[0])
		}
		if err != nil {
			return Spec{}, err
		}
		s.Name = args[0]
		var mode string
		switch s.Kind {
		case SpecCopy:
			s.Source = args[1]
		case SpecFile:
			s.Source = args[1]
			if len(args) == 3 {
				mode = args[2]
			}
		case SpecDir:
			if len(args) == 2 {
				mode = args[1]
			}
		case SpecSymlink:
			s.Target = args[1]
		case SpecCharDev:
			if s.Major, err = parseDevNum("major", args[1], MaxMajor); err != nil {
				return Spec{}, err
			}
			if s.Minor, err = parseDevNum("minor", args[2], MaxMinor); err != nil {
				return Spec{}, err
			}
			if len(args) == 4 {
				mode = args[3]
			}
		}
		if mode != "" {
			if s.Mode, err = parseMode(mode); err != nil {
				return Spec{}, err
			}
			s.HasMode = true
		}
	}
	if s.Kind == SpecCopy && (s.Name == "/" || s.Name == "") {
		s.Name = "/"
	} else if _, err := cleanName(s.Name); err != nil {
		return Spec{}, fmt.Errorf("%s DEST: %w", s.Kind, err)
	}
	switch s.Kind {
	case SpecCopy, SpecFile:
		if s.Source == "" {
			return Spec{}, fmt.Errorf("%s %s: empty SRC", s.Kind, s.Name)
		}
	case SpecSymlink:
		if err := checkTarget(s.Target); err != nil {
			return Spec{}, fmt.Errorf("symlink %s: %w", s.Name, err)
		}
	}
	return s, nil
}

func parseMode(s string) (fs.FileMode, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > modePerm {
		return 0, fmt.Errorf("mode %q: want octal digits, at most 07777", s)
	}
	m := fs.FileMode(v & 0o777)
	if v&modeSetuid != 0 {
		m |= fs.ModeSetuid
	}
	if v&modeSetgid != 0 {
		m |= fs.ModeSetgid
	}
	if v&modeSticky != 0 {
		m |= fs.ModeSticky
	}
	return m, nil
}

func parseDevNum(what, s string, max uint32) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || v > uint64(max) {
		return 0, fmt.Errorf("device %s %q: want a decimal number up to %d", what, s, max)
	}
	return uint32(v), nil
}

// ParseSpec parses a specification: one [ParseSpecLine] entry per line,
// ignoring blank lines and lines whose first non-blank character is #.
// Errors name the line by number.
func ParseSpec(r io.Reader) ([]Spec, error) {
	var specs []Spec
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, MaxSpecSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := ParseSpecLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		specs = append(specs, s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return specs, nil
}

// ReadSpecFile parses the specification in the file name, a regular file
// (after symbolic links) of at most [MaxSpecSize] bytes. Relative SRC paths
// in it are made relative to the directory that holds it.
func ReadSpecFile(name string) ([]Spec, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSpecSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSpecSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, MaxSpecSize)
	}
	specs, err := ParseSpec(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	dir := filepath.Dir(name)
	for i := range specs {
		if src := specs[i].Source; src != "" && !filepath.IsAbs(src) {
			specs[i].Source = filepath.Join(dir, src)
		}
	}
	return specs, nil
}

// Add adds the entry s describes.
func (t *Tree) Add(s Spec) error {
	switch s.Kind {
	case SpecCopy:
		return t.AddTree(s.Name, s.Source)
	case SpecFile:
		mode := s.Mode
		if !s.HasMode {
			fi, err := os.Stat(s.Source)
			if err != nil {
				return fmt.Errorf("initrd: %s: %w", s.Name, err)
			}
			mode = fi.Mode() & (fs.ModePerm | fs.ModeSticky)
		}
		return t.AddFile(s.Name, s.Source, mode)
	case SpecDir:
		mode := s.Mode
		if !s.HasMode {
			mode = 0o755
		}
		return t.AddDir(s.Name, mode)
	case SpecSymlink:
		return t.AddSymlink(s.Name, s.Target)
	case SpecCharDev:
		mode := s.Mode
		if !s.HasMode {
			mode = 0o600
		}
		return t.AddCharDev(s.Name, mode, s.Major, s.Minor)
	}
	return fmt.Errorf("initrd: %s: unknown kind of entry %q", s.Name, s.Kind)
}

// String formats s as a keyword line that [ParseSpecLine] reads back as s.
func (s Spec) String() string {
	f := []string{string(s.Kind), s.Name}
	switch s.Kind {
	case SpecCopy, SpecFile:
		f = append(f, s.Source)
	case SpecSymlink:
		f = append(f, s.Target)
	case SpecCharDev:
		f = append(f, strconv.FormatUint(uint64(s.Major), 10), strconv.FormatUint(uint64(s.Minor), 10))
	}
	if s.HasMode && (s.Kind == SpecFile || s.Kind == SpecDir || s.Kind == SpecCharDev) {
		m, _ := permBits(s.Mode)
		f = append(f, fmt.Sprintf("%04o", m))
	}
	return strings.Join(f, " ")
}
