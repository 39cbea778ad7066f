package provenance

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// zstdMagic opens a zstd frame; skippable frames open with 0x184D2A5?
// (RFC 8878, section 3.1).
const (
	zstdMagic          = 0xFD2FB528
	zstdSkippableMagic = 0x184D2A50 // the low 4 bits are the user's
	zstdMaxBlockSize   = 128 << 10  // Block_Maximum_Size
)

// zstdFrameReader passes through exactly one zstd frame and then reports
// io.EOF, once it has checked that nothing follows the frame. It follows
// the frame's structure (RFC 8878, section 3.1.1: the frame header, the
// block headers, the checksum) without decoding it, so that the decoder
// behind it sees one frame and nothing else: a skippable frame, a second
// frame or any other data after the first are errors.
type zstdFrameReader struct {
	r *bufio.Reader

	hdr  []byte // header bytes read but not yet passed on
	left int64  // content bytes of the current part still to pass on
	next func() error
	err  error // sticky
}

// newZstdFrameReader reads the frame header from r, so that a stream that
// is not one zstd frame is refused with an error that says why (the
// decoder would only say that the magic number is wrong).
func newZstdFrameReader(r *bufio.Reader) (*zstdFrameReader, error) {
	z := &zstdFrameReader{r: r}
	if err := z.frameHeader(); err != nil {
		return nil, err
	}
	return z, nil
}

func (z *zstdFrameReader) Read(p []byte) (int, error) {
	for z.err == nil && len(z.hdr) == 0 && z.left == 0 {
		z.err = z.next()
	}
	if len(z.hdr) > 0 {
		n := copy(p, z.hdr)
		z.hdr = z.hdr[n:]
		return n, nil
	}
	if z.err != nil {
		return 0, z.err
	}
	if int64(len(p)) > z.left {
		p = p[:z.left]
	}
	n, err := z.r.Read(p)
	z.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // the frame is cut short; the decoder says so too
	}
	if err != nil {
		z.err = err
	}
	return n, err
}

// take reads n header bytes and queues them to be passed on.
func (z *zstdFrameReader) take(n int) ([]byte, error) {
	start := len(z.hdr)
	z.hdr = append(z.hdr, make([]byte, n)...)
	if _, err := io.ReadFull(z.r, z.hdr[start:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("zstd frame cut short: %w", err)
	}
	return z.hdr[start:], nil
}

func (z *zstdFrameReader) frameHeader() error {
	b, err := z.take(5)
	if err != nil {
		return err
	}
	switch magic := binary.LittleEndian.Uint32(b); {
	case magic&^0xF == zstdSkippableMagic:
		return errors.New("a skippable zstd frame (an artifact is one zstd frame and nothing else)")
	case magic != zstdMagic:
		return fmt.Errorf("not a zstd frame (magic number %#08x)", magic)
	}
	desc := b[4] // Frame_Header_Descriptor
	if desc&0x08 != 0 {
		return errors.New("zstd frame header: the reserved bit is set")
	}
	singleSegment := desc&0x20 != 0
	n := []int{0, 1, 2, 4}[desc&0x03] // Dictionary_ID
	switch fcs := desc >> 6; {        // Frame_Content_Size
	case fcs == 0 && singleSegment:
		n++
	case fcs > 0:
		n += 1 << fcs
	}
	if !singleSegment {
		n++ // Window_Descriptor
	}
	if _, err := z.take(n); err != nil {
		return err
	}
	checksum := desc&0x04 != 0
	z.next = func() error { return z.blockHeader(checksum) }
	return nil
}

func (z *zstdFrameReader) blockHeader(checksum bool) error {
	b, err := z.take(3)
	if err != nil {
		return err
	}
	h := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
	last, size := h&1 != 0, int64(h>>3)
	switch typ := (h >> 1) & 3; typ {
	case 0, 2: // Raw_Block, Compressed_Block
		if size > zstdMaxBlockSize {
			return fmt.Errorf("zstd block of %d bytes, more than the maximum of %d", size, zstdMaxBlockSize)
		}
		z.left = size
	case 1: // RLE_Block: one byte, repeated size times
		z.left = 1
	default:
		return errors.New("zstd block of the reserved type")
	}
	switch {
	case !last:
	case checksum:
		z.next = func() error {
			if _, err := z.take(4); err != nil {
				return err
			}
			z.next = z.end
			return nil
		}
	default:
		z.next = z.end
	}
	return nil
}

// end is reached after the last block (and checksum) of the frame.
func (z *zstdFrameReader) end() error {
	if _, err := z.r.ReadByte(); err != io.EOF {
		if err != nil {
			return err
		}
		return errors.New("data after the zstd frame (an artifact is one zstd frame and nothing else)")
	}
	return io.EOF
}
