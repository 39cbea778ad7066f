package tlog

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// EntryHeader is the first line of a log entry of this format's version.
const EntryHeader = "kettle-bundle-log-entry/v1"

// Bounds of an entry. An entry is one leaf of the log, so it must fit the
// 65535 bytes a tlog-tiles entry bundle allows for one entry.
const (
	MaxEntrySize   = 1<<16 - 1
	MaxReasonLen   = 1024 // bytes of a "verified no:" reason
	MaxSubjects    = 256
	MaxSubjectName = 512 // bytes of a subject's name
	maxPlatformLen = 32
)

// Unknown stands for a field the bundle did not let Kettle read (its
// manifest or evidence does not decode); only an unverified entry has one.
const Unknown = "-"

// Entry is one bundle in the log: what the bundle is (the SHA-256 of its
// provenance.json and of the archive the log stores), what it claims (the
// manifest root, the platform, the subjects), and whether it verified when
// it was appended.
type Entry struct {
	ProvenanceSHA256 [32]byte
	// BundleSHA256 is the SHA-256 of the archive at
	// bundles/<provenance-sha256>.tar: the bundle's exact bytes.
	BundleSHA256 [32]byte
	// ManifestRoot is nil when the manifest did not decode (Unknown).
	ManifestRoot *[32]byte
	// Platform is evidence.json's platform, or Unknown.
	Platform string
	// Verified says whether `kettle verify` passed the bundle when it was
	// appended; Reason says why not (one line).
	Verified bool
	Reason   string
	Subjects []Subject

	// Index and BundlePath say where the entry lies in a log; they are set
	// by the functions that read a log and are not part of the entry's text.
	Index      uint64
	BundlePath string
}

// Subject is one subject of the bundle's provenance: an output store path
// and the SHA-256 of its NAR.
type Subject struct {
	Name   string
	SHA256 [32]byte
}

// Marshal returns the entry's text, the bytes the log's leaf hashes:
//
//	kettle-bundle-log-entry/v1
//	provenance-sha256 <64 lower-case hex>
//	bundle-sha256 <64 lower-case hex>
//	manifest-root <64 lower-case hex, or ->
//	platform <platform, or ->
//	verified yes            (or: verified no: <reason>)
//	subject <name> <64 lower-case hex>     (zero or more)
//
// Every line ends in "\n". It fails for an entry that ParseEntry would
// refuse.
func (e *Entry) Marshal() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(EntryHeader + "\n")
	fmt.Fprintf(&b, "provenance-sha256 %x\n", e.ProvenanceSHA256)
	fmt.Fprintf(&b, "bundle-sha256 %x\n", e.BundleSHA256)
	if e.ManifestRoot != nil {
		fmt.Fprintf(&b, "manifest-root %x\n", *e.ManifestRoot)
	} else {
		b.WriteString("manifest-root " + Unknown + "\n")
	}
	fmt.Fprintf(&b, "platform %s\n", e.Platform)
	if e.Verified {
		b.WriteString("verified yes\n")
	} else {
		fmt.Fprintf(&b, "verified no: %s\n", e.Reason)
	}
	for _, s := range e.Subjects {
		fmt.Fprintf(&b, "subject %s %x\n", s.Name, s.SHA256)
	}
	data := b.Bytes()
	if _, err := ParseEntry(data); err != nil {
		return nil, err
	}
	return data, nil
}

