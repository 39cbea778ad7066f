package tlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeys(t *testing.T) {
	skey, vkey, err := GenerateKey("example.org/log")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseSigner(skey + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if k.VKey != vkey {
		t.Errorf("derived verifier key %q, GenerateKey made %q", k.VKey, vkey)
	}
	msg := []byte("hello\n")
	sig, err := k.Signer.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseVerifier(vkey + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if !v.Verify(msg, sig) || !k.Verifier.Verify(msg, sig) {
		t.Error("the verifier key does not verify the signer's signature")
	}
}

// TestKeysBadInput: a key in the wrong format is a clear error that says
// which form is wanted.
func TestKeysBadInput(t *testing.T) {
	skey, vkey, err := GenerateKey("example.org/log")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "has space", "a+b", "tab\there", "nl\n", "\x01"} {
		if _, _, err := GenerateKey(name); err == nil || !strings.Contains(err.Error(), "key name") {
			t.Errorf("GenerateKey(%q): %v", name, err)
		}
	}
	for _, tc := range []struct{ name, key, want string }{
		{"verifier key as signer", vkey, "this is a verifier (public) key"},
		{"garbage", "hello", "not a signed-note private key"},
		{"empty", "", "not a signed-note private key"},
		{"bad base64", skey[:len(skey)-3] + "!!!", "not a valid signed-note private key"},
		{"wrong hash", withField(skey, 3, "00000000"), "not a valid signed-note private key"},
		{"not Ed25519", withField(skey, 4, "AgAA"), "not a valid signed-note private key"},
		{"truncated", skey[:len(skey)-10], "not a valid signed-note private key"},
	} {
		t.Run("signer/"+tc.name, func(t *testing.T) {
			if _, err := ParseSigner(tc.key); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseSigner(%q): %v, want %q", tc.key, err, tc.want)
			}
		})
	}
	for _, tc := range []struct{ name, key, want string }{
		{"private key as verifier", skey, "this is a PRIVATE key"},
		{"garbage", "hello", "not a signed-note verifier key"},
		{"empty", "", "not a signed-note verifier key"},
		{"truncated", vkey[:len(vkey)-10], "not a signed-note verifier key"},
		{"wrong hash", withField(vkey, 1, "00000000"), "not a signed-note verifier key"},
	} {
		t.Run("verifier/"+tc.name, func(t *testing.T) {
			if _, err := ParseVerifier(tc.key); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseVerifier(%q): %v, want %q", tc.key, err, tc.want)
			}
		})
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "log.key")
	vkey, err := WriteKeyPair(key, "example.org/log")
	if err != nil {
		t.Fatal(err)
	}
	for p, mode := range map[string]os.FileMode{key: 0o600, key + ".pub": 0o644} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), mode)
		}
	}
	if _, err := WriteKeyPair(key, "example.org/log"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("WriteKeyPair over an existing key: %v", err)
	}
	k, err := ReadSignerFile(key)
	if err != nil {
		t.Fatal(err)
	}
	if k.VKey != vkey {
		t.Errorf("read %q, wrote %q", k.VKey, vkey)
	}
	if v, err := ReadVerifier(key + ".pub"); err != nil || v.Name() != "example.org/log" {
		t.Errorf("ReadVerifier(file): %v", err)
	}
	if v, err := ReadVerifier(vkey); err != nil || v.KeyHash() != k.Signer.KeyHash() {
		t.Errorf("ReadVerifier(key itself): %v", err)
	}
	if _, err := ReadVerifier(key); err == nil || !strings.Contains(err.Error(), "PRIVATE key") {
		t.Errorf("ReadVerifier(private key file): %v", err)
	}
	if _, err := ReadVerifier(filepath.Join(dir, "missing")); err == nil {
		t.Error("ReadVerifier of a missing file succeeded")
	}
	if _, err := ReadSignerFile(key + ".pub"); err == nil || !strings.Contains(err.Error(), "verifier (public) key") {
		t.Errorf("ReadSignerFile(verifier key file): %v", err)
	}
	if err := os.Chmod(key, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSignerFile(key); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("ReadSignerFile of a group-readable key: %v", err)
	}

	logDir := newLog(t, k)
	if _, err := WriteKeyPair(filepath.Join(logDir, "bundles", "k"), "x"); err == nil || !strings.Contains(err.Error(), "inside the log") {
		t.Errorf("WriteKeyPair inside a log: %v", err)
	}
}

// withField replaces the i-th '+'-separated field of a key.
func withField(key string, i int, value string) string {
	f := strings.Split(key, "+")
	f[i] = value
	return strings.Join(f, "+")
}
