package measure

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"strconv"
	"sync"
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

// readInput reads a whole input file; what names the option it came from.
func readInput(what, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
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

// SNP modes of MeasureSNPFiles, named as sev-snp-measure's --mode.
const (
	ModeSNP         = "snp"
	ModeSNPOVMFHash = "snp:ovmf-hash"
	ModeSEVES       = "seves"
	ModeSEV         = "sev"
)

// SNPRequest names the inputs of an AMD SEV measurement by file, as
// sev-snp-measure's options do.
type SNPRequest struct {
	// Mode is ModeSNP (the default when empty), ModeSNPOVMFHash, ModeSEVES
	// or ModeSEV.
	Mode string
	// OVMF is the firmware image (required).
	OVMF string
	// OVMFHash, when set, seeds the SNP chain instead of measuring the
	// firmware's pages; the firmware is still read for its layout.
	OVMFHash *[48]byte
	// Kernel, Initrd: files of a direct kernel boot, "" when not given.
	Kernel, Initrd string
	// Cmdline is the -append text.
	Cmdline string
	// VCPUs is the vCPU count.
	VCPUs int
	// VCPUType names the QEMU vCPU model, or VCPUSig gives its CPUID
	// signature; one of them is required for QEMU in modes snp and seves.
	VCPUType string
	VCPUSig  *uint32
	// VMM is the hypervisor.
	VMM VMMType
	// GuestFeatures is SEV_FEATURES (SNP only).
	GuestFeatures uint64
	// SkipInputDigests leaves out the SHA-256 of inputs the measurement does
	// not itself need (the firmware's), for callers that want the digest
	// alone; the record is then not enough to check the files.
	SkipInputDigests bool
}

// SNPRecord is the result of MeasureSNPFiles with everything it was
// computed from: the SHA-256 of every input file, the VM shape and, for
// SNP, the firmware's OVMF hash and layout and the kernel hashes, from which
// Recompute gives the digest again without any file.
type SNPRecord struct {
	Version     int    `json:"version"`
	Mode        string `json:"mode"`
	Measurement Hex    `json:"measurement"`
	Inputs      struct {
		OVMF   *InputFile `json:"ovmf"`
		Kernel *InputFile `json:"kernel,omitempty"`
		Initrd *InputFile `json:"initrd,omitempty"`
		Append *string    `json:"append,omitempty"`
	} `json:"inputs"`
	VCPUs         int     `json:"vcpus,omitempty"`
	VCPUType      string  `json:"vcpuType,omitempty"`
	VCPUSig       string  `json:"vcpuSig,omitempty"`
	VMM           VMMType `json:"vmmType"`
	GuestFeatures string  `json:"guestFeatures,omitempty"`
	// OVMFHash is the chain after the firmware pages; OVMFHashGiven says it
	// was given (--snp-ovmf-hash) rather than computed from the file.
	OVMFHash      Hex           `json:"ovmfHash,omitempty"`
	OVMFHashGiven bool          `json:"ovmfHashGiven,omitempty"`
	Layout        *SNPLayout    `json:"layout,omitempty"`
	KernelHashes  *KernelHashes `json:"kernelHashes,omitempty"`
}

// KernelHashes are the SEV hashes of a record: SHA-256 of the command line
// (with its NUL), the initrd and the kernel.
type KernelHashes struct {
	Cmdline Hex `json:"cmdline"`
	Initrd  Hex `json:"initrd"`
	Kernel  Hex `json:"kernel"`
}

func hexU32(v uint32) string { return fmt.Sprintf("%#08x", v) }

// vcpuSig resolves the vCPU model of a request.
func (r *SNPRequest) vcpuSig() (sig uint32, name string, err error) {
	switch {
	case r.VCPUSig != nil && r.VCPUType != "":
		return 0, "", fmt.Errorf("vCPU: give a type (%q) or a signature, not both", r.VCPUType)
	case r.VCPUSig != nil:
		return *r.VCPUSig, "", nil
	case r.VCPUType != "":
		s, err := VCPUSignature(r.VCPUType)
		return s, r.VCPUType, err
	case r.VMM == VMMQEMU && r.Mode != ModeSEV:
		return 0, "", fmt.Errorf("%w: QEMU needs the vCPU type (or its signature) for the VMSA's RDX", ErrUnknownVCPUType)
	}
	return 0, "", nil
}

// MeasureSNPFiles reads the files of r and computes its digest, hashing the
// kernel and initrd on their own goroutines while the firmware's pages are
// measured.
func MeasureSNPFiles(r SNPRequest) (*SNPRecord, error) {
	if r.Mode == "" {
		r.Mode = ModeSNP
	}
	switch r.Mode {
	case ModeSNP, ModeSNPOVMFHash, ModeSEVES, ModeSEV:
	default:
		return nil, fmt.Errorf("mode %q: want %s, %s, %s or %s", r.Mode, ModeSNP, ModeSNPOVMFHash, ModeSEVES, ModeSEV)
	}
	if r.OVMF == "" {
		return nil, fmt.Errorf("no firmware image (OVMF) given")
	}
	if r.Kernel == "" && (r.Initrd != "" || r.Cmdline != "") {
		return nil, fmt.Errorf("an initrd or a command line needs a kernel")
	}
	if r.OVMFHash != nil && r.Mode != ModeSNP {
		return nil, fmt.Errorf("a precomputed OVMF hash works only in mode %s", ModeSNP)
	}
	rec := &SNPRecord{Version: RecordVersion, Mode: r.Mode, VMM: r.VMM}

	if r.Mode == ModeSNPOVMFHash {
		fw, err := readInput("firmware", r.OVMF)
		if err != nil {
			return nil, err
		}
		var h [48]byte
		err = parallel(
			func() (err error) { h, err = OVMFHash(fw); return wrapPath(r.OVMF, err) },
			func() error { rec.Inputs.OVMF = inputFile(r.OVMF, fw, r.SkipInputDigests); return nil },
		)
		if err != nil {
			return nil, err
		}
		rec.Measurement, rec.OVMFHash = h[:], h[:]
		return rec, nil
	}

	opts := SNPOptions{VCPUs: r.VCPUs, VMM: r.VMM, GuestFeatures: r.GuestFeatures}
	if r.Mode == ModeSEV {
		opts.VCPUs = 1 // not used; SEV has no VMSAs
	} else {
		rec.VCPUs = r.VCPUs
		if err := opts.check(); err != nil {
			return nil, err
		}
		sig, name, err := r.vcpuSig()
		if err != nil {
			return nil, err
		}
		opts.VCPUSig = sig
		if r.VMM == VMMQEMU {
			rec.VCPUType, rec.VCPUSig = name, hexU32(sig)
		}
	}
	if r.Mode == ModeSNP {
		rec.GuestFeatures = fmt.Sprintf("%#x", r.GuestFeatures)
	}

	// The firmware is small: read it first, then hash it for the record,
	// measure its pages, and hash the kernel and initrd, side by side.
	fw, err := readInput("firmware", r.OVMF)
	if err != nil {
		return nil, err
	}
	var kernelSum, initrdSum [32]byte
	jobs := []func() error{func() error {
		rec.Inputs.OVMF = inputFile(r.OVMF, fw, r.SkipInputDigests)
		return nil
	}}
	if r.Kernel != "" {
		jobs = append(jobs, func() error {
			f, err := hashInput("kernel", r.Kernel)
			if err != nil {
				return err
			}
			rec.Inputs.Kernel, kernelSum = f, [32]byte(f.SHA256)
			return nil
		})
		initrdSum = sha256.Sum256(nil) // an absent initrd hashes as an empty one
		if r.Initrd != "" {
			jobs = append(jobs, func() error {
				f, err := hashInput("initrd", r.Initrd)
				if err != nil {
					return err
				}
				rec.Inputs.Initrd, initrdSum = f, [32]byte(f.SHA256)
				return nil
			})
		}
	}
	var ovmfHash [48]byte
	var layout SNPLayout
	if r.Mode == ModeSNP {
		jobs = append(jobs, func() (err error) {
			if layout, err = ParseSNPLayout(fw); err != nil {
				return wrapPath(r.OVMF, err)
			}
			if r.OVMFHash != nil {
				ovmfHash = *r.OVMFHash
				return nil
			}
			ovmfHash, err = OVMFHash(fw)
			return wrapPath(r.OVMF, err)
		})
	}
	if err := parallel(jobs...); err != nil {
		return nil, err
	}
	if r.Kernel != "" {
		cs, err := CmdlineSHA256(r.Cmdline)
		if err != nil {
			return nil, err
		}
		opts.Kernel = &SEVHashes{Cmdline: cs, Initrd: initrdSum, Kernel: kernelSum}
		c := r.Cmdline
		rec.Inputs.Append = &c
		rec.KernelHashes = &KernelHashes{cs[:], initrdSum[:], kernelSum[:]}
	}
	switch r.Mode {
	case ModeSNP:
		d, err := SNPLaunchDigest(ovmfHash, layout, opts)
		if err != nil {
			return nil, wrapPath(r.OVMF, err)
		}
		rec.Measurement, rec.OVMFHash, rec.OVMFHashGiven, rec.Layout = d[:], ovmfHash[:], r.OVMFHash != nil, &layout
	case ModeSEVES:
		d, err := SEVESLaunchDigest(fw, opts)
		if err != nil {
			return nil, wrapPath(r.OVMF, err)
		}
		rec.Measurement = d[:]
	case ModeSEV:
		d, err := SEVLaunchDigest(fw, opts.Kernel)
		if err != nil {
			return nil, wrapPath(r.OVMF, err)
		}
		rec.Measurement = d[:]
	}
	return rec, nil
}

// hashInput streams a file through SHA-256 without keeping it in memory.
func hashInput(what, path string) (*InputFile, error) {
	h := sha256.New()
	n, err := hashFile(what, path, h)
	if err != nil {
		return nil, err
	}
	return &InputFile{Path: path, Size: n, SHA256: h.Sum(nil)}, nil
}

// Recompute gives the SNP digest again from the record alone: its OVMF hash,
// layout, VM shape and kernel hashes. A verifier can keep the record of an
// image instead of its files.
func (r *SNPRecord) Recompute() ([48]byte, error) {
	var zero [48]byte
	if r.Version != RecordVersion {
		return zero, fmt.Errorf("record version %d, want %d", r.Version, RecordVersion)
	}
	if r.Mode != ModeSNP {
		return zero, fmt.Errorf("record of mode %q: only %s records can be recomputed without the firmware", r.Mode, ModeSNP)
	}
	if r.Layout == nil {
		return zero, fmt.Errorf("record has no firmware layout")
	}
	seed, err := r.OVMFHash.array48("ovmfHash")
	if err != nil {
		return zero, err
	}
	o := SNPOptions{VCPUs: r.VCPUs, VMM: r.VMM}
	if r.VCPUSig != "" {
		v, err := strconv.ParseUint(r.VCPUSig, 0, 32)
		if err != nil {
			return zero, fmt.Errorf("vcpuSig %q: %w", r.VCPUSig, err)
		}
		o.VCPUSig = uint32(v)
	}
	if o.GuestFeatures, err = strconv.ParseUint(r.GuestFeatures, 0, 64); err != nil {
		return zero, fmt.Errorf("guestFeatures %q: %w", r.GuestFeatures, err)
	}
	if k := r.KernelHashes; k != nil {
		h := &SEVHashes{}
		if h.Cmdline, err = k.Cmdline.array32("kernelHashes.cmdline"); err != nil {
			return zero, err
		}
		if h.Initrd, err = k.Initrd.array32("kernelHashes.initrd"); err != nil {
			return zero, err
		}
		if h.Kernel, err = k.Kernel.array32("kernelHashes.kernel"); err != nil {
			return zero, err
		}
		o.Kernel = h
	}
	return SNPLaunchDigest(seed, *r.Layout, o)
}

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
	var initrdSize int64 = -1
	if r.Initrd != "" {
		st, err := os.Stat(r.Initrd)
		if err != nil {
			return nil, fmt.Errorf("reading initrd: %w", err)
		}
		initrdSize = st.Size()
	}
	jobs := []func() error{func() error {
		fw, err := readInput("firmware", r.OVMF)
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
			if kernel, err = readInput("kernel", r.Kernel); err != nil {
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
				n, err := hashFile("initrd", r.Initrd, hs...)
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
