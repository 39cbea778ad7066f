package tlog

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"

	"github.com/kettle-build/kettle/internal/inputfile"
)

// maxKeyFile bounds a key file: a signed-note key is one line of about a
// hundred bytes.
const maxKeyFile = 4 << 10

// privateKeyPrefix starts every signed-note signer (private) key.
const privateKeyPrefix = "PRIVATE+KEY+"

// GenerateKey makes an Ed25519 key pair for a log named name, in the
// signed-note encodings: the signer key "PRIVATE+KEY+<name>+<hash>+<key>"
// and the verifier key "<name>+<hash>+<key>". The name is the origin line
// of the log's checkpoints (C2SP tlog-checkpoint), such as
// "example.org/kettle-log": no spaces and no '+'.
func GenerateKey(name string) (skey, vkey string, err error) {
	if err := checkKeyName(name); err != nil {
		return "", "", err
	}
	return note.GenerateKey(rand.Reader, name)
}

// checkKeyName accepts what the note package accepts as a name (UTF-8,
// no white space, no '+') and that can stand as a checkpoint's origin line
// (no control character).
func checkKeyName(name string) error {
	if name == "" || !utf8.ValidString(name) || strings.Contains(name, "+") || strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return fmt.Errorf("key name %q: want a non-empty name without white space, control characters or '+', such as example.org/kettle-log", name)
	}
	return nil
}

// SigningKey is a log's private key: the signer, and the verifier key
// that checks its signatures.
type SigningKey struct {
	Signer   note.Signer
	Verifier note.Verifier
	VKey     string // "<name>+<hash>+<key>"
}

// ParseSigner reads a signer key. A verifier key, or anything else, is a
// clear error that says which form is wanted.
func ParseSigner(skey string) (*SigningKey, error) {
	skey = strings.TrimSuffix(skey, "\n")
	if !strings.HasPrefix(skey, privateKeyPrefix) {
		if _, err := note.NewVerifier(skey); err == nil {
			return nil, errors.New("this is a verifier (public) key; signing needs the private key, PRIVATE+KEY+<name>+<hash>+<key>")
		}
		return nil, errors.New("not a signed-note private key: want PRIVATE+KEY+<name>+<hash>+<key> (kettle log keygen writes one)")
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("not a valid signed-note private key (%v): want PRIVATE+KEY+<name>+<hash>+<base64 Ed25519 key>", err)
	}
	// note.NewSigner accepted the key, so it is PRIVATE+KEY+<name>+<hash>+
	// base64(0x01 ‖ 32-byte Ed25519 seed); the public key is derived here
	// because the note package does not export the derivation.
	fields := strings.SplitN(skey, "+", 5)
	raw, err := base64.StdEncoding.DecodeString(fields[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return nil, errors.New("not an Ed25519 signed-note private key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	return &SigningKey{Signer: s, Verifier: v, VKey: vkey}, nil
}

// ParseVerifier reads a verifier key, "<name>+<hash>+<key>".
func ParseVerifier(vkey string) (note.Verifier, error) {
	vkey = strings.TrimSuffix(vkey, "\n")
	if strings.HasPrefix(vkey, privateKeyPrefix) {
		return nil, errors.New("this is a PRIVATE key; verifying needs the verifier (public) key, <name>+<hash>+<key>, which must not be shared with the private one")
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("not a signed-note verifier key (%v): want <name>+<hash>+<base64 Ed25519 key>", err)
	}
	return v, nil
}

// ReadSignerFile reads a signer key from a file that only its owner may
// read (mode 0600 or stricter), as ssh asks of private keys.
func ReadSignerFile(path string) (*SigningKey, error) {
	data, err := inputfile.Read(path, maxKeyFile)
	if err != nil {
		return nil, err
	}
	s, err := ParseSigner(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s: a private key readable by others (mode %04o); make it 0600", path, perm)
	}
	return s, nil
}

// ReadVerifier reads a verifier key given as itself or as the name of a
// file that holds it.
func ReadVerifier(keyOrFile string) (note.Verifier, error) {
	if v, err := note.NewVerifier(keyOrFile); err == nil {
		return v, nil
	}
	data, err := inputfile.Read(keyOrFile, maxKeyFile)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && strings.Contains(keyOrFile, "+") {
			if _, perr := ParseVerifier(keyOrFile); perr != nil {
				return nil, perr
			}
		}
		return nil, err
	}
	v, err := ParseVerifier(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyOrFile, err)
	}
	return v, nil
}

