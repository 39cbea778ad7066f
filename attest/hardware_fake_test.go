package attest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/uuid"
	"github.com/kettle-build/kettle/attest/sim"
)

// fakeKernel plays the kernel's side of configfs-tsm
// (Documentation/ABI/testing/configfs-tsm) on a plain directory tree: mkdir
// of an entry creates its attributes (inblob, outblob, auxblob, provider,
// generation, privlevel, privlevel_floor); each write bumps generation; a
// write to inblob produces outblob and auxblob, as reading them would on the
// real kernel; rmdir takes the attributes away.
type fakeKernel struct {
	t        testing.TB
	provider string
	// produce returns the outblob and auxblob for an inblob.
	produce func(inblob []byte) (out, aux []byte, err error)
	// extraGeneration simulates another writer on the same entry.
	extraGeneration bool
	writes          []string
}

var tsmAttributes = []string{"inblob", "outblob", "auxblob", "provider", "generation", "privlevel", "privlevel_floor"}

func (k *fakeKernel) hook(op, path string) error {
	switch op {
	case "mkdir":
		for _, a := range tsmAttributes {
			content := ""
			switch a {
			case "provider":
				content = k.provider + "\n"
			case "generation", "privlevel", "privlevel_floor":
				content = "0\n"
			}
			if err := os.WriteFile(filepath.Join(path, a), []byte(content), 0o644); err != nil {
				return err
			}
		}
	case "write":
		dir, attr := filepath.Split(path)
		k.writes = append(k.writes, attr)
		gen, err := os.ReadFile(filepath.Join(dir, "generation"))
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(gen)))
		if err != nil {
			return err
		}
		n++
		if k.extraGeneration {
			n++
		}
		if err := os.WriteFile(filepath.Join(dir, "generation"), []byte(fmt.Sprintf("%d\n", n)), 0o644); err != nil {
			return err
		}
		if attr != "inblob" {
			return nil
		}
		in, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if len(in) > 64 {
			return syscall.EINVAL
		}
		out, aux, err := k.produce(in)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "outblob"), out, 0o644); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "auxblob"), aux, 0o644)
	case "rmdir":
		for _, a := range tsmAttributes {
			if err := os.Remove(filepath.Join(path, a)); err != nil {
				return err
			}
		}
	}
	return nil
}

