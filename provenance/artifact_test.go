package provenance

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// openArtifactBytes writes data as the one artifact x of a directory
// bundle and opens it with OpenArtifactLimit.
func openArtifactBytes(t *testing.T, c Compression, data []byte, limit int64) (io.ReadCloser, error) {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "b")
	writeBundle(t, dest, testJSON(t), []testArtifact{{"x", c, []byte("nar")}})
	if err := os.WriteFile(filepath.Join(dest, DirArtifacts, "x"+c.Suffix()), data, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := OpenBundle(dest)
	if err != nil {
		t.Fatal(err)
	}
	return b.OpenArtifactLimit(b.Artifacts[0], limit)
}

// readArtifact reads all of an artifact and returns what it read and the
// first error, from opening or from reading.
func readArtifact(t *testing.T, c Compression, data []byte, limit int64) (int64, error) {
	t.Helper()
	rc, err := openArtifactBytes(t, c, data, limit)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(io.Discard, rc)
}

// skippableFrame is a zstd skippable frame with the given content.
func skippableFrame(content string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, zstdSkippableMagic|0x7)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(content)))
	return append(b, content...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestOpenArtifactFraming: an artifact is one xz stream or one zstd frame
// and nothing else; in particular a zstd skippable frame, which decoders
// skip silently, is refused before and after the frame.
func TestOpenArtifactFraming(t *testing.T) {
	nar := testNAR(3, 300<<10)
	zst := compress(t, CompressionZstd, nar)
	xz := compress(t, CompressionXZ, nar)
	withChecksum, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(true))
	if err != nil {
		t.Fatal(err)
	}
	noChecksum, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(false), zstd.WithSingleSegment(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    Compression
		data []byte
		want string // "" for success
	}{
		{"zstd", CompressionZstd, zst, ""},
		{"zstd with checksum", CompressionZstd, withChecksum.EncodeAll(nar, nil), ""},
		{"zstd single segment without checksum", CompressionZstd, noChecksum.EncodeAll(nar, nil), ""},
		{"zstd of nothing", CompressionZstd, compress(t, CompressionZstd, nil), ""},
		{"xz", CompressionXZ, xz, ""},
		{"zstd then a skippable frame", CompressionZstd, cat(zst, skippableFrame("hidden")), "data after the zstd frame"},
		{"zstd then an empty skippable frame", CompressionZstd, cat(zst, skippableFrame("")), "data after the zstd frame"},
		{"a skippable frame then zstd", CompressionZstd, cat(skippableFrame("hidden"), zst), "a skippable zstd frame"},
		{"two zstd frames", CompressionZstd, cat(zst, zst), "data after the zstd frame"},
		{"zstd then one zero byte", CompressionZstd, cat(zst, []byte{0}), "data after the zstd frame"},
		{"zstd then garbage", CompressionZstd, cat(zst, []byte("garbage")), "data after the zstd frame"},
		{"empty zstd file", CompressionZstd, nil, "zstd frame cut short"},
		{"zstd cut in the header", CompressionZstd, zst[:3], "zstd frame cut short"},
		{"zstd cut in a block", CompressionZstd, zst[:len(zst)/2], "unexpected EOF"},
		{"zstd without its checksum", CompressionZstd, zst[:len(zst)-4], "*"}, // the decoder or the frame reader
		{"zstd reserved bit", CompressionZstd, cat(zst[:4], []byte{zst[4] | 0x08}, zst[5:]), "reserved bit"},
		{"not zstd", CompressionZstd, xz, "not a zstd frame (magic number 0x"},
		{"xz then xz", CompressionXZ, cat(xz, xz), "unexpected data after stream"},
		{"xz then stream padding", CompressionXZ, cat(xz, make([]byte, 4)), "unexpected data after stream"},
		{"xz then garbage", CompressionXZ, cat(xz, []byte("garbage")), "unexpected data after stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			n, err := readArtifact(t, tc.c, tc.data, 1<<30)
			switch {
			case want == "" && err != nil:
				t.Fatalf("error %v", err)
			case want == "" && n != int64(len(nar)) && tc.name != "zstd of nothing":
				t.Fatalf("read %d bytes, want %d", n, len(nar))
			case want == "*" && err == nil:
				t.Fatal("no error")
			case want != "" && want != "*" && (err == nil || !strings.Contains(err.Error(), want)):
				t.Fatalf("error %v, want %q", err, want)
			}
		})
	}
}

