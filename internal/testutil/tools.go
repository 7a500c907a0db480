package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// The one rule for tests that need an installed tool (a program, or an
// npm package installed in the tree): .ci/run installs every one and
// sets CI, so there a missing tool fails the test; elsewhere the test is
// skipped, and the message gives the exact command that installs it.

// NeedTool returns the path of the program name found on PATH. When it is
// missing the test fails if CI is set and is skipped otherwise, naming
// install, the command that installs it (run from the repository root).
func NeedTool(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		MissingTool(t, name+" is not on PATH", install)
	}
	return p
}

// MissingTool ends the test for a missing tool, what saying which: it
// fails if CI is set (.ci/run must have installed it) and is skipped
// otherwise; both say install, the command that installs it (run from the
// repository root).
func MissingTool(t testing.TB, what, install string) {
	t.Helper()
	msg := what + "; install it with: " + install
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set, so .ci/run must install it)")
	}
	t.Skip(msg)
}
