package nixinputs

import (
	"reflect"
	"testing"
)

func TestParseCheckMismatch(t *testing.T) {
	const drv, out, dev = "/nix/store/wpndm96rmwxhkx26l7gix8l4mll2parj-stamped.drv", "/nix/store/k254pjp56ci6z5lr986hs1blzfmnkh4q-stamped", "/nix/store/k254pjp56ci6z5lr986hs1blzfmnkh4q-stamped-dev"
	for _, tc := range []struct {
		name, stderr string
		want         CheckResult
	}{
		{
			// Nix 2.8 with run-diff-hook or keep-failed, as this machine's prints it.
			name:   "nix 2.8, kept",
			stderr: "checking outputs of '" + drv + "'...\nerror: derivation '" + drv + "' may not be deterministic: output '" + out + "' differs from '" + out + ".check'\n",
			want:   CheckResult{Differs: map[string]string{out: out + ".check"}},
		},
		{
			name:   "nix 2.8, keep-failed, build directory kept",
			stderr: "checking outputs of '" + drv + "'...\nnote: keeping build directory '/tmp/nix-build-stamped.drv-0'\nerror: derivation '" + drv + "' may not be deterministic: output '" + out + "' differs from '" + out + ".check'\n",
			want:   CheckResult{Differs: map[string]string{out: out + ".check"}, KeptBuildDir: "/tmp/nix-build-stamped.drv-0"},
		},
		{
			name:   "nothing kept (a daemon that refused run-diff-hook)",
			stderr: "error: derivation '" + drv + "' may not be deterministic: output '" + out + "' differs\n",
			want:   CheckResult{Differs: map[string]string{out: ""}},
		},
		{
			// Lix and later Nix list every output that differs.
			name: "every output listed",
			stderr: "\x1b[31;1merror:\x1b[0m derivation '" + drv + "' may not be deterministic: outputs differ\n" +
				"  output differs: output '" + out + "' differs from '" + out + ".check'\n" +
				"  output '" + dev + "' differs\n",
			want: CheckResult{Differs: map[string]string{out: out + ".check", dev: ""}, Listed: true},
		},
		{
			// What a builder prints comes before Nix's error, and a kept path
			// is always <output>.check.
			name: "a builder's log naming other paths",
			stderr: "output '/nix/store/fake' differs from '/nix/store/fake.check'\n" +
				"error: derivation '" + drv + "' may not be deterministic: output '" + out + "' differs from '/etc/shadow'\n",
			want: CheckResult{Differs: map[string]string{}},
		},
		{
			name:   "another failure",
			stderr: "error: builder for '" + drv + "' failed with exit code 1",
			want:   CheckResult{Differs: map[string]string{}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseCheckMismatch(tc.stderr)
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func TestIsCheckMismatch(t *testing.T) {
	for code, want := range map[int]bool{
		104: true,  // not deterministic
		108: true,  // not deterministic, and another build failed
		100: false, // build failure
		101: false, // timeout
		102: false, // hash mismatch
		1:   false,
		0:   false,
		8:   false,
		232: false,
	} {
		if got := isCheckMismatch(code); got != want {
			t.Errorf("isCheckMismatch(%d) = %t, want %t", code, got, want)
		}
	}
}

func TestDecodeRealisedBad(t *testing.T) {
	const drv = "/nix/store/x.drv"
	for _, out := range []string{"", "\n\n", "relative/path\n", "/nix/store/a b\n", "/nix/store/a\nnot a path\n"} {
		if got, err := decodeRealised(drv, []byte(out)); err == nil {
			t.Errorf("decodeRealised(%q) = %v, want an error", out, got)
		}
	}
	got, err := decodeRealised(drv, []byte("/nix/store/b-dev\n/nix/store/a\n"))
	if err != nil || !reflect.DeepEqual(got, []string{"/nix/store/a", "/nix/store/b-dev"}) {
		t.Errorf("two outputs: %v, %v", got, err)
	}
}

// FuzzParseCheckMismatch reads Nix's standard error after a check-mode
// rebuild, which carries the builder's log too.
func FuzzParseCheckMismatch(f *testing.F) {
	f.Add("error: derivation '/nix/store/x.drv' may not be deterministic: output '/nix/store/x' differs from '/nix/store/x.check'\n")
	f.Add("note: keeping build directory '/tmp/nix-build-x.drv-0'\nerror: derivation '/nix/store/x.drv' may not be deterministic: outputs differ\n  output '/nix/store/x' differs\n")
	f.Add("output 'a' differs from 'b'\nerror:")
	f.Fuzz(func(t *testing.T, stderr string) {
		res := parseCheckMismatch(stderr)
		for p, kept := range res.Differs {
			if kept != "" && kept != p+".check" {
				t.Fatalf("%q kept at %q", p, kept)
			}
		}
		_, _ = decodeRealised("/nix/store/x.drv", []byte(stderr))
	})
}
