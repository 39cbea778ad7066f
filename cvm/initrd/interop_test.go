package initrd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (apt-get install %s): skipping the interoperability check", name, pkg)
	}
	return p
}

func run(t *testing.T, stdin []byte, dir, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// TestInteropDecompressors: the zstd, xz and gzip command-line tools
// decompress each compressed archive to the uncompressed one.
func TestInteropDecompressors(t *testing.T) {
	tr := apiTree(t, nil)
	plain := write(t, tr, Options{Compression: None})
	for _, tc := range []struct {
		c        Compression
		tool     string
		pkg      string
		args     []string
		checkArg []string
	}{
		{Zstd, "zstd", "zstd", []string{"-dc"}, []string{"-t"}},
		{XZ, "xz", "xz-utils", []string{"-dc"}, []string{"-t"}},
		{Gzip, "gzip", "gzip", []string{"-dc"}, []string{"-t"}},
	} {
		t.Run(string(tc.c), func(t *testing.T) {
			tool := needTool(t, tc.tool, tc.pkg)
			b := write(t, tr, Options{Compression: tc.c})
			run(t, b, "", tool, tc.checkArg...)
			if got := run(t, b, "", tool, tc.args...); !bytes.Equal(got, plain) {
				t.Errorf("%s %v gives %d bytes that differ from the archive (%d)", tc.tool, tc.args, len(got), len(plain))
			}
		})
	}
	t.Run("xz-check", func(t *testing.T) {
		tool := needTool(t, "xz", "xz-utils")
		f := filepath.Join(t.TempDir(), "initrd.xz")
		mustAdd(t, os.WriteFile(f, write(t, tr, Options{Compression: XZ}), 0o644))
		out := string(run(t, nil, "", tool, "--robot", "-lvv", f))
		if !strings.Contains(out, "CRC32") || strings.Contains(out, "CRC64") {
			t.Errorf("xz -lvv: the check is not CRC32 alone:\n%s", out)
		}
	})
}

// TestInteropCpio: GNU cpio and bsdtar list the archive as written, and
// GNU cpio extracts the same tree.
func TestInteropCpio(t *testing.T) {
	src := t.TempDir()
	mustAdd(t, os.MkdirAll(filepath.Join(src, "a", "b"), 0o755))
	mustAdd(t, os.WriteFile(filepath.Join(src, "a", "b", "data"), bytes.Repeat([]byte("0123456789"), 1001), 0o640))
	mustAdd(t, os.WriteFile(filepath.Join(src, "a", "empty"), nil, 0o600))
	mustAdd(t, os.Symlink("b/data", filepath.Join(src, "a", "link")))
	var tr Tree
	mustAdd(t, tr.AddTree("/root", src))
	mustAdd(t, tr.AddBytes("/init", []byte("#!/bin/sh\n"), 0o755))
	mustAdd(t, tr.AddDir("/tmp", 0o777|os.ModeSticky))
	plain := write(t, &tr, Options{Compression: None, MTime: 86400})
	hs, _ := readAll(t, plain)
	var names []string
	for _, h := range hs {
		names = append(names, h.Name)
	}

	t.Run("cpio", func(t *testing.T) {
		tool := needTool(t, "cpio", "cpio")
		out := strings.TrimSpace(string(run(t, plain, "", tool, "-it", "--quiet")))
		if got := strings.Split(out, "\n"); strings.Join(got, "\n") != strings.Join(names, "\n") {
			t.Errorf("cpio -it:\n%s\nwant\n%s", out, strings.Join(names, "\n"))
		}
		verbose := string(run(t, plain, "", tool, "-itv", "--quiet", "--numeric-uid-gid"))
		for _, want := range []string{"drwxrwxrwt", "-rw-r-----", "root/a/link -> b/data", "Jan  2  1970"} {
			if !strings.Contains(verbose, want) {
				t.Errorf("cpio -itv lacks %q:\n%s", want, verbose)
			}
		}
		dst := t.TempDir()
		run(t, plain, dst, tool, "-id", "--quiet", "--no-absolute-filenames", "--preserve-modification-time")
		for _, rel := range []string{"a/b/data", "a/empty", "a/link"} {
			want, err := os.Readlink(filepath.Join(src, rel))
			if err != nil {
				wantB, _ := os.ReadFile(filepath.Join(src, rel))
				want = string(wantB)
			}
			got, err := os.Readlink(filepath.Join(dst, "root", rel))
			if err != nil {
				gotB, _ := os.ReadFile(filepath.Join(dst, "root", rel))
				got = string(gotB)
			}
			if got != want {
				t.Errorf("%s: extracted %.40q, want %.40q", rel, got, want)
			}
		}
		fi, err := os.Stat(filepath.Join(dst, "root", "a", "b", "data"))
		if err != nil || fi.Mode().Perm() != 0o640 || fi.ModTime().Unix() != 86400 {
			t.Errorf("extracted data: %v %v", fi, err)
		}
	})
	t.Run("bsdtar", func(t *testing.T) {
		tool := needTool(t, "bsdtar", "libarchive-tools")
		for _, c := range Compressions() {
			out := strings.TrimSpace(string(run(t, write(t, &tr, Options{Compression: c}), "", tool, "-tf", "-")))
			if out != strings.Join(names, "\n") {
				t.Errorf("%s: bsdtar -tf:\n%s\nwant\n%s", c, out, strings.Join(names, "\n"))
			}
		}
	})
}
