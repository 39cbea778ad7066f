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

// foreignFixture returns a bundle of the foreign attested-build tool made
// on an Azure SEV-SNP CVM, ../shared/fixtures/<name>, skipping the test
// when it is absent. It is read where it is, never copied into the
// repository.
func foreignFixture(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(e2e.repo, "..", "shared", "fixtures", name)
	if _, err := os.Stat(filepath.Join(dir, "evidence.json")); errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s is not present: skipping the foreign bundle %s", dir, name)
	}
	return dir
}

// The foreign tool's fixtures: its oldest format (adf3588) and its v1.x
// format with a raw artifact (e6e991c).
const (
	fixtureRipgrep = "azure-snp-ripgrep"
	fixtureKex     = "cd-kettle-kex"
)

// copyForeign copies the fixture's provenance.json, evidence.json and
// artifacts/ into a temporary bundle, through edit, which may also add or
// change files in the copy's directory.
func copyForeign(t *testing.T, src string, edit func(prov, ev []byte) ([]byte, []byte)) string {
	t.Helper()
	dst := copyForeignDir(t, src)
	prov, err := os.ReadFile(filepath.Join(dst, "provenance.json"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := os.ReadFile(filepath.Join(dst, "evidence.json"))
	if err != nil {
		t.Fatal(err)
	}
	prov, ev = edit(prov, ev)
	for name, data := range map[string][]byte{"provenance.json": prov, "evidence.json": ev} {
		if err := os.WriteFile(filepath.Join(dst, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// copyForeignDir copies the fixture's bundle files (not its README) into a
// temporary directory.
func copyForeignDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "foreign")
	for _, rel := range []string{"provenance.json", "evidence.json", "artifacts"} {
		fi, err := os.Stat(filepath.Join(src, rel))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() {
			copyFile(t, filepath.Join(src, rel), filepath.Join(dst, rel))
			continue
		}
		entries, err := os.ReadDir(filepath.Join(src, rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			copyFile(t, filepath.Join(src, rel, e.Name()), filepath.Join(dst, rel, e.Name()))
		}
	}
	return dst
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestForeignAzSNPBundle: `kettle verify` takes the foreign tool's bundle
// (provenance.json + az-snp evidence.json, no manifest.json) as it is and
// verifies it end to end to AMD's root; the report says it is foreign, that
// its binding is the compact re-serialisation of the provenance, and which
// steps could not be made.
func TestForeignAzSNPBundle(t *testing.T) {
	dir := foreignFixture(t, fixtureRipgrep)
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
	if extra.Platform != "az-snp" || extra.Foreign != "github.com/confidential-dot-ai/kettle" || !strings.Contains(extra.Binding, "compact JSON") ||
		len(extra.Subjects) != 1 || extra.Subjects[0] != "rg" {
		t.Errorf("report: %+v", extra)
	}
	for step, want := range map[string]struct{ status, detail string }{
		"bundle":       {"PASS", "format v0.1 (compact-JSON binding, 32-byte checksum)"},
		"chain":        {"PASS", "Milan-B1"},
		"tcb":          {"PASS", "debug=false"},
		"binding":      {"PASS", "compact JSON in its own key order = 0672eef25d413c0c0326447e3a0a0635d4b2052c0e3a6abd46e042a9b1aed296"},
		"provenance":   {"PASS", "https://lunal.dev/kettle/cargo@v1"},
		"manifest":     {"PASS", "input Merkle root 4e212fbcea6f5cb48a7882517efa90d53e287c8e5083a0761c565db65d1228f2 recomputed over the 58 leaves"},
		"dependencies": {"SKIP", "no Cargo.lock"},
		"subjects":     {"SKIP", "no file for any of the 1 subject(s)"},
	} {
		if st, d := rep.step(step); st != want.status || !strings.Contains(d, want.detail) {
			t.Errorf("step %s: %s %q, want %s and %q", step, st, d, want.status, want.detail)
		}
	}
	if !strings.Contains(rep.Verdict, "FOREIGN bundle") || !strings.Contains(rep.Verdict, "compact JSON") {
		t.Errorf("verdict %q", rep.Verdict)
	}
	table := kettle(t, "verify", dir)
	for _, want := range []string{"FOREIGN bundle made by github.com/confidential-dot-ai/kettle, format v0.1", "not checked: input manifest", "not checked: nonce",
		"not checked: subjects not checkable: no file in artifacts/ or beside the provenance for rg", "checks Kettle could not make for this format"} {
		if !strings.Contains(table.stdout, want) {
			t.Errorf("table output lacks %q:\n%s", want, table.stdout)
		}
	}
	// The foreign binding of this format has no nonce to check.
	for _, nonce := range []string{testNonce, strings.Repeat("ab", 16)} {
		rep, r = verifyJSON(t, "--nonce", nonce, dir)
		if _, d := rep.step("binding"); r.code == 0 || rep.Failed != "binding" || !strings.Contains(d, "carries no nonce") {
			t.Errorf("--nonce %s on a v0.1 foreign bundle: exit %d\n%s", nonce, r.code, rep)
		}
	}
}

// TestForeignAzSNPTampered: a copy of the foreign bundle with one change
// fails at the step that owns it; re-indenting the provenance does not
// change its compact form, so that copy verifies.
func TestForeignAzSNPTampered(t *testing.T) {
	src := foreignFixture(t, fixtureRipgrep)
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

// TestForeignV1Bundle: the foreign tool's v1.x bundle with its raw
// artifact verifies: its binding is the file's bytes ‖ a 16-byte nonce,
// its artifact equals its subject, its input Merkle root is recomputed.
func TestForeignV1Bundle(t *testing.T) {
	dir := foreignFixture(t, fixtureKex)
	rep, r := verifyJSON(t, dir)
	if r.code != 0 || !rep.OK || rep.Simulated {
		t.Fatalf("kettle verify %s: exit %d\n%s\n%s", dir, r.code, rep, r.stderr)
	}
	var extra struct {
		FormatVersion string `json:"formatVersion"`
		Binding       string `json:"binding"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &extra); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(extra.FormatVersion, "v1.x") || !strings.Contains(extra.Binding, "16-byte nonce") {
		t.Errorf("report: %+v", extra)
	}
	for step, want := range map[string]struct{ status, detail string }{
		"bundle":     {"PASS", "format v1.x"},
		"binding":    {"PASS", "SHA-256(provenance.json) = 66e8d92ef88eccf3267993401ba90624e6abc13fb258231bcd3d59076fe06996 ‖ nonce 00000000000000000000000000000000"},
		"provenance": {"PASS", "https://lunal.dev/kettle/cargo@v1"},
		"manifest":   {"PASS", "5752a4489fb58a3e650d986760852b42cef1b0882ad1f7abd74c7ada44fbdd17 recomputed over the 7 leaves"},
		"subjects":   {"PASS", "1 file(s) equal the SHA-256 of their 1 subject(s)"},
	} {
		if st, d := rep.step(step); st != want.status || !strings.Contains(d, want.detail) {
			t.Errorf("step %s: %s %q, want %s and %q", step, st, d, want.status, want.detail)
		}
	}
	if !strings.Contains(rep.Verdict, "FOREIGN bundle") || !strings.Contains(rep.Verdict, "v1.x") {
		t.Errorf("verdict %q", rep.Verdict)
	}
	// The bundle was attested without a nonce: its nonce slot is zero.
	rep, r = verifyJSON(t, "--nonce", strings.Repeat("00", 16), dir)
	if r.code != 0 || !rep.OK {
		t.Errorf("--nonce of 16 zero bytes: exit %d\n%s", r.code, rep)
	}
}

// TestForeignTampered: a copy of a foreign bundle with one change is
// refused at the step that owns it, and the failure names the file.
func TestForeignTampered(t *testing.T) {
	kex := foreignFixture(t, fixtureKex)
	ripgrep := foreignFixture(t, fixtureRipgrep)
	flipArtifact := func(dir string) {
		p := filepath.Join(dir, "artifacts", "kex")
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 1
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFile := func(name string, data []byte) func(string) {
		return func(dir string) {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	kexBytes, err := os.ReadFile(filepath.Join(kex, "artifacts", "kex"))
	if err != nil {
		t.Fatal(err)
	}
	editEvidence := func(edit func(q map[string]any)) func(string) {
		return func(dir string) {
			p := filepath.Join(dir, "evidence.json")
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			edit(doc["evidence"].(map[string]any)["tpm_quote"].(map[string]any))
			out, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, out, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	editProvenance := func(edit func([]byte) []byte) func(string) {
		return func(dir string) {
			p := filepath.Join(dir, "provenance.json")
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, edit(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name   string
		src    string
		edit   func(dir string)
		args   []string
		failed string
		detail string
	}{
		{"a byte of the artifact", kex, flipArtifact, nil, "subjects", "artifacts/kex: SHA-256"},
		{"a byte of the provenance", kex, editProvenance(func(d []byte) []byte {
			return bytes.Replace(d, []byte(`"kex"`), []byte(`"kez"`), 1)
		}), nil, "binding", "expected the foreign binding of format v1.x"},
		{"whitespace of the provenance", kex, editProvenance(func(d []byte) []byte { return append(d, '\n') }),
			nil, "binding", "SHA-256(provenance.json)"},
		{"a byte of the quote's signature", kex, editEvidence(func(q map[string]any) {
			sig := []byte(q["signature"].(string))
			sig[10] ^= 1
			if sig[10] > 'f' || (sig[10] > '9' && sig[10] < 'a') {
				sig[10] = '0'
			}
			q["signature"] = string(sig)
		}), nil, "chain", "quote"},
		{"a byte of the quote's qualifying data", kex, editEvidence(func(q map[string]any) {
			msg := q["message"].(string)
			i := strings.Index(msg, "66e8d92e")
			q["message"] = msg[:i] + "76e8d92e" + msg[i+8:]
		}), nil, "chain", "quote"},
		{"a Cargo.lock that is not the one built with", kex, writeFile("Cargo.lock", []byte("version = 4\n")), nil, "dependencies", "Cargo.lock: SHA-256"},
		{"the artifact of another bundle", ripgrep, writeFile("artifacts/rg", kexBytes), nil, "subjects", "artifacts/rg: SHA-256"},
		{"the artifact of another bundle at the top level", ripgrep, writeFile("rg", kexBytes), nil, "subjects", "rg: SHA-256"},
		{"a nonce the bundle does not carry", kex, func(string) {}, []string{"--nonce", strings.Repeat("ab", 16)}, "binding", "(nonce) is 00000000000000000000000000000000, expected abababababababababababababababab"},
		{"a nonce of Kettle's size", kex, func(string) {}, []string{"--nonce", testNonce}, "binding", "--nonce is 32 bytes, but the foreign format v1.x"},
		{"an artifact no subject names, --strict", kex, writeFile("artifacts/extra", []byte("x")), []string{"--strict"}, "subjects", "artifacts/extra: not named by any subject"},
		{"a symbolic link", kex, func(dir string) {
			if err := os.Symlink("kex", filepath.Join(dir, "artifacts", "link")); err != nil {
				t.Fatal(err)
			}
		}, nil, "bundle", "artifacts/link: a symbolic link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyForeignDir(t, tc.src)
			tc.edit(dir)
			rep, r := verifyJSON(t, append(tc.args, dir)...)
			if r.code == 0 || rep.OK || rep.Failed != tc.failed {
				t.Fatalf("exit %d, failed at %q, want %q\n%s", r.code, rep.Failed, tc.failed, rep)
			}
			if _, d := rep.step(tc.failed); !strings.Contains(d, tc.detail) {
				t.Errorf("%s detail %q does not contain %q", tc.failed, d, tc.detail)
			}
		})
	}
}

// TestForeignUnknownFiles: files beside a foreign provenance that are no
// part of its format are listed and not read; an artifact no subject names
// is a warning, not a failure, without --strict.
func TestForeignUnknownFiles(t *testing.T) {
	dir := copyForeignDir(t, foreignFixture(t, fixtureKex))
	for name, data := range map[string][]byte{"notes.txt": []byte("hello"), "artifacts/extra": []byte("x")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "target"), 0o755); err != nil {
		t.Fatal(err)
	}
	rep, r := verifyJSON(t, dir)
	if r.code != 0 || !rep.OK {
		t.Fatalf("exit %d\n%s", r.code, rep)
	}
	if _, d := rep.step("bundle"); !strings.Contains(d, "listed and not read: notes.txt, target/") {
		t.Errorf("bundle detail %q", d)
	}
	if st, _ := rep.step("subjects"); st != "WARN" {
		t.Errorf("subjects status %s, want WARN\n%s", st, rep)
	}
	table := kettle(t, "verify", dir)
	if !strings.Contains(table.stdout, "WARN subjects: artifacts/extra: not named by any subject") {
		t.Errorf("table lacks the warning:\n%s", table.stdout)
	}
}