// ParseEntry reads an entry's text strictly: the lines in the order Marshal
// writes them, nothing missing, added or repeated, every digest 64
// lower-case hex digits, no carriage return, no trailing space, and a
// verified entry knows its manifest root and platform and has at least one
// subject. Errors name the line.
func ParseEntry(data []byte) (*Entry, error) {
	if len(data) > MaxEntrySize {
		return nil, fmt.Errorf("entry: %d bytes, more than the limit of %d", len(data), MaxEntrySize)
	}
	if !utf8.Valid(data) {
		return nil, errors.New("entry: not valid UTF-8")
	}
	text := string(data)
	if !strings.HasSuffix(text, "\n") {
		return nil, errors.New("entry: does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	p := entryParser{lines: lines}
	e := &Entry{}
	if l := p.next(); l != EntryHeader {
		return nil, p.errorf("want %q, got %q", EntryHeader, clip(l))
	}
	var err error
	if e.ProvenanceSHA256, err = p.digest("provenance-sha256"); err != nil {
		return nil, err
	}
	if e.BundleSHA256, err = p.digest("bundle-sha256"); err != nil {
		return nil, err
	}
	root, err := p.field("manifest-root")
	if err != nil {
		return nil, err
	}
	if root != Unknown {
		d, err := parseHexDigest(root)
		if err != nil {
			return nil, p.errorf("manifest-root: %v", err)
		}
		e.ManifestRoot = &d
	}
	if e.Platform, err = p.field("platform"); err != nil {
		return nil, err
	}
	if err := checkPlatform(e.Platform); err != nil {
		return nil, p.errorf("platform: %v", err)
	}
	verified, err := p.field("verified")
	if err != nil {
		return nil, err
	}
	switch {
	case verified == "yes":
		e.Verified = true
	case strings.HasPrefix(verified, "no: "):
		e.Reason = strings.TrimPrefix(verified, "no: ")
		if err := checkReason(e.Reason); err != nil {
			return nil, p.errorf("verified: %v", err)
		}
	default:
		return nil, p.errorf(`verified: want "yes" or "no: <reason>", got %q`, clip(verified))
	}
	for p.more() {
		s, err := p.subject()
		if err != nil {
			return nil, err
		}
		if len(e.Subjects) == MaxSubjects {
			return nil, p.errorf("more than %d subjects", MaxSubjects)
		}
		e.Subjects = append(e.Subjects, s)
	}
	if e.Verified {
		switch {
		case e.ManifestRoot == nil:
			return nil, errors.New("entry: verified, but its manifest-root is unknown")
		case e.Platform == Unknown:
			return nil, errors.New("entry: verified, but its platform is unknown")
		case len(e.Subjects) == 0:
			return nil, errors.New("entry: verified, but it has no subject")
		}
	}
	return e, nil
}

// entryParser walks the lines of an entry; line numbers in its errors
// count from 1.
type entryParser struct {
	lines []string
	n     int // lines consumed
}

func (p *entryParser) more() bool { return p.n < len(p.lines) }

func (p *entryParser) next() string {
	if !p.more() {
		p.n++
		return ""
	}
	l := p.lines[p.n]
	p.n++
	return l
}

func (p *entryParser) errorf(format string, args ...any) error {
	return fmt.Errorf("entry line %d: %s", p.n, fmt.Sprintf(format, args...))
}

// field reads the line "<key> <value>" and returns the value.
func (p *entryParser) field(key string) (string, error) {
	if !p.more() {
		p.n++
		return "", p.errorf("missing %q", key)
	}
	l := p.next()
	value, ok := strings.CutPrefix(l, key+" ")
	if !ok {
		return "", p.errorf("want %q, got %q", key+" …", clip(l))
	}
	if value == "" || strings.TrimSpace(value) != value || strings.ContainsAny(value, "\r\t") {
		return "", p.errorf("%s: empty, or with leading or trailing white space", key)
	}
	return value, nil
}

func (p *entryParser) digest(key string) ([32]byte, error) {
	v, err := p.field(key)
	if err != nil {
		return [32]byte{}, err
	}
	d, err := parseHexDigest(v)
	if err != nil {
		return [32]byte{}, p.errorf("%s: %v", key, err)
	}
	return d, nil
}

// subject reads "subject <name> <hex>".
func (p *entryParser) subject() (Subject, error) {
	v, err := p.field("subject")
	if err != nil {
		return Subject{}, err
	}
	name, digest, ok := strings.Cut(v, " ")
	if !ok || strings.Contains(digest, " ") {
		return Subject{}, p.errorf(`subject: want "<name> <sha256>", got %q`, clip(v))
	}
	if err := checkSubjectName(name); err != nil {
		return Subject{}, p.errorf("subject: %v", err)
	}
	d, err := parseHexDigest(digest)
	if err != nil {
		return Subject{}, p.errorf("subject %s: %v", name, err)
	}
	return Subject{Name: name, SHA256: d}, nil
}

// parseHexDigest reads 64 lower-case hex digits.
func parseHexDigest(s string) ([32]byte, error) {
	var d [32]byte
	if len(s) != 64 || strings.ToLower(s) != s {
		return d, fmt.Errorf("want 64 lower-case hex digits, got %q", clip(s))
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("want 64 lower-case hex digits, got %q", clip(s))
	}
	return d, nil
}

// checkPlatform accepts Unknown or a platform name: 1 to 32 lower-case
// letters, digits and '-', as evidence.json names platforms.
func checkPlatform(s string) error {
	if s == Unknown {
		return nil
	}
	if len(s) == 0 || len(s) > maxPlatformLen {
		return fmt.Errorf("want 1 to %d characters, got %d", maxPlatformLen, len(s))
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%q: want lower-case letters, digits and '-'", clip(s))
		}
	}
	return nil
}

// checkSubjectName accepts a name of printable ASCII without spaces, as
// store paths are.
func checkSubjectName(s string) error {
	if len(s) == 0 || len(s) > MaxSubjectName {
		return fmt.Errorf("name of %d bytes, want 1 to %d", len(s), MaxSubjectName)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return fmt.Errorf("name %q: want printable ASCII without spaces", clip(s))
		}
	}
	return nil
}

// checkReason accepts one line of printable UTF-8 of at most MaxReasonLen
// bytes that neither starts nor ends with a space.
func checkReason(s string) error {
	if s == "" {
		return errors.New("empty reason")
	}
	if len(s) > MaxReasonLen {
		return fmt.Errorf("reason of %d bytes, more than %d", len(s), MaxReasonLen)
	}
	if strings.TrimSpace(s) != s {
		return errors.New("reason with leading or trailing white space")
	}
	for _, c := range s {
		if c < ' ' || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == utf8.RuneError {
			return fmt.Errorf("reason holds the control character %U", c)
		}
	}
	return nil
}

// reasonLine makes a verifier's message one reason line: control
// characters become spaces, runs of white space one space, and a message
// longer than MaxReasonLen is cut at a character boundary and marked "…".
func reasonLine(s string) string {
	var b strings.Builder
	space := false
	for _, c := range s {
		if c < ' ' || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == utf8.RuneError || c == ' ' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(c)
	}
	r := b.String()
	if r == "" {
		return "no reason given"
	}
	if len(r) > MaxReasonLen {
		cut := MaxReasonLen - len("…")
		for cut > 0 && !utf8.RuneStart(r[cut]) {
			cut--
		}
		r = strings.TrimRight(r[:cut], " ") + "…"
	}
	return r
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
