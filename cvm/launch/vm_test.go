package launch

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
)

// The command lines below are pinned against QEMU's documented options:
//
//   - qemu/qemu docs/system/i386/tdx.rst at commit
//     98721058d6d50ef218e0c26e4f67c8ef96965859: "-accel kvm -cpu host
//     -object tdx-guest,id=tdx0 -machine ...,confidential-guest-support=tdx0
//     -bios OVMF.fd", kernel-irqchip split, no SMM, no memory backend named.
//   - qemu/qemu qapi/qom.json, TdxGuestProperties (since 10.1), as added by
//     "i386/tdx: Support user configurable mrconfigid/mrowner/mrownerconfig"
//     (Link: 20250508150002.689633-14-xiaoyao.li@intel.com): mrconfigid is a
//     "base64 encoded SHA384 digest" (48 bytes); sept-ve-disable a bool.
//   - qemu/qemu qapi/qom.json, SevSnpGuestProperties, as added by
//     "i386/sev: Introduce 'sev-snp-guest' object": host-data is a
//     "32-byte, base64-encoded user-defined blob" for SNP_LAUNCH_FINISH,
//     policy a uint64 (default 0x30000), decoded with g_base64_decode
//     (standard alphabet, padded); kernel-hashes is in SevCommonProperties
//     from 9.1; docs/system/i386/amd-memory-encryption.rst: "-machine
//     ...,confidential-guest-support=sev0 -object
//     sev-snp-guest,id=sev0,cbitpos=51,reduced-phys-bits=1".
//   - QEMU 7.2 as shipped by Debian 12 (qemu-system-x86 1:7.2+dfsg-7), which
//     runs the plain command line in runner_test.go.

func testNonce() [32]byte {
	var n [32]byte
	for i := range n {
		n[i] = byte(i + 1)
	}
	return n
}

func testDevices() []Device {
	return []Device{
		{Kind: SerialPort, Name: "org.kettle.agent", Path: "/run/kettle/agent.sock"},
		{Kind: Disk, Name: "kettle-input", Path: "/var/lib/kettle/input,1.img", ReadOnly: true},
		{Kind: Disk, Name: "kettle-output", Path: "/var/lib/kettle/output.img"},
		{Kind: Vsock, CID: 42},
	}
}

// commonArgs are the arguments every platform's command line starts with.
func commonArgs() []string {
	return []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
	}
}

// tailArgs are the arguments after the firmware, for testDevices.
func tailArgs(cmdline string) []string {
	return []string{
		"-kernel", "/img/bzImage",
		"-initrd", "/img/initrd",
		"-append", cmdline,
		"-chardev", "stdio,id=console,signal=off",
		"-serial", "chardev:console",
		"-device", "virtio-serial-pci,id=vser0,disable-legacy=on,iommu_platform=on",
		"-chardev", "socket,id=port0,path=/run/kettle/agent.sock",
		"-device", "virtserialport,bus=vser0.0,chardev=port0,name=org.kettle.agent",
		"-drive", "if=none,id=disk1,format=raw,file=/var/lib/kettle/input,,1.img,readonly=on",
		"-device", "virtio-blk-pci,drive=disk1,serial=kettle-input,disable-legacy=on,iommu_platform=on",
		"-drive", "if=none,id=disk2,format=raw,file=/var/lib/kettle/output.img",
		"-device", "virtio-blk-pci,drive=disk2,serial=kettle-output,disable-legacy=on,iommu_platform=on",
		"-device", "vhost-vsock-pci,id=vsock3,guest-cid=42,disable-legacy=on,iommu_platform=on",
	}
}

