package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// The serial numbers of the agent's disks, as the launcher names them.
const (
	InputDiskSerial  = "kettle-input"
	ResultDiskSerial = "kettle-result"
)

// ModulesFile lists, one per line and in load order, the kernel modules
// (paths in the image) the agent loads for the VM's devices.
const ModulesFile = "/etc/kettle/modules"

// NewSystem returns the System of a Linux VM in which the agent is PID 1,
// logging to log.
func NewSystem(log io.Writer) System { return &linuxSystem{log: log} }

type linuxSystem struct {
	log         io.Writer
	input, outp string // the disks' device paths, found by Setup
}

func (s *linuxSystem) logf(format string, args ...any) {
	fmt.Fprintf(s.log, "kettle-agent: "+format+"\n", args...)
}

// Setup mounts /proc, /sys, /dev, /dev/pts and /run, loads the modules of
// ModulesFile, waits for the two disks, and moves the root onto a tmpfs:
// Nix's sandbox cannot pivot_root out of the initramfs' rootfs.
func (s *linuxSystem) Setup(ctx context.Context) error {
	for _, m := range []struct{ src, dst, fstype, data string }{
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
		{"devtmpfs", "/dev", "devtmpfs", "mode=0755"},
		{"devpts", "/dev/pts", "devpts", "mode=0620,ptmxmode=0666"},
		{"tmpfs", "/run", "tmpfs", "mode=0755"},
	} {
		if err := os.MkdirAll(m.dst, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.src, m.dst, m.fstype, 0, m.data); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mounting %s on %s: %w", m.fstype, m.dst, err)
		}
	}
	if err := loadModules(ModulesFile, s.logf); err != nil {
		return err
	}
	if err := s.findDisks(ctx); err != nil {
		return err
	}
	return switchRoot("/newroot")
}

// loadModules loads the modules listed in file, in order; one already
// loaded (or built in) is no error, nor is one whose device this VM does not
// have (the SEV-SNP guest driver in a plain VM), which is logged.
func loadModules(file string, logf func(string, ...any)) error {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.TrimSpace(sc.Text())
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		m, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("module %s: %w", p, err)
		}
		err = unix.FinitModule(int(m.Fd()), "", 0)
		m.Close()
		switch {
		case err == nil, errors.Is(err, unix.EEXIST):
		case errors.Is(err, unix.ENODEV):
			logf("module %s: no such device in this VM, not loaded", filepath.Base(p))
		default:
			return fmt.Errorf("loading module %s: %w", p, err)
		}
	}
	return sc.Err()
}

// findDisks waits for the virtio disks with the agent's serial numbers.
func (s *linuxSystem) findDisks(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.input, s.outp = "", ""
		blocks, _ := filepath.Glob("/sys/block/vd*/serial")
		for _, b := range blocks {
			serial, err := os.ReadFile(b)
			if err != nil {
				continue
			}
			dev := "/dev/" + filepath.Base(filepath.Dir(b))
			switch strings.TrimSpace(string(serial)) {
			case InputDiskSerial:
				s.input = dev
			case ResultDiskSerial:
				s.outp = dev
			}
		}
		if s.input != "" && s.outp != "" {
			s.logf("input disk %s, result disk %s", s.input, s.outp)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no virtio disks with serials %s and %s after 30 s", InputDiskSerial, ResultDiskSerial)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// switchRoot copies the initramfs onto a tmpfs at newRoot, moves the
// kernel file systems there and makes it the root, as switch_root does.
func switchRoot(newRoot string) error {
	if err := os.MkdirAll(newRoot, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", newRoot, "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mounting the new root: %w", err)
	}
	moved := []string{"/proc", "/sys", "/dev", "/run"}
	skip := map[string]bool{newRoot: true}
	for _, m := range moved {
		skip[m] = true
	}
	if err := copyTree("/", newRoot, skip); err != nil {
		return fmt.Errorf("copying the initramfs onto the new root: %w", err)
	}
	for _, m := range moved {
		dst := filepath.Join(newRoot, m)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m, dst, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("moving %s: %w", m, err)
		}
	}
	if err := os.Chdir(newRoot); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("moving the new root onto /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return os.Chdir("/")
}

// copyTree copies directories, regular files and symbolic links from src
// to dst, keeping permission bits, leaving out the top-level paths in skip.
// Files are copied by one goroutine per CPU: under emulation each vCPU
// copies at its own speed. A directory is made before anything in it.
func copyTree(src, dst string, skip map[string]bool) error {
	var g errgroup.Group
	g.SetLimit(runtime.NumCPU())
	walkErr := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if skip[p] {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if p == src {
				return nil
			}
			return os.Mkdir(target, info.Mode().Perm())
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			g.Go(func() error { return copyFile(p, target, info.Mode().Perm()) })
		}
		return nil // device nodes and the like: devtmpfs provides them
	})
	return errors.Join(walkErr, g.Wait())
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (s *linuxSystem) OpenInput() (io.ReadCloser, error) {
	if s.input == "" {
		return nil, errors.New("no input disk")
	}
	return os.Open(s.input)
}

func (s *linuxSystem) OpenResult() (io.WriteCloser, error) {
	if s.outp == "" {
		return nil, errors.New("no result disk")
	}
	f, err := os.OpenFile(s.outp, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	return syncCloser{f}, nil
}

// syncCloser flushes the result to the disk before it is closed.
type syncCloser struct{ *os.File }

func (s syncCloser) Close() error {
	if err := s.File.Sync(); err != nil {
		s.File.Close()
		return err
	}
	return s.File.Close()
}

// PowerOff syncs the file systems and powers the VM off. It does not
// return when it succeeds.
func PowerOff() error {
	unix.Sync()
	return unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}
