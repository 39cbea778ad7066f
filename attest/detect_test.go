package attest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestDetect(t *testing.T) {
	mk := func(t *testing.T, files map[string]string) string {
		root := t.TempDir()
		for p, content := range files {
			full := filepath.Join(root, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if content == "/" {
				if err := os.MkdirAll(full, 0o755); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return root
	}
	cases := []struct {
		name    string
		files   map[string]string
		want    Platform
		wantErr error
	}{
		{"sev-guest device", map[string]string{"dev/sev-guest": ""}, PlatformSEVSNP, nil},
		{"tdx-guest device", map[string]string{"dev/tdx_guest": ""}, PlatformTDX, nil},
		{"configfs on AMD", map[string]string{"sys/kernel/config/tsm/report": "/", "proc/cpuinfo": "vendor_id\t: AuthenticAMD\n"}, PlatformSEVSNP, nil},
		{"configfs on Intel", map[string]string{"sys/kernel/config/tsm/report": "/", "proc/cpuinfo": "vendor_id\t: GenuineIntel\n"}, PlatformTDX, nil},
		{"nothing", map[string]string{"proc/cpuinfo": "vendor_id\t: AuthenticAMD\n"}, "", ErrNoTEE},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Detect(mk(t, tc.files))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Detect = %q, %v; want %v", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Detect = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := Detect(mk(t, map[string]string{"sys/kernel/config/tsm/report": "/", "proc/cpuinfo": "vendor_id: Other"})); err == nil {
		t.Error("configfs with an unknown CPU vendor: no error")
	}
}