// fakeTree makes root/sys/kernel/config/tsm/report and root/proc/cpuinfo.
func fakeTree(t testing.TB, vendor string) string {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, ConfigfsTSMReport), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "proc/cpuinfo"), []byte("vendor_id\t: "+vendor+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// simSNPChip answers inblobs as the simulated chip's secure processor would,
// with the certificate table a host would hand over.
func simSNPChip(t testing.TB, withTable func(chain sim.Chain) []abi.CertTableEntry) func([]byte) ([]byte, []byte, error) {
	s, err := sim.NewSNPSigner()
	if err != nil {
		t.Fatal(err)
	}
	return func(in []byte) ([]byte, []byte, error) {
		var f sim.ReportFields
		copy(f.ReportData[:], in)
		copy(f.Measurement[:], DefaultSimMeasurement())
		raw, err := s.Sign(sim.NewSNPReport(f))
		if err != nil {
			return nil, nil, err
		}
		table := abi.CertTable{Entries: withTable(s.Chain())}
		return raw, table.Marshal(), nil
	}
}

func fullTable(c sim.Chain) []abi.CertTableEntry {
	return []abi.CertTableEntry{
		{GUID: uuid.MustParse(abi.VcekGUID), RawCert: c.VCEK},
		{GUID: uuid.MustParse(abi.AskGUID), RawCert: c.ASK},
		{GUID: uuid.MustParse(abi.ArkGUID), RawCert: c.ARK},
	}
}

// TestConfigfsTSMSNP runs the sev-snp backend's configfs-tsm path, unchanged,
// against a fake configfs tree whose "kernel" signs with the simulated chip:
// the evidence carries the report for our REPORT_DATA and the chain from the
// auxblob's certificate table, and verifies (relabelled sim-snp, since the
// chip is Kettle's TEST-ONLY one; as sev-snp it fails at the pinned AMD ARK).
func TestConfigfsTSMSNP(t *testing.T) {
	root := fakeTree(t, "AuthenticAMD")
	if p, err := Detect(root); err != nil || p != PlatformSEVSNP {
		t.Fatalf("Detect = %v, %v", p, err)
	}
	k := &fakeKernel{t: t, provider: "sev_guest", produce: simSNPChip(t, fullTable)}
	h, err := newHardware(context.Background(), PlatformSEVSNP, root, AttesterOptions{}, k.hook)
	if err != nil {
		t.Fatalf("newHardware: %v", err)
	}
	if !bytes.Equal(h.Measurement(), DefaultSimMeasurement()) {
		t.Errorf("measurement %x, want the chip's %x", h.Measurement(), DefaultSimMeasurement())
	}
	var digest, nonce [32]byte
	copy(digest[:], "provenance")
	copy(nonce[:], "nonce")
	rd := ReportData(digest, nonce)
	ev, err := h.Attest(context.Background(), rd)
	if err != nil {
		t.Fatalf("Attest: %v", err)
	}
	if ev.Platform != PlatformSEVSNP || ev.Device != DeviceConfigfsTSM {
		t.Errorf("evidence platform %s device %q, want sev-snp from configfs-tsm", ev.Platform, ev.Device)
	}
	if got := strings.Join(k.writes, ","); got != "inblob,inblob" {
		t.Errorf("attributes written: %s, want inblob once per report", got)
	}
	entries, err := os.ReadDir(filepath.Join(root, ConfigfsTSMReport))
	if err != nil || len(entries) != 0 {
		t.Errorf("report entries left behind: %v, %v", entries, err)
	}
	if _, err := Verify(context.Background(), ev, VerifyOptions{Now: testNow}); err == nil || !strings.Contains(err.Error(), "certificates.ark: not the AMD ARK") {
		t.Errorf("as sev-snp: %v, want the chain step to refuse the test ARK", err)
	}
	sim := cloneEvidence(ev)
	sim.Platform = PlatformSimSNP
	claims, err := Verify(context.Background(), sim, simOptions())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if claims.ReportData != rd || claims.Device != DeviceConfigfsTSM {
		t.Errorf("claims report data %x device %q", claims.ReportData, claims.Device)
	}
}

func TestConfigfsTSMSNPErrors(t *testing.T) {
	vcekOnly := func(c sim.Chain) []abi.CertTableEntry { return fullTable(c)[:1] }
	noVCEK := func(c sim.Chain) []abi.CertTableEntry { return fullTable(c)[1:] }
	for _, tc := range []struct {
		name     string
		provider string
		table    func(sim.Chain) []abi.CertTableEntry
		extraGen bool
		want     string
	}{
		{"no VCEK in the certificate table", "sev_guest", noVCEK, false, "the host supplied no VCEK certificate"},
		{"another provider", "tdx_guest", fullTable, false, `configfs-tsm provider is "tdx_guest", want "sev_guest"`},
		{"a concurrent writer", "sev_guest", fullTable, true, "report generation was"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fakeTree(t, "AuthenticAMD")
			k := &fakeKernel{t: t, provider: tc.provider, produce: simSNPChip(t, tc.table), extraGeneration: tc.extraGen}
			_, err := newHardware(context.Background(), PlatformSEVSNP, root, AttesterOptions{}, k.hook)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("newHardware = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// The host left out the ASK and ARK: AMD's published ones for the
	// report's product line complete the chain.
	root := fakeTree(t, "AuthenticAMD")
	k := &fakeKernel{t: t, provider: "sev_guest", produce: simSNPChip(t, vcekOnly)}
	h, err := newHardware(context.Background(), PlatformSEVSNP, root, AttesterOptions{}, k.hook)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := h.Attest(context.Background(), [64]byte{})
	if err != nil {
		t.Fatal(err)
	}
	_, ark := milanChain(t)
	if !bytes.Equal(ev.Certificates[CertARK], ark) {
		t.Error("the ARK filled in is not AMD's Milan ARK")
	}
	// Options a hardware backend refuses.
	if _, err := newHardware(context.Background(), PlatformSEVSNP, root, AttesterOptions{Measurement: make([]byte, 48)}, k.hook); err == nil {
		t.Error("a measurement was accepted for hardware")
	}
	if _, err := newHardware(context.Background(), PlatformSEVSNP, root, AttesterOptions{HostData: [32]byte{1}}, k.hook); err == nil {
		t.Error("host data was accepted for hardware")
	}
}

// TestConfigfsTSMTDX runs the tdx backend against a fake configfs tree whose
// "kernel" quotes with the simulated TDX platform.
func TestConfigfsTSMTDX(t *testing.T) {
	root := fakeTree(t, "GenuineIntel")
	if p, err := Detect(root); err != nil || p != PlatformTDX {
		t.Fatalf("Detect = %v, %v", p, err)
	}
	s, err := sim.NewTDXSigner()
	if err != nil {
		t.Fatal(err)
	}
	produce := func(in []byte) ([]byte, []byte, error) {
		var f sim.TDXFields
		copy(f.ReportData[:], in)
		copy(f.MRTD[:], DefaultSimTDXMeasurement())
		q, err := s.Sign(s.NewTDXQuote(f))
		return q, nil, err
	}
	k := &fakeKernel{t: t, provider: "tdx_guest", produce: produce}
	h, err := newHardware(context.Background(), PlatformTDX, root, AttesterOptions{}, k.hook)
	if err != nil {
		t.Fatalf("newHardware: %v", err)
	}
	if !bytes.Equal(h.Measurement(), DefaultSimTDXMeasurement()) {
		t.Errorf("MRTD %x", h.Measurement())
	}
	rd := [64]byte{7, 7, 7}
	ev, err := h.Attest(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(context.Background(), ev, VerifyOptions{Now: testNow}); err == nil || !strings.Contains(err.Error(), "not the Intel SGX root") {
		t.Errorf("as tdx: %v, want the chain step to refuse the test root", err)
	}
	ev.Platform = PlatformSimTDX
	claims, err := Verify(context.Background(), ev, simOptions())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if claims.ReportData != rd || claims.Device != DeviceConfigfsTSM {
		t.Errorf("claims report data %x device %q", claims.ReportData, claims.Device)
	}
	// Without configfs-tsm there is no TDX path.
	if _, err := newHardware(context.Background(), PlatformTDX, t.TempDir(), AttesterOptions{}, nil); err == nil || !strings.Contains(err.Error(), "is not there") {
		t.Errorf("no configfs: %v", err)
	}
}

// TestSEVGuestDevice runs the /dev/sev-guest fallback against a fake tree
// whose dev/sev-guest is a plain file: the device opens, and the ioctl
// fails clearly, naming the path (a plain file is no SEV guest device).
func TestSEVGuestDevice(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, DevSEVGuest), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if p, err := Detect(root); err != nil || p != PlatformSEVSNP {
		t.Fatalf("Detect = %v, %v", p, err)
	}
	_, err := newHardware(context.Background(), PlatformSEVSNP, root, AttesterOptions{}, nil)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, DevSEVGuest)) {
		t.Errorf("newHardware on a plain file = %v, want an error naming the device", err)
	}
	if _, err := newHardware(context.Background(), PlatformSEVSNP, t.TempDir(), AttesterOptions{}, nil); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Errorf("no device: %v", err)
	}
}

// TestSNPEvidenceFromTable covers snpEvidence on what hosts hand over.
func TestSNPEvidenceFromTable(t *testing.T) {
	s, err := sim.NewSNPSigner()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.Sign(sim.NewSNPReport(sim.ReportFields{}))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Chain()
	padded := append(append([]byte(nil), c.VCEK...), make([]byte, 100)...)
	table := abi.CertTable{Entries: []abi.CertTableEntry{{GUID: uuid.MustParse(abi.VcekGUID), RawCert: padded}}}
	ev, err := snpEvidence(raw, table.Marshal(), DeviceSEVGuest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ev.Certificates[CertVCEK], c.VCEK) {
		t.Error("padding was not dropped from the VCEK")
	}
	if _, err := snpEvidence(raw[:100], nil, DeviceSEVGuest); err == nil || !strings.Contains(err.Error(), "report is 100 bytes") {
		t.Errorf("short report: %v", err)
	}
	if _, err := snpEvidence(raw, []byte{1, 2, 3}, DeviceSEVGuest); err == nil || !strings.Contains(err.Error(), "certificate table") {
		t.Errorf("bad table: %v", err)
	}
}

// FuzzSNPCertTable feeds snpEvidence certificate tables as an untrusted host
// could hand them over: nothing panics, and evidence is returned only with
// a complete, parseable chain.
func FuzzSNPCertTable(f *testing.F) {
	s, err := sim.NewSNPSigner()
	if err != nil {
		f.Fatal(err)
	}
	raw, err := s.Sign(sim.NewSNPReport(sim.ReportFields{}))
	if err != nil {
		f.Fatal(err)
	}
	full := abi.CertTable{Entries: fullTable(s.Chain())}
	f.Add(full.Marshal())
	vcekOnly := abi.CertTable{Entries: fullTable(s.Chain())[:1]}
	f.Add(vcekOnly.Marshal())
	f.Add([]byte{})
	f.Add(make([]byte, 24))
	f.Fuzz(func(t *testing.T, table []byte) {
		ev, err := snpEvidence(raw, table, DeviceConfigfsTSM)
		if err != nil {
			return
		}
		if err := ev.validate(); err != nil {
			t.Fatalf("snpEvidence returned evidence that does not validate: %v", err)
		}
	})
}
