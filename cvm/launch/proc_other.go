//go:build !linux

package launch

import (
	"errors"
	"os/exec"
)

func setProcessGroup(*exec.Cmd) error {
	return errors.New("launch: running QEMU is supported on Linux only")
}
