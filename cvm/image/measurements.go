// Package image describes a built Kettle CVM image: its files (kernel,
// initrd, firmware, kernel command line, in image.json) and its launch
// measurements for every VM shape a host may launch (measurement.json),
// computed ahead of time with package measure. A launcher looks a shape's
// digest up before it launches; a verifier accepts a report whose
// measurement is one of them and says which shape it was.
package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kettle-build/kettle/cvm/measure"
	"github.com/kettle-build/kettle/internal/inputfile"
	"github.com/kettle-build/kettle/internal/strictjson"
)

// MeasurementsVersion is the version of measurement.json.
const MeasurementsVersion = 1

// The files of an image directory.
const (
	FileMeasurements = "measurement.json"
	FileImage        = "image.json"
)

// maxJSON bounds image.json and measurement.json.
const maxJSON = 16 << 20

// Files are the boot files of an image.
type Files struct {
	Firmware string `json:"firmware"`
	Kernel   string `json:"kernel"`
	Initrd   string `json:"initrd"`
	Cmdline  string `json:"cmdline"`
}

// Shapes are the VM shapes measured: vCPU counts and vCPU types.
type Shapes struct {
	VCPUs     []int
	VCPUTypes []string
}

// DefaultShapes are 1 to 8 vCPUs of the EPYC generations SEV-SNP runs on.
func DefaultShapes() Shapes {
	return Shapes{VCPUs: []int{1, 2, 3, 4, 5, 6, 7, 8}, VCPUTypes: []string{"EPYC-Milan", "EPYC-Genoa", "EPYC-Turin"}}
}

// Measurements is measurement.json: the launch measurement of every VM shape
// of one image, and what each covers.
type Measurements struct {
	Version int `json:"version"`
	// Inputs are the SHA-256 of the files measured (hex) and the command
	// line, so that anyone can recompute the digests.
	Inputs struct {
		Firmware string `json:"firmware"`
		Kernel   string `json:"kernel"`
		Initrd   string `json:"initrd"`
		Cmdline  string `json:"cmdline"`
	} `json:"inputs"`
	SNP []SNPMeasurement `json:"snp"`
	// SNPCovers says what the SEV-SNP digests cover: the kernel, initrd
	// and command line only where the firmware has SEV's kernel-hashes
	// table.
	SNPCovers string `json:"snpCovers"`
	// TDX is the MRTD and RTMRs of a TDX launch, absent when the firmware
	// is not TDVF; TDXNote says what they cover or why they are absent.
	TDX     *TDXMeasurement `json:"tdx,omitempty"`
	TDXNote string          `json:"tdxNote"`
}

// SNPMeasurement is the SEV-SNP launch digest of one VM shape.
type SNPMeasurement struct {
	VCPUs       int    `json:"vcpus"`
	VCPUType    string `json:"vcpuType"`
	Measurement string `json:"measurement"` // hex, 48 bytes
}

// TDXMeasurement is the TDX measurement of the image (the same for every
// vCPU count).
type TDXMeasurement struct {
	MRTD        string `json:"mrtd"`
	RTMR1       string `json:"rtmr1,omitempty"`
	RTMR2       string `json:"rtmr2,omitempty"`
	Conventions string `json:"conventions"`
}

// The texts of SNPCovers.
const (
	CoversAll          = "firmware, kernel, initrd and command line (the firmware's SEV kernel-hashes table)"
	CoversFirmwareOnly = "firmware only: this firmware has no SEV kernel-hashes table, so the kernel, initrd and command line are NOT part of the SEV-SNP measurement"
)

