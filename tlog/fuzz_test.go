package tlog

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// fuzzSKey is a fixed signer key for the fuzz targets' seeds.
const fuzzSKey = "PRIVATE+KEY+example.org/fuzz+ef5f0878+AXxglTCBCbbztzOxiADXUI4cYekIwto/HETuTOOUzcrO"

// FuzzParseKey: a signer key accepted signs what its derived verifier key
// verifies, and is never taken for a verifier key.
func FuzzParseKey(f *testing.F) {
	k, err := ParseSigner(fuzzSKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fuzzSKey)
	f.Add(k.VKey)
	f.Add("PRIVATE+KEY+x+00000000+AQ==")
	f.Add("x+00000000+AQ==")
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := ParseSigner(s); err == nil {
			msg := []byte("m\n")
			sig, err := k.Signer.Sign(msg)
			if err != nil || !k.Verifier.Verify(msg, sig) || k.Signer.Name() != k.Verifier.Name() {
				t.Fatalf("signer %q: its verifier key %q does not verify it", s, k.VKey)
			}
			if _, err := ParseVerifier(s); err == nil {
				t.Fatalf("%q read as a private and a verifier key", s)
			}
		}
		if v, err := ParseVerifier(s); err == nil && v.Name() == "" {
			t.Fatalf("verifier key %q without a name", s)
		}
	})
}

// FuzzOpenCheckpoint: a checkpoint accepted is signed by the key, names
// its origin and has a 32-byte root.
func FuzzOpenCheckpoint(f *testing.F) {
	k, err := ParseSigner(fuzzSKey)
	if err != nil {
		f.Fatal(err)
	}
	good, err := note.Sign(&note.Note{Text: "example.org/fuzz\n3\nsmjMzSjWHo6oIAkTzHWwqLLzsOVVpsmFqsl9UQIjIEA=\n"}, k.Signer)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("example.org/fuzz\n3\nAAAA\n\n— example.org/fuzz AAAAAAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cp, err := openCheckpoint("checkpoint", data, k.Verifier)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "checkpoint: ") {
				t.Fatalf("error %q does not name the checkpoint", err)
			}
			return
		}
		if cp.Origin != "example.org/fuzz" || len(cp.Hash) != 32 {
			t.Fatalf("accepted %+v", cp)
		}
	})
}

// FuzzEntryBundle: an entry bundle cut to its first entries parses to
// them.
func FuzzEntryBundle(f *testing.F) {
	f.Add([]byte("\x00\x01a\x00\x02bc"), uint8(1))
	f.Add([]byte("\x00\x01a\x00"), uint8(2))
	f.Add([]byte{}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, p uint8) {
		if p == 0 {
			return
		}
		cut, err := trimEntryBundle("b", data, p)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(data, cut) {
			t.Fatal("the cut is not a prefix")
		}
		entries, err := parseEntryBundle("b", cut, int(p))
		if err != nil {
			t.Fatalf("the first %d entries of %q do not parse: %v", p, data, err)
		}
		if len(entries) != int(p) {
			t.Fatalf("%d entries", len(entries))
		}
	})
}
