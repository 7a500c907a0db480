package declared

import "os/exec"

// setProcessGroup leaves cmd as it is on Windows, which has no process
// groups: a cancelled call kills the command (exec's default Cancel), not
// the processes it started.
func setProcessGroup(*exec.Cmd) {}

// killGroup does nothing on Windows (see setProcessGroup).
func killGroup(int) error { return nil }
