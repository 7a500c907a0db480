package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// sidecar is a tailscaled on the harness's tailnet (userspace networking,
// no root) running `tailscale serve --http=80` in front of a loopback
// server: the deployment a user would choose instead of tsmcp.
type sidecar struct {
	cmd    *exec.Cmd
	exited chan error
	stderr *tailBuffer
	dir    string // state directory
	sock   string // LocalAPI socket
	cli    string // the tailscale CLI
	// url is http://<the sidecar's MagicDNS name>.
	url string
	// debug is the loopback address of tailscaled's debug listener
	// (/debug/pprof/).
	debug string
	// probe is the answer to the readiness probe through serve.
	probe string
	// deathPipe is the write end of the pipe tailscaled watches
	// (TS_PARENT_DEATH_FD): when the harness exits, however it exits, the
	// pipe closes and tailscaled exits.
	deathPipe *os.File
}

// sidecarBinaries returns the paths of tailscaled and the tailscale CLI,
// or why they cannot be used.
func (b *bench) sidecarBinaries() (daemon, cli string, err error) {
	daemon, cli = b.tailscaledBin, b.tailscaleBin
	if daemon == "" || cli == "" {
		return "", "", errors.New("no tailscaled/tailscale binaries given (-tailscaled, -tailscale; `make bench-deps` builds them into bench/bin)")
	}
	for _, p := range []string{daemon, cli} {
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return "", "", fmt.Errorf("%s is not an executable (build it with `make bench-deps`)", p)
		}
	}
	return daemon, cli, nil
}

// startSidecar starts tailscaled with its own state directory and socket,
// joins it to the harness's tailnet as hostname and makes it serve target
// (http://127.0.0.1:port) on its port 80 with `tailscale serve`. It returns
// once a tailnet client gets an HTTP answer through it.
func (b *bench) startSidecar(ctx context.Context, hostname, target string) (_ *sidecar, err error) {
	sc, err := b.startTailscaled(ctx, hostname)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.stopSidecar(sc)
		}
	}()
	return sc, b.serveOnSidecar(ctx, sc, target)
}