func cat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestArgs(t *testing.T) {
	const cmdline = "console=ttyS0 kettle.agent=1"
	tests := []struct {
		name string
		vm   VM
		want []string
	}{{
		name: "plain",
		vm: VM{Platform: Plain, VCPUs: 2, MemoryMiB: 2048, Firmware: "/usr/share/ovmf/OVMF.fd",
			Kernel: "/img/bzImage", Initrd: "/img/initrd", Cmdline: cmdline, Nonce: testNonce(), Devices: testDevices()},
		want: cat(commonArgs(), []string{
			"-accel", "tcg", "-machine", "q35",
			"-cpu", "max", "-smp", "2", "-m", "2048M",
			"-bios", "/usr/share/ovmf/OVMF.fd",
		}, tailArgs(cmdline)),
	}, {
		name: "sev-snp",
		vm: VM{Platform: SEVSNP, VCPUs: 4, MemoryMiB: 4096, CPUType: "EPYC-Milan", Firmware: "/img/OVMF.fd",
			Kernel: "/img/bzImage", Initrd: "/img/initrd", Cmdline: cmdline, Nonce: testNonce(), Devices: testDevices()},
		want: cat(commonArgs(), []string{
			"-accel", "kvm",
			"-machine", "q35,confidential-guest-support=sev0,memory-backend=ram1",
			"-object", "memory-backend-memfd,id=ram1,size=4096M,share=true,prealloc=false",
			"-object", "sev-snp-guest,id=sev0,cbitpos=51,reduced-phys-bits=1,policy=0x30000,kernel-hashes=on,host-data=AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
			"-cpu", "EPYC-Milan", "-smp", "4", "-m", "4096M",
			"-bios", "/img/OVMF.fd",
		}, tailArgs(cmdline)),
	}, {
		name: "tdx",
		vm: VM{Platform: TDX, VCPUs: 8, MemoryMiB: 8192, Firmware: "/img/OVMF.fd",
			Kernel: "/img/bzImage", Initrd: "/img/initrd", Cmdline: cmdline, Nonce: testNonce(), Devices: testDevices()},
		want: cat(commonArgs(), []string{
			"-accel", "kvm",
			"-machine", "q35,kernel-irqchip=split,confidential-guest-support=tdx0",
			"-object", "tdx-guest,id=tdx0,sept-ve-disable=on,mrconfigid=AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAAAAAAAAAAAAAAAAAAAAAA",
			"-cpu", "host", "-smp", "8", "-m", "8192M",
			"-bios", "/img/OVMF.fd",
		}, tailArgs(cmdline)),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.vm.Args()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Args:\n got %q\nwant %q", got, tt.want)
			}
			t.Logf("qemu-system-x86_64 %s", strings.Join(got, " "))
		})
	}
}

// TestNonceEncoding checks the nonce encodings against their definitions
// rather than against pinned strings.
func TestNonceEncoding(t *testing.T) {
	vm := VM{Platform: SEVSNP, VCPUs: 1, MemoryMiB: 512, CPUType: "EPYC-Genoa", Firmware: "f", Kernel: "k", Initrd: "i", Nonce: testNonce()}
	value := func(args []string, object, key string) []byte {
		for i, a := range args {
			if a != "-object" || i+1 == len(args) || !strings.HasPrefix(args[i+1], object+",") {
				continue
			}
			for _, kv := range strings.Split(args[i+1], ",") {
				if v, ok := strings.CutPrefix(kv, key+"="); ok {
					b, err := base64.StdEncoding.DecodeString(v)
					if err != nil {
						t.Fatalf("%s %s=%q: %v", object, key, v, err)
					}
					return b
				}
			}
		}
		t.Fatalf("no %s with %s in %q", object, key, args)
		return nil
	}
	args, err := vm.Args()
	if err != nil {
		t.Fatal(err)
	}
	n := testNonce()
	if got := value(args, "sev-snp-guest", "host-data"); !slices.Equal(got, n[:]) {
		t.Errorf("host-data decodes to %x; want the nonce %x", got, n)
	}
	vm.Platform, vm.CPUType = TDX, ""
	if args, err = vm.Args(); err != nil {
		t.Fatal(err)
	}
	got := value(args, "tdx-guest", "mrconfigid")
	want := append(n[:], make([]byte, 16)...)
	if !slices.Equal(got, want) {
		t.Errorf("mrconfigid decodes to %x; want nonce ‖ 16 zero bytes %x", got, want)
	}
}

