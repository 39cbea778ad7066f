package measure

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// sharedFixtures is ../shared/fixtures relative to the repository root,
// which is three levels up from this package.
const sharedFixtures = "../../../shared/fixtures"

// fixture reads a file of the shared fixtures, skipping the test when they
// are not there, and checks its SHA-256 against the one VECTORS.md gives.
func fixture(t testing.TB, rel, wantSHA256 string) []byte {
	t.Helper()
	p := filepath.Join(sharedFixtures, rel)
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		t.Skipf("shared fixture %s not present (it lives in ../shared/fixtures next to the repository); skipping", p)
	}
	if err != nil {
		t.Fatal(err)
	}
	if s := sha256.Sum256(b); hex.EncodeToString(s[:]) != wantSHA256 {
		t.Fatalf("%s: sha256 %x, VECTORS.md says %s", p, s, wantSHA256)
	}
	return b
}

func fixturePath(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(sharedFixtures, rel)
	if _, err := os.Stat(p); os.IsNotExist(err) {
		t.Skipf("shared fixture %s not present (it lives in ../shared/fixtures next to the repository); skipping", p)
	}
	return p
}

// The shared fixtures, with the SHA-256 VECTORS.md gives for each.
const (
	amdSevSuffix   = "sev-snp-measure/ovmf_AmdSev_suffix.bin"
	amdSevSHA256   = "8f765dfabc127fc0a938a0744a3103ec15864d7d794eb4c398aa976b6d6ab16c"
	ovmfX64Suffix  = "sev-snp-measure/ovmf_OvmfX64_suffix.bin"
	ovmfX64SHA256  = "b4c021e085fb83ceffe6571a3d357b4a98773c83c474e47f76c876708fe316da"
	synthKernel    = "sev-snp-measure/synthetic-kernel.bin"
	synthKernelSHA = "6657325332983e755558feb56e9f1339e61b3be8dd718b2f0d63774fdb57d5d3"
	synthInitrd    = "sev-snp-measure/synthetic-initrd.bin"
	synthInitrdSHA = "5d12099c945a2cdb8ffb51321560d699cab145462c500d45dd5a0ab291e84c4e"
	debianOVMF     = "tdx-measure/debian-ovmf-2022.11-6+deb12u2-OVMF.fd"
	debianOVMFSHA  = "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unhex48(t testing.TB, s string) [48]byte {
	t.Helper()
	var a [48]byte
	if copy(a[:], unhex(t, s)) != 48 {
		t.Fatalf("%q is not 48 bytes", s)
	}
	return a
}
