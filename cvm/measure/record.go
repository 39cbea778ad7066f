package measure

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/kettle-build/kettle/internal/inputfile"
)

// RecordVersion is the version of the SNPRecord and TDXRecord formats.
const RecordVersion = 1

// Hex is a byte string that encodes as lower-case hex in JSON.
type Hex []byte

// MarshalText encodes h as lower-case hex.
func (h Hex) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

// UnmarshalText decodes hex.
func (h *Hex) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	if err != nil {
		return fmt.Errorf("not hex: %w", err)
	}
	*h = d
	return nil
}

func (h Hex) array48(field string) ([48]byte, error) {
	var a [48]byte
	if len(h) != 48 {
		return a, fmt.Errorf("%s: %d bytes, want 48", field, len(h))
	}
	copy(a[:], h)
	return a, nil
}

func (h Hex) array32(field string) ([32]byte, error) {
	var a [32]byte
	if len(h) != 32 {
		return a, fmt.Errorf("%s: %d bytes, want 32", field, len(h))
	}
	copy(a[:], h)
	return a, nil
}

// InputFile is one input file of a measurement as its record lists it, so
// that the result can be reproduced from the same files.
type InputFile struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
	// SHA256 is absent when the request asked to skip input digests.
	SHA256 Hex `json:"sha256,omitempty"`
}

// The largest input files MeasureSNPFiles and MeasureTDXFiles read. A
// larger file, or one that is not a regular file, is refused before it is
// read.
const (
	// MaxFirmwareSize bounds the OVMF image, which is read whole. OVMF
	// builds are 1 to 4 MiB and QEMU maps the firmware below 4 GiB in at
	// most 16 MiB of flash.
	MaxFirmwareSize = 64 << 20
	// MaxKernelSize bounds the kernel, which TDX reads whole to parse its
	// PE/COFF headers: a bzImage is 10 to 20 MiB, a unified kernel image
	// with an initrd inside it can be some 100 MiB.
	MaxKernelSize = 512 << 20
	// MaxInitrdSize bounds the initrd, which is streamed through the
	// hashes: QEMU loads it below 4 GiB in guest memory (and Linux's
	// initrd_addr_max is 2 GiB or 4 GiB).
	MaxInitrdSize = 4 << 30
)

// readInput reads a whole input file of at most limit bytes; what names
// the option it came from.
func readInput(what, path string, limit int64) ([]byte, error) {
	b, err := inputfile.Read(path, limit)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	return b, nil
}

func inputFile(path string, data []byte, skip bool) *InputFile {
	if skip {
		return &InputFile{Path: path, Size: int64(len(data))}
	}
	s := sha256.Sum256(data)
	return &InputFile{Path: path, Size: int64(len(data)), SHA256: s[:]}
}

// parallel runs the functions on their own goroutines and returns the error
// of the first (in argument order) that failed, so that errors do not
// depend on scheduling.
func parallel(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, f := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// wrapPath prefixes a parser's error with the file it read.
func wrapPath(path string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", path, err)
}

// hashInput streams a file of at most limit bytes through SHA-256 without
// keeping it in memory.
func hashInput(what, path string, limit int64) (*InputFile, error) {
	f, err := inputfile.Open(path, limit)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := hashFile(what, f, h)
	if err != nil {
		return nil, err
	}
	return &InputFile{Path: path, Size: n, SHA256: h.Sum(nil)}, nil
}
