package tests

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// logEntries is `kettle log list --json`.
type logEntries []struct {
	Index            uint64 `json:"index"`
	ProvenanceSHA256 string `json:"provenanceSHA256"`
	Platform         string `json:"platform"`
	Verified         bool   `json:"verified"`
	Reason           string `json:"reason"`
	Subjects         []struct {
		Name string `json:"name"`
	} `json:"subjects"`
	Bundle string `json:"bundle"`
}

// TestLog drives `kettle log` on a real sim-snp bundle: keygen and init,
// append (verifying the bundle with kettle verify's flags), an idempotent
// second append, a tampered bundle refused unless --allow-unverified and
// then logged as unverified, an inclusion proof checked on its own
// against the bundle, a consistency proof from a saved checkpoint, the
// whole log verified, and a log with a stray file refused.
func TestLog(t *testing.T) {
	good := buildHello(t)
	work := t.TempDir()
	key := filepath.Join(work, "log.key")
	dir := filepath.Join(work, "log")
	verifyFlags := []string{"--allow-simulated", "--measurement", testMeasurement, "--nonce", testNonce}
	mustRun := func(args ...string) result {
		t.Helper()
		r := kettle(t, args...)
		if r.code != 0 {
			t.Fatalf("kettle %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r
	}
	list := func() logEntries {
		t.Helper()
		var out logEntries
		r := mustRun("log", "list", dir, "--pubkey", key+".pub", "--json")
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("log list --json: %v\n%s", err, r.stdout)
		}
		return out
	}

	mustRun("log", "keygen", "example.org/e2e-log", "-o", key)
	if r := kettle(t, "log", "init", dir, "--key", key+".pub"); r.code != 2 || !strings.Contains(r.stderr, "this is a verifier (public) key") {
		t.Errorf("log init with the verifier key: exit %d\n%s", r.code, r.stderr)
	}
	mustRun("log", "init", dir, "--key", key)

	// The simulated bundle does not verify without --allow-simulated:
	// refused, nothing appended.
	if r := kettle(t, "log", "append", dir, good, "--key", key); r.code != 1 || !strings.Contains(r.stderr, "did not verify (FAILED at chain") {
		t.Fatalf("append of a simulated bundle without --allow-simulated: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := len(list()); n != 0 {
		t.Fatalf("a refused append left %d entries", n)
	}
	r := mustRun(append([]string{"log", "append", dir, good, "--key", key}, verifyFlags...)...)
	if !strings.Contains(r.stdout, "appended, index 0 (verified)") {
		t.Errorf("append:\n%s", r.stdout)
	}
	saved := filepath.Join(work, "checkpoint-1")
	copyFile(t, filepath.Join(dir, "checkpoint"), saved)
	r = mustRun(append([]string{"log", "append", dir, good, "--key", key}, verifyFlags...)...)
	if !strings.Contains(r.stdout, "in the log already, index 0") {
		t.Errorf("second append of the same bundle:\n%s", r.stdout)
	}

	// A tampered bundle: refused, then logged as unverified on request.
	tampered := filepath.Join(work, "tampered")
	copyTree(t, good, tampered)
	prov := filepath.Join(tampered, "provenance.json")
	data, err := os.ReadFile(prov)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prov, bytes.Replace(data, []byte(`"subject"`), []byte(`"subject" `), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	r = kettle(t, append([]string{"log", "append", dir, tampered, "--key", key}, verifyFlags...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "did not verify (FAILED at binding") || !strings.Contains(r.stderr, "--allow-unverified") {
		t.Fatalf("append of a tampered bundle: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := len(list()); n != 1 {
		t.Fatalf("a refused append changed the log: %d entries", n)
	}
	r = mustRun(append([]string{"log", "append", dir, tampered, "--key", key, "--allow-unverified"}, verifyFlags...)...)
	if !strings.Contains(r.stdout, "appended, index 1, UNVERIFIED: FAILED at binding") {
		t.Errorf("append --allow-unverified:\n%s", r.stdout)
	}
	entries := list()
	if len(entries) != 2 || !entries[0].Verified || entries[0].Platform != "sim-snp" || len(entries[0].Subjects) != 1 ||
		entries[1].Verified || !strings.HasPrefix(entries[1].Reason, "FAILED at binding") {
		t.Fatalf("log list: %+v", entries)
	}
	// The stored copy is the bundle, and verifies as one.
	if rep, r := verifyJSON(t, append(verifyFlags, entries[0].Bundle)...); r.code != 0 || !rep.OK {
		t.Errorf("kettle verify of the stored bundle %s: exit %d\n%s", entries[0].Bundle, r.code, rep)
	}

	// An inclusion proof, checked with the verifier key and the bundle alone.
	proof := filepath.Join(work, "hello.tlog-proof")
	mustRun("log", "prove", dir, good, "-o", proof)
	text, err := os.ReadFile(proof)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(text), "c2sp.org/tlog-proof@v1\nextra ") {
		t.Errorf("the proof is not a C2SP tlog-proof:\n%s", text)
	}
	r = mustRun("log", "check-proof", proof, "--pubkey", key+".pub", "--bundle", good)
	if !strings.Contains(r.stdout, "entry 0 of the log's checkpoint of 2 entries") || !strings.Contains(r.stdout, "VERIFIED") {
		t.Errorf("check-proof:\n%s", r.stdout)
	}
	if r := kettle(t, "log", "check-proof", proof, "--pubkey", key+".pub", "--bundle", tampered); r.code != 1 || !strings.Contains(r.stderr, "the proof's entry is of another bundle") {
		t.Errorf("check-proof against another bundle: exit %d\n%s", r.code, r.stderr)
	}
	other := filepath.Join(work, "other.key")
	mustRun("log", "keygen", "example.org/e2e-log", "-o", other)
	if r := kettle(t, "log", "check-proof", proof, "--pubkey", other+".pub"); r.code != 1 || !strings.Contains(r.stderr, "not signed by the log's key") {
		t.Errorf("check-proof with another key: exit %d\n%s", r.code, r.stderr)
	}

	// Consistency from the checkpoint saved after the first append.
	cons := filepath.Join(work, "consistency")
	mustRun("log", "consistency", dir, "--old-checkpoint", saved, "-o", cons)
	r = mustRun("log", "check-proof", cons, "--pubkey", key+".pub", "--old-checkpoint", saved)
	if !strings.Contains(r.stdout, "extends the old one of 1: no history rewritten") {
		t.Errorf("check-proof of the consistency proof:\n%s", r.stdout)
	}
	r = mustRun("log", "verify", dir, "--pubkey", key+".pub", "--old-checkpoint", saved)
	if !strings.Contains(r.stdout, "2 entries (1 logged as unverified)") || !strings.Contains(r.stdout, "VERIFIED") {
		t.Errorf("log verify:\n%s", r.stdout)
	}

	// A stray file: the log no longer verifies, and is not appended to.
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := kettle(t, "log", "verify", dir, "--pubkey", key+".pub"); r.code != 1 || !strings.Contains(r.stderr, "notes.txt: unknown file") {
		t.Errorf("log verify with a stray file: exit %d\n%s", r.code, r.stderr)
	}
	if r := kettle(t, append([]string{"log", "append", dir, tampered, "--key", key}, verifyFlags...)...); r.code != 1 || !strings.Contains(r.stderr, "notes.txt: unknown file") {
		t.Errorf("log append to a log with a stray file: exit %d\n%s", r.code, r.stderr)
	}
}

// TestLogUsageErrors: a key in the wrong format, a missing key or a bad
// argument is a usage error (exit 2) that says what is wanted, and needs
// no nix.
func TestLogUsageErrors(t *testing.T) {
	work := t.TempDir()
	key := filepath.Join(work, "k")
	if r := kettle(t, "log", "keygen", "has space", "-o", key); r.code != 2 || !strings.Contains(r.stderr, "key name") {
		t.Errorf("keygen with a bad name: exit %d\n%s", r.code, r.stderr)
	}
	if r := kettle(t, "log", "keygen", "example.org/x", "-o", key); r.code != 0 {
		t.Fatalf("keygen: exit %d\n%s", r.code, r.stderr)
	}
	if r := kettle(t, "log", "keygen", "example.org/x", "-o", key); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("keygen over a key: exit %d\n%s", r.code, r.stderr)
	}
	dir := filepath.Join(work, "log")
	if r := kettle(t, "log", "init", dir, "--key", key); r.code != 0 {
		t.Fatalf("init: exit %d\n%s", r.code, r.stderr)
	}
	garbage := filepath.Join(work, "garbage")
	os.WriteFile(garbage, []byte("PRIVATE+KEY+x+zz+yy\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"log", "append", dir, work, "--key", garbage}, "--key: " + garbage + ": not a valid signed-note private key"},
		{[]string{"log", "append", dir, work}, "--key FILE is required"},
		{[]string{"log", "verify", dir, "--pubkey", key}, "--pubkey: " + key + ": this is a PRIVATE key"},
		{[]string{"log", "verify", dir, "--pubkey", "example.org/x+00000000+AAAA"}, "--pubkey: not a signed-note verifier key"},
		{[]string{"log", "verify", dir}, "--pubkey KEY is required"},
		{[]string{"log", "consistency", dir}, "give OLDSIZE or --old-checkpoint"},
		{[]string{"log", "consistency", dir, "x"}, `OLDSIZE "x": not a number`},
		{[]string{"log", "consistency", dir, "1", "--old-checkpoint", key}, "not both"},
		{[]string{"log", "append", dir}, "requires at least 2 arg"},
		{[]string{"log", "frobnicate"}, `unknown command "frobnicate"`},
	} {
		r := kettle(t, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("kettle %s: exit %d, want 2 and %q\n%s", strings.Join(tc.args, " "), r.code, tc.want, r.stderr)
		}
	}
	if r := kettle(t, "log", "verify", dir, "--pubkey", key+".pub"); r.code != 0 || !strings.Contains(r.stdout, "0 entries") {
		t.Errorf("verify of an empty log: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
