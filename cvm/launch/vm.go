package launch

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// Platform is the kind of VM QEMU is asked to start.
type Platform string

// The platforms Args knows.
const (
	// Plain is an ordinary VM under QEMU's TCG software emulator, with no
	// memory encryption and no attestation. KVM is never used.
	Plain Platform = "plain"
	// SEVSNP is an AMD SEV-SNP guest under KVM, launched with measured
	// direct kernel boot (kernel-hashes=on) and the nonce as HOST_DATA.
	SEVSNP Platform = "sev-snp"
	// TDX is an Intel TDX trust domain under KVM, with the nonce in
	// MRCONFIGID.
	TDX Platform = "tdx"
)

// Limits on a VM description.
const (
	// MaxVCPUs is the most vCPUs a VM may have.
	MaxVCPUs = 288
	// MinMemoryMiB is the least memory a VM may have, in MiB.
	MinMemoryMiB = 64
	// MaxMemoryMiB is the most memory a VM may have, in MiB (4 TiB).
	MaxMemoryMiB = 4 << 20
	// MaxCmdline is the longest kernel command line, in bytes: the x86
	// kernel's COMMAND_LINE_SIZE less its terminating NUL.
	MaxCmdline = 2047
	// MinGuestCID is the lowest virtio-vsock guest context ID; 0 to 2 are
	// reserved for the hypervisor, the local loopback and the host.
	MinGuestCID = 3
)

// DeviceKind is the kind of a transport device.
type DeviceKind int

// The transport devices a VM may have.
const (
	// SerialPort is a virtio-serial port. The guest sees it as
	// /dev/virtio-ports/NAME; on the host, QEMU connects to the Unix
	// socket at Path, which the host must be listening on before launch.
	SerialPort DeviceKind = iota + 1
	// Vsock is a virtio-vsock device (vhost-vsock) with guest context ID
	// CID. Name and Path are unused.
	Vsock
	// Disk is a virtio-blk disk backed by the raw image at Path. The guest
	// sees it as /dev/disk/by-id/virtio-NAME; ReadOnly makes it read-only
	// to the guest.
	Disk
)

func (k DeviceKind) String() string {
	switch k {
	case SerialPort:
		return "serial port"
	case Vsock:
		return "vsock"
	case Disk:
		return "disk"
	}
	return "DeviceKind(" + strconv.Itoa(int(k)) + ")"
}

// Device is one transport device between the host and the agent in the VM.
// Every device is a modern-only virtio PCI device with an IOMMU platform
// (disable-legacy=on,iommu_platform=on), which SEV-SNP and TDX guests
// require; plain VMs get the same devices so that one image runs on all
// platforms.
type Device struct {
	Kind DeviceKind
	// Name is the serial port's name or the disk's serial number: 1 to 20
	// letters, digits, '.', '-' or '_'.
	Name string
	// Path is the host's Unix socket (SerialPort) or disk image (Disk).
	Path string
	// ReadOnly makes a Disk read-only to the guest.
	ReadOnly bool
	// CID is the Vsock guest context ID, at least MinGuestCID.
	CID uint32
}

// VM describes one VM to launch. The same description gives the QEMU
// command line for each platform; what the platform measures (firmware,
// kernel, initrd, command line, vCPU count and type) must match an entry
// of the image's measurements for a launch to be accepted.
type VM struct {
	Platform Platform
	// VCPUs is the number of vCPUs, 1 to MaxVCPUs.
	VCPUs int
	// MemoryMiB is the guest memory in MiB, MinMemoryMiB to MaxMemoryMiB.
	MemoryMiB int
	// CPUType is QEMU's vCPU model: for SEV-SNP, the EPYC model the launch
	// digest was computed for (EPYC-Milan, EPYC-Genoa, EPYC-Turin, ...);
	// for TDX, "host" (the only model a TD can have, and the default);
	// for a plain VM, any model TCG emulates ("max" when empty).
	CPUType string
	// Firmware is the firmware image given to -bios: an OVMF built for
	// SEV-SNP direct boot (the AmdSev build, with the kernel hashes table)
	// or for TDX. A plain VM boots with QEMU's default BIOS when it is
	// empty.
	Firmware string
	// Kernel and Initrd are the kernel and initrd for direct boot.
	Kernel, Initrd string
	// Cmdline is the kernel command line.
	Cmdline string
	// Nonce is the requester's 32-byte nonce, committed at launch as
	// SEV-SNP HOST_DATA or TDX MRCONFIGID (nonce then 16 zero bytes). A
	// plain VM has no place for it; the request carries it instead.
	Nonce [32]byte
	// Devices are the transport devices, in order.
	Devices []Device
}

