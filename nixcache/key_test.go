package nixcache

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
)

// testKey returns a fixed signing key.
func testKey(t testing.TB, name string) SecretKey {
	t.Helper()
	k, err := GenerateKey(name, bytes.NewReader(bytes.Repeat([]byte{byte(len(name))}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyRoundTrip(t *testing.T) {
	k := testKey(t, "kettle-test-1")
	k2, err := ParseSecretKey(k.String())
	if err != nil {
		t.Fatal(err)
	}
	if k2.String() != k.String() {
		t.Errorf("secret key round trip: %s, want %s", k2, k)
	}
	pub, err := ParsePublicKey(k.PublicKey().String())
	if err != nil {
		t.Fatal(err)
	}
	sig := k.Sign("message")
	if !pub.Verify("message", sig) {
		t.Error("signature does not verify")
	}
	if pub.Verify("messagf", sig) {
		t.Error("signature verifies for another message")
	}
	other := sig
	other.KeyName = "other"
	if pub.Verify("message", other) {
		t.Error("signature verifies under another key name")
	}
	s2, err := ParseSignature(sig.String())
	if err != nil || !bytes.Equal(s2.Sig, sig.Sig) || s2.KeyName != sig.KeyName {
		t.Errorf("signature round trip: %v, %v", s2, err)
	}
}

func TestParseKeyBad(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	seed := bytes.Repeat([]byte{7}, 32)
	priv := ed25519.NewKeyFromSeed(seed)
	wrongPub := append(append([]byte{}, priv[:32]...), bytes.Repeat([]byte{1}, 32)...)
	good := b64(priv)
	for _, s := range []string{
		"",
		"name",
		":" + good,
		"name:",
		"name:" + good[:len(good)-4],
		"name:" + good + "AAAA",
		"name:" + strings.TrimRight(good, "="),
		"name:" + b64(wrongPub),
		"na me:" + good,
		"na\x00me:" + good,
		"name\n:" + good,
		"name:" + good + "\n",
		" name:" + good,
		strings.Repeat("n", MaxKeyNameLen+1) + ":" + good,
		"name:" + strings.ReplaceAll(good, "A", "-"),
		"name:" + b64(priv[:32]),
		"name:name:" + good,
	} {
		if _, err := ParseSecretKey(s); err == nil {
			t.Errorf("ParseSecretKey(%q) succeeded", s)
		} else if strings.Contains(err.Error(), good) {
			t.Errorf("ParseSecretKey error quotes the key: %v", err)
		}
	}
	pub := b64(priv[32:])
	for _, s := range []string{
		"", "name", ":" + pub, "name:", "name:" + good[:80], "name:" + pub[:len(pub)-1] + "B", "name:" + pub + "=",
		"n:m:" + pub, "name: " + pub,
	} {
		if _, err := ParsePublicKey(s); err == nil {
			t.Errorf("ParsePublicKey(%q) succeeded", s)
		}
		if _, err := ParseSignature(s); err == nil {
			t.Errorf("ParseSignature(%q) succeeded", s)
		}
	}
	if _, err := GenerateKey("bad name", nil); err == nil {
		t.Error("GenerateKey with a bad name succeeded")
	}
}

// Keys as `nix key generate-secret` and `nix key convert-secret-to-public`
// (Nix 2.8) wrote them.
const (
	nixSecretKey = "kettle-test-nix:Q3lx3ftDYF+rgcP/KXGbXBod822E1rpqDIK8hfhooZx582btzICO6+GZ2rEh7Mq1yD//RM/Twrpwq2ddWoq8fg=="
	nixPublicKey = "kettle-test-nix:efNm7cyAjuvhmdqxIezKtcg//0TP08K6cKtnXVqKvH4="
)

func TestNixKeys(t *testing.T) {
	k, err := ParseSecretKey(nixSecretKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.PublicKey().String(); got != nixPublicKey {
		t.Errorf("public key %s, nix says %s", got, nixPublicKey)
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add(nixSecretKey)
	f.Add(nixPublicKey)
	f.Add("cache.example.org-1:" + strings.Repeat("A", 86) + "==")
	f.Add("a:b:c")
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := ParseSecretKey(s); err == nil {
			if k.String() != s {
				t.Errorf("secret key %q re-renders as %q", s, k.String())
			}
			k.PublicKey().Verify("m", k.Sign("m"))
		}
		if k, err := ParsePublicKey(s); err == nil {
			if k.String() != s {
				t.Errorf("public key %q re-renders as %q", s, k.String())
			}
			k.Verify("m", Signature{KeyName: k.Name, Sig: make([]byte, 64)})
		}
		if sig, err := ParseSignature(s); err == nil && sig.String() != s {
			t.Errorf("signature %q re-renders as %q", s, sig.String())
		}
	})
}

func TestReadKeyFileBad(t *testing.T) {
	dir := t.TempDir()
	file := func(name, contents string) string {
		p := dir + "/" + name
		mustWrite(t, p, contents, 0o600)
		return p
	}
	for _, tc := range []struct {
		name, path, want string
		public           bool
	}{
		{"secret: missing", dir + "/none", "no such file", false},
		{"secret: a directory", dir, "not a regular file", false},
		{"secret: empty", file("empty", ""), "want <name>:<base64>", false},
		{"secret: a public key", file("pub", nixPublicKey+"\n"), "a public key, not the secret key", false},
		{"secret: two newlines", file("nl2", nixSecretKey+"\n\n"), "generate-secret", false},
		{"secret: CRLF", file("crlf", nixSecretKey+"\r\n"), "generate-secret", false},
		{"secret: too large", file("large", strings.Repeat("k", maxKeyFileSize+1)), "larger than the limit", false},
		{"secret: truncated", file("short", nixSecretKey[:60]), "base64 characters", false},
		{"public: a secret key", file("sec", nixSecretKey), "a secret key, not a public key", true},
		{"public: garbage", file("garbage", "hello\n"), "want <name>:<base64>", true},
		{"public: missing", dir + "/none", "no such file", true},
	} {
		var err error
		if tc.public {
			_, err = ReadPublicKeyFile(tc.path)
		} else {
			_, err = ReadSecretKeyFile(tc.path)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: error %v, want one naming %s and mentioning %q", tc.name, err, tc.path, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), nixSecretKey[20:]) {
			t.Errorf("%s: the error quotes the secret key: %v", tc.name, err)
		}
	}
	for _, ok := range []string{nixSecretKey, nixSecretKey + "\n"} {
		if _, err := ReadSecretKeyFile(file("good", ok)); err != nil {
			t.Errorf("ReadSecretKeyFile(%q): %v", ok, err)
		}
	}
}
