package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// coldResult is measurement 4 for one kind of state.
type coldResult struct {
	state string // "fresh" or "persisted"
	runs  []time.Duration
	err   error
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// writeServeConfig writes a `tsmcp serve` configuration for the harness's
// tailnet and returns its path and health address.
func (b *bench) writeServeConfig(dir, hostname, state string, ephemeral bool, extra string) (cfgPath, health string, err error) {
	health, err = freeAddr()
	if err != nil {
		return "", "", err
	}
	cfg := fmt.Sprintf(`tailnet:
  hostname: %s
  control_url: %s
  state: %q
  ephemeral: %v
  tags: [tag:mcp]
health:
  addr: %s
mcp:
  shutdown_grace: 2s
acl:
  rules:
    - src: ["*"]
      tools: ["*"]
%s`, hostname, b.net.ControlURL, state, ephemeral, health, extra)
	cfgPath = filepath.Join(dir, hostname+".yaml")
	return cfgPath, health, os.WriteFile(cfgPath, []byte(cfg), 0o600)
}

// serveProc is a running `tsmcp serve`.
type serveProc struct {
	cmd    *exec.Cmd
	exited chan error
	stderr *tailBuffer
	health string
}

// startServe starts `tsmcp serve --config cfgPath`; t0 is taken just
// before the process is started.
func (b *bench) startServe(cfgPath, health string) (*serveProc, time.Time, error) {
	cmd := exec.Command(b.tsmcpBin, "serve", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "TS_NO_LOGS_NO_SUPPORT=true")
	p := &serveProc{cmd: cmd, exited: make(chan error, 1), stderr: &tailBuffer{}, health: health}
	cmd.Stderr = p.stderr
	t0 := time.Now()
	if err := b.procs.start(cmd); err != nil {
		return nil, t0, err
	}
	go func() { p.exited <- cmd.Wait() }()
	return p, t0, nil
}

// waitReady polls /readyz every 5 ms until it answers 200 and returns the
// time it first did.
func (p *serveProc) waitReady(ctx context.Context, timeout time.Duration) (time.Time, error) {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			return time.Time{}, fmt.Errorf("tsmcp exited before ready (%v): %s", err, p.stderr)
		default:
		}
		resp, err := hc.Get("http://" + p.health + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Now(), nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("not ready within %s: %s", timeout, p.stderr)
}

// stop sends SIGTERM and waits for the exit.
func (b *bench) stopServe(p *serveProc) error {
	return b.procs.stop(p.cmd, p.exited, 15*time.Second)
}

// measureColdStart runs measurement 4: b.coldRuns starts of `tsmcp serve`
// with a fresh state directory each, then one priming run and b.coldRuns
// starts with that persisted state directory.
func (b *bench) measureColdStart(ctx context.Context) []coldResult {
	fresh := coldResult{state: "fresh"}
	persisted := coldResult{state: "persisted"}
	once := func(dir, hostname, state string) (time.Duration, error) {
		cfg, health, err := b.writeServeConfig(dir, hostname, state, false, "")
		if err != nil {
			return 0, err
		}
		p, t0, err := b.startServe(cfg, health)
		if err != nil {
			return 0, err
		}
		t1, err := p.waitReady(ctx, 60*time.Second)
		if stopErr := b.stopServe(p); err == nil && stopErr != nil {
			err = fmt.Errorf("stopping: %w: %s", stopErr, p.stderr)
		}
		if err != nil {
			return 0, err
		}
		return t1.Sub(t0), nil
	}
	for i := range b.coldRuns {
		dir, err := os.MkdirTemp(b.tmp, "cold-fresh-")
		if err != nil {
			fresh.err = err
			break
		}
		d, err := once(dir, fmt.Sprintf("cold-fresh-%d", i), filepath.Join(dir, "state"))
		if err != nil {
			fresh.err = err
			break
		}
		b.logf("cold start fresh     #%d %s", i+1, fmtDur(d))
		fresh.runs = append(fresh.runs, d)
	}
	dir, err := os.MkdirTemp(b.tmp, "cold-persisted-")
	if err != nil {
		persisted.err = err
		return []coldResult{fresh, persisted}
	}
	state := filepath.Join(dir, "state")
	if _, err := once(dir, "cold-persisted", state); err != nil {
		persisted.err = fmt.Errorf("priming run: %w", err)
		return []coldResult{fresh, persisted}
	}
	for i := range b.coldRuns {
		d, err := once(dir, "cold-persisted", state)
		if err != nil {
			persisted.err = err
			break
		}
		b.logf("cold start persisted #%d %s", i+1, fmtDur(d))
		persisted.runs = append(persisted.runs, d)
	}
	return []coldResult{fresh, persisted}
}
