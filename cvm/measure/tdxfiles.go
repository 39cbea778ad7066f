package measure

import (
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"

	"github.com/kettle-build/kettle/internal/inputfile"
)

// TDXRequest names the inputs of a TDX measurement by file.
type TDXRequest struct {
	// OVMF is the unified firmware image (required).
	OVMF string
	// Kernel, Initrd: files of a direct kernel boot, "" when not given;
	// without a kernel only MRTD is computed.
	Kernel, Initrd string
	// Cmdline is the -append text.
	Cmdline string
	// Conventions are the firmware conventions assumed (see TDXProfile).
	Conventions TDXConventions
	// MemorySize and ACPIDataSize: see TDXBoot.
	MemorySize   uint64
	ACPIDataSize uint32
	// RTMR0 is the value pinned from a recorded boot, nil for none; it is
	// only carried into the record.
	RTMR0 *[48]byte
	// SkipInputDigests leaves out the SHA-256 of every input, which TDX
	// measurements do not use, for callers that want the registers alone;
	// the record is then not enough to check the files.
	SkipInputDigests bool
}

// TDXRecord is the result of MeasureTDXFiles with everything it was
// computed from. Its mrtd and rtmr fields are what a Kettle policy's TDX
// measurement entry holds.
type TDXRecord struct {
	Version int `json:"version"`
	MRTD    Hex `json:"mrtd"`
	RTMR0   Hex `json:"rtmr0,omitempty"`
	RTMR1   Hex `json:"rtmr1,omitempty"`
	RTMR2   Hex `json:"rtmr2,omitempty"`
	// Conventions and their description: what the RTMRs assume.
	Conventions TDXConventions `json:"conventions"`
	Assumed     string         `json:"assumed"`
	Inputs      struct {
		OVMF   *InputFile `json:"ovmf"`
		Kernel *InputFile `json:"kernel,omitempty"`
		Initrd *InputFile `json:"initrd,omitempty"`
		Append *string    `json:"append,omitempty"`
	} `json:"inputs"`
	MemorySize   uint64        `json:"memorySize,omitempty"`
	ACPIDataSize uint32        `json:"acpiDataSize,omitempty"`
	Sections     []TDVFSection `json:"tdvfSections"`
	// KernelAuthenticode and InitrdSHA384 are the digests the RTMR events
	// are made of; RTMR1Events and RTMR2Events replay to RTMR1 and RTMR2.
	KernelAuthenticode Hex   `json:"kernelAuthenticode,omitempty"`
	InitrdSHA384       Hex   `json:"initrdSHA384,omitempty"`
	RTMR1Events        []Hex `json:"rtmr1Events,omitempty"`
	RTMR2Events        []Hex `json:"rtmr2Events,omitempty"`
}

