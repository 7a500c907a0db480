package conn

import (
	"os/exec"
	"syscall"
)

// setProcessGroup does nothing on Windows, which has no process groups: a
// child's own children are not stopped with it there.
func setProcessGroup(*exec.Cmd) {}

// signalGroup does nothing on Windows: there are no signals to send to a
// group; stopProcess ends the child with Process.Kill.
func signalGroup(int, syscall.Signal) {}
