package launch

import (
	"os/exec"
	"syscall"
)

// setProcessGroup makes cmd the leader of a new process group, killed with
// thread that started it (Pdeathsig), and makes cancelling cmd's
// context kill the whole group.
func setProcessGroup(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	return nil
}
