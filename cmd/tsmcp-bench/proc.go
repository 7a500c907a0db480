package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// procs tracks the child processes the harness starts, so that every one
// of them (and its process group: npx, node and their children) is killed
// when the harness exits, on SIGINT too.
type procs struct {
	mu   sync.Mutex // guards the field below
	live map[*exec.Cmd]bool
}

func newProcs() *procs { return &procs{live: map[*exec.Cmd]bool{}} }

// start starts cmd in its own process group, with SIGKILL as its parent-
// death signal, and tracks it until wait or killAll.
func (p *procs) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.mu.Lock()
	p.live[cmd] = true
	p.mu.Unlock()
	return nil
}

// stop asks cmd's process group to terminate (SIGTERM), waits up to grace
// for cmd to exit, then kills whatever is left of its process tree. It
// returns cmd's exit error, or an error if it had to be killed.
func (p *procs) stop(cmd *exec.Cmd, exited <-chan error, grace time.Duration) error {
	defer p.forget(cmd)
	// Collected first: once cmd exits, its orphans are no longer its
	// descendants. (supergateway starts its children detached, in process
	// groups of their own.)
	tree := processTree(cmd.Process.Pid)
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case err := <-exited:
		killTree(tree) // stragglers
		return err
	case <-time.After(grace):
		killTree(append(tree, processTree(cmd.Process.Pid)...))
		<-exited
		return fmt.Errorf("pid %d did not exit within %s of SIGTERM; killed", cmd.Process.Pid, grace)
	}
}

// killTree sends SIGKILL to every process in pids and to the process
// groups they lead.
func killTree(pids []int) {
	for _, pid := range pids {
		syscall.Kill(-pid, syscall.SIGKILL)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func (p *procs) forget(cmd *exec.Cmd) {
	p.mu.Lock()
	delete(p.live, cmd)
	p.mu.Unlock()
}

// killAll kills the process group of every tracked child.
func (p *procs) killAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for cmd := range p.live {
		killTree(processTree(cmd.Process.Pid))
		delete(p.live, cmd)
	}
}

// tailBuffer keeps the last part of a child's output for error messages.
type tailBuffer struct {
	mu  sync.Mutex // guards the field below
	buf []byte
}

const tailMax = 8 << 10

// Write implements io.Writer.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-tailMax:]...)
	}
	return len(p), nil
}

// String returns the kept output.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}

// hostProc is a running host child (see runHost).
type hostProc struct {
	kind   string
	ready  hostReady
	cmd    *exec.Cmd
	exited chan error
	stderr *tailBuffer
	procs  *procs
}

// startHostProc re-executes the bench binary as a host child of the given
// kind on the tailnet at control, with extra host flags, and waits until
// it serves.
func (b *bench) startHostProc(ctx context.Context, kind, hostname string, extra ...string) (*hostProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := append([]string{hostSubcommand, "-kind", kind, "-control", b.net.ControlURL, "-hostname", hostname}, extra...)
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), "TS_NO_LOGS_NO_SUPPORT=true")
	if b.hostProcs != "" {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+b.hostProcs)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	h := &hostProc{kind: kind, cmd: cmd, exited: make(chan error, 1), stderr: &tailBuffer{}, procs: b.procs}
	cmd.Stderr = h.stderr
	if err := b.procs.start(cmd); err != nil {
		return nil, err
	}
	lines := make(chan []byte, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- append([]byte(nil), sc.Bytes()...)
		}
		io.Copy(io.Discard, stdout)
		h.exited <- cmd.Wait()
	}()
	timeout := time.NewTimer(90 * time.Second)
	defer timeout.Stop()
	select {
	case line := <-lines:
		if err := json.Unmarshal(line, &h.ready); err != nil {
			h.stop()
			return nil, fmt.Errorf("%s host: bad ready line %q: %v", kind, line, err)
		}
		return h, nil
	case err := <-h.exited:
		b.procs.forget(cmd)
		return nil, fmt.Errorf("%s host exited before ready (%v): %s", kind, err, h.stderr)
	case <-timeout.C:
		h.stop()
		return nil, fmt.Errorf("%s host not ready within 90s: %s", kind, h.stderr)
	case <-ctx.Done():
		h.stop()
		return nil, ctx.Err()
	}
}

// stop ends the host child, giving it 10s to drain.
func (h *hostProc) stop() error { return h.stopWithin(10 * time.Second) }

// stopWithin ends the host child, killing it after grace.
func (h *hostProc) stopWithin(grace time.Duration) error {
	return h.procs.stop(h.cmd, h.exited, grace)
}

// stats fetches the child's /stats; gc runs a GC first.
func (h *hostProc) stats(ctx context.Context, gc bool) (hostStats, error) {
	var st hostStats
	u := "http://" + h.ready.Stats + "/stats"
	if gc {
		u += "?gc=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("stats: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// cpu returns the CPU time the child has used so far.
func (h *hostProc) cpu() time.Duration {
	d, _ := readCPU(h.cmd.Process.Pid)
	return d
}

// profile fetches a CPU profile of the child over d and writes it to path.
func (h *hostProc) profile(ctx context.Context, d time.Duration, path string) error {
	u := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", h.ready.Stats, max(1, int(d.Seconds())))
	return fetchTo(ctx, u, path)
}

// heapProfile fetches a heap profile of the child (after a GC) to path.
func (h *hostProc) heapProfile(ctx context.Context, path string) error {
	return fetchTo(ctx, "http://"+h.ready.Stats+"/debug/pprof/heap?gc=1", path)
}

func fetchTo(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("profile: " + resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	return errors.Join(err, f.Close())
}
