package measure

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// QEMU's defaults for where it loads a direct-boot kernel, for the patched
// setup header.
const (
	// DefaultACPIDataSize is the room QEMU's q35 machine keeps for ACPI
	// tables at the top of low memory.
	DefaultACPIDataSize = 0x28000
	// DefaultTDXMemory is the memory size assumed when none is given.
	DefaultTDXMemory = 2 << 30
)

// PatchKernelSetupHeader returns a copy of a bzImage with the setup header
// fields QEMU (x86_load_linux) writes before the firmware measures it, for a
// kernel of boot protocol 2.02 or later loaded high, which every kernel with
// an EFI stub is: type_of_loader 0xb0, CAN_USE_HEAP, heap_end_ptr 0xfe00,
// cmd_line_ptr 0x20000, and with an initrd its size and the address QEMU
// picks below min(initrd_addr_max, low memory - ACPI data).
func PatchKernelSetupHeader(kernel []byte, cmdline string, initrdSize int64, memSize uint64, acpiDataSize uint32) ([]byte, error) {
	if len(kernel) < 0x1000 {
		return nil, fmt.Errorf("kernel: %d bytes, too short for a bzImage (at least 4096)", len(kernel))
	}
	if string(kernel[0x202:0x206]) != "HdrS" {
		return nil, fmt.Errorf("kernel: no \"HdrS\" setup header magic at 0x202; not a Linux bzImage")
	}
	protocol := binary.LittleEndian.Uint16(kernel[0x206:])
	if protocol < 0x202 || kernel[0x211]&0x01 == 0 {
		return nil, fmt.Errorf("kernel: boot protocol %#x (loadflags %#x); QEMU's header patching is modelled only for protocol 2.02+ kernels loaded high", protocol, kernel[0x211])
	}
	if strings.Contains(cmdline, "vga=") {
		return nil, fmt.Errorf("kernel command line has vga=, for which QEMU also patches vid_mode; not modelled")
	}
	const realAddr, cmdlineAddr = 0x10000, 0x20000
	k := append([]byte(nil), kernel...)
	k[0x210] = 0xb0 // type_of_loader: QEMU
	k[0x211] |= 0x80
	binary.LittleEndian.PutUint16(k[0x224:], cmdlineAddr-realAddr-0x200)
	binary.LittleEndian.PutUint32(k[0x228:], cmdlineAddr)
	if initrdSize > 0 {
		initrdMax := uint64(0x37ffffff)
		switch {
		case protocol >= 0x20c && binary.LittleEndian.Uint16(k[0x236:])&0x40 != 0:
			initrdMax = 0xffffffff // XLF_CAN_BE_LOADED_ABOVE_4G
		case protocol >= 0x203:
			if m := binary.LittleEndian.Uint32(k[0x22c:]); m != 0 {
				initrdMax = uint64(m)
			}
		}
		lowmem := uint64(0x80000000)
		if memSize < 0xb0000000 {
			lowmem = 0xb0000000
		}
		below4G := min(memSize, lowmem)
		if below4G <= uint64(acpiDataSize) {
			return nil, fmt.Errorf("memory size %#x leaves no room below the %#x bytes of ACPI data", memSize, acpiDataSize)
		}
		if initrdMax >= below4G-uint64(acpiDataSize) {
			initrdMax = below4G - uint64(acpiDataSize) - 1
		}
		if uint64(initrdSize) >= initrdMax {
			return nil, fmt.Errorf("initrd: %d bytes do not fit below %#x with %#x bytes of memory", initrdSize, initrdMax, memSize)
		}
		binary.LittleEndian.PutUint32(k[0x218:], uint32((initrdMax-uint64(initrdSize))&^0xfff))
		binary.LittleEndian.PutUint32(k[0x21c:], uint32(initrdSize))
	}
	return k, nil
}

// ParseMemorySize reads a memory size as QEMU's -m does: a number of bytes,
// or with a suffix K, M, G or T (powers of 1024); a bare number with no
// suffix is taken as MiB, as -m takes it.
func ParseMemorySize(s string) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("memory size: empty")
	}
	mul := uint64(1 << 20)
	num := s
	switch s[len(s)-1] {
	case 'k', 'K':
		mul, num = 1<<10, s[:len(s)-1]
	case 'm', 'M':
		mul, num = 1<<20, s[:len(s)-1]
	case 'g', 'G':
		mul, num = 1<<30, s[:len(s)-1]
	case 't', 'T':
		mul, num = 1<<40, s[:len(s)-1]
	case 'b', 'B':
		mul, num = 1, s[:len(s)-1]
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("memory size %q: want a positive number with an optional K, M, G or T suffix", s)
	}
	if n > (1<<52)/mul {
		return 0, fmt.Errorf("memory size %q: too large", s)
	}
	return n * mul, nil
}
