package nixcache

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/kettle-build/kettle/internal/inputfile"
)

// MaxKeyNameLen bounds the name of a key or signature.
const MaxKeyNameLen = 128

// A SecretKey is a Nix signing key, as `nix key generate-secret` writes it:
// "<name>:<base64 of the 64-byte Ed25519 private key>".
type SecretKey struct {
	Name string
	key  ed25519.PrivateKey
}

// A PublicKey is a Nix public key, as `nix key convert-secret-to-public`
// writes it and trusted-public-keys lists it: "<name>:<base64 of the 32-byte
// Ed25519 public key>".
type PublicKey struct {
	Name string
	Key  ed25519.PublicKey
}

// A Signature is a detached Ed25519 signature as a narinfo's Sig field has
// it: "<key name>:<base64 of 64 bytes>".
type Signature struct {
	KeyName string
	Sig     []byte
}

// GenerateKey returns a new signing key named name, drawing randomness from
// rand (crypto/rand.Reader if nil).
func GenerateKey(name string, rand io.Reader) (SecretKey, error) {
	if err := checkKeyName(name); err != nil {
		return SecretKey{}, err
	}
	_, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return SecretKey{}, err
	}
	return SecretKey{Name: name, key: priv}, nil
}

// ParseSecretKey parses a signing key in the `nix key generate-secret`
// format. The private key's public half must be the one its seed derives.
// Errors do not quote the key.
func ParseSecretKey(s string) (SecretKey, error) {
	name, b, err := parseNamedBase64(s, ed25519.PrivateKeySize)
	if err != nil {
		return SecretKey{}, fmt.Errorf("secret key: %w", err)
	}
	priv := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
	if !bytes.Equal(priv, b) {
		return SecretKey{}, errors.New("secret key: the public half does not match the seed")
	}
	return SecretKey{Name: name, key: priv}, nil
}

// String returns the key in the format ParseSecretKey reads.
func (k SecretKey) String() string {
	return k.Name + ":" + base64.StdEncoding.EncodeToString(k.key)
}

// PublicKey returns the key's public half, under the same name.
func (k SecretKey) PublicKey() PublicKey {
	return PublicKey{Name: k.Name, Key: k.key.Public().(ed25519.PublicKey)}
}

// Sign signs the message, normally a narinfo's fingerprint.
func (k SecretKey) Sign(message string) Signature {
	return Signature{KeyName: k.Name, Sig: ed25519.Sign(k.key, []byte(message))}
}

// ParsePublicKey parses a public key in Nix's format. Errors quote s.
func ParsePublicKey(s string) (PublicKey, error) {
	name, b, err := parseNamedBase64(s, ed25519.PublicKeySize)
	if err != nil {
		return PublicKey{}, fmt.Errorf("public key %q: %w", s, err)
	}
	return PublicKey{Name: name, Key: b}, nil
}

// String returns the key in the format ParsePublicKey reads.
func (k PublicKey) String() string {
	return k.Name + ":" + base64.StdEncoding.EncodeToString(k.Key)
}

// Verify reports whether sig is a signature of message by k: the key names
// must match, as in Nix.
func (k PublicKey) Verify(message string, sig Signature) bool {
	return sig.KeyName == k.Name && len(k.Key) == ed25519.PublicKeySize &&
		len(sig.Sig) == ed25519.SignatureSize && ed25519.Verify(k.Key, []byte(message), sig.Sig)
}

// ParseSignature parses a signature in Nix's format. Errors quote s.
func ParseSignature(s string) (Signature, error) {
	name, b, err := parseNamedBase64(s, ed25519.SignatureSize)
	if err != nil {
		return Signature{}, fmt.Errorf("signature %q: %w", s, err)
	}
	return Signature{KeyName: name, Sig: b}, nil
}

// String returns the signature in the format ParseSignature reads.
func (s Signature) String() string {
	return s.KeyName + ":" + base64.StdEncoding.EncodeToString(s.Sig)
}

// parseNamedBase64 splits "<name>:<base64>" and decodes the base64, which
// must be canonical padded standard base64 of exactly size bytes.
func parseNamedBase64(s string, size int) (string, []byte, error) {
	name, data, ok := strings.Cut(s, ":")
	if !ok {
		return "", nil, errors.New("want <name>:<base64>")
	}
	if err := checkKeyName(name); err != nil {
		return "", nil, err
	}
	enc := base64.StdEncoding.Strict()
	if len(data) != enc.EncodedLen(size) {
		return "", nil, fmt.Errorf("want %d base64 characters (%d bytes) after the name, got %d characters", enc.EncodedLen(size), size, len(data))
	}
	b, err := enc.DecodeString(data)
	if err != nil {
		return "", nil, fmt.Errorf("bad base64: %w", err)
	}
	if len(b) != size {
		return "", nil, fmt.Errorf("want %d bytes after the name, got %d", size, len(b))
	}
	return name, b, nil
}

// checkKeyName checks a key name: 1 to MaxKeyNameLen printable ASCII
// characters other than space and ':'.
func checkKeyName(name string) error {
	if name == "" {
		return errors.New("empty key name")
	}
	if len(name) > MaxKeyNameLen {
		return fmt.Errorf("key name is %d bytes long, more than %d", len(name), MaxKeyNameLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c > '~' || c == ':' {
			return fmt.Errorf("key name has %q at byte %d (want printable ASCII other than space and ':')", name[i:i+1], i)
		}
	}
	return nil
}

// maxKeyFileSize bounds a key file.
const maxKeyFileSize = 4096

// ReadSecretKeyFile reads a signing key from a file as `nix key
// generate-secret` writes it; one trailing newline is allowed.
func ReadSecretKeyFile(path string) (SecretKey, error) {
	data, err := inputfile.Read(path, maxKeyFileSize)
	if err != nil {
		return SecretKey{}, err
	}
	text := strings.TrimSuffix(string(data), "\n")
	k, err := ParseSecretKey(text)
	if err != nil {
		if _, pubErr := ParsePublicKey(text); pubErr == nil {
			return SecretKey{}, fmt.Errorf("%s: a public key, not the secret key `nix key generate-secret` writes", path)
		}
		return SecretKey{}, fmt.Errorf("%s: %w (want the one line `nix key generate-secret --key-name NAME` writes)", path, err)
	}
	return k, nil
}

// ReadPublicKeyFile reads a public key from a file; one trailing newline
// is allowed.
func ReadPublicKeyFile(path string) (PublicKey, error) {
	data, err := inputfile.Read(path, maxKeyFileSize)
	if err != nil {
		return PublicKey{}, err
	}
	text := strings.TrimSuffix(string(data), "\n")
	k, err := ParsePublicKey(text)
	if err != nil {
		if _, secErr := ParseSecretKey(text); secErr == nil {
			// Do not quote a secret key in an error.
			return PublicKey{}, fmt.Errorf("%s: a secret key, not a public key (`nix key convert-secret-to-public` makes one from it)", path)
		}
		return PublicKey{}, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