// startTailscaled starts tailscaled (userspace networking) with its own
// state directory and socket, with extra daemon flags, and joins it to the
// harness's tailnet as hostname.
func (b *bench) startTailscaled(ctx context.Context, hostname string, extra ...string) (_ *sidecar, err error) {
	daemon, cli, err := b.sidecarBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(b.tmp, "sidecar-")
	if err != nil {
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pr.Close() // the child has its copy
	debug, err := freeAddr()
	if err != nil {
		pw.Close()
		return nil, err
	}
	sc := &sidecar{
		exited: make(chan error, 1), stderr: &tailBuffer{}, dir: dir,
		sock: filepath.Join(dir, "tailscaled.sock"), cli: cli, deathPipe: pw, debug: debug,
	}
	cmd := exec.Command(daemon,
		"--tun=userspace-networking",
		"--statedir="+dir,
		"--socket="+sc.sock,
		"--port=0",
		"--no-logs-no-support",
		"--debug="+debug, // pprof, for the CPU profile at the highest load
	)
	cmd.Args = append(cmd.Args, extra...)
	cmd.Env = append(os.Environ(),
		"TS_NO_LOGS_NO_SUPPORT=true",
		"TS_DISABLE_PORTMAPPER=1",         // all on loopback
		"TS_ASSUME_NETWORK_UP_FOR_TEST=1", // never pause the control client
		"TS_PARENT_DEATH_FD=3",
	)
	cmd.ExtraFiles = []*os.File{pr}
	cmd.Stdout, cmd.Stderr = sc.stderr, sc.stderr
	if err := b.procs.start(cmd); err != nil {
		pw.Close()
		return nil, fmt.Errorf("starting tailscaled: %w", err)
	}
	sc.cmd = cmd
	go func() { sc.exited <- cmd.Wait() }()
	defer func() {
		if err != nil {
			b.stopSidecar(sc)
		}
	}()

	// The daemon's LocalAPI socket answers once it has started.
	if err := waitFor(ctx, 30*time.Second, sc.exited, func() bool {
		c, err := net.Dial("unix", sc.sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	}); err != nil {
		return nil, fmt.Errorf("tailscaled: socket %s: %v: %s", sc.sock, err, sc.stderr)
	}
	// The in-process control accepts any node (no auth key), as it does
	// for the tsnet nodes.
	if _, err := sc.run(ctx, "up", "--login-server="+b.net.ControlURL, "--hostname="+hostname, "--timeout=60s"); err != nil {
		return nil, err
	}
	return sc, nil
}

// serveOnSidecar makes sc serve target on its port 80 and waits until a
// tailnet client gets an answer through it.
func (b *bench) serveOnSidecar(ctx context.Context, sc *sidecar, target string) error {
	// serve picks its configuration by the request's Host, which must be
	// the node's MagicDNS name (a bare IP matches nothing: 404), as when a
	// user opens http://<name>/.
	out, err := sc.run(ctx, "status", "--json")
	if err != nil {
		return err
	}
	name, err := selfDNSName([]byte(out))
	if err != nil {
		return err
	}
	sc.url = "http://" + name
	if _, err := sc.run(ctx, "serve", "--bg", "--http=80", target); err != nil {
		return err
	}
	// The first request through the tailnet sets up the path (DERP, then
	// maybe direct); wait until the served server answers.
	hc := b.tailnetHTTP()
	hc.Timeout = 5 * time.Second
	defer hc.CloseIdleConnections()
	var last string
	if err := waitFor(ctx, 60*time.Second, sc.exited, func() bool {
		// An initialize request: only mcp-go answers it with 200 (serve
		// answers 404 when no configuration matches the Host, 502 when
		// the target does not answer).
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, sc.url+"/mcp", strings.NewReader(probeInitialize))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := hc.Do(req)
		if err != nil {
			last = err.Error()
			return false
		}
		resp.Body.Close()
		last = resp.Status
		return resp.StatusCode == http.StatusOK
	}); err != nil {
		return fmt.Errorf("sidecar %s did not serve %s: %v (last: %s): %s", sc.url, target, err, last, sc.stderr)
	}
	sc.probe = last
	return nil
}

// probeInitialize is the MCP initialize request of the sidecar's
// readiness probe.
const probeInitialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"tsmcp-bench-probe","version":"1"}}}`

// selfDNSName returns the node's MagicDNS name, without the final dot,
// from `tailscale status --json`.
func selfDNSName(status []byte) (string, error) {
	var st struct {
		Self struct {
			DNSName string
		}
	}
	if err := json.Unmarshal(status, &st); err != nil {
		return "", fmt.Errorf("tailscale status --json: %v", err)
	}
	name := strings.TrimSuffix(st.Self.DNSName, ".")
	if name == "" || strings.ContainsAny(name, "/:@ ") {
		return "", fmt.Errorf("tailscale status --json: no usable Self.DNSName (%q)", st.Self.DNSName)
	}
	return name, nil
}

// run runs the tailscale CLI against this sidecar's daemon and returns its
// trimmed stdout.
func (sc *sidecar) run(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sc.cli, append([]string{"--socket=" + sc.sock}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("tailscale %s: %v: %s %s", strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()), strings.TrimSpace(stdout.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// cpu returns the CPU time tailscaled has used so far.
func (sc *sidecar) cpu() time.Duration {
	d, _ := readCPU(sc.cmd.Process.Pid)
	return d
}

// profile fetches a CPU profile of tailscaled over d and writes it to path.
func (sc *sidecar) profile(ctx context.Context, d time.Duration, path string) error {
	return fetchTo(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", sc.debug, max(1, int(d.Seconds()))), path)
}

// rss returns tailscaled's resident set size.
func (sc *sidecar) rss() uint64 {
	r, _ := readRSS(sc.cmd.Process.Pid)
	return r
}

// stopSidecar stops tailscaled (SIGTERM, then SIGKILL after 10 s).
func (b *bench) stopSidecar(sc *sidecar) error {
	defer sc.deathPipe.Close()
	if sc.cmd == nil {
		return nil
	}
	return b.procs.stop(sc.cmd, sc.exited, 10*time.Second)
}

// waitFor polls cond every 50 ms until it holds, the process behind exited
// exits, ctx ends or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, exited chan error, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return nil
		}
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("process exited (%v)", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", timeout)
		}
	}
}
