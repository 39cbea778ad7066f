package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMeasureCLI runs `kettle measure snp` on vectors of
// ../shared/fixtures/sev-snp-measure/VECTORS.md through the binary, as a
// user would: the digest is the last line, errors exit non-zero.
func TestMeasureCLI(t *testing.T) {
	fx := filepath.Join(e2e.repo, "..", "shared", "fixtures", "sev-snp-measure")
	if _, err := os.Stat(fx); err != nil {
		t.Skipf("../shared/fixtures/sev-snp-measure is not present (%v): skipping the vector checks", err)
	}
	f := func(name string) string { return filepath.Join(fx, name) }
	cases := []struct {
		name string
		args []string
		want string // last line of stdout, or "" for an error
		err  string // in stderr when want == ""
	}{
		{"S1 ovmf-hash", []string{"--mode", "snp:ovmf-hash", "--ovmf", f("ovmf_AmdSev_suffix.bin")},
			"086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74", ""},
		{"S10 kernel initrd cmdline", []string{"--ovmf", f("ovmf_AmdSev_suffix.bin"), "--vcpus", "2", "--vcpu-type", "EPYC-Milan",
			"--kernel", f("synthetic-kernel.bin"), "--initrd", f("synthetic-initrd.bin"), "--append", "console=ttyS0 init=/init kettle.test=1"},
			"f936f20fbe5e7900f0757c024bc238ebfe84e2566baa2363d4a88802b870410fb9cd61fd930c5a42784bb75dc64e21d1", ""},
		{"S9 no kernel hashes", []string{"--ovmf", f("ovmf_OvmfX64_suffix.bin"), "--vcpus", "1", "--vcpu-type", "EPYC-v4",
			"--guest-features", "0x21", "--kernel", os.DevNull, "--initrd", os.DevNull, "--append", ""}, "", "SNP_KERNEL_HASHES"},
		{"unknown vCPU type", []string{"--ovmf", f("ovmf_AmdSev_suffix.bin"), "--vcpus", "1", "--vcpu-type", "EPYC-Nope"}, "", "EPYC-Nope"},
		{"vCPU count 0", []string{"--ovmf", f("ovmf_AmdSev_suffix.bin"), "--vcpus", "0", "--vcpu-type", "EPYC-v4"}, "", "vcpu"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := kettle(t, append([]string{"measure", "snp"}, tc.args...)...)
			if tc.want == "" {
				if r.code == 0 {
					t.Fatalf("succeeded: %s", r.stdout)
				}
				if !strings.Contains(strings.ToLower(r.stderr), strings.ToLower(tc.err)) {
					t.Errorf("stderr does not mention %q: %s", tc.err, r.stderr)
				}
				return
			}
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if got := lines[len(lines)-1]; got != tc.want {
				t.Errorf("last line %q, want %q", got, tc.want)
			}
		})
	}
}
