package launch

import (
	"strings"
	"testing"
)

func TestCheckVersion(t *testing.T) {
	const (
		debian = "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n"
		v91    = "QEMU emulator version 9.1.0\n"
		v100   = "QEMU emulator version 10.0.2 (qemu-10.0.2-1.fc42)\n"
		v101   = "QEMU emulator version 10.1.0\n"
	)
	tests := []struct {
		p    Platform
		out  string
		want string // "" for accepted
	}{
		{Plain, debian, ""},
		{SEVSNP, debian, "QEMU 7.2.22 cannot launch a sev-snp VM: it needs QEMU 9.1 or later (the sev-snp-guest object)"},
		{TDX, debian, "QEMU 7.2.22 cannot launch a tdx VM: it needs QEMU 10.1 or later (the tdx-guest object)"},
		{SEVSNP, v91, ""},
		{TDX, v91, "QEMU 9.1.0 cannot launch a tdx VM"},
		{TDX, v100, "QEMU 10.0.2 cannot launch a tdx VM"},
		{TDX, v101, ""},
		{SEVSNP, v101, ""},
		{Plain, "QEMU emulator version 6.2.0\n", "QEMU 6.2.0 cannot launch a plain VM"},
		{Plain, "qemu-img version 7.2.0\n", "no \"QEMU emulator version \""},
		{Plain, "QEMU emulator version 7.x\n", `part "x"`},
		{Plain, "QEMU emulator version 7\n", "want MAJOR.MINOR"},
		{"sev", v101, `platform "sev"`},
	}
	for _, tt := range tests {
		err := CheckVersion(tt.p, tt.out)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckVersion(%s, %q): %v; want nil", tt.p, tt.out, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("CheckVersion(%s, %q): %v; want an error with %q", tt.p, tt.out, err, tt.want)
		}
	}
}

func TestParseVersion(t *testing.T) {
	v, err := ParseVersion("QEMU emulator version 9.2 (x)")
	if err != nil || v != (Version{9, 2, 0}) {
		t.Errorf("ParseVersion: %v, %v; want 9.2.0", v, err)
	}
	if !(Version{9, 0, 5}).Less(Version{9, 1, 0}) || (Version{10, 0, 0}).Less(Version{9, 9, 9}) {
		t.Error("Less orders versions wrongly")
	}
}