// MeasureTDXFiles reads the files of r and computes MRTD and, with a
// kernel, RTMR[1] and RTMR[2]; the firmware, kernel and initrd are hashed on
// their own goroutines.
func MeasureTDXFiles(r TDXRequest) (*TDXRecord, error) {
	c := r.Conventions
	if err := c.check(); err != nil {
		return nil, err
	}
	if r.OVMF == "" {
		return nil, fmt.Errorf("no firmware image (OVMF) given")
	}
	if r.Kernel == "" && (r.Initrd != "" || r.Cmdline != "") {
		return nil, fmt.Errorf("an initrd or a command line needs a kernel")
	}
	rec := &TDXRecord{Version: RecordVersion, Conventions: c, Assumed: c.Describe()}
	if r.RTMR0 != nil {
		rec.RTMR0 = append(Hex(nil), r.RTMR0[:]...)
	}
	var (
		m      = &TDXMeasurements{}
		kernel []byte
		initrd *TDXInitrd
		kd     [48]byte
	)
	// The initrd is opened first: RTMR[2] needs its size before its
	// digest, and the size is the one of the file that is then hashed.
	var initrdFile *inputfile.File
	var initrdSize int64 = -1
	if r.Initrd != "" {
		f, err := inputfile.Open(r.Initrd, MaxInitrdSize)
		if err != nil {
			return nil, fmt.Errorf("reading initrd: %w", err)
		}
		defer f.Close()
		initrdFile, initrdSize = f, f.Size()
	}
	jobs := []func() error{func() error {
		fw, err := readInput("firmware", r.OVMF, MaxFirmwareSize)
		if err != nil {
			return err
		}
		return parallel(
			func() error { rec.Inputs.OVMF = inputFile(r.OVMF, fw, r.SkipInputDigests); return nil },
			func() (err error) {
				if m.Sections, err = ParseTDVF(fw); err != nil {
					return wrapPath(r.OVMF, err)
				}
				m.MRTD, err = MRTD(fw, m.Sections, c.MRTDOrder)
				return wrapPath(r.OVMF, err)
			})
	}}
	if r.Kernel != "" {
		jobs = append(jobs, func() (err error) {
			if kernel, err = readInput("kernel", r.Kernel, MaxKernelSize); err != nil {
				return err
			}
			b := &TDXBoot{Kernel: kernel, Cmdline: r.Cmdline, MemorySize: r.MemorySize, ACPIDataSize: r.ACPIDataSize}
			if initrdSize >= 0 {
				b.Initrd = &TDXInitrd{Size: initrdSize}
			}
			return parallel(
				func() error { rec.Inputs.Kernel = inputFile(r.Kernel, kernel, r.SkipInputDigests); return nil },
				func() (err error) { kd, err = b.KernelDigest(c); return wrapPath(r.Kernel, err) })
		})
		if r.Initrd != "" {
			jobs = append(jobs, func() error {
				h256, h384 := sha256.New(), sha512.New384()
				hs := []hash.Hash{h384, h256}
				if r.SkipInputDigests {
					hs = hs[:1]
				}
				n, err := hashFile("initrd", initrdFile, hs...)
				if err != nil {
					return err
				}
				if n != initrdSize {
					return fmt.Errorf("%s: changed size while being read (%d, then %d bytes)", r.Initrd, initrdSize, n)
				}
				initrd = &TDXInitrd{Size: n}
				h384.Sum(initrd.SHA384[:0])
				rec.Inputs.Initrd = &InputFile{Path: r.Initrd, Size: n}
				if !r.SkipInputDigests {
					rec.Inputs.Initrd.SHA256 = h256.Sum(nil)
				}
				return nil
			})
		}
	}
	if err := parallel(jobs...); err != nil {
		return nil, err
	}
	rec.MRTD, rec.Sections = m.MRTD[:], m.Sections
	if r.Kernel == "" {
		return rec, nil
	}
	if err := m.replay(kd, r.Cmdline, initrd, c); err != nil {
		return nil, err
	}
	cmd := r.Cmdline
	rec.Inputs.Append = &cmd
	rec.RTMR1, rec.RTMR2 = m.RTMR1[:], m.RTMR2[:]
	rec.KernelAuthenticode = kd[:]
	if initrd != nil {
		rec.InitrdSHA384 = initrd.SHA384[:]
	}
	for _, e := range m.RTMR1Events {
		rec.RTMR1Events = append(rec.RTMR1Events, append(Hex(nil), e[:]...))
	}
	for _, e := range m.RTMR2Events {
		rec.RTMR2Events = append(rec.RTMR2Events, append(Hex(nil), e[:]...))
	}
	if c.KernelSetupPatched {
		rec.MemorySize, rec.ACPIDataSize = r.MemorySize, r.ACPIDataSize
		if rec.MemorySize == 0 {
			rec.MemorySize = DefaultTDXMemory
		}
		if rec.ACPIDataSize == 0 {
			rec.ACPIDataSize = DefaultACPIDataSize
		}
	}
	return rec, nil
}

// RecomputeRTMRs gives RTMR[1] and RTMR[2] again from the record alone:
// the kernel's Authenticode digest, the command line, the initrd's SHA-384
// and size, and the conventions.
func (r *TDXRecord) RecomputeRTMRs() (rtmr1, rtmr2 [48]byte, err error) {
	kd, err := r.KernelAuthenticode.array48("kernelAuthenticode")
	if err != nil {
		return rtmr1, rtmr2, err
	}
	if r.Inputs.Append == nil {
		return rtmr1, rtmr2, fmt.Errorf("record has no command line")
	}
	var initrd *TDXInitrd
	if r.Inputs.Initrd != nil {
		initrd = &TDXInitrd{Size: r.Inputs.Initrd.Size}
		if initrd.SHA384, err = r.InitrdSHA384.array48("initrdSHA384"); err != nil {
			return rtmr1, rtmr2, err
		}
	}
	ev2, err := RTMR2Events(*r.Inputs.Append, initrd, r.Conventions)
	if err != nil {
		return rtmr1, rtmr2, err
	}
	return ReplayRTMR(RTMR1Events(kd, r.Conventions)), ReplayRTMR(ev2), nil
}
