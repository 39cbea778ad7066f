package nixinputs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// This file runs the NAR pipeline. Hashing a tree is bound by one SHA-256
// stream, which cannot be split, so the aim is that this stream never waits
// on a system call and that nothing else competes for its core:
//
//   - the producer (narEncoder, one goroutine) lists directories, opens and
//     fstats files and lays the NAR out into chunks: it writes the NAR's
//     tokens and reserves each file's bytes; it then hands the chunk over
//     and fills the reserved bytes itself, with pread straight into the
//     chunk, before laying out the next;
//   - the consumer (the caller's goroutine) takes the chunks in NAR order and
//     hashes or writes each one. When it reaches a chunk that is not filled
//     yet, it reads the chunk's remaining files itself rather than wait: in
//     a run of small files the system calls, not the hash, are the limit.
//
// One producer rather than several readers: with a busy consumer, a second
// busy goroutine per pipeline only takes time from the consumer's core. The
// producer runs ahead of the consumer by up to narChunks chunks, which
// absorbs runs of small files, and memory is bounded by the chunk pool
// however large the files are.

const (
	// narChunkSize is the size of one chunk: large enough to keep the
	// per-chunk hand-offs rare and read(2) calls on big files long.
	narChunkSize = 1024 << 10
	// narChunks is the number of chunks one pipeline has in flight, and so
	// how far the producer may run ahead of the consumer.
	narChunks = 48
)

// narChunk is one piece of NAR output.
type narChunk struct {
	buf   []byte    // the chunk's bytes; the regions in fills are the fillers' to write
	fills []narFill // file contents to read into buf
	// claimed counts the fills taken by a filler so far, and left those not
	// yet read: fills are claimed one at a time, so that the producer and
	// the consumer can fill one chunk together.
	claimed, left atomic.Int32
	done          chan struct{} // receives one token once left reaches 0; cap 1
}

// narFill is one region of a chunk to read from a file.
type narFill struct {
	file       *narFile
	off        int64 // offset in the file
	start, end int   // region of the chunk's buf
	err        error // set by the filler that claimed it
}

// narFile is a file open for reading, shared by the fills of its parts.
type narFile struct {
	fd        int
	size      int64
	dir, name string       // for error messages
	refs      atomic.Int32 // pending fills, plus one while the producer lays it out
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

// publish readies c to be filled and signals c.done at once when there is
// nothing to fill.
func (c *narChunk) publish() {
	c.claimed.Store(0)
	c.left.Store(int32(len(c.fills)))
	if len(c.fills) == 0 {
		c.done <- struct{}{}
	}
}

// fill claims c's fills one by one and reads them, until none is left to
// claim; whichever filler finishes the last fill signals c.done. After
// abort, it only closes the files.
func (c *narChunk) fill(abort *atomic.Bool) {
	for {
		i := int(c.claimed.Add(1)) - 1
		if i >= len(c.fills) {
			return
		}
		fl := &c.fills[i]
		if !abort.Load() {
			fl.err = fl.read(c.buf[fl.start:fl.end])
		}
		fl.file.release()
		fl.file = nil
		if c.left.Add(-1) == 0 {
			c.done <- struct{}{}
		}
	}
}

// err returns the first error of c's fills, in NAR order.
func (c *narChunk) err() error {
	for i := range c.fills {
		if err := c.fills[i].err; err != nil {
			return err
		}
	}
	return nil
}

// read fills b with the file's bytes from fl.off.
func (fl *narFill) read(b []byte) error {
	n, err := preadFull(fl.file.fd, b, fl.off)
	switch {
	case err != nil:
		return &fs.PathError{Op: "read", Path: fl.file.path(), Err: err}
	case n < len(b):
		return fmt.Errorf("%s: file shrank while archiving (%d of %d bytes read)", fl.file.path(), fl.off+int64(n), fl.file.size)
	}
	return nil
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

// errPipelineStopped stops the producer once the consumer has failed.
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
	c.buf, c.fills = c.buf[:0], c.fills[:0]
	return c
}

// run serialises path as a NAR and calls consume with its bytes, in order,
// on the calling goroutine. It returns the NAR's size. The producer
// goroutine has returned when run does.
func (p *narPool) run(ctx context.Context, path string, consume func([]byte) error) (uint64, error) {
	var (
		abort      atomic.Bool
		toConsumer = make(chan *narChunk, narChunks)
		stopped    = make(chan struct{})
		walkErr    error  // set before toConsumer is closed
		size       uint64 // likewise
	)
	go func() {
		defer close(stopped)
		enc := &narEncoder{ctx: ctx, cur: p.get()}
		enc.buf = enc.cur.buf
		enc.next = func(c *narChunk) (*narChunk, error) {
			c.publish()
			toConsumer <- c // never blocks: at most narChunks chunks exist
			c.fill(&abort)
			if abort.Load() {
				return nil, errPipelineStopped
			}
			return p.get(), nil
		}
		walkErr = enc.dump(path)
		if c := enc.cur; c != nil {
			c.buf = enc.buf
			c.publish()
			toConsumer <- c
			c.fill(&abort)
		}
		size = enc.size
		close(toConsumer)
	}()

	var err error
	for c := range toConsumer {
		c.fill(&abort) // whatever the producer has not claimed yet
		<-c.done
		if err == nil {
			if err = c.err(); err == nil {
				err = consume(c.buf)
			}
			if err != nil {
				abort.Store(true)
			}
		}
		p.free <- c // never blocks: cap(free) == narChunks
	}
	<-stopped
	// An error of the producer's comes after all the bytes it laid out, so a
	// read error or the consumer's, earlier in the NAR, takes precedence.
	if err == nil {
		err = walkErr
	}
	if err != nil {
		return 0, err
	}
	return size, nil
}