// Compute measures the image's files for every shape. The firmware's
// pages, its layout and the kernel hashes are computed once; only the VMSA
// pages differ between shapes.
func Compute(f Files, shapes Shapes) (*Measurements, error) {
	m := &Measurements{Version: MeasurementsVersion}
	m.Inputs.Cmdline = f.Cmdline
	fw, err := inputfile.Read(f.Firmware, measure.MaxFirmwareSize)
	if err != nil {
		return nil, err
	}
	m.Inputs.Firmware = hex.EncodeToString(sha256Sum(fw))
	var kernel measure.SEVHashes
	for _, in := range []struct {
		path     string
		hexSum   *string
		sevSum   *[32]byte
		maxBytes int64
	}{
		{f.Kernel, &m.Inputs.Kernel, &kernel.Kernel, measure.MaxKernelSize},
		{f.Initrd, &m.Inputs.Initrd, &kernel.Initrd, measure.MaxInitrdSize},
	} {
		sum, err := fileSHA256(in.path, in.maxBytes)
		if err != nil {
			return nil, err
		}
		*in.sevSum = sum
		*in.hexSum = hex.EncodeToString(sum[:])
	}
	if kernel.Cmdline, err = measure.CmdlineSHA256(f.Cmdline); err != nil {
		return nil, err
	}
	ovmfHash, err := measure.OVMFHash(fw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Firmware, err)
	}
	layout, err := measure.ParseSNPLayout(fw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Firmware, err)
	}
	m.SNPCovers = CoversAll
	hashes := &kernel
	for _, typ := range shapes.VCPUTypes {
		sig, err := measure.VCPUSignature(typ)
		if err != nil {
			return nil, err
		}
		for _, n := range shapes.VCPUs {
			o := measure.SNPOptions{VCPUs: n, VCPUSig: sig, VMM: measure.VMMQEMU, GuestFeatures: measure.DefaultGuestFeatures, Kernel: hashes}
			digest, err := measure.SNPLaunchDigest(ovmfHash, layout, o)
			if errors.Is(err, measure.ErrNoKernelHashes) {
				// This firmware cannot measure a direct kernel boot: the
				// digest is the firmware's alone, and says so.
				hashes, o.Kernel = nil, nil
				m.SNPCovers = CoversFirmwareOnly
				digest, err = measure.SNPLaunchDigest(ovmfHash, layout, o)
			}
			if err != nil {
				return nil, fmt.Errorf("SEV-SNP, %d × %s: %w", n, typ, err)
			}
			m.SNP = append(m.SNP, SNPMeasurement{VCPUs: n, VCPUType: typ, Measurement: hex.EncodeToString(digest[:])})
		}
	}
	m.TDX, m.TDXNote = measureTDX(f)
	return m, nil
}

// measureTDX is the image's TDX measurement with the default conventions,
// or nil and why not.
func measureTDX(f Files) (*TDXMeasurement, string) {
	c, err := measure.TDXProfile(measure.DefaultTDXProfile)
	if err != nil {
		return nil, "not computed: " + err.Error()
	}
	rec, err := measure.MeasureTDXFiles(measure.TDXRequest{OVMF: f.Firmware, Kernel: f.Kernel, Initrd: f.Initrd, Cmdline: f.Cmdline, Conventions: c})
	if err != nil {
		if rec, err2 := measure.MeasureTDXFiles(measure.TDXRequest{OVMF: f.Firmware, Conventions: c}); err2 == nil {
			return &TDXMeasurement{MRTD: hex.EncodeToString(rec.MRTD), Conventions: rec.Assumed},
				"MRTD only (the firmware): RTMR[1..2] could not be computed: " + err.Error()
		}
		return nil, "not computable: " + err.Error()
	}
	t := &TDXMeasurement{MRTD: hex.EncodeToString(rec.MRTD), RTMR1: hex.EncodeToString(rec.RTMR1), RTMR2: hex.EncodeToString(rec.RTMR2), Conventions: rec.Assumed}
	return t, "MRTD (firmware), RTMR[1] (kernel), RTMR[2] (command line and initrd) under the conventions named; RTMR[0] depends on the VM's ACPI tables and is not recorded"
}

