package measure

import "encoding/binary"

// bspEIP is where the boot processor starts: the reset vector below 4 GiB.
const bspEIP = 0xfffffff0

// vmsaGPA is the GPA a VMSA page is measured at: -1, page aligned, with the
// bits above 47 cleared (SEV-SNP firmware ABI, SNP_LAUNCH_UPDATE).
const vmsaGPA = 0x0000_ffff_ffff_f000

// Offsets in the VMSA (AMD APM vol. 2, table B-4, "VMSA layout, state save
// area for SEV-ES").
const (
	vmsaES, vmsaCS, vmsaSS, vmsaDS, vmsaFS, vmsaGS = 0x00, 0x10, 0x20, 0x30, 0x40, 0x50
	vmsaGDTR, vmsaLDTR, vmsaIDTR, vmsaTR           = 0x60, 0x70, 0x80, 0x90
	vmsaEFER                                       = 0xd0
	vmsaCR4, vmsaCR0, vmsaDR7, vmsaDR6             = 0x148, 0x158, 0x160, 0x168
	vmsaRFLAGS, vmsaRIP                            = 0x170, 0x178
	vmsaGPAT                                       = 0x268
	vmsaRDX                                        = 0x310
	vmsaSEVFeatures                                = 0x3b0
	vmsaXCR0                                       = 0x3e8
	vmsaMXCSR, vmsaX87FCW                          = 0x408, 0x410
)

// VMSA returns the initial state save area of a vCPU that starts at eip, as
// the VMM sets it up: real mode, CS based at eip's upper 16 bits. sig is the
// CPUID signature QEMU puts in RDX (EC2 and GCE put 0x600 whatever the vCPU);
// features is SEV_FEATURES (for SEV-ES, 0).
func VMSA(eip uint32, vmm VMMType, sig uint32, features uint64) *[pageSize]byte {
	var p [pageSize]byte
	seg := func(off int, sel, attrib uint16, limit uint32, base uint64) {
		binary.LittleEndian.PutUint16(p[off:], sel)
		binary.LittleEndian.PutUint16(p[off+2:], attrib)
		binary.LittleEndian.PutUint32(p[off+4:], limit)
		binary.LittleEndian.PutUint64(p[off+8:], base)
	}
	u64 := func(off int, v uint64) { binary.LittleEndian.PutUint64(p[off:], v) }

	csAttr, ssAttr, trAttr := uint16(0x9b), uint16(0x93), uint16(0x8b)
	gpat := uint64(0x0007040600070406) // the PAT MSR's reset value
	rdx, mxcsr, fcw := uint64(sig), uint32(0x1f80), uint16(0x37f)
	switch vmm {
	case VMMEC2:
		if eip == bspEIP {
			csAttr = 0x9a
		}
		ssAttr, trAttr = 0x92, 0x83
		rdx, mxcsr, fcw = 0x600, 0, 0
	case VMMGCE:
		gpat = 0x00070106
		rdx, mxcsr, fcw = 0x600, 0, 0
	}

	seg(vmsaES, 0, 0x93, 0xffff, 0)
	seg(vmsaCS, 0xf000, csAttr, 0xffff, uint64(eip&0xffff0000))
	seg(vmsaSS, 0, ssAttr, 0xffff, 0)
	seg(vmsaDS, 0, 0x93, 0xffff, 0)
	seg(vmsaFS, 0, 0x93, 0xffff, 0)
	seg(vmsaGS, 0, 0x93, 0xffff, 0)
	seg(vmsaGDTR, 0, 0, 0xffff, 0)
	seg(vmsaLDTR, 0, 0x82, 0xffff, 0)
	seg(vmsaIDTR, 0, 0, 0xffff, 0)
	seg(vmsaTR, 0, trAttr, 0xffff, 0)
	u64(vmsaEFER, 0x1000) // SVME: KVM sets it
	u64(vmsaCR4, 0x40)    // MCE: KVM sets it
	u64(vmsaCR0, 0x10)
	u64(vmsaDR7, 0x400)
	u64(vmsaDR6, 0xffff0ff0)
	u64(vmsaRFLAGS, 0x2)
	u64(vmsaRIP, uint64(eip&0xffff))
	u64(vmsaGPAT, gpat)
	u64(vmsaRDX, rdx)
	u64(vmsaSEVFeatures, features)
	u64(vmsaXCR0, 0x1)
	binary.LittleEndian.PutUint32(p[vmsaMXCSR:], mxcsr)
	binary.LittleEndian.PutUint16(p[vmsaX87FCW:], fcw)
	return &p
}
