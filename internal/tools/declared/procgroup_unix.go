//go:build !windows

package declared

import (
	"errors"
	"os/exec"
	"syscall"
)

// setProcessGroup starts cmd as the leader of a new process group, which
// is killed whole when the call is cancelled (see killGroup).
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
}

// killGroup sends SIGKILL to the process group pgid. A group that is
// already gone is not an error.
func killGroup(pgid int) error {
	if pgid <= 1 {
		return errors.New("no process group")
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}
