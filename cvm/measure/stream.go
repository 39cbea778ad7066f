package measure

import (
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/kettle-build/kettle/internal/inputfile"
)

// streamChunk is the read size of hashFile: large enough that the hashes
// run in long strides, small enough to stay in cache.
const streamChunk = 1 << 20

// hashFile reads an open file once, in chunks, through several hashes,
// each on its own goroutine, so that a large initrd costs neither its size
// in memory nor more than one read. what names the input in errors.
func hashFile(what string, f *inputfile.File, hs ...hash.Hash) (int64, error) {
	n, err := hashStream(f, hs...)
	if err != nil {
		return n, fmt.Errorf("reading %s: %w", what, err) // err names the file
	}
	return n, nil
}

// hashStream feeds r to every hash. A chunk is handed to all hashes at
// once and its buffer reused when they are all done with it.
func hashStream(r io.Reader, hs ...hash.Hash) (int64, error) {
	const depth = 4
	type chunk struct {
		b    []byte
		done *sync.WaitGroup
	}
	free := make(chan []byte, depth)
	for range depth {
		free <- make([]byte, streamChunk)
	}
	feeds := make([]chan chunk, len(hs))
	var workers sync.WaitGroup
	for i, h := range hs {
		feeds[i] = make(chan chunk, depth)
		workers.Add(1)
		go func() {
			defer workers.Done()
			for c := range feeds[i] {
				h.Write(c.b)
				c.done.Done()
			}
		}()
	}
	var n int64
	var rerr error
	for {
		buf := <-free
		m, err := io.ReadFull(r, buf)
		if m > 0 {
			n += int64(m)
			done := &sync.WaitGroup{}
			done.Add(len(hs))
			for _, feed := range feeds {
				feed <- chunk{buf[:m], done}
			}
			go func() { done.Wait(); free <- buf[:cap(buf)] }()
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	for _, feed := range feeds {
		close(feed)
	}
	workers.Wait()
	return n, rerr
}
