package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kettle-build/kettle/cvm/initrd"
)

func newInitrdCommand() *cobra.Command {
	var (
		output, compress, list string
		specFiles              []string
		mtime                  uint64
	)
	cmd := &cobra.Command{
		Use:   "initrd -o FILE [--compress zstd|xz|gzip|none] [--mtime N] [--spec FILE]... [SPEC]...",
		Short: "Write a reproducible initrd (sorted cpio newc, fixed metadata, pinned compression)",
		Long: `Initrd writes an initramfs whose bytes depend only on the entries it is given:
a newc cpio archive with entries sorted by path, inode numbers counted from 1,
owner 0, every mtime --mtime (0 unless given; SOURCE_DATE_EPOCH is not read),
hard links stored as separate files, setuid and setgid dropped unless a MODE
asks for them, then compressed with fixed settings on one thread.

Each SPEC argument, and each line of a --spec file (blank lines and # comments
are skipped), is one entry:

  DEST=SRC                          copy the file, symbolic link or tree at SRC
  DEST->TARGET                      a symbolic link
  copy DEST SRC                     as DEST=SRC
  file DEST SRC [MODE]              a regular file (SRC after symbolic links)
  dir DEST [MODE]                   a directory (mode 0755 by default)
  symlink DEST TARGET               as DEST->TARGET
  chardev DEST MAJOR MINOR [MODE]   a character device (mode 0600 by default)

DEST is a path in the initrd; "/=DIR" copies DIR's contents to the root. MODE
is octal. Fields cannot hold spaces. A relative SRC in a --spec file is relative
to that file's directory. Parent directories not given are created with mode 0755.

--list FILE prints the entries of an initrd (gzip, xz, zstd or uncompressed; the
first archive, if several are concatenated) in archive order: mode, links, uid,
gid, size (or major,minor), mtime, inode, name.`,
		Example: `  kettle initrd -o initrd.img /init=./kettle 'chardev /dev/console 5 1' '/bin/sh->busybox' /bin/busybox=/bin/busybox
  kettle initrd -o initrd.img --compress xz --mtime 315532800 --spec initrd.spec
  kettle initrd --list initrd.img`,
		RunE: func(cmd *cobra.Command, args []string) error {
			usage := func(err error) error { return &exitError{2, err} }
			if list != "" {
				if output != "" || len(args) > 0 || len(specFiles) > 0 {
					return usage(errors.New("--list takes no -o, --spec or SPEC"))
				}
				return listInitrd(cmd.OutOrStdout(), list)
			}
			if output == "" {
				return usage(errors.New("-o FILE is required"))
			}
			if len(args) == 0 && len(specFiles) == 0 {
				return usage(errors.New("no entries: give SPEC arguments or --spec FILE"))
			}
			comp, err := initrd.ParseCompression(compress)
			if err != nil {
				return usage(fmt.Errorf("--compress: %w", err))
			}
			if mtime > math.MaxUint32 {
				return usage(fmt.Errorf("--mtime %d: newc stores 32-bit times (at most %d)", mtime, uint32(math.MaxUint32)))
			}
			var specs []initrd.Spec
			for _, name := range specFiles {
				s, err := initrd.ReadSpecFile(name)
				if err != nil {
					return usage(fmt.Errorf("--spec: %w", err))
				}
				specs = append(specs, s...)
			}
			for _, arg := range args {
				s, err := initrd.ParseSpecLine(arg)
				if err != nil {
					return usage(fmt.Errorf("SPEC %q: %w", arg, err))
				}
				specs = append(specs, s)
			}
			var t initrd.Tree
			for _, s := range specs {
				if err := t.Add(s); err != nil {
					return err
				}
			}
			return writeInitrd(output, &t, initrd.Options{Compression: comp, MTime: uint32(mtime)})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&output, "output", "o", "", "write the initrd to FILE (replaced atomically)")
	f.StringVar(&compress, "compress", string(initrd.Zstd), "compression: zstd, xz, gzip or none")
	f.Uint64Var(&mtime, "mtime", 0, "modification time of every entry, in seconds since 1970")
	f.StringArrayVar(&specFiles, "spec", nil, "read entries from FILE, one per line (repeatable)")
	f.StringVar(&list, "list", "", "print the entries of the initrd FILE instead")
	return cmd
}

// writeInitrd writes t to a temporary file beside name and renames it.
func writeInitrd(name string, t *initrd.Tree, opt initrd.Options) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".initrd-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := t.Write(f, opt); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}

func listInitrd(w io.Writer, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", name)
	}
	rc, _, err := initrd.Decompress(f)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer rc.Close()
	r := initrd.NewReader(rc)
	for {
		h, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if _, err := fmt.Fprintln(w, h); err != nil {
			return err
		}
	}
}
