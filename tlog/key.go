package tlog

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	if err := CheckKeyName(name); err != nil {
		return "", "", err
	}
	return note.GenerateKey(rand.Reader, name)
}

// CheckKeyName accepts what the note package accepts as a key's name
// (UTF-8, no white space, no '+') and can stand as a checkpoint's origin
// line (no control character).
func CheckKeyName(name string) error {
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

// WriteKeyPair generates a key pair for a log named name and writes the
// signer key to path (mode 0600) and the verifier key to path+".pub"
// (mode 0644). Neither file may exist, and path may not be inside a log
// directory, where the key would be published with the log. It returns
// the verifier key.
func WriteKeyPair(path, name string) (string, error) {
	if dir, ok := insideLog(path); ok {
		return "", fmt.Errorf("%s: inside the log %s; keep the private key out of the directory that is published", path, dir)
	}
	for _, p := range []string{path, path + ".pub"} {
		if _, err := os.Lstat(p); err == nil {
			return "", fmt.Errorf("%s: already exists", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}
	skey, vkey, err := GenerateKey(name)
	if err != nil {
		return "", err
	}
	if err := writeNew(path, []byte(skey+"\n"), 0o600); err != nil {
		return "", err
	}
	if err := writeNew(path+".pub", []byte(vkey+"\n"), 0o644); err != nil {
		os.Remove(path)
		return "", err
	}
	return vkey, nil
}

// insideLog reports whether path lies in a log directory: one of its
// parents holds log.vkey.
func insideLog(path string) (string, bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		if _, err := os.Lstat(filepath.Join(dir, FileVKey)); err == nil {
			return dir, true
		}
		if dir == filepath.Dir(dir) {
			return "", false
		}
	}
}

// writeNew writes a file that must not exist through a temporary sibling
// and a link, which refuses an existing name.
func writeNew(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Link(tmp.Name(), path)
}
