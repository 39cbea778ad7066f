package measure

import (
	"crypto/sha512"
	"encoding/hex"
	"reflect"
	"testing"
)

// TestTDVFDebian checks the parsed TDVF sections of the Debian OVMF.fd
// against the table of tdx-measure/METHOD.md §4.
func TestTDVFDebian(t *testing.T) {
	fw := fixture(t, debianOVMF, debianOVMFSHA)
	got, err := ParseTDVF(fw)
	if err != nil {
		t.Fatal(err)
	}
	want := []TDVFSection{
		{0x20000, 0x1e0000, 0xffe20000, 0x1e0000, TDVFSectionBFV, TDVFAttrMRExtend},
		{0x0, 0x20000, 0xffe00000, 0x20000, TDVFSectionCFV, 0},
		{0, 0, 0x810000, 0x10000, TDVFSectionTempMem, 0},
		{0, 0, 0x80b000, 0x2000, TDVFSectionTempMem, 0},
		{0, 0, 0x809000, 0x2000, TDVFSectionTDHOB, 0},
		{0, 0, 0x800000, 0x6000, TDVFSectionTempMem, 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sections\n got %+v\nwant %+v", got, want)
	}
}

// TestTDXVectors runs the TDX values of tdx-measure/METHOD.md: MRTD of the
// Debian OVMF.fd in both page orders (§4, confirmed by contrast's tool in
// §5), and RTMR[2] for an empty command line and an empty initrd with both
// events counted (§5, contrast's append variant = virtee's formula).
func TestTDXVectors(t *testing.T) {
	fw := fixture(t, debianOVMF, debianOVMFSHA)
	for _, tc := range []struct {
		order MRTDOrder
		want  string
	}{
		{MRTDPerPage, "4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb231c47"},
		{MRTDSectionWise, "acccbcc870a381adab0d3919d90a7f268ac3b0364771f202ed4bb4e892d045b33db3b32e6924cba830a724eed443f7e1"},
	} {
		t.Run("MRTD/"+string(tc.order), func(t *testing.T) {
			c, _ := TDXProfile(DefaultTDXProfile)
			c.MRTDOrder = tc.order
			m, err := MeasureTDX(fw, nil, c)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(m.MRTD[:]) != tc.want {
				t.Errorf("MRTD %x\nwant %s", m.MRTD, tc.want)
			}
			if m.RTMR1 != nil || m.RTMR2 != nil {
				t.Error("RTMRs computed without a kernel")
			}
		})
	}
	t.Run("RTMR2/virtee-empty", func(t *testing.T) {
		c, _ := TDXProfile("virtee")
		ev, err := RTMR2Events("", &TDXInitrd{SHA384: sha512.Sum384(nil), Size: 0}, c)
		if err != nil {
			t.Fatal(err)
		}
		r := ReplayRTMR(ev)
		const want = "9406d3d5004a44b7be794ec4e6c9a597d7a776ddd67ebbf34ffa41d14ed39848f1fdf4f6adf8b9e1f3a0b87ce288c6c7"
		if hex.EncodeToString(r[:]) != want {
			t.Errorf("RTMR[2] %x\nwant %s", r, want)
		}
	})
}
