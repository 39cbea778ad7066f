package attest

import (
	"bytes"
	"context"
	"crypto/sha512"
	"errors"
	"strings"
	"testing"
)

func TestNewAttesterPlatforms(t *testing.T) {
	for _, tc := range []struct {
		p    Platform
		want string
	}{
		{PlatformSEVSNP, "sev-snp: neither /sys/kernel/config/tsm/report nor /dev/sev-guest is there"},
		{PlatformTDX, "tdx: /sys/kernel/config/tsm/report is not there"},
		{PlatformAzSNP, "az-snp: "}, // no Azure vTPM here
		{Platform("sgx"), "unknown attestation platform"},
		{Platform("snp"), "unknown attestation platform"}, // an alias ParsePlatform resolves
		{Platform(""), "unknown attestation platform"},
	} {
		a, err := NewAttester(tc.p, AttesterOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || a != nil {
			t.Errorf("NewAttester(%q) = %v, %v; want error containing %q", tc.p, a, err, tc.want)
		}
	}
}

func TestSimSNPMeasurement(t *testing.T) {
	want := sha512.Sum384([]byte("kettle-sim-snp-v1"))
	if !bytes.Equal(DefaultSimMeasurement(), want[:]) {
		t.Fatalf("DefaultSimMeasurement = %x, want SHA-384(kettle-sim-snp-v1)", DefaultSimMeasurement())
	}
	a, err := NewAttester(PlatformSimSNP, AttesterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Platform() != PlatformSimSNP || !bytes.Equal(a.Measurement(), want[:]) {
		t.Errorf("default attester: %s %x", a.Platform(), a.Measurement())
	}
	a.Measurement()[0] ^= 1 // must not reach the attester
	if !bytes.Equal(a.Measurement(), want[:]) {
		t.Error("Measurement returns the attester's own slice")
	}

	custom := bytes.Repeat([]byte{0xab}, 48)
	a, err = NewAttester(PlatformSimSNP, AttesterOptions{Measurement: custom})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Measurement(), custom) {
		t.Errorf("Measurement = %x, want %x", a.Measurement(), custom)
	}
	for _, n := range []int{0, 32, 47, 49, 64} {
		if _, err := NewAttester(PlatformSimSNP, AttesterOptions{Measurement: make([]byte, n)}); err == nil || !strings.Contains(err.Error(), "want 48") {
			t.Errorf("measurement of %d bytes: %v", n, err)
		}
	}
}

func TestSimSNPAttest(t *testing.T) {
	var hostData [32]byte
	copy(hostData[:], "the requester's nonce")
	m := bytes.Repeat([]byte{7}, 48)
	a, err := NewAttester(PlatformSimSNP, AttesterOptions{Measurement: m, HostData: hostData})
	if err != nil {
		t.Fatal(err)
	}
	var digest, nonce [32]byte
	copy(digest[:], "digest")
	copy(nonce[:], "nonce")
	rd := ReportData(digest, nonce)
	ev1, err := a.Attest(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	ev2, err := a.Attest(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	// One guest: the same REPORT_ID (0x140..0x160) in both reports.
	if !bytes.Equal(ev1.Report[0x140:0x160], ev2.Report[0x140:0x160]) {
		t.Error("two reports of one attester have different REPORT_IDs")
	}
	for _, ev := range []*Evidence{ev1, ev2} {
		c, err := Verify(context.Background(), ev, simOptions())
		if err != nil {
			t.Fatal(err)
		}
		if c.ReportData != rd || !bytes.Equal(c.HostData, hostData[:]) || !bytes.Equal(c.Measurement, m) {
			t.Errorf("claims %+v do not carry what was attested", c)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Attest(ctx, rd); !errors.Is(err, context.Canceled) {
		t.Errorf("Attest with a cancelled context: %v", err)
	}
}
