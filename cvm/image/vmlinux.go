package image

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/therootcompany/xz"
)

// maxVmlinux bounds the uncompressed kernel Vmlinux returns.
const maxVmlinux = 512 << 20

// Vmlinux returns the uncompressed kernel (an ELF file) inside a bzImage:
// the payload its setup header points to (payload_offset, payload_length
// after the setup sectors; boot protocol 2.08 and later), decompressed.
// QEMU boots such an ELF through its PVH entry point when the kernel has
// one (CONFIG_PVH), which under software emulation saves the seconds the
// kernel's own decompressor takes.
func Vmlinux(bzImage []byte) ([]byte, error) {
	if len(bzImage) < 0x250 || string(bzImage[0x202:0x206]) != "HdrS" {
		return nil, errors.New("bzImage: no setup header (HdrS)")
	}
	if v := binary.LittleEndian.Uint16(bzImage[0x206:]); v < 0x208 {
		return nil, fmt.Errorf("bzImage: boot protocol %#x has no payload fields (want 2.08 or later)", v)
	}
	setupSects := int(bzImage[0x1f1])
	if setupSects == 0 {
		setupSects = 4
	}
	start := (setupSects + 1) * 512
	off := int(binary.LittleEndian.Uint32(bzImage[0x248:]))
	n := int(binary.LittleEndian.Uint32(bzImage[0x24c:]))
	if start+off < start || start+off+n > len(bzImage) || n <= 0 {
		return nil, fmt.Errorf("bzImage: payload at %d+%d (%d bytes) lies outside the file (%d bytes)", start, off, n, len(bzImage))
	}
	payload := bzImage[start+off : start+off+n]
	var r io.Reader
	switch {
	case bytes.HasPrefix(payload, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		// therootcompany/xz (a port of xz-embedded, the kernel's own
		// decoder): the kernel's xz payload uses the x86 BCJ filter, which
		// ulikunitz/xz does not implement.
		x, err := xz.NewReader(bytes.NewReader(payload), 0)
		if err != nil {
			return nil, fmt.Errorf("bzImage: xz payload: %w", err)
		}
		r = x
	case bytes.HasPrefix(payload, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		z, err := zstd.NewReader(bytes.NewReader(payload), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxVmlinux))
		if err != nil {
			return nil, fmt.Errorf("bzImage: zstd payload: %w", err)
		}
		defer z.Close()
		r = z
	case bytes.HasPrefix(payload, []byte{0x1f, 0x8b}):
		g, err := gzip.NewReader(bytes.NewReader(payload))
		if err != nil {
			return nil, fmt.Errorf("bzImage: gzip payload: %w", err)
		}
		r = g
	default:
		return nil, fmt.Errorf("bzImage: payload compression % x is not xz, zstd or gzip", payload[:min(len(payload), 6)])
	}
	// The kernel's xz payload ends with its uncompressed size, which the
	// xz reader takes for trailing data: read until the stream's end only.
	out, err := io.ReadAll(io.LimitReader(r, maxVmlinux+1))
	if err != nil && len(out) == 0 {
		return nil, fmt.Errorf("bzImage: decompressing the payload: %w", err)
	}
	if len(out) > maxVmlinux {
		return nil, fmt.Errorf("bzImage: the kernel is larger than %d bytes", maxVmlinux)
	}
	if !bytes.HasPrefix(out, []byte("\x7fELF")) {
		return nil, errors.New("bzImage: the payload is not an ELF kernel")
	}
	return out, nil
}
