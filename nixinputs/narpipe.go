package nixinputs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// This file runs the NAR pipeline. Hashing a tree is bound by one SHA-256
// stream, which cannot be split, so the aim is that this stream never waits
// on a system call:
//
//   - the walker (narEncoder, one goroutine) lists directories, opens and
//     fstats files, and lays the NAR out into chunks: it writes the NAR's
//     tokens and reserves each file's bytes;
//   - readers (a few goroutines) fill the reserved bytes with pread and close
//     the files, several chunks at once;
//   - the consumer (the caller's goroutine) takes the chunks in NAR order,
//     waits for each to be filled, and hashes or writes it.
//
// Memory is bounded by the chunk pool: the walker blocks for a free chunk
// when all are in flight, however large the files.

const (
	// narChunkSize is the size of one chunk: large enough to keep the
	// per-chunk hand-offs rare and read(2) calls on big files long.
	narChunkSize = 1024 << 10
	// narChunks is the number of chunks one pipeline has in flight, and so
	// how far the walker and readers may run ahead of the consumer.
	narChunks = 8
	// narMaxReaders caps the reader goroutines of one pipeline.
	narMaxReaders = 4
)

// narChunk is one piece of NAR output.
type narChunk struct {
	buf   []byte        // the chunk's bytes; the regions in fills are the readers' to write
	fills []narFill     // file contents to read into buf
	err   error         // the first fill's error, set by the reader
	done  chan struct{} // receives one token once the fills are done; cap 1
}

// narFill is one region of a chunk to read from a file.
type narFill struct {
	file       *narFile
	off        int64 // offset in the file
	start, end int   // region of the chunk's buf
}

// narFile is a file open for reading, shared by the fills of its parts.
type narFile struct {
	fd        int
	size      int64
	dir, name string       // for error messages
	refs      atomic.Int32 // pending fills, plus one while the walker lays it out
}

// release drops one reference to f, closing it with the last.
func (f *narFile) release() {
	if f.refs.Add(-1) == 0 {
		unix.Close(f.fd)
	}
}

func (f *narFile) path() string {
	if f.dir == "" {
		return f.name
	}
	return filepath.Join(f.dir, f.name)
}

// fillChunk reads c's regions from their files, then signals c.done. After
// abort, it only closes the files.
func fillChunk(c *narChunk, abort *atomic.Bool) {
	for i := range c.fills {
		fl := &c.fills[i]
		if c.err == nil && !abort.Load() {
			want := fl.end - fl.start
			n, err := preadFull(fl.file.fd, c.buf[fl.start:fl.end], fl.off)
			switch {
			case err != nil:
				c.err = &fs.PathError{Op: "read", Path: fl.file.path(), Err: err}
			case n < want:
				c.err = fmt.Errorf("%s: file shrank while archiving (%d of %d bytes read)", fl.file.path(), fl.off+int64(n), fl.file.size)
			}
		}
		fl.file.release()
		fl.file = nil
	}
	c.done <- struct{}{}
}

// preadFull reads into b from offset off until b is full, EOF or an error;
// EINTR is retried.
func preadFull(fd int, b []byte, off int64) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Pread(fd, b[n:], off+int64(n))
		if err == unix.EINTR {
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

// errPipelineStopped stops the walker once the consumer has failed.
var errPipelineStopped = errors.New("NAR pipeline stopped")

// narPool holds one pipeline's chunks, reused from one path to the next. It
// is not safe for concurrent use.
type narPool struct {
	free      chan *narChunk // chunks ready for reuse; cap narChunks
	allocated int            // chunks created so far, at most narChunks
}

func newNarPool() *narPool {
	return &narPool{free: make(chan *narChunk, narChunks)}
}

// get returns an empty chunk, waiting for one to come back from the
// consumer when all are in flight.
func (p *narPool) get() *narChunk {
	var c *narChunk
	select {
	case c = <-p.free:
	default:
		if p.allocated < narChunks {
			p.allocated++
			return &narChunk{buf: make([]byte, 0, narChunkSize), done: make(chan struct{}, 1)}
		}
		c = <-p.free
	}
	c.buf, c.fills, c.err = c.buf[:0], c.fills[:0], nil
	return c
}

// run serialises path as a NAR and calls consume with its bytes, in order,
// on the calling goroutine. It returns the NAR's size.
func (p *narPool) run(ctx context.Context, path string, consume func([]byte) error) (uint64, error) {
	readers := min(runtime.GOMAXPROCS(0), narMaxReaders)
	var (
		abort      atomic.Bool
		toReaders  = make(chan *narChunk, narChunks)
		toConsumer = make(chan *narChunk, narChunks)
		walkErr    error  // set before toConsumer is closed
		size       uint64 // likewise
	)
	for range readers {
		go func() {
			for c := range toReaders {
				fillChunk(c, &abort)
			}
		}()
	}
	send := func(c *narChunk) {
		if len(c.fills) == 0 {
			c.done <- struct{}{}
		} else {
			toReaders <- c
		}
		toConsumer <- c // never blocks: at most narChunks chunks exist
	}
	go func() {
		enc := &narEncoder{ctx: ctx, cur: p.get()}
		enc.buf = enc.cur.buf
		enc.next = func(c *narChunk) (*narChunk, error) {
			send(c)
			if abort.Load() {
				return nil, errPipelineStopped
			}
			return p.get(), nil
		}
		walkErr = enc.dump(path)
		if enc.cur != nil {
			enc.cur.buf = enc.buf
			send(enc.cur)
		}
		size = enc.size
		close(toReaders)
		close(toConsumer)
	}()

	var err error
	for c := range toConsumer {
		<-c.done
		if err == nil {
			if c.err != nil {
				err = c.err
			} else {
				err = consume(c.buf)
			}
			if err != nil {
				abort.Store(true)
			}
		}
		p.free <- c // never blocks: cap(free) == narChunks
	}
	// An error of the walker's comes after all the bytes it laid out, so a
	// reader's or the consumer's error, earlier in the NAR, takes precedence.
	if err == nil {
		err = walkErr
	}
	if err != nil {
		return 0, err
	}
	return size, nil
}