// Validate reports the first field of vm that Args cannot use.
// It does not look at the files vm names.
func (vm *VM) Validate() error {
	switch vm.Platform {
	case Plain, SEVSNP, TDX:
	default:
		return fmt.Errorf("launch: platform %q: want %q, %q or %q", vm.Platform, Plain, SEVSNP, TDX)
	}
	if vm.VCPUs < 1 || vm.VCPUs > MaxVCPUs {
		return fmt.Errorf("launch: vCPUs %d: want 1 to %d", vm.VCPUs, MaxVCPUs)
	}
	if vm.MemoryMiB < MinMemoryMiB || vm.MemoryMiB > MaxMemoryMiB {
		return fmt.Errorf("launch: memory %d MiB: want %d to %d MiB", vm.MemoryMiB, MinMemoryMiB, MaxMemoryMiB)
	}
	switch {
	case vm.CPUType == "" && vm.Platform == SEVSNP:
		return fmt.Errorf("launch: CPU type: a SEV-SNP launch digest depends on it; name the EPYC model")
	case vm.CPUType != "" && vm.Platform == TDX && vm.CPUType != "host":
		return fmt.Errorf("launch: CPU type %q: a TDX guest has CPU type \"host\"", vm.CPUType)
	case vm.CPUType != "" && !isCPUModel(vm.CPUType):
		return fmt.Errorf("launch: CPU type %q: want a QEMU model name (letters, digits, '-', '.', '_')", vm.CPUType)
	}
	if vm.Firmware == "" && vm.Platform != Plain {
		return fmt.Errorf("launch: firmware: a %s guest needs its OVMF", vm.Platform)
	}
	if vm.Kernel == "" {
		return fmt.Errorf("launch: kernel: empty path")
	}
	if vm.Initrd == "" {
		return fmt.Errorf("launch: initrd: empty path")
	}
	for _, p := range []struct{ field, path string }{{"firmware", vm.Firmware}, {"kernel", vm.Kernel}, {"initrd", vm.Initrd}} {
		if strings.IndexByte(p.path, 0) >= 0 {
			return fmt.Errorf("launch: %s path %q: contains NUL", p.field, p.path)
		}
	}
	if len(vm.Cmdline) > MaxCmdline {
		return fmt.Errorf("launch: command line: %d bytes, want at most %d", len(vm.Cmdline), MaxCmdline)
	}
	if i := strings.IndexFunc(vm.Cmdline, func(r rune) bool { return r < ' ' || r == 0x7f }); i >= 0 {
		return fmt.Errorf("launch: command line: control character %q at byte %d", vm.Cmdline[i], i)
	}
	names := make(map[string]bool)
	vsock := false
	for i, d := range vm.Devices {
		switch d.Kind {
		case SerialPort, Disk:
			if !isDeviceName(d.Name) {
				return fmt.Errorf("launch: device %d (%s): name %q: want 1 to 20 letters, digits, '.', '-' or '_'", i, d.Kind, d.Name)
			}
			if names[d.Name] {
				return fmt.Errorf("launch: device %d (%s): name %q used twice", i, d.Kind, d.Name)
			}
			names[d.Name] = true
			if d.Path == "" || strings.IndexByte(d.Path, 0) >= 0 {
				return fmt.Errorf("launch: device %d (%s %q): path %q: want a non-empty path without NUL", i, d.Kind, d.Name, d.Path)
			}
			if d.Kind == SerialPort && d.ReadOnly {
				return fmt.Errorf("launch: device %d (%s %q): read-only applies to disks only", i, d.Kind, d.Name)
			}
			if d.CID != 0 {
				return fmt.Errorf("launch: device %d (%s %q): CID applies to vsock only", i, d.Kind, d.Name)
			}
		case Vsock:
			if vsock {
				return fmt.Errorf("launch: device %d (vsock): a VM has at most one vsock device", i)
			}
			vsock = true
			if d.CID < MinGuestCID || d.CID == ^uint32(0) {
				return fmt.Errorf("launch: device %d (vsock): CID %d: want %d to %d", i, d.CID, MinGuestCID, ^uint32(0)-1)
			}
			if d.Name != "" || d.Path != "" || d.ReadOnly {
				return fmt.Errorf("launch: device %d (vsock): name, path and read-only do not apply", i)
			}
		default:
			return fmt.Errorf("launch: device %d: kind %d: want SerialPort, Vsock or Disk", i, d.Kind)
		}
	}
	return nil
}

// virtioPCI are the properties of every virtio PCI device.
const virtioPCI = "disable-legacy=on,iommu_platform=on"

