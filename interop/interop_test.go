// Package interop checks tsmcp against MCP clients other than the Go ones
// its own tests use. The clients live in subdirectories (ts/: the official
// TypeScript SDK; claude/: the Claude Code CLI) and are run against a real
// `tsmcp dev` playground.
package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

const (
	readyTimeout    = 60 * time.Second
	clientTimeout   = 2 * time.Minute
	shutdownTimeout = 30 * time.Second
	waitDelay       = 5 * time.Second
)

// TestTypeScriptSDK runs interop/ts/client.mjs (the official
// @modelcontextprotocol/sdk client) against `tsmcp dev`: every demo identity
// over Streamable HTTP and legacy SSE must list and call whoami and be seen
// as itself. It needs Node.js and `npm ci --prefix interop/ts`; without
// them it fails if CI is set and is skipped otherwise
// (testutil.TypeScriptSDK).
func TestTypeScriptSDK(t *testing.T) {
	node, tsDir := testutil.TypeScriptSDK(t)

	tmp := t.TempDir()
	bin := testutil.BuildTsmcp(t, tmp)

	endpoints := filepath.Join(tmp, "endpoints.json")
	dev := startDev(t, bin, endpoints, tmp)
	dev.waitForFile(t, endpoints)

	// The client validates the file; decode it here only to log a summary.
	if b, err := os.ReadFile(endpoints); err == nil {
		var eps struct {
			Host       string `json:"host"`
			Identities []struct {
				Name string `json:"name"`
			} `json:"identities"`
		}
		if err := json.Unmarshal(b, &eps); err != nil {
			t.Fatalf("endpoints file is not valid JSON: %v\n%s", err, b)
		}
		names := make([]string, 0, len(eps.Identities))
		for _, id := range eps.Identities {
			names = append(names, id.Name)
		}
		t.Logf("tsmcp dev ready: host %s, identities %s", eps.Host, strings.Join(names, ", "))
	}

	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	client := exec.CommandContext(ctx, node, "client.mjs", endpoints)
	client.Dir = tsDir
	client.WaitDelay = waitDelay
	start := time.Now()
	out, err := client.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (timed out after %v)", err, clientTimeout)
		}
		t.Fatalf("TypeScript SDK client failed: %v\n--- client output ---\n%s", err, out)
	}
	t.Logf("TypeScript SDK client passed in %v:\n%s", time.Since(start).Round(time.Millisecond), out)

	dev.stop(t)
}

// TestTypeScriptSDKBridged runs interop/ts/bridged.mjs (the official
// TypeScript SDK) against `tsmcp dev` bridging server-everything as
// "every": resources, templates, reads, prompts, completions, progress and
// a subscription's update as alice, and bob (whoami only) seeing none of
// it, a refused read failing like a missing one.
func TestTypeScriptSDKBridged(t *testing.T) {
	node, tsDir := testutil.TypeScriptSDK(t)
	everything := testutil.EverythingBin(t)

	tmp := t.TempDir()
	bin := testutil.BuildTsmcp(t, tmp)
	cfg := filepath.Join(tmp, "tsmcp.yaml")
	// alice joins the playground second (user-2), bob third (user-3).
	yaml := fmt.Sprintf(`acl:
  rules:
    - src: ["user-2@fake-control.example.net"]
      tools: ["*"]
      prompts: ["*"]
      resources: ["*"]
    - src: ["*"]
      tools: [whoami]
upstreams:
  - name: every
    command: [%q]
`, everything)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	endpoints := filepath.Join(tmp, "endpoints.json")
	dev := startDev(t, bin, endpoints, tmp, "--config", cfg)
	dev.waitForFile(t, endpoints)

	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	client := exec.CommandContext(ctx, node, "bridged.mjs", endpoints)
	client.Dir = tsDir
	client.WaitDelay = waitDelay
	out, err := client.CombinedOutput()
	if err != nil {
		t.Fatalf("TypeScript SDK bridged checks failed: %v\n--- client output ---\n%s", err, out)
	}
	t.Logf("TypeScript SDK bridged checks:\n%s", out)
	dev.stop(t)
}

