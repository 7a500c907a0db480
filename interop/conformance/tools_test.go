package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

// serverEnv names the directory of the suite's reference server, copied
// out of shared/conformance/server and installed (`npm ci`) there. It is
// not a TSMCP_ variable: tsmcp refuses unknown ones.
const serverEnv = "MCP_CONFORMANCE_SERVER"

const (
	suiteTimeout  = 5 * time.Minute
	readyTimeout  = 60 * time.Second
	waitDelay     = 5 * time.Second
	minNodeMajor  = 22 // the suite uses fs.globSync
	installScript = "interop/conformance/install.sh"
)

// installHint is the command that installs what this test needs.
var installHint = fmt.Sprintf("export %s=$(mktemp -d) && %s \"$%s\"", serverEnv, installScript, serverEnv)

// need fails the test when CI is set (.ci/run installs the tools) and
// skips it otherwise, saying what is missing and how to install it.
func need(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...) + "; install the suite, its Node.js and its reference server with: " + installHint
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set, so .ci/run must install them)")
	}
	t.Skip(msg)
}

// suite is the pinned conformance suite and the Node.js 22 that runs it,
// as `npm ci --prefix interop/conformance` installs them.
type suite struct {
	node   string // the Node.js 22 binary of the npm package node
	script string // the suite's command-line entry point
}

// findSuite locates the suite and its Node.js, checking the version.
func findSuite(t *testing.T) suite {
	t.Helper()
	dir := filepath.Join(testutil.RepoRoot(t), "interop", "conformance", "node_modules")
	s := suite{
		node:   filepath.Join(dir, "node", "bin", "node"),
		script: filepath.Join(dir, "@modelcontextprotocol", "conformance", "dist", "index.js"),
	}
	for _, p := range []string{s.node, s.script} {
		if _, err := os.Stat(p); err != nil {
			need(t, "the conformance suite is not installed (%v)", err)
		}
	}
	out, err := exec.CommandContext(t.Context(), s.node, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", s.node, err)
	}
	v := strings.TrimSpace(string(out))
	major, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(v, ".", 2)[0], "v"))
	if major < minNodeMajor {
		t.Fatalf("%s is Node.js %s; the suite needs %d or newer (reinstall: %s)", s.node, v, minNodeMajor, installHint)
	}
	return s
}

// findServer returns the directory of the installed reference server.
func findServer(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(serverEnv)
	if dir == "" {
		need(t, "%s is not set", serverEnv)
	}
	for _, p := range []string{"everything-server.ts", "node_modules/tsx/dist/cli.mjs"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			need(t, "%s=%s is not an installed reference server (%v)", serverEnv, dir, err)
		}
	}
	return dir
}

// command returns a command running the suite's Node.js with args in dir,
// with that Node.js first on PATH (for any node the child starts).
func (s suite) command(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.node, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(s.node)+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.WaitDelay = waitDelay
	// The process and any child it starts are one group, ended together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

// startReference starts the reference server (`tsx everything-server.ts`)
// on a free loopback port and returns its MCP URL once it answers. It is
// stopped when the test ends.
func startReference(t *testing.T, s suite, dir string) string {
	t.Helper()
	addr := testutil.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithCancel(context.Background())
	out := &testutil.Buffer{}
	cmd := s.command(ctx, dir, filepath.Join("node_modules", "tsx", "dist", "cli.mjs"), "everything-server.ts")
	cmd.Env = append(cmd.Env, "PORT="+port)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting the reference server: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("--- reference server output (last 8 KiB) ---\n%s", tail(out.String(), 8<<10))
		}
	})
	url := "http://127.0.0.1:" + port + "/mcp"
	deadline := time.Now().Add(readyTimeout)
	for {
		// Any HTTP answer means it listens (a bare GET gets 4xx).
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return url
		}
		select {
		case <-exited:
			t.Fatalf("the reference server exited before it listened:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reference server did not listen on %s within %v:\n%s", addr, readyTimeout, out.String())
		}
	}
}

// runSuite runs `conformance server --suite all` against url and returns
// its results. The suite exits 1 when a check fails; that is read from the
// results, not from the exit code.
func runSuite(t *testing.T, s suite, url string) run {
	t.Helper()
	outDir := t.TempDir()
	start := time.Now()
	out := s.run(t, outDir, "server", "--url", url, "--suite", "all")
	r, err := readRun(outDir)
	if err != nil {
		t.Fatalf("reading the suite's results for %s: %v\n%s", url, err, out)
	}
	t.Logf("suite against %s: %d scenarios in %v", url, len(r), time.Since(start).Round(time.Millisecond))
	return r
}

// run runs the suite with args, writing its results to outDir
// (--output-dir), within suiteTimeout, and returns its output. The suite
// exits 1 when a check fails; that is read from the results, not from
// the exit code: any other failure fails the test.
func (s suite) run(t *testing.T, outDir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), suiteTimeout)
	defer cancel()
	cmd := s.command(ctx, outDir, append(append([]string{s.script}, args...), "--output-dir", outDir)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1 && ctx.Err() == nil) {
		t.Fatalf("conformance %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}
