package measure

import (
	"crypto/sha256"
	"fmt"
	"strconv"
)

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
		fw, err := readInput("firmware", r.OVMF, MaxFirmwareSize)
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
	fw, err := readInput("firmware", r.OVMF, MaxFirmwareSize)
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
			f, err := hashInput("kernel", r.Kernel, MaxKernelSize)
			if err != nil {
				return err
			}
			rec.Inputs.Kernel, kernelSum = f, [32]byte(f.SHA256)
			return nil
		})
		initrdSum = sha256.Sum256(nil) // an absent initrd hashes as an empty one
		if r.Initrd != "" {
			jobs = append(jobs, func() error {
				f, err := hashInput("initrd", r.Initrd, MaxInitrdSize)
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