func fileSHA256(p string, limit int64) ([32]byte, error) {
	var sum [32]byte
	f, err := inputfile.Open(p, limit)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("%s: %w", p, err)
	}
	h.Sum(sum[:0])
	return sum, nil
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// Marshal returns measurement.json's bytes: deterministic, indented, with a
// final newline.
func (m *Measurements) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// DecodeMeasurements reads measurement.json strictly.
func DecodeMeasurements(data []byte) (*Measurements, error) {
	var m Measurements
	if err := strictjson.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", FileMeasurements, err)
	}
	if m.Version != MeasurementsVersion {
		return nil, fmt.Errorf("%s: version %d, want %d", FileMeasurements, m.Version, MeasurementsVersion)
	}
	if len(m.SNP) == 0 && m.TDX == nil {
		return nil, fmt.Errorf("%s: no measurement at all", FileMeasurements)
	}
	seen := map[string]bool{}
	for i, s := range m.SNP {
		if err := checkHex(s.Measurement, 48); err != nil {
			return nil, fmt.Errorf("%s: snp[%d].measurement: %w", FileMeasurements, i, err)
		}
		if s.VCPUs < 1 || s.VCPUs > measure.MaxVCPUs {
			return nil, fmt.Errorf("%s: snp[%d].vcpus: %d is out of range", FileMeasurements, i, s.VCPUs)
		}
		if !slices.Contains(measure.VCPUTypes(), s.VCPUType) {
			return nil, fmt.Errorf("%s: snp[%d].vcpuType: unknown type %q", FileMeasurements, i, s.VCPUType)
		}
		key := fmt.Sprint(s.VCPUs, s.VCPUType)
		if seen[key] {
			return nil, fmt.Errorf("%s: snp[%d]: %d × %s listed twice", FileMeasurements, i, s.VCPUs, s.VCPUType)
		}
		seen[key] = true
	}
	if t := m.TDX; t != nil {
		for _, r := range []struct{ name, v string }{{"mrtd", t.MRTD}, {"rtmr1", t.RTMR1}, {"rtmr2", t.RTMR2}} {
			if r.v == "" && r.name != "mrtd" {
				continue
			}
			if err := checkHex(r.v, 48); err != nil {
				return nil, fmt.Errorf("%s: tdx.%s: %w", FileMeasurements, r.name, err)
			}
		}
	}
	return &m, nil
}

func checkHex(s string, n int) error {
	if len(s) != 2*n || strings.ToLower(s) != s {
		return fmt.Errorf("want %d lower-case hex digits", 2*n)
	}
	_, err := hex.DecodeString(s)
	return err
}

// ReadMeasurements reads dir's measurement.json (or the file dir names).
func ReadMeasurements(dir string) (*Measurements, error) {
	p := dir
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		p = filepath.Join(dir, FileMeasurements)
	}
	data, err := inputfile.Read(p, maxJSON)
	if err != nil {
		return nil, err
	}
	return DecodeMeasurements(data)
}

// LookupSNP returns the SEV-SNP digest of a VM shape.
func (m *Measurements) LookupSNP(vcpuType string, vcpus int) ([]byte, bool) {
	for _, s := range m.SNP {
		if s.VCPUs == vcpus && s.VCPUType == vcpuType {
			b, err := hex.DecodeString(s.Measurement)
			return b, err == nil
		}
	}
	return nil, false
}

// Match says which of the image's shapes has the launch measurement got:
// "sev-snp 4 × EPYC-Milan", "tdx (MRTD)", or an error naming none.
func (m *Measurements) Match(got []byte) (string, error) {
	for _, s := range m.SNP {
		if b, err := hex.DecodeString(s.Measurement); err == nil && bytes.Equal(b, got) {
			return fmt.Sprintf("sev-snp %d × %s (covers %s)", s.VCPUs, s.VCPUType, m.SNPCovers), nil
		}
	}
	if t := m.TDX; t != nil {
		if b, err := hex.DecodeString(t.MRTD); err == nil && bytes.Equal(b, got) {
			return "tdx MRTD (" + m.TDXNote + ")", nil
		}
	}
	return "", errors.New("the launch measurement is none of the image's " + fmt.Sprint(len(m.SNP)) + " SEV-SNP digests or its TDX MRTD")
}
