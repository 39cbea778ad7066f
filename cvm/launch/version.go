package launch

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Version is a QEMU release number.
type Version struct {
	Major, Minor, Micro int
}

func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Micro)
}

// Less reports whether v is an earlier release than w.
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Micro < w.Micro
}

// MinVersion returns the oldest QEMU that can launch p, and what it brought:
// 9.1 for SEV-SNP (the sev-snp-guest object), 10.1 for TDX (the tdx-guest
// object), and for a plain VM the oldest release this package is tested
// with, 7.2.
func MinVersion(p Platform) (Version, string, error) {
	switch p {
	case Plain:
		return Version{7, 2, 0}, "the oldest QEMU this launcher is tested with", nil
	case SEVSNP:
		return Version{9, 1, 0}, "the sev-snp-guest object", nil
	case TDX:
		return Version{10, 1, 0}, "the tdx-guest object", nil
	}
	return Version{}, "", fmt.Errorf("launch: platform %q: want %q, %q or %q", p, Plain, SEVSNP, TDX)
}

// ParseVersion reads the release number from the output of
// `qemu-system-x86_64 --version`, whose first line is
// "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)".
func ParseVersion(out string) (Version, error) {
	line, _, _ := strings.Cut(out, "\n")
	const prefix = "QEMU emulator version "
	i := strings.Index(line, prefix)
	if i < 0 {
		return Version{}, fmt.Errorf("launch: QEMU version: no %q in %q", prefix, line)
	}
	num := line[i+len(prefix):]
	if j := strings.IndexAny(num, " ("); j >= 0 {
		num = num[:j]
	}
	parts := strings.Split(num, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, fmt.Errorf("launch: QEMU version %q: want MAJOR.MINOR[.MICRO]", num)
	}
	var n [3]int
	for k, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || p[0] == '+' {
			return Version{}, fmt.Errorf("launch: QEMU version %q: part %q is not a number", num, p)
		}
		n[k] = v
	}
	return Version{n[0], n[1], n[2]}, nil
}

// CheckVersion parses out, the output of `qemu-system-x86_64 --version`,
// and reports whether that QEMU can launch p: nil if it can, else an error
// naming the version found, the one needed and why.
func CheckVersion(p Platform, out string) error {
	min, why, err := MinVersion(p)
	if err != nil {
		return err
	}
	v, err := ParseVersion(out)
	if err != nil {
		return err
	}
	if v.Less(min) {
		return fmt.Errorf("launch: QEMU %s cannot launch a %s VM: it needs QEMU %d.%d or later (%s)", v, p, min.Major, min.Minor, why)
	}
	return nil
}

// QEMUVersion runs `qemu --version` and returns its output.
func QEMUVersion(ctx context.Context, qemu string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, qemu, "--version")
	cmd.Stdout = &limitedBuffer{buf: &stdout, max: 4096}
	cmd.Stderr = &limitedBuffer{buf: &stderr, max: 4096}
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("launch: %s --version: %w: %s", qemu, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.String(), nil
}

// limitedBuffer keeps the first max bytes written to it and discards the rest.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
