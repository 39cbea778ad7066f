package tests

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kettle-build/kettle/provenance"
)

// SEV-SNP ATTESTATION_REPORT offsets (AMD SEV-SNP ABI, table "ATTESTATION_REPORT").
const (
	offReportData  = 0x50
	offMeasurement = 0x90
	offHostData    = 0xC0
	offSignature   = 0x2A0
)

// TestTamperMatrix changes one thing in a copy of a good bundle and checks
// that verification fails at the step that owns it.
func TestTamperMatrix(t *testing.T) {
	good := buildHello(t)
	flip := func(file string, pick func(data []byte) int) func(t *testing.T, b string) {
		return func(t *testing.T, b string) {
			p := filepath.Join(b, file)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			data[pick(data)] ^= 0x01
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	replaceIn := func(file, old, new string) func(t *testing.T, b string) {
		return func(t *testing.T, b string) {
			p := filepath.Join(b, file)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte(old)) {
				t.Fatalf("%s does not contain %q", file, old)
			}
			if err := os.WriteFile(p, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	reportByte := func(off int) func(t *testing.T, b string) {
		return func(t *testing.T, b string) {
			mutateEvidence(t, b, func(r []byte, _ map[string][]byte) { r[off] ^= 0x01 })
		}
	}
	artifact := func(t *testing.T, b string) string {
		arts, _ := filepath.Glob(filepath.Join(b, "artifacts", "*"))
		if len(arts) != 1 {
			t.Fatalf("artifacts: %v", arts)
		}
		return arts[0]
	}

	cases := []struct {
		name     string
		mutate   func(t *testing.T, bundle string)
		extra    []string // extra verify flags
		wantStep string
		wantText string // in the failing step's detail
	}{
		{"provenance byte", flip("provenance.json", func(d []byte) int { return bytes.Index(d, []byte(`"subject"`)) + 3 }), nil, "binding", "report_data[0:32]"},
		{"provenance digest of a subject", replaceIn("provenance.json", `"sha256": "`, `"sha256": "0`), nil, "binding", "report_data[0:32]"},
		{"manifest leaf", replaceIn("manifest.json", `"drv:/nix/store/`, `"drv:/nix/store/0`), nil, "manifest", "manifest.json"},
		{"manifest leaf digest", func(t *testing.T, b string) {
			// A well-formed leaf with another digest: the root no longer matches.
			p := filepath.Join(b, "manifest.json")
			data, _ := os.ReadFile(p)
			i := bytes.Index(data, []byte(`"src:/nix/store/`))
			j := i + bytes.IndexByte(data[i+1:], '"') // the closing quote
			c := data[j-1]
			data[j-1] = "01"[bytesIndex("01", c)^1]
			os.WriteFile(p, data, 0o644)
		}, nil, "manifest", "not the root"},
		{"manifest re-rooted with a forged leaf", func(t *testing.T, b string) {
			// An attacker who rewrites the manifest consistently (valid root
			// over the forged leaves) still fails: the provenance names the root.
			p := filepath.Join(b, "manifest.json")
			data, _ := os.ReadFile(p)
			m, err := provenance.DecodeManifest(data)
			if err != nil {
				t.Fatal(err)
			}
			var leaves []provenance.Leaf
			for _, s := range m.Leaves {
				l, err := provenance.ParseLeaf(s)
				if err != nil {
					t.Fatal(err)
				}
				if l.Kind == provenance.KindSrc {
					l.Value = strings.Repeat("0", 64)
				}
				leaves = append(leaves, l)
			}
			forged, err := provenance.NewManifest(leaves)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := forged.Marshal()
			os.WriteFile(p, out, 0o644)
		}, nil, "manifest", "differs from the root in provenance.json"},
		{"manifest root", flip("manifest.json", func(d []byte) int { return bytes.Index(d, []byte(`"root": "`)) + 10 }), nil, "manifest", "manifest.json"},
		{"report measurement", reportByte(offMeasurement), nil, "chain", ""},
		{"report report_data", reportByte(offReportData), nil, "chain", ""},
		{"report host_data", reportByte(offHostData), nil, "chain", ""},
		{"report signature", reportByte(offSignature + 5), nil, "chain", ""},
		{"vcek certificate", func(t *testing.T, b string) {
			mutateEvidence(t, b, func(_ []byte, certs map[string][]byte) {
				c, ok := certs["vcek"]
				if !ok {
					t.Fatalf("evidence has no vcek certificate: %v", keys(certs))
				}
				c[len(c)-20] ^= 0x01
			})
		}, nil, "chain", ""},
		{"artifact byte", func(t *testing.T, b string) {
			p := artifact(t, b)
			data, _ := os.ReadFile(p)
			data[len(data)/2] ^= 0x01
			os.WriteFile(p, data, 0o644)
		}, nil, "subjects", "artifact"},
		{"artifact removed", func(t *testing.T, b string) { os.Remove(artifact(t, b)) }, nil, "subjects", ""},
		{"wrong nonce", func(*testing.T, string) {}, []string{"--nonce", sha256Hex("another requester")}, "binding", "nonce"},
		{"wrong measurement", func(*testing.T, string) {}, []string{"--measurement", strings.Repeat("ab", 48)}, "measurement", "expected"},
		{"evidence.json missing", func(t *testing.T, b string) { os.Remove(filepath.Join(b, "evidence.json")) }, nil, "bundle", "evidence.json"},
		{"trailing garbage in provenance.json", func(t *testing.T, b string) {
			f, _ := os.OpenFile(filepath.Join(b, "provenance.json"), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString(`{"x":1}`)
			f.Close()
		}, nil, "", "provenance.json"},
		{"trailing garbage in evidence.json", func(t *testing.T, b string) {
			f, _ := os.OpenFile(filepath.Join(b, "evidence.json"), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("garbage")
			f.Close()
		}, nil, "bundle", "evidence.json"},
		{"unknown file", func(t *testing.T, b string) { os.WriteFile(filepath.Join(b, "extra.json"), []byte("{}"), 0o644) }, nil, "bundle", "extra.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := filepath.Join(t.TempDir(), "bundle")
			copyTree(t, good, b)
			tc.mutate(t, b)
			args := []string{"--allow-simulated", "--measurement", testMeasurement, "--nonce", testNonce}
			args = append(args, tc.extra...)
			// A later flag of the same name wins in cobra/pflag.
			rep, r := verifyJSON(t, append(args, b)...)
			if r.code == 0 || rep.OK {
				t.Fatalf("tampered bundle verified:\n%s", rep)
			}
			if tc.wantStep != "" && rep.Failed != tc.wantStep {
				t.Fatalf("failed at %q, want %q:\n%s", rep.Failed, tc.wantStep, rep)
			}
			_, detail := rep.step(rep.Failed)
			if tc.wantText != "" && !strings.Contains(detail, tc.wantText) {
				t.Errorf("failing step %s says %q, want it to mention %q", rep.Failed, detail, tc.wantText)
			}
			t.Logf("%s → %s: %s", tc.name, rep.Failed, detail)
		})
	}
}

func bytesIndex(s string, c byte) int {
	if i := strings.IndexByte(s, c); i >= 0 {
		return i
	}
	return 0
}

func keys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestTarBundle: the same files in one .tar verify alike, and a tar with
// trailing garbage or cut short is refused at the bundle step.
func TestTarBundle(t *testing.T) {
	requireNix(t)
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "hello.tar")
	r := kettle(t, "build", "--attest", "sim-snp", "--artifacts", "xz", "--sim-measurement", testMeasurement,
		"-o", tarPath, "path:"+exampleFlake(t, "hello"))
	if r.code != 0 {
		t.Fatalf("build .tar: exit %d\n%s", r.code, r.stderr)
	}
	rep, vr := verifyJSON(t, "--allow-simulated", "--measurement", testMeasurement, tarPath)
	if vr.code != 0 || !rep.OK {
		t.Fatalf("verify .tar: %s", rep)
	}
	data, err := os.ReadFile(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"trailing garbage": append(append([]byte(nil), data...), []byte("garbage after the end of the archive")...),
		"truncated":        data[:len(data)/2],
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".tar")
		if err := os.WriteFile(p, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		rep, vr := verifyJSON(t, "--allow-simulated", p)
		if vr.code == 0 || rep.Failed != "bundle" {
			t.Errorf("%s tar: exit %d, failed at %q, want bundle:\n%s", name, vr.code, rep.Failed, rep)
		}
	}
}