// TestVirtioDevices checks that every virtio PCI device on every platform's
// command line is modern-only with an IOMMU platform, and that KVM is never
// used for a plain VM.
func TestVirtioDevices(t *testing.T) {
	for _, p := range []Platform{Plain, SEVSNP, TDX} {
		vm := VM{Platform: p, VCPUs: 1, MemoryMiB: 512, CPUType: "EPYC-Turin", Firmware: "f", Kernel: "k", Initrd: "i", Devices: testDevices()}
		if p == TDX {
			vm.CPUType = "host"
		}
		args, err := vm.Args()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for i, a := range args {
			if a == "-device" && strings.Contains(args[i+1], "-pci") {
				n++
				if !strings.HasSuffix(args[i+1], ",disable-legacy=on,iommu_platform=on") {
					t.Errorf("%s: device %q is not disable-legacy=on,iommu_platform=on", p, args[i+1])
				}
			}
			if p == Plain && strings.Contains(a, "kvm") {
				t.Errorf("plain: argument %q uses KVM", a)
			}
		}
		if n != 4 {
			t.Errorf("%s: %d virtio PCI devices; want 4", p, n)
		}
	}
}

func TestValidate(t *testing.T) {
	good := func() VM {
		return VM{Platform: SEVSNP, VCPUs: 2, MemoryMiB: 1024, CPUType: "EPYC-Milan", Firmware: "f", Kernel: "k", Initrd: "i", Devices: testDevices()}
	}
	if err := (&VM{}).Validate(); err == nil {
		t.Error("the zero VM is valid")
	}
	v := good()
	if err := v.Validate(); err != nil {
		t.Fatalf("good VM: %v", err)
	}
	tests := []struct {
		name   string
		change func(*VM)
		want   string
	}{
		{"platform", func(v *VM) { v.Platform = "sev" }, `platform "sev"`},
		{"no vcpus", func(v *VM) { v.VCPUs = 0 }, "vCPUs 0"},
		{"too many vcpus", func(v *VM) { v.VCPUs = MaxVCPUs + 1 }, "vCPUs 289"},
		{"memory", func(v *VM) { v.MemoryMiB = 1 }, "memory 1 MiB"},
		{"snp cpu", func(v *VM) { v.CPUType = "" }, "CPU type"},
		{"tdx cpu", func(v *VM) { v.Platform = TDX }, `CPU type "EPYC-Milan"`},
		{"cpu option", func(v *VM) { v.CPUType = "EPYC,+sev" }, `CPU type "EPYC,+sev"`},
		{"firmware", func(v *VM) { v.Firmware = "" }, "firmware"},
		{"kernel", func(v *VM) { v.Kernel = "" }, "kernel"},
		{"initrd", func(v *VM) { v.Initrd = "" }, "initrd"},
		{"nul", func(v *VM) { v.Kernel = "k\x00" }, "kernel path"},
		{"cmdline length", func(v *VM) { v.Cmdline = strings.Repeat("a", MaxCmdline+1) }, "2048 bytes"},
		{"cmdline control", func(v *VM) { v.Cmdline = "a\nb" }, "control character"},
		{"device name", func(v *VM) { v.Devices[0].Name = "a,b" }, `name "a,b"`},
		{"device name twice", func(v *VM) { v.Devices[2].Name = v.Devices[1].Name }, "used twice"},
		{"device path", func(v *VM) { v.Devices[1].Path = "" }, `path ""`},
		{"serial read-only", func(v *VM) { v.Devices[0].ReadOnly = true }, "read-only"},
		{"vsock cid", func(v *VM) { v.Devices[3].CID = 2 }, "CID 2"},
		{"two vsocks", func(v *VM) { v.Devices = append(v.Devices, Device{Kind: Vsock, CID: 5}) }, "at most one vsock"},
		{"device kind", func(v *VM) { v.Devices[0].Kind = 0 }, "kind 0"},
	}
	for _, tt := range tests {
		v := good()
		tt.change(&v)
		err := v.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate: %v; want an error with %q", tt.name, err, tt.want)
		}
		if _, aerr := v.Args(); aerr == nil {
			t.Errorf("%s: Args accepted what Validate refused", tt.name)
		}
	}
}
