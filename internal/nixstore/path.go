// Package nixstore checks store paths and store path names by Nix's rules,
// and decodes the hashes Nix prints.
package nixstore

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// HashLen is the length of the hash part of a store path's base name: 20
// bytes in Nix's base-32.
const HashLen = 32

// MaxNameLen is the longest store path name Nix allows
// (StorePath::MaxPathLen).
const MaxNameLen = 211

// nameChars are the characters Nix allows in store path names, besides
// ASCII letters and digits.
const nameChars = "+-._?="

// Path is a store path split into its parts.
type Path struct {
	Dir  string // the store directory, such as "/nix/store"
	Hash string // HashLen characters of Nix's base-32
	Name string // such as "hello-2.12" or "hello-2.12.drv"
}

// String returns the store path, Dir + "/" + Hash + "-" + Name.
func (p Path) String() string { return p.Dir + "/" + p.Hash + "-" + p.Name }

// ParsePath splits a store path, <store dir>/<hash>-<name>: the store
// directory is an absolute, clean path other than "/", the hash is HashLen
// characters of Nix's base-32 alphabet, and the name is valid as CheckName
// says. The store directory is not required to be /nix/store.
//
// go-nix's storepath package is not used: it knows only /nix/store, does
// not check the '-' after the hash, checks the name's characters from the
// wrong offset, and has no length limit.
func ParsePath(p string) (Path, error) {
	i := strings.LastIndexByte(p, '/')
	if i <= 1 || p[0] != '/' || p[:i] != "/nix/store" && path.Clean(p[:i]) != p[:i] {
		return Path{}, errors.New("not an absolute path in a store directory")
	}
	dir, base := p[:i], p[i+1:]
	if len(base) < HashLen+2 || base[HashLen] != '-' {
		return Path{}, errors.New("not a store path: want <store dir>/<hash>-<name>")
	}
	hash, name := base[:HashLen], base[HashLen+1:]
	for i := 0; i < len(hash); i++ {
		if !isBase32(hash[i]) {
			return Path{}, errors.New("store path hash has a character outside Nix's base-32 alphabet")
		}
	}
	if err := CheckName(name); err != nil {
		return Path{}, fmt.Errorf("store path %w", err)
	}
	return Path{Dir: dir, Hash: hash, Name: name}, nil
}

// CheckPath reports whether p is a store path, as ParsePath does.
func CheckPath(p string) error {
	_, err := ParsePath(p)
	return err
}

// CheckName reports whether s is a valid store path name, as Nix's
// checkName does: 1 to MaxNameLen characters from A-Z a-z 0-9 + - . _ ? =,
// not starting with '.'. Derivation names follow the same rule.
func CheckName(s string) error {
	if err := checkChars(s); err != nil {
		return err
	}
	if s[0] == '.' {
		return errors.New("name starts with '.'")
	}
	return nil
}

// CheckOutputName reports whether s is a valid derivation output name: 1 to
// MaxNameLen of the characters CheckName allows. It may start with '.',
// since in an output's path it follows "<name>-".
func CheckOutputName(s string) error { return checkChars(s) }

func checkChars(s string) error {
	if s == "" {
		return errors.New("name is empty")
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("name is %d characters long, more than %d", len(s), MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return fmt.Errorf("name has %q at byte %d, a character Nix does not allow (want A-Z a-z 0-9 %s)", s[i:i+1], i, nameChars)
		}
	}
	return nil
}

func isNameChar(c byte) bool { return inSet(c, nameSetLo, nameSetHi) }

// isBase32 is nixbase32.Is.
func isBase32(c byte) bool { return inSet(c, base32SetLo, base32SetHi) }

// The characters isNameChar and isBase32 allow, as sets of ASCII codes: bit
// c of the low word, bit c-64 of the high one. A set is tested without
// branching on the character, which for the random characters of a hash
// or a name would be mispredicted often; Kettle checks thousands of store
// paths in a manifest.
const (
	digitsLo = (1<<10 - 1) << '0'
	upperHi  = (1<<26 - 1) << ('A' - 64)
	lowerHi  = (1<<26 - 1) << ('a' - 64)

	nameSetLo = digitsLo | 1<<'+' | 1<<'-' | 1<<'.' | 1<<'=' | 1<<'?'
	nameSetHi = upperHi | lowerHi | 1<<('_'-64)

	base32SetLo = digitsLo
	base32SetHi = lowerHi &^ (1<<('e'-64) | 1<<('o'-64) | 1<<('t'-64) | 1<<('u'-64))
)

func inSet(c byte, lo, hi uint64) bool {
	set := [2]uint64{lo, hi}
	return c < 128 && set[c>>6]&(1<<(c&63)) != 0
}