// rleBomb is a zstd frame of n RLE blocks of 128 KiB of zeros each: 4
// bytes per block, so that 1 MiB of it decompresses to 32 GiB.
func rleBomb(blocks int) []byte {
	b := binary.LittleEndian.AppendUint32(nil, zstdMagic)
	b = append(b, 0x00, 0x38) // no content size, no checksum; a 128 KiB window
	for i := 0; i < blocks; i++ {
		h := uint32(zstdMaxBlockSize)<<3 | 1<<1 // RLE_Block
		if i == blocks-1 {
			h |= 1
		}
		b = append(b, byte(h), byte(h>>8), byte(h>>16), 0)
	}
	return b
}

// TestOpenArtifactLimit: reading stops with an error at the byte after
// the limit, so that an artifact that decompresses to much more than its
// signed narSize costs no more than narSize+1 bytes of decoding.
func TestOpenArtifactLimit(t *testing.T) {
	// 100 GiB of zeros in 3.2 MB: decoding it all takes minutes.
	const blocks = 100 << 30 / zstdMaxBlockSize
	bomb := rleBomb(blocks)
	for _, limit := range []int64{0, 1, 1000, 10 << 20} {
		rc, err := openArtifactBytes(t, CompressionZstd, bomb, limit)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if n != limit || err == nil || !strings.Contains(err.Error(), "decompresses to more than") {
			t.Errorf("limit %d: read %d bytes, error %v; want %d bytes and an error", limit, n, err, limit)
		}
	}
	// The bomb is well-formed: a short one decodes.
	if n, err := readArtifact(t, CompressionZstd, rleBomb(3), 3*zstdMaxBlockSize); n != 3*zstdMaxBlockSize || err != nil {
		t.Errorf("3 blocks, limit their size: %d bytes, %v", n, err)
	}

	// At the exact size both codecs read to the end; one byte less fails.
	nar := testNAR(4, 200<<10)
	for _, c := range []Compression{CompressionXZ, CompressionZstd} {
		data := compress(t, c, nar)
		if n, err := readArtifact(t, c, data, int64(len(nar))); err != nil || n != int64(len(nar)) {
			t.Errorf("%s at its size: %d bytes, %v", c, n, err)
		}
		if _, err := readArtifact(t, c, data, int64(len(nar))-1); err == nil || !strings.Contains(err.Error(), "decompresses to more than") {
			t.Errorf("%s one byte over the limit: %v", c, err)
		}
	}
	if _, err := openArtifactBytes(t, CompressionZstd, bomb, -1); err == nil {
		t.Error("a negative limit was accepted")
	}
}

// TestOpenArtifactTarChanged: a tar bundle replaced after OpenBundle is
// not read for its artifacts.
func TestOpenArtifactTarChanged(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "b.tar")
	writeBundle(t, dest, testJSON(t), []testArtifact{{"x", CompressionZstd, []byte("nar")}})
	b, err := OpenBundle(dest)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "c.tar")
	writeBundle(t, other, testJSON(t), []testArtifact{{"x", CompressionZstd, []byte("nar")}})
	if err := os.Rename(other, dest); err != nil {
		t.Fatal(err)
	}
	if _, err := b.OpenArtifact(b.Artifacts[0]); err == nil || !strings.Contains(err.Error(), "changed since it was opened") {
		t.Errorf("OpenArtifact of a replaced archive: %v", err)
	}
	if err := os.Remove(dest); err != nil {
		t.Fatal(err)
	}
	if _, err := b.OpenArtifact(b.Artifacts[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenArtifact of a removed archive: %v", err)
	}
}

// FuzzZstdFrameReader: what the frame reader passes on without error is
// the whole input, unchanged.
func FuzzZstdFrameReader(f *testing.F) {
	f.Add(compress(f, CompressionZstd, []byte("nar")))
	f.Add(compress(f, CompressionZstd, nil))
	f.Add(rleBomb(2))
	f.Add(cat(rleBomb(1), skippableFrame("x")))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := newZstdFrameReader(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		passed, err := io.ReadAll(fr)
		if err != nil {
			return
		}
		if !bytes.Equal(passed, data) {
			t.Fatalf("passed on %d bytes of %d", len(passed), len(data))
		}
	})
}