// devProcess is a running `tsmcp dev`.
type devProcess struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{} // closed when the process has exited
	waitErr        error         // cmd.Wait's result; read after done
}

func startDev(t *testing.T, bin, endpoints, tmp string, extra ...string) *devProcess {
	t.Helper()
	d := &devProcess{stdout: new(syncBuffer), stderr: new(syncBuffer), done: make(chan struct{})}
	// t.Context is cancelled when the test ends, so the process is killed
	// even if the test fails before stop.
	d.cmd = exec.CommandContext(t.Context(), bin, append([]string{"dev", "--endpoints-file", endpoints}, extra...)...)
	d.cmd.Stdout = d.stdout
	d.cmd.Stderr = d.stderr
	d.cmd.WaitDelay = waitDelay
	// Anything the playground leaves in the temp directory goes with tmp.
	d.cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting tsmcp dev: %v", err)
	}
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.done)
	}()
	// Cleanups run last-in first-out: kill the process, then show its
	// output if the test failed.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- tsmcp dev stdout ---\n%s", d.stdout.String())
			t.Logf("--- tsmcp dev stderr (last 64 KiB) ---\n%s", d.stderr.tail(64<<10))
		}
	})
	t.Cleanup(func() {
		select {
		case <-d.done:
			return
		default:
		}
		_ = d.cmd.Process.Kill()
		select {
		case <-d.done:
		case <-time.After(2 * waitDelay):
			t.Errorf("tsmcp dev (pid %d) did not exit after being killed", d.cmd.Process.Pid)
		}
	})
	return d
}

// waitForFile waits until the playground has written path, failing if it
// exits first or takes longer than readyTimeout.
func (d *devProcess) waitForFile(t *testing.T, path string) {
	t.Helper()
	start := time.Now()
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		// The playground writes the file by rename, so it is complete
		// once it exists.
		if _, err := os.Stat(path); err == nil {
			t.Logf("tsmcp dev wrote its endpoints after %v", time.Since(start).Round(time.Millisecond))
			return
		}
		select {
		case <-d.done:
			t.Fatalf("tsmcp dev exited before writing %s: %v", path, d.waitErr)
		case <-deadline.C:
			t.Fatalf("tsmcp dev did not write %s within %v", path, readyTimeout)
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM and expects a clean exit (status 0) in time.
func (d *devProcess) stop(t *testing.T) {
	t.Helper()
	select {
	case <-d.done:
		t.Fatalf("tsmcp dev exited before it was told to stop: %v", d.waitErr)
	default:
	}
	start := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("sending SIGTERM to tsmcp dev: %v", err)
	}
	select {
	case <-d.done:
	case <-time.After(shutdownTimeout):
		t.Fatalf("tsmcp dev did not exit within %v of SIGTERM", shutdownTimeout)
	}
	took := time.Since(start).Round(time.Millisecond)
	if d.waitErr != nil {
		var exitErr *exec.ExitError
		if errors.As(d.waitErr, &exitErr) {
			t.Fatalf("tsmcp dev exited with status %d after SIGTERM (in %v), want 0", exitErr.ExitCode(), took)
		}
		t.Fatalf("tsmcp dev after SIGTERM: %v", d.waitErr)
	}
	t.Logf("tsmcp dev exited 0 %v after SIGTERM", took)
}

// syncBuffer is a testutil.Buffer that can also show its tail.
type syncBuffer struct{ testutil.Buffer }

// tail returns the last n bytes, noting how much was left out.
func (b *syncBuffer) tail(n int) string {
	s := b.String()
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("... (%d bytes omitted)\n%s", len(s)-n, s[len(s)-n:])
}
