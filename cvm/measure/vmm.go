package measure

import (
	"fmt"
	"strings"
)

// VMMType is the hypervisor that launches the guest; each sets up the
// initial vCPU state (the VMSA) a little differently.
type VMMType int

// The VMM types sev-snp-measure knows, with its spelling.
const (
	VMMQEMU VMMType = iota // QEMU/KVM
	VMMEC2                 // Amazon EC2
	VMMGCE                 // Google Compute Engine
)

// ParseVMMType reads "QEMU", "ec2" or "gce", in any case.
func ParseVMMType(s string) (VMMType, error) {
	switch strings.ToLower(s) {
	case "qemu":
		return VMMQEMU, nil
	case "ec2":
		return VMMEC2, nil
	case "gce":
		return VMMGCE, nil
	}
	return 0, fmt.Errorf("unknown VMM type %q (known: QEMU, ec2, gce)", s)
}

func (v VMMType) String() string {
	switch v {
	case VMMQEMU:
		return "QEMU"
	case VMMEC2:
		return "ec2"
	case VMMGCE:
		return "gce"
	}
	return fmt.Sprintf("VMMType(%d)", int(v))
}

// MarshalText spells the type as String does.
func (v VMMType) MarshalText() ([]byte, error) {
	if v < VMMQEMU || v > VMMGCE {
		return nil, fmt.Errorf("unknown VMM type %d", int(v))
	}
	return []byte(v.String()), nil
}

// UnmarshalText reads what ParseVMMType reads.
func (v *VMMType) UnmarshalText(b []byte) error {
	t, err := ParseVMMType(string(b))
	if err != nil {
		return err
	}
	*v = t
	return nil
}

// CPUSignature is the CPUID Fn0000_0001_EAX value of an AMD family, model
// and stepping (AMD CPUID Specification #25481), which QEMU puts in RDX of
// the initial vCPU state.
func CPUSignature(family, model, stepping int) (uint32, error) {
	if family < 0 || family > 0xf+0xff {
		return 0, fmt.Errorf("vCPU family %d: want 0..%d", family, 0xf+0xff)
	}
	if model < 0 || model > 0xff {
		return 0, fmt.Errorf("vCPU model %d: want 0..255", model)
	}
	if stepping < 0 || stepping > 0xf {
		return 0, fmt.Errorf("vCPU stepping %d: want 0..15", stepping)
	}
	famLow, famHigh := family, 0
	if family > 0xf {
		famLow, famHigh = 0xf, family-0xf
	}
	return uint32(famHigh)<<20 | uint32(model>>4)<<16 | uint32(famLow)<<8 | uint32(model&0xf)<<4 | uint32(stepping), nil
}

// VCPUTypes lists the QEMU vCPU models VCPUSignature knows: those of
// sev-snp-measure v0.0.13.
func VCPUTypes() []string {
	return []string{
		"EPYC", "EPYC-v1", "EPYC-v2", "EPYC-IBPB", "EPYC-v3", "EPYC-v4",
		"EPYC-Rome", "EPYC-Rome-v1", "EPYC-Rome-v2", "EPYC-Rome-v3",
		"EPYC-Milan", "EPYC-Milan-v1", "EPYC-Milan-v2",
		"EPYC-Genoa", "EPYC-Genoa-v1",
		"EPYC-Turin",
	}
}

// VCPUSignature gives the CPUID signature of a QEMU vCPU model, by the
// family, model and stepping of QEMU's builtin_x86_defs. Names are matched
// exactly, as QEMU's -cpu does.
func VCPUSignature(name string) (uint32, error) {
	var fam, model, step int
	switch name {
	case "EPYC", "EPYC-v1", "EPYC-v2", "EPYC-IBPB", "EPYC-v3", "EPYC-v4":
		fam, model, step = 23, 1, 2
	case "EPYC-Rome", "EPYC-Rome-v1", "EPYC-Rome-v2", "EPYC-Rome-v3":
		fam, model, step = 23, 49, 0
	case "EPYC-Milan", "EPYC-Milan-v1", "EPYC-Milan-v2":
		fam, model, step = 25, 1, 1
	case "EPYC-Genoa", "EPYC-Genoa-v1":
		fam, model, step = 25, 17, 0
	case "EPYC-Turin":
		fam, model, step = 26, 0, 0
	default:
		return 0, fmt.Errorf("%w %q (known: %s; or give the signature itself)", ErrUnknownVCPUType, name, strings.Join(VCPUTypes(), ", "))
	}
	return CPUSignature(fam, model, step)
}
