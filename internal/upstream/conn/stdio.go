package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
)

// Shutdown of a child: stdin is closed first (MCP servers exit on EOF);
// after stdinGrace the process group gets SIGTERM, after termGrace SIGKILL.
// Once the child has exited, output still buffered in its pipes is read for
// at most drainGrace before the pipes are closed.
const (
	stdinGrace = time.Second
	termGrace  = 2 * time.Second
	drainGrace = time.Second
)

// baseEnvNames are the variables of tsmcp's own environment a child
// inherits; everything else comes from the upstream's env in the config
// (and, per identity, the TSMCP_CALLER_* variables).
func baseEnvNames() []string {
	return []string{"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"}
}

// defaultPath is the child's PATH when tsmcp has none.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// ChildEnv builds a child's environment: the base variables, then the
// configured ones, then extra (the caller variables), later ones winning.
func ChildEnv(lookup func(string) (string, bool), cfg map[string]string, extra map[string]string) []string {
	m := map[string]string{}
	for _, name := range baseEnvNames() {
		if v, ok := lookup(name); ok {
			m[name] = v
		}
	}
	if _, ok := m["PATH"]; !ok {
		m["PATH"] = defaultPath
	}
	maps.Copy(m, cfg)
	maps.Copy(m, extra)
	env := make([]string, 0, len(m))
	for k, v := range m {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return env
}

// DefaultMaxLineBytes caps one line (one JSON-RPC message) read from a
// child's stdout. Longer lines are discarded, without being buffered
// whole, and logged.
const DefaultMaxLineBytes = 8 << 20

// Child is a stdio child to start.
type Child struct {
	// Argv is the program and its arguments, started without a shell.
	Argv []string
	// Env is the child's whole environment (see ChildEnv).
	Env []string
	// Dir is its working directory; "" means tsmcp's own.
	Dir string
	// Timeout bounds the handshake (and the session's setup requests).
	Timeout time.Duration
	// Log gets the child's stderr lines and what its stdout had that was
	// not JSON-RPC.
	Log *slog.Logger
	// Hooks are how the layer above takes part in the session.
	Hooks Hooks
	// Track, if not nil, is called with 1 once the process has started
	// and with -1 once it has been reaped.
	Track func(delta int)
}

// StartChild starts c.Argv as a new process group, wires its stdout
// through the line filter into an mcp-go IO transport, its stderr into the
// log, and initializes the MCP session. The session dies when the child
// exits or closes its stdout; closing the session stops the child (stdin
// EOF, SIGTERM, SIGKILL to the group) and reaps it.
func StartChild(ctx context.Context, c Child) (*Session, error) {
	argv, env, dir, timeout, log, track := c.Argv, c.Env, c.Dir, c.Timeout, c.Log, c.Track
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		closeAll(stdinR, stdinW)
		return nil, err
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		closeAll(stdinR, stdinW, stdoutR, stdoutW)
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, stdoutW, stderrW
	setProcessGroup(cmd)
	err = cmd.Start()
	// The child has its own copies (or failed to start): close ours.
	closeAll(stdinR, stdoutW, stderrW)
	if err != nil {
		closeAll(stdinW, stdoutR, stderrR)
		return nil, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	pid := cmd.Process.Pid
	log = log.With("pid", pid)
	if track == nil {
		track = func(int) {}
	}
	track(1)

	s := NewSession("stdio", timeout)
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		// Grandchildren left in the group die with the child.
		signalGroup(pid, syscall.SIGKILL)
		track(-1)
		s.Fail(exitReason(err))
		close(exited)
	}()

	pr, pw := io.Pipe()
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		lim := NewLogLimiter(log, "stdout")
		filterStdout(stdoutR, pw, DefaultMaxLineBytes, lim)
		lim.Flush()
		// Usually the child has exited: mark the session dead with its
		// exit status before the transport sees EOF and fails the calls
		// in flight. A child that closed stdout but runs on is useless.
		t := time.NewTimer(drainGrace)
		select {
		case <-exited:
		case <-t.C:
			s.Fail("stdout closed")
		}
		t.Stop()
		_ = pw.Close()
	}()
	go func() {
		defer readers.Done()
		logStderr(stderrR, NewLogLimiter(log, "stderr"))
	}()

	tr := transport.NewIO(pr, stdinW, nil)
	cl := newClient(tr, c.Hooks.Capabilities)
	s.client = cl
	s.stop = func() {
		// Unblock the filter if it is writing to the transport, and
		// end the transport's reader: in-flight requests fail now.
		_ = pw.Close()
		_ = cl.Close() // closes the child's stdin
		stopProcess(cmd.Process, pid, exited)
		// Read what the child left in its pipes, then close them; a
		// grandchild that left the group may still hold them open.
		drained := make(chan struct{})
		go func() { readers.Wait(); close(drained) }()
		t := time.NewTimer(drainGrace)
		select {
		case <-drained:
		case <-t.C:
		}
		t.Stop()
		closeAll(stdoutR, stderrR)
		<-drained
		_ = pr.Close()
	}
	if err := cl.Start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.attach(c.Hooks, tr, log)
	initCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	initDone := make(chan error, 1)
	go func() { initDone <- s.initialize(initCtx) }()
	select {
	case err = <-initDone:
	case <-s.ctx.Done():
		// The child died during the handshake: report why.
		cancel()
		<-initDone
		err = errors.New(s.Reason())
	}
	if err != nil {
		s.Close()
		if r := s.Reason(); r != "closed" && r != "" {
			return nil, fmt.Errorf("initialize: %v (%s)", err, r)
		}
		return nil, fmt.Errorf("initialize: %w", err)
	}
	return s, nil
}

// stopProcess ends the child's process group: it waits stdinGrace for the
// child to exit on stdin EOF, then sends SIGTERM, then SIGKILL, and returns
// once the child is reaped.
func stopProcess(p *os.Process, pid int, exited <-chan struct{}) {
	for _, step := range []struct {
		wait time.Duration
		sig  syscall.Signal
	}{{stdinGrace, syscall.SIGTERM}, {termGrace, syscall.SIGKILL}} {
		t := time.NewTimer(step.wait)
		select {
		case <-exited:
			t.Stop()
			return
		case <-t.C:
		}
		signalGroup(pid, step.sig)
	}
	_ = p.Kill()
	<-exited
}

func exitReason(err error) string {
	if err == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.Error() // "exit status 1", "signal: killed"
	}
	return err.Error()
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		_ = f.Close()
	}
}
