package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

// TestConnectArgs checks the connect command's argument errors: each is
// refused before anything starts, with a message naming the problem.
func TestConnectArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no URL", []string{"connect"}, "accepts 1 arg"},
		{"not http", []string{"connect", "ftp://tsmcp/mcp"}, "want http:// or https://"},
		{"no host", []string{"connect", "http:///mcp"}, "has no host name"},
		{"tsnet flags without --tsnet", []string{"connect", "--ephemeral", "http://tsmcp/mcp"}, "need --tsnet"},
		{"zero dial timeout", []string{"connect", "--dial-timeout", "0s", "http://tsmcp/mcp"}, "--dial-timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, err := runCmd(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing (stdout is JSON-RPC only)", stdout)
			}
		})
	}
}

// TestCompletion checks that cobra's shell completion is served and
// completes the connect command.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		stdout, _, err := runCmd(t, "completion", shell)
		if err != nil || !strings.Contains(stdout, "tsmcp") {
			t.Errorf("completion %s: %v, %d bytes", shell, err, len(stdout))
		}
	}
	stdout, _, err := runCmd(t, "__complete", "con")
	if err != nil || !strings.Contains(stdout, "connect") {
		t.Errorf("completing \"con\": %v %q, want connect", err, stdout)
	}
}

// TestConnectSIGTERM runs `tsmcp connect` as a real process whose client
// keeps stdin open, sends SIGTERM, and checks that it exits 0 with
// nothing on stdout.
func TestConnectSIGTERM(t *testing.T) {
	cmd := exec.Command(os.Args[0], "connect", "http://127.0.0.1:1/mcp")
	cmd.Env = append(os.Environ(), "TSMCP_TEST_RUN_MAIN=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout := &testutil.Buffer{}
	cmd.Stdout = stdout
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// The process is reading stdin once it answers a message: an
	// initialize to a closed port gets the relay's error answer.
	if _, err := stdin.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}` + "\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stdout.String(), "cannot reach the host") {
		if time.Now().After(deadline) {
			t.Fatalf("no error answer on stdout: %q", stdout.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit: %v, want status 0", err)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("connect did not exit on SIGTERM")
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if !strings.HasPrefix(line, `{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"tsmcp connect: cannot reach the host`) {
			t.Errorf("stdout line %q is not the relay's JSON-RPC error answer", line)
		}
	}
}
