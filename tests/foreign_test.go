package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// foreignFixture returns the bundle made on an Azure SEV-SNP CVM by the
// foreign attested-build tool, skipping the test when ../shared/fixtures is
// absent. It is read where it is, never copied into the repository.
func foreignFixture(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(e2e.repo, "..", "shared", "fixtures", "azure-snp-ripgrep")
	if _, err := os.Stat(filepath.Join(dir, "evidence.json")); errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s is not present: skipping the foreign az-snp bundle", dir)
	}
	return dir
}

// copyForeign copies the fixture's two files into a temporary bundle,
// through edit.
func copyForeign(t *testing.T, src string, edit func(prov, ev []byte) ([]byte, []byte)) string {
	t.Helper()
	prov, err := os.ReadFile(filepath.Join(src, "provenance.json"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := os.ReadFile(filepath.Join(src, "evidence.json"))
	if err != nil {
		t.Fatal(err)
	}
	prov, ev = edit(prov, ev)
	dst := filepath.Join(t.TempDir(), "foreign")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"provenance.json": prov, "evidence.json": ev} {
		if err := os.WriteFile(filepath.Join(dst, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestForeignAzSNPBundle: `kettle verify` takes the foreign tool's bundle
// (provenance.json + az-snp evidence.json, no manifest.json) as it is and
// verifies it end to end to AMD's root; the report says it is foreign, that
// its binding is the compact re-serialisation of the provenance, and which
// steps could not be made.
func TestForeignAzSNPBundle(t *testing.T) {
	dir := foreignFixture(t)
	rep, r := verifyJSON(t, dir)
	if r.code != 0 || !rep.OK || rep.Simulated {
		t.Fatalf("kettle verify %s: exit %d\n%s\n%s", dir, r.code, rep, r.stderr)
	}
	var extra struct {
		Platform string   `json:"platform"`
		Foreign  string   `json:"foreign"`
		Binding  string   `json:"binding"`
		Subjects []string `json:"subjects"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &extra); err != nil {
		t.Fatal(err)
	}
	if extra.Platform != "az-snp" || extra.Foreign != "github.com/lunal-dev/kettle" || !strings.Contains(extra.Binding, "compact JSON") ||
		len(extra.Subjects) != 1 || extra.Subjects[0] != "rg" {
		t.Errorf("report: %+v", extra)
	}
	for step, want := range map[string]struct{ status, detail string }{
		"bundle":       {"PASS", "foreign bundle"},
		"chain":        {"PASS", "Milan-B1"},
		"tcb":          {"PASS", "debug=false"},
		"binding":      {"PASS", "compact JSON in its own key order = 0672eef25d413c0c0326447e3a0a0635d4b2052c0e3a6abd46e042a9b1aed296"},
		"provenance":   {"PASS", "https://lunal.dev/kettle/cargo@v1"},
		"manifest":     {"SKIP", "no manifest.json"},
		"dependencies": {"SKIP", "no input manifest"},
		"subjects":     {"SKIP", "no artifacts/"},
	} {
		if st, d := rep.step(step); st != want.status || !strings.Contains(d, want.detail) {
			t.Errorf("step %s: %s %q, want %s and %q", step, st, d, want.status, want.detail)
		}
	}
	if !strings.Contains(rep.Verdict, "FOREIGN bundle") || !strings.Contains(rep.Verdict, "compact JSON") {
		t.Errorf("verdict %q", rep.Verdict)
	}
	table := kettle(t, "verify", dir)
	for _, want := range []string{"FOREIGN bundle made by github.com/lunal-dev/kettle", "not checked: input manifest", "not checked: nonce"} {
		if !strings.Contains(table.stdout, want) {
			t.Errorf("table output lacks %q:\n%s", want, table.stdout)
		}
	}
	// The foreign binding has no nonce to check.
	rep, r = verifyJSON(t, "--nonce", testNonce, dir)
	if r.code == 0 || rep.Failed != "binding" {
		t.Errorf("--nonce on a foreign bundle: exit %d\n%s", r.code, rep)
	}
}

// TestForeignAzSNPTampered: a copy of the foreign bundle with one change
// fails at the step that owns it; re-indenting the provenance does not
// change its compact form, so that copy verifies.
func TestForeignAzSNPTampered(t *testing.T) {
	src := foreignFixture(t)
	editPCR := func(prov, ev []byte) ([]byte, []byte) {
		var doc map[string]any
		if err := json.Unmarshal(ev, &doc); err != nil {
			t.Fatal(err)
		}
		q := doc["evidence"].(map[string]any)["tpm_quote"].(map[string]any)
		pcrs := q["pcrs"].([]any)
		pcrs[7] = strings.Repeat("00", 32)
		out, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		return prov, out
	}
	for _, tc := range []struct {
		name   string
		edit   func(prov, ev []byte) ([]byte, []byte)
		failed string
		detail string
	}{
		{"one byte of the provenance", func(prov, ev []byte) ([]byte, []byte) {
			return bytes.Replace(prov, []byte("burntsushi/ripgrep"), []byte("burntsushi/ripgrap"), 1), ev
		}, "binding", "expected the foreign binding"},
		{"key order of the provenance", func(prov, ev []byte) ([]byte, []byte) {
			var top map[string]json.RawMessage
			if err := json.Unmarshal(prov, &top); err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			b.WriteString("{")
			for i, k := range []string{"subject", "predicateType", "predicate", "_type"} {
				if i > 0 {
					b.WriteString(",")
				}
				kj, _ := json.Marshal(k)
				b.Write(kj)
				b.WriteString(":")
				b.Write(top[k])
			}
			b.WriteString("}")
			return b.Bytes(), ev
		}, "binding", "in its own key order"},
		{"a PCR", editPCR, "chain", "PCR digest"},
		{"re-indented provenance", func(prov, ev []byte) ([]byte, []byte) {
			var b bytes.Buffer
			if err := json.Indent(&b, prov, "", "\t"); err != nil {
				t.Fatal(err)
			}
			return b.Bytes(), ev
		}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyForeign(t, src, tc.edit)
			rep, r := verifyJSON(t, dir)
			if tc.failed == "" {
				if r.code != 0 || !rep.OK {
					t.Fatalf("exit %d\n%s", r.code, rep)
				}
				return
			}
			if r.code == 0 || rep.OK || rep.Failed != tc.failed {
				t.Fatalf("exit %d, failed at %q, want %q\n%s", r.code, rep.Failed, tc.failed, rep)
			}
			if _, d := rep.step(tc.failed); !strings.Contains(d, tc.detail) {
				t.Errorf("%s detail %q does not contain %q", tc.failed, d, tc.detail)
			}
		})
	}
}
