package initrd

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// A Compression names how the cpio archive is compressed. Each one has
// fixed settings, so that its output is a function of the archive and of
// the compressor's version (pinned by go.sum) alone. Linux unpacks all
// four when built with CONFIG_RD_GZIP, CONFIG_RD_XZ and CONFIG_RD_ZSTD
// (Debian's kernels are).
type Compression string

const (
	// None stores the archive as it is.
	None Compression = "none"
	// Gzip is klauspost/compress/gzip at level 6, with an empty header
	// (no name, mtime 0, OS 255). Level 9 is 20 times slower there for
	// 4 % less.
	Gzip Compression = "gzip"
	// XZ is ulikunitz/xz: one LZMA2 block with an 8 MiB dictionary
	// (lc=3 lp=0 pb=2, the hash-table match finder: the binary-tree one
	// is hundreds of times slower there and compresses worse) and a CRC32
	// check, the only check besides none that the kernel's decoder
	// accepts.
	XZ Compression = "xz"
	// Zstd is klauspost/compress/zstd at its better-compression level
	// (the best one is 10 times slower for 8 % less), on one goroutine,
	// with an 8 MiB window, a content checksum and no padding frame.
	// Concurrency 4 gives the same bytes as 1 in klauspost/compress
	// v1.17.11 (checked on GOROOT/src), but multi-threaded zstd encoders
	// in general do not, so it is pinned at 1.
	Zstd Compression = "zstd"
)

// Compressions lists the valid Compression values.
func Compressions() []Compression { return []Compression{Zstd, XZ, Gzip, None} }

// ParseCompression returns the Compression named s.
func ParseCompression(s string) (Compression, error) {
	for _, c := range Compressions() {
		if string(c) == s {
			return c, nil
		}
	}
	return "", fmt.Errorf("unknown compression %q (want zstd, xz, gzip or none)", s)
}

const (
	gzipLevel     = 6
	xzDictCap     = 8 << 20
	zstdLevel     = zstd.SpeedBetterCompression
	zstdWindow    = 8 << 20
	zstdMaxWindow = 128 << 20 // what the kernel's zstd unpacker accepts
)

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// newCompressor returns a writer that compresses into w with c's settings.
// Closing it flushes the compressed stream but does not close w.
func newCompressor(w io.Writer, c Compression) (io.WriteCloser, error) {
	switch c {
	case None:
		return nopWriteCloser{w}, nil
	case Gzip:
		return gzip.NewWriterLevel(w, gzipLevel)
	case XZ:
		cfg := xz.WriterConfig{
			Properties: &lzma.Properties{LC: 3, LP: 0, PB: 2},
			DictCap:    xzDictCap,
			BufSize:    4096,
			BlockSize:  1<<63 - 1,
			CheckSum:   xz.CRC32,
			Matcher:    lzma.HashTable4,
		}
		return cfg.NewWriter(w)
	case Zstd:
		return zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstdLevel),
			zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(zstdWindow),
			zstd.WithEncoderCRC(true),
			zstd.WithZeroFrames(false),
			zstd.WithSingleSegment(false),
			zstd.WithLowerEncoderMem(false),
		)
	}
	return nil, fmt.Errorf("unknown compression %q", c)
}

// Magic numbers of the compressed formats.
var (
	gzipMagic = []byte{0x1f, 0x8b}
	xzMagic   = []byte{0xfd, '7', 'z', 'X', 'Z', 0}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Decompress returns the uncompressed stream of r, recognising gzip, xz
// and zstd by their magic numbers and anything else as uncompressed, and
// the Compression it found. The zstd decoder refuses windows over 128 MiB,
// as the kernel does. The xz decoder allocates the dictionary that the
// stream's header names (ulikunitz/xz has no limit for it).
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(6)
	if err != nil && err != io.EOF {
		return nil, "", err
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("gzip: %w", err)
		}
		return zr, Gzip, nil
	case bytes.HasPrefix(head, xzMagic):
		xr, err := xz.ReaderConfig{SingleStream: true}.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("xz: %w", err)
		}
		return io.NopCloser(xr), XZ, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(zstdMaxWindow),
		)
		if err != nil {
			return nil, "", fmt.Errorf("zstd: %w", err)
		}
		return zstdCloser{zr}, Zstd, nil
	}
	return io.NopCloser(br), None, nil
}

type zstdCloser struct{ *zstd.Decoder }

func (z zstdCloser) Close() error {
	z.Decoder.Close()
	return nil
}
