package rebuild

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/nix-community/go-nix/pkg/nar"

	"github.com/kettle-build/kettle/nixinputs"
)

// listedEntry is one entry of a listing: its path (relative, "." for the
// root) and what the NAR records of it.
type listedEntry struct {
	path string
	Entry
}

// listNAR lists the entries of the NAR in r, in NAR order, with the
// SHA-256 of every regular file. With whole, it also returns the SHA-256
// of the whole NAR: the listing describes the tree of that NAR hash.
func listNAR(r io.Reader, whole bool) ([]listedEntry, [32]byte, error) {
	var sum [32]byte
	var list []listedEntry
	wh := sha256.New()
	if whole {
		r = io.TeeReader(r, wh)
	}
	h := sha256.New()
	buf := make([]byte, 1<<16)
	// go-nix reads 8 bytes at a time.
	err := walkNAR(bufio.NewReaderSize(r, 1<<16), func(name string, hdr *nar.Header, body io.Reader) error {
		e := listedEntry{path: name, Entry: Entry{Type: string(hdr.Type)}}
		switch hdr.Type {
		case nar.TypeRegular:
			h.Reset()
			n, err := io.CopyBuffer(h, body, buf)
			if err != nil {
				return fmt.Errorf("reading %s in the NAR: %w", name, err)
			}
			if n != hdr.Size {
				return fmt.Errorf("%s in the NAR: %d bytes read, its header says %d", name, n, hdr.Size)
			}
			e.Size, e.Executable, e.SHA256 = hdr.Size, hdr.Executable, hex.EncodeToString(h.Sum(nil))
		case nar.TypeSymlink:
			e.Target = hdr.LinkTarget
		}
		list = append(list, e)
		return nil
	})
	if err != nil {
		return nil, sum, err
	}
	if whole {
		copy(sum[:], wh.Sum(nil))
	}
	return list, sum, nil
}

// listTree lists the file, directory or symlink at p from its NAR
// serialisation, as Kettle's own serialiser writes it; with whole, it
// also returns the NAR's SHA-256.
func listTree(ctx context.Context, p string, whole bool) ([]listedEntry, [32]byte, error) {
	pr, pw := io.Pipe()
	go func() {
		// The serialiser writes a token at a time; through a pipe each
		// write would wait for the reader.
		bw := bufio.NewWriterSize(pw, 1<<16)
		err := nixinputs.WriteNAR(bw, p)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	stop := context.AfterFunc(ctx, func() { pr.CloseWithError(ctx.Err()) })
	defer stop()
	list, sum, err := listNAR(pr, whole)
	// Unblock the serialiser if listing stopped early.
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return nil, sum, fmt.Errorf("listing %s: %w", p, err)
	}
	return list, sum, nil
}

// diffListings compares two listings in NAR order and returns the first max
// entries that differ and how many differ in all. Directories compare
// equal to directories; a regular file by size, executable bit and SHA-256;
// a symbolic link by target; entries of different types or present on one
// side only differ.
func diffListings(attested, local []listedEntry, max int) ([]FileDiff, int) {
	var diffs []FileDiff
	count := 0
	add := func(d FileDiff) {
		count++
		if len(diffs) < max {
			diffs = append(diffs, d)
		}
	}
	i, j := 0, 0
	for i < len(attested) || j < len(local) {
		var c int
		switch {
		case i == len(attested):
			c = 1
		case j == len(local):
			c = -1
		default:
			c = narCompare(attested[i].path, local[j].path)
		}
		switch {
		case c < 0:
			add(FileDiff{Path: attested[i].path, Attested: entryRef(attested[i].Entry)})
			i++
		case c > 0:
			add(FileDiff{Path: local[j].path, Local: entryRef(local[j].Entry)})
			j++
		default:
			if attested[i].Entry != local[j].Entry {
				add(FileDiff{Path: attested[i].path, Attested: entryRef(attested[i].Entry), Local: entryRef(local[j].Entry)})
			}
			i++
			j++
		}
	}
	return diffs, count
}

func entryRef(e Entry) *Entry { return &e }
