package measure

import (
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// InitrdArg is where OVMF puts "initrd=initrd" in the load options it hands
// the kernel (and which the EFI stub measures into RTMR[2]) when QEMU passes
// an initrd.
type InitrdArg string

const (
	// InitrdArgPrefix: "initrd=initrd <cmdline>", edk2 X86QemuLoadImageLib
	// from edk2-stable202508 on (tianocore/edk2 pull request 11115).
	InitrdArgPrefix InitrdArg = "prefix"
	// InitrdArgSuffix: "<cmdline> initrd=initrd", edk2 up to
	// edk2-stable202505.
	InitrdArgSuffix InitrdArg = "suffix"
)

// TDXConventions are the choices RTMR[1], RTMR[2] and MRTD depend on that
// the firmware, QEMU and KVM versions make, not the inputs. None of them has
// been checked here against a TD report: the RTMR values are what these
// conventions give, to be pinned against one real boot per firmware.
type TDXConventions struct {
	// Name is the profile the conventions come from (see TDXProfile).
	Name string `json:"name"`
	// KernelSetupPatched: the kernel is measured with the setup header QEMU
	// rewrites before handing it over (type_of_loader, loadflags,
	// heap_end_ptr, cmd_line_ptr, and the initrd's address and size), as
	// with Ubuntu 25.04's OVMF 2025.02; otherwise the file as it is.
	KernelSetupPatched bool `json:"kernelSetupPatched"`
	// RTMR1Separator: a separator event (SHA-384 of four zero bytes) follows
	// "Calling EFI Application from Boot Option" in RTMR[1].
	RTMR1Separator bool `json:"rtmr1Separator"`
	// InitrdArg is where OVMF adds "initrd=initrd" to the command line.
	InitrdArg InitrdArg `json:"initrdArg"`
	// EmptyInitrdMeasured: an empty -initrd file is measured like any other
	// (the "initrd=initrd" argument and an initrd event), as
	// virtee/tdx-measure does; OVMF itself treats an initrd of size 0 as
	// absent.
	EmptyInitrdMeasured bool `json:"emptyInitrdMeasured"`
	// MRTDOrder is how the VMM interleaves adding and measuring pages.
	MRTDOrder MRTDOrder `json:"mrtdOrder"`
}

// DefaultTDXProfile is the profile of current upstream edk2, QEMU and KVM.
const DefaultTDXProfile = "edk2-prefix"

// TDXProfiles lists the profiles TDXProfile knows, the default first.
func TDXProfiles() []string {
	return []string{"edk2-prefix", "edk2-suffix", "qemu-patched-suffix", "virtee"}
}

// TDXProfile returns the conventions of a named profile:
//
//   - edk2-prefix: OVMF from edk2-stable202508 on: the kernel file measured
//     as it is, a separator in RTMR[1], "initrd=initrd " before the command
//     line; pages added and measured one by one (upstream KVM, Linux 6.16).
//   - edk2-suffix: the same with " initrd=initrd" after the command line,
//     OVMF up to edk2-stable202505.
//   - qemu-patched-suffix: edk2-suffix, but the kernel measured with QEMU's
//     patched setup header (Ubuntu 25.04, OVMF 2025.02).
//   - virtee: the formulas of virtee/tdx-measure for OVMF 2025.05 and later:
//     edk2-suffix, with an empty initrd measured as one.
func TDXProfile(name string) (TDXConventions, error) {
	c := TDXConventions{Name: name, RTMR1Separator: true, MRTDOrder: MRTDPerPage}
	switch name {
	case "edk2-prefix":
		c.InitrdArg = InitrdArgPrefix
	case "edk2-suffix":
		c.InitrdArg = InitrdArgSuffix
	case "qemu-patched-suffix":
		c.InitrdArg = InitrdArgSuffix
		c.KernelSetupPatched = true
	case "virtee":
		c.InitrdArg = InitrdArgSuffix
		c.EmptyInitrdMeasured = true
	default:
		return TDXConventions{}, fmt.Errorf("unknown TDX conventions profile %q (known: %s)", name, strings.Join(TDXProfiles(), ", "))
	}
	return c, nil
}

func (c TDXConventions) check() error {
	if c.InitrdArg != InitrdArgPrefix && c.InitrdArg != InitrdArgSuffix {
		return fmt.Errorf("TDX conventions: initrd argument placement %q, want %q or %q", c.InitrdArg, InitrdArgPrefix, InitrdArgSuffix)
	}
	if c.MRTDOrder != MRTDPerPage && c.MRTDOrder != MRTDSectionWise {
		return fmt.Errorf("TDX conventions: MRTD order %q, want %q or %q", c.MRTDOrder, MRTDPerPage, MRTDSectionWise)
	}
	return nil
}

// Describe says in words what the conventions assume, for the output.
func (c TDXConventions) Describe() string {
	var b strings.Builder
	if c.Name != "" {
		fmt.Fprintf(&b, "%s: ", c.Name)
	}
	if c.KernelSetupPatched {
		b.WriteString("kernel measured with QEMU's patched setup header")
	} else {
		b.WriteString("kernel measured as the file is")
	}
	if c.RTMR1Separator {
		b.WriteString("; separator in RTMR[1]")
	} else {
		b.WriteString("; no separator in RTMR[1]")
	}
	if c.InitrdArg == InitrdArgPrefix {
		b.WriteString(`; "initrd=initrd " before the command line`)
	} else {
		b.WriteString(`; " initrd=initrd" after the command line`)
	}
	if c.EmptyInitrdMeasured {
		b.WriteString("; an empty initrd measured as one")
	} else {
		b.WriteString("; an empty initrd treated as none")
	}
	fmt.Fprintf(&b, "; MRTD pages added and measured %s", c.MRTDOrder)
	return b.String()
}

// ReplayRTMR extends a zero RTMR with each event digest in turn:
// RTMR = SHA-384(RTMR || digest).
func ReplayRTMR(events [][48]byte) [48]byte {
	var buf [96]byte
	for _, e := range events {
		copy(buf[48:], e[:])
		s := sha512.Sum384(buf[:])
		copy(buf[:48], s[:])
	}
	var r [48]byte
	copy(r[:], buf[:48])
	return r
}

// The EV_EFI_ACTION strings OVMF logs into RTMR[1] around starting the kernel.
const (
	evCallingEFIApplication = "Calling EFI Application from Boot Option"
	evExitBootServices      = "Exit Boot Services Invocation"
	evExitBootServicesOK    = "Exit Boot Services Returned with Success"
)

// RTMR1Events are the RTMR[1] events of a direct kernel boot: the kernel's
// Authenticode digest (see KernelDigest), "Calling EFI Application from Boot
// Option", a separator if the conventions have one, "Exit Boot Services
// Invocation" and "Exit Boot Services Returned with Success".
func RTMR1Events(kernelAuthenticode [48]byte, c TDXConventions) [][48]byte {
	ev := [][48]byte{kernelAuthenticode, sha512.Sum384([]byte(evCallingEFIApplication))}
	if c.RTMR1Separator {
		ev = append(ev, sha512.Sum384([]byte{0, 0, 0, 0}))
	}
	return append(ev, sha512.Sum384([]byte(evExitBootServices)), sha512.Sum384([]byte(evExitBootServicesOK)))
}

// TDXInitrd is what RTMR[2] needs of an initrd: its SHA-384 and size.
type TDXInitrd struct {
	SHA384 [48]byte
	Size   int64
}

// LoadOptions is the command line OVMF hands the kernel: the -append text
// with "initrd=initrd" where the conventions put it when an initrd is
// measured. initrd is nil when -initrd is not given.
func LoadOptions(cmdline string, initrd *TDXInitrd, c TDXConventions) string {
	if !initrdMeasured(initrd, c) {
		return cmdline
	}
	if c.InitrdArg == InitrdArgPrefix {
		return "initrd=initrd " + cmdline
	}
	return cmdline + " initrd=initrd"
}

func initrdMeasured(initrd *TDXInitrd, c TDXConventions) bool {
	return initrd != nil && (initrd.Size > 0 || c.EmptyInitrdMeasured)
}

// RTMR2Events are the RTMR[2] events of a direct kernel boot: SHA-384 of the
// LoadOptions in UTF-16LE with a terminating NUL, which the EFI stub
// measures, then SHA-384 of the initrd when one is measured. The command
// line event is there even for an empty command line, as virtee/tdx-measure
// has it; whether the stub logs one when OVMF passes no load options at all
// (no -append, no initrd) is not checked here.
func RTMR2Events(cmdline string, initrd *TDXInitrd, c TDXConventions) ([][48]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	opts := LoadOptions(cmdline, initrd, c)
	if !utf8.ValidString(opts) {
		return nil, fmt.Errorf("kernel command line is not valid UTF-8 (OVMF converts it to UTF-16)")
	}
	if i := strings.IndexByte(opts, 0); i >= 0 {
		return nil, fmt.Errorf("kernel command line: NUL byte at offset %d", i)
	}
	u := utf16.Encode([]rune(opts))
	b := make([]byte, 2*len(u)+2)
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	ev := [][48]byte{sha512.Sum384(b)}
	if initrdMeasured(initrd, c) {
		ev = append(ev, initrd.SHA384)
	}
	return ev, nil
}

// TDXBoot is a QEMU direct kernel boot: -kernel, -initrd and -append.
type TDXBoot struct {
	// Kernel is the bzImage (with its EFI stub).
	Kernel []byte
	// Initrd is the initrd, nil when -initrd is not given.
	Initrd *TDXInitrd
	// Cmdline is the -append text.
	Cmdline string
	// MemorySize and ACPIDataSize place the initrd for KernelSetupPatched
	// (zero: DefaultTDXMemory, DefaultACPIDataSize).
	MemorySize   uint64
	ACPIDataSize uint32
}

// KernelDigest is the Authenticode SHA-384 of the kernel as OVMF measures it
// under the conventions: the file itself, or with QEMU's patched header.
func (b *TDXBoot) KernelDigest(c TDXConventions) ([48]byte, error) {
	k := b.Kernel
	if c.KernelSetupPatched {
		var size int64
		if b.Initrd != nil {
			size = b.Initrd.Size
		}
		mem, acpi := b.MemorySize, b.ACPIDataSize
		if mem == 0 {
			mem = DefaultTDXMemory
		}
		if acpi == 0 {
			acpi = DefaultACPIDataSize
		}
		var err error
		if k, err = PatchKernelSetupHeader(k, b.Cmdline, size, mem, acpi); err != nil {
			return [48]byte{}, err
		}
	}
	d, err := AuthenticodeSHA384(k)
	if err != nil {
		return d, fmt.Errorf("kernel: %w", err)
	}
	return d, nil
}

// TDXMeasurements are the TD measurements a verifier compares with a TD
// report. RTMR[0] is not among them: it is pinned from a recorded boot.
type TDXMeasurements struct {
	MRTD [48]byte
	// RTMR1 and RTMR2 are set for a direct kernel boot only, with the
	// events they replay.
	RTMR1, RTMR2             *[48]byte
	RTMR1Events, RTMR2Events [][48]byte
	// Sections are the TDVF sections MRTD was computed from.
	Sections []TDVFSection
}

// MeasureTDX computes MRTD from a unified OVMF image and, when boot is not
// nil, RTMR[1] and RTMR[2] of that direct kernel boot. The firmware and the
// kernel are hashed side by side.
func MeasureTDX(fw []byte, boot *TDXBoot, c TDXConventions) (*TDXMeasurements, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	m := &TDXMeasurements{}
	var kd [48]byte
	jobs := []func() error{func() (err error) {
		if m.Sections, err = ParseTDVF(fw); err != nil {
			return err
		}
		m.MRTD, err = MRTD(fw, m.Sections, c.MRTDOrder)
		return err
	}}
	if boot != nil {
		jobs = append(jobs, func() (err error) { kd, err = boot.KernelDigest(c); return err })
	}
	if err := parallel(jobs...); err != nil {
		return nil, err
	}
	if boot == nil {
		return m, nil
	}
	if err := m.replay(kd, boot.Cmdline, boot.Initrd, c); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *TDXMeasurements) replay(kernel [48]byte, cmdline string, initrd *TDXInitrd, c TDXConventions) error {
	m.RTMR1Events = RTMR1Events(kernel, c)
	ev, err := RTMR2Events(cmdline, initrd, c)
	if err != nil {
		return err
	}
	m.RTMR2Events = ev
	r1, r2 := ReplayRTMR(m.RTMR1Events), ReplayRTMR(m.RTMR2Events)
	m.RTMR1, m.RTMR2 = &r1, &r2
	return nil
}
