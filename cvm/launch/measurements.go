package launch

import "fmt"

// Measurements is a set of expected launch measurements, one per VM shape,
// such as an image's measurement.json. Lookup returns the digest for a
// platform, QEMU CPU type and vCPU count, and whether there is one.
type Measurements interface {
	Lookup(p Platform, cpuType string, vcpus int) (digest []byte, ok bool)
}

// MeasurementsFunc adapts a function to Measurements.
type MeasurementsFunc func(p Platform, cpuType string, vcpus int) ([]byte, bool)

// Lookup returns f(p, cpuType, vcpus).
func (f MeasurementsFunc) Lookup(p Platform, cpuType string, vcpus int) ([]byte, bool) {
	return f(p, cpuType, vcpus)
}

// UnmeasuredError reports a VM shape that the measurements have no digest
// for: launching it would give a guest no verifier accepts.
type UnmeasuredError struct {
	Platform Platform
	CPUType  string
	VCPUs    int
}

func (e *UnmeasuredError) Error() string {
	return fmt.Sprintf("launch: no expected measurement for a %s VM with %d vCPUs of type %q; refusing to launch a shape no verifier would accept", e.Platform, e.VCPUs, e.CPUType)
}

// ExpectedMeasurement returns the digest m holds for vm's shape: its
// platform, CPU type and vCPU count. A plain VM has no launch measurement
// and needs none: it returns nil, nil. For SEV-SNP and TDX, a nil m or a
// shape m does not hold is an error (*UnmeasuredError for the latter).
func ExpectedMeasurement(vm *VM, m Measurements) ([]byte, error) {
	if vm.Platform == Plain {
		return nil, nil
	}
	cpu := vm.CPUType
	if vm.Platform == TDX && cpu == "" {
		cpu = "host"
	}
	if m == nil {
		return nil, fmt.Errorf("launch: measurements: none given; a %s VM is launched only for a shape with an expected measurement", vm.Platform)
	}
	d, ok := m.Lookup(vm.Platform, cpu, vm.VCPUs)
	if !ok || len(d) == 0 {
		return nil, &UnmeasuredError{Platform: vm.Platform, CPUType: cpu, VCPUs: vm.VCPUs}
	}
	return d, nil
}
