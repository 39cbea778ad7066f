package measure

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// realKernels are the distribution kernels to cross-check with: those in
// /boot and the one $KETTLE_TEST_KERNEL names (for example a vmlinuz taken
// out of Debian's linux-image-cloud-amd64 package with dpkg-deb -x).
func realKernels(t *testing.T) []string {
	ks, _ := filepath.Glob("/boot/vmlinuz-*")
	if k := os.Getenv("KETTLE_TEST_KERNEL"); k != "" {
		ks = append(ks, k)
	}
	if len(ks) == 0 {
		t.Skip("no kernel in /boot and $KETTLE_TEST_KERNEL unset; skipping the cross-check with a distribution kernel")
	}
	return ks
}

// TestAuthenticodeRealKernel checks the Authenticode digest of real, signed
// distribution kernels against pesign's (`pesign -h`, SHA-256; the same
// ranges are hashed whatever the hash) and measures them for TDX under
// every profile.
func TestAuthenticodeRealKernel(t *testing.T) {
	pesign, err := exec.LookPath("pesign")
	if err != nil {
		t.Skip("pesign not on PATH (Debian package pesign); skipping the cross-check")
	}
	for _, k := range realKernels(t) {
		b, err := os.ReadFile(k)
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(pesign, "-h", "-i", k).CombinedOutput()
		if err != nil {
			t.Fatalf("pesign -h -i %s: %v\n%s", k, err, out)
		}
		want, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "hash: ")
		if !ok {
			t.Fatalf("pesign printed %q", out)
		}
		h := sha256.New()
		if err := authenticode(b, h); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			t.Errorf("%s: Authenticode SHA-256 %s, pesign says %s", k, got, want)
		}
		for _, name := range TDXProfiles() {
			c, _ := TDXProfile(name)
			boot := &TDXBoot{Kernel: b, Cmdline: "console=ttyS0", Initrd: &TDXInitrd{Size: 30 << 20}}
			if _, err := boot.KernelDigest(c); err != nil {
				t.Errorf("%s under %s: %v", k, name, err)
			}
		}
	}
}