// Args returns QEMU's arguments (without the program name) for vm.
//
// Every platform gets a q35 machine with no default devices (-nodefaults),
// no user configuration, no display, no reboot (a reboot ends QEMU), a
// seccomp sandbox, the serial console on QEMU's standard output, direct
// kernel boot, and vm's devices. A plain VM runs under TCG. A SEV-SNP VM
// runs under KVM with a sev-snp-guest object (cbitpos 51, one reduced
// physical address bit, policy 0x30000, kernel-hashes on, HOST_DATA the
// nonce) and its RAM in a memfd backend; a TDX VM runs under KVM with a
// tdx-guest object (sept-ve-disable on, MRCONFIGID the nonce then 16 zero
// bytes) and a split IRQ chip.
func (vm *VM) Args() ([]string, error) {
	if err := vm.Validate(); err != nil {
		return nil, err
	}
	mem := strconv.Itoa(vm.MemoryMiB) + "M"
	args := []string{
		"-nodefaults",
		"-no-user-config",
		"-display", "none",
		"-no-reboot",
		"-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
	}
	cpu := vm.CPUType
	switch vm.Platform {
	case Plain:
		if cpu == "" {
			cpu = "max"
		}
		args = append(args, "-accel", "tcg", "-machine", "q35")
	case SEVSNP:
		args = append(args,
			"-accel", "kvm",
			"-machine", "q35,confidential-guest-support=sev0,memory-backend=ram1",
			"-object", "memory-backend-memfd,id=ram1,size="+mem+",share=true,prealloc=false",
			"-object", "sev-snp-guest,id=sev0,cbitpos=51,reduced-phys-bits=1,policy=0x30000,kernel-hashes=on,host-data="+base64.StdEncoding.EncodeToString(vm.Nonce[:]),
		)
	case TDX:
		if cpu == "" {
			cpu = "host"
		}
		var id [48]byte
		copy(id[:], vm.Nonce[:])
		args = append(args,
			"-accel", "kvm",
			"-machine", "q35,kernel-irqchip=split,confidential-guest-support=tdx0",
			"-object", "tdx-guest,id=tdx0,sept-ve-disable=on,mrconfigid="+base64.StdEncoding.EncodeToString(id[:]),
		)
	}
	args = append(args,
		"-cpu", cpu,
		"-smp", strconv.Itoa(vm.VCPUs),
		"-m", mem,
	)
	if vm.Firmware != "" {
		args = append(args, "-bios", vm.Firmware)
	}
	args = append(args,
		"-kernel", vm.Kernel,
		"-initrd", vm.Initrd,
		"-append", vm.Cmdline,
		"-chardev", "stdio,id=console,signal=off",
		"-serial", "chardev:console",
	)
	return append(args, deviceArgs(vm.Devices)...), nil
}

// deviceArgs returns the arguments for devs, which Validate accepted.
func deviceArgs(devs []Device) []string {
	var args []string
	serial := false
	for i, d := range devs {
		id := strconv.Itoa(i)
		switch d.Kind {
		case SerialPort:
			if !serial {
				args = append(args, "-device", "virtio-serial-pci,id=vser0,"+virtioPCI)
				serial = true
			}
			args = append(args,
				"-chardev", "socket,id=port"+id+",path="+optionValue(d.Path),
				"-device", "virtserialport,bus=vser0.0,chardev=port"+id+",name="+d.Name,
			)
		case Vsock:
			args = append(args, "-device", "vhost-vsock-pci,id=vsock"+id+",guest-cid="+strconv.FormatUint(uint64(d.CID), 10)+","+virtioPCI)
		case Disk:
			ro := ""
			if d.ReadOnly {
				ro = ",readonly=on"
			}
			args = append(args,
				"-drive", "if=none,id=disk"+id+",format=raw,file="+optionValue(d.Path)+ro,
				"-device", "virtio-blk-pci,drive=disk"+id+",serial="+d.Name+","+virtioPCI,
			)
		}
	}
	return args
}

// optionValue escapes s for use as a value in a QEMU option list, where a
// comma separates options and a doubled comma stands for one.
func optionValue(s string) string {
	return strings.ReplaceAll(s, ",", ",,")
}

// isDeviceName reports whether s is a valid serial port name or disk
// serial: 1 to 20 bytes (virtio-blk's serial limit) of [A-Za-z0-9._-].
func isDeviceName(s string) bool {
	return len(s) >= 1 && len(s) <= 20 && isModelChars(s)
}

// isCPUModel reports whether s can be a QEMU CPU model name.
func isCPUModel(s string) bool {
	return len(s) <= 64 && isModelChars(s) && s[0] != '-'
}

func isModelChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
