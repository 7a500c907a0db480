package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

// The gateways compared in measurement 3.
const (
	gwTsmcp        = "tsmcp"
	gwSupergateway = "supergateway"
)

// bridgeCell is one gateway, transport and concurrency.
type bridgeCell struct {
	cellResult
	gatewayRSS uint64 // peak RSS of the gateway process during the cell
	treeRSS    uint64 // peak RSS of the gateway's process tree (children included)
	procs      int    // most processes in the tree during the cell
}

// bridgeResults are measurement 3's results.
type bridgeResults struct {
	// unavailable, if set, says why tsmcp could not bridge (and no tsmcp
	// numbers exist).
	unavailable string
	// supergatewayErr, if set, says why supergateway could not run.
	supergatewayErr string
	cells           []bridgeCell
	idleRSS         map[string]uint64 // gateway/transport -> tree RSS before load
}

// cell finds a result.
func (r *bridgeResults) cell(gw, tr string, n int) (bridgeCell, bool) {
	for _, c := range r.cells {
		if c.kind == gw && c.transport == tr && c.clients == n {
			return c, true
		}
	}
	return bridgeCell{}, false
}

// everythingCommand is the stdio server both gateways bridge.
func (b *bench) everythingCommand() []string {
	return []string{"node", filepath.Join(b.npmDir, "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js"), "stdio"}
}

// echoCaller returns a call function for runLoad that calls tool (echo,
// bridged) with a message unique to the call and checks that the answer
// echoes that message and no other (supergateway's SSE mode broadcasts its
// child's output to every session).
func echoCaller(tool string) func(context.Context, *client.Client) error {
	var seq atomic.Int64
	return func(ctx context.Context, c *client.Client) error {
		msg := "m" + strconv.FormatInt(seq.Add(1), 36)
		req := mcp.CallToolRequest{}
		req.Params.Name = tool
		req.Params.Arguments = map[string]any{"message": msg}
		res, err := c.CallTool(ctx, req)
		if err != nil {
			return err
		}
		if res.IsError || len(res.Content) == 0 {
			return fmt.Errorf("%s: tool error: %v", tool, res.Content)
		}
		tc, ok := res.Content[0].(mcp.TextContent)
		if !ok || tc.Text != "Echo: "+msg {
			return fmt.Errorf("%s: answer %v is not the echo of %q", tool, res.Content, msg)
		}
		return nil
	}
}

// measureBridge runs measurement 3.
func (b *bench) measureBridge(ctx context.Context) *bridgeResults {
	res := &bridgeResults{idleRSS: map[string]uint64{}}
	if _, err := os.Stat(b.everythingCommand()[1]); err != nil {
		res.unavailable = fmt.Sprintf("server-everything is not installed in %s (run `npm ci --prefix bench/npm`)", b.npmDir)
		res.supergatewayErr = res.unavailable
		return res
	}
	var tsmcp *bridgeTsmcp
	t, err := b.startBridgeTsmcp(ctx)
	if err != nil {
		res.unavailable = err.Error()
		b.logf("bridge: tsmcp not available: %v", err)
	} else {
		tsmcp = t
		defer b.stopServe(tsmcp.proc)
		// The shared upstream child may start lazily: one call first.
		if err := warmBridge(ctx, transportStreamable, tsmcp.url, b.tailnetHTTP, "everything__echo"); err != nil {
			res.unavailable = "tsmcp bridge did not answer: " + err.Error()
			tsmcp = nil
		}
	}
	for _, tr := range b.bridgeTrs {
		sg, err := b.startSupergateway(ctx, tr)
		if err != nil {
			res.supergatewayErr = err.Error()
			b.logf("bridge: supergateway (%s): %v", tr, err)
		}
		if sg != nil {
			res.idleRSS[gwSupergateway+"/"+tr] = treeRSS(sg.cmd.Process.Pid)
		}
		if tsmcp != nil {
			res.idleRSS[gwTsmcp+"/"+tr] = treeRSS(tsmcp.proc.cmd.Process.Pid)
		}
		for _, n := range b.concurrency {
			if tsmcp != nil {
				res.cells = append(res.cells, b.bridgeCell(ctx, gwTsmcp, tr, n, tsmcp.url, b.tailnetHTTP, "everything__echo", tsmcp.proc.cmd.Process.Pid))
			}
			if sg != nil {
				res.cells = append(res.cells, b.bridgeCell(ctx, gwSupergateway, tr, n, sg.url, loopbackHTTP, "echo", sg.cmd.Process.Pid))
			}
		}
		if sg != nil {
			b.procs.stop(sg.cmd, sg.exited, 10*time.Second)
		}
	}
	return res
}

// warmBridge makes one echo call through a fresh client.
func warmBridge(ctx context.Context, tr, url string, newHTTP httpClientFunc, tool string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c, err := connectMCP(ctx, tr, url, newHTTP())
	if err != nil {
		return err
	}
	defer c.Close()
	return echoCaller(tool)(ctx, c)
}

// bridgeCell runs one load cell against a gateway and samples the RSS of
// its process tree while it runs.
func (b *bench) bridgeCell(ctx context.Context, gw, tr string, n int, url string, newHTTP httpClientFunc, tool string, pid int) bridgeCell {
	var (
		peakGW, peakTree atomic.Uint64
		peakProcs        atomic.Int64
		done             = make(chan struct{})
		wg               sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			// One /proc scan per sample; the gateway's RSS, the
			// tree's and the process count all come from it.
			tree := processTree(pid)
			gw, sum := rssOf(tree)
			if gw > peakGW.Load() {
				peakGW.Store(gw)
			}
			if sum > peakTree.Load() {
				peakTree.Store(sum)
			}
			if n := int64(len(tree)); n > peakProcs.Load() {
				peakProcs.Store(n)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	c := runLoad(ctx, loadSpec{
		kind: gw, transport: tr, baseURL: url, clients: n, newHTTP: newHTTP,
		warmup: b.warmup, measure: b.cell, call: echoCaller(tool),
		cpu: func() time.Duration { return treeCPU(pid) },
	})
	close(done)
	wg.Wait()
	cell := bridgeCell{cellResult: c, gatewayRSS: peakGW.Load(), treeRSS: peakTree.Load(), procs: int(peakProcs.Load())}
	b.logf("bridge %-13s %-10s c=%-3d %8.0f calls/s p50 %-8s p99 %-8s rss %s (tree %s, %d procs) err %d %v",
		gw, tr, n, c.callsPerSec(), fmtDur(c.p50), fmtDur(c.p99), fmtBytes(float64(cell.gatewayRSS)), fmtBytes(float64(cell.treeRSS)), cell.procs, c.errors, errOrEmpty(c.err))
	return cell
}

// bridgeTsmcp is `tsmcp serve` bridging server-everything.
type bridgeTsmcp struct {
	proc *serveProc
	url  string
}

// startBridgeTsmcp starts `tsmcp serve` with server-everything as a shared
// stdio upstream named "everything". It fails with tsmcp's own message when
// this build does not bridge upstreams yet (`tsmcp check` refuses them).
func (b *bench) startBridgeTsmcp(ctx context.Context) (*bridgeTsmcp, error) {
	argv, _ := json.Marshal(b.everythingCommand())
	extra := fmt.Sprintf("upstreams:\n  - name: everything\n    command: %s\n    isolation: shared\n", argv)
	cfg, _, err := b.writeServeConfig(b.tmp, "bridge-check", "mem:", true, extra)
	if err != nil {
		return nil, err
	}
	check := exec.CommandContext(ctx, b.tsmcpBin, "check", "--config", cfg)
	if out, err := check.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("`tsmcp check` refuses the upstream: %s", lastLine(string(out)))
	}
	env := childEnv(os.Environ(), []string{"TSMCP_", "OTEL_"}, "TS_NO_LOGS_NO_SUPPORT=true")
	s, err := b.startServeTailnet(ctx, "bridge", extra, env)
	if err != nil {
		return nil, err
	}
	return &bridgeTsmcp{proc: s.proc, url: s.url}, nil
}

// readyWatcher passes a child's stderr to tail and picks the tailnet IP
// out of tsmcp's JSON "ready" log line. Lines after that are only counted
// by tail (the audit log goes there too).
type readyWatcher struct {
	tail  *tailBuffer
	found chan string
	done  bool
	buf   []byte
}

// Write implements io.Writer.
func (w *readyWatcher) Write(p []byte) (int, error) {
	w.tail.Write(p)
	if w.done {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := w.buf[:i]
		w.buf = w.buf[i+1:]
		var rec struct {
			Msg       string `json:"msg"`
			TailnetIP string `json:"tailnet_ip"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "ready" && rec.TailnetIP != "" {
			w.found <- rec.TailnetIP
			w.done, w.buf = true, nil
			break
		}
	}
	return len(p), nil
}

// supergateway is a running supergateway.
type supergateway struct {
	cmd    *exec.Cmd
	exited chan error
	url    string
}

// startSupergateway starts supergateway bridging server-everything to tr:
// SSE (its default for --stdio: one child shared by all sessions) or
// Streamable HTTP (--stateful: one child per session; its stateless mode
// starts one per request).
func (b *bench) startSupergateway(ctx context.Context, tr string) (*supergateway, error) {
	entry := filepath.Join(b.npmDir, "node_modules", "supergateway", "dist", "index.js")
	if _, err := os.Stat(entry); err != nil {
		return nil, fmt.Errorf("supergateway is not installed in %s (run `npm ci --prefix bench/npm`)", b.npmDir)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := strings.Cut(addr, ":")
	args := []string{entry, "--stdio", strings.Join(b.everythingCommand(), " "), "--port", port,
		"--logLevel", "none", "--healthEndpoint", "/healthz"}
	if tr == transportStreamable {
		args = append(args, "--outputTransport", "streamableHttp", "--stateful")
	} else {
		args = append(args, "--outputTransport", "sse")
	}
	cmd := exec.Command("node", args...)
	stderr := &tailBuffer{}
	cmd.Stderr, cmd.Stdout = stderr, stderr
	if err := b.procs.start(cmd); err != nil {
		return nil, err
	}
	sg := &supergateway{cmd: cmd, exited: make(chan error, 1), url: "http://" + addr}
	go func() { sg.exited <- cmd.Wait() }()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if resp, err := hc.Get(sg.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if err := warmBridge(ctx, tr, sg.url, loopbackHTTP, "echo"); err != nil {
					b.procs.stop(cmd, sg.exited, 5*time.Second)
					return nil, fmt.Errorf("supergateway did not answer echo: %v: %s", err, stderr)
				}
				return sg, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.procs.stop(cmd, sg.exited, 5*time.Second)
	return nil, fmt.Errorf("supergateway not healthy within 30s: %s", stderr)
}

// processTree returns pid and all its descendants, from /proc.
func processTree(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []int{pid}
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			children[pp] = append(children[pp], p)
		}
	}
	tree := []int{pid}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i]]...)
	}
	return tree
}

// treeRSS is the summed RSS of pid's process tree.
func treeRSS(pid int) uint64 {
	_, sum := rssOf(processTree(pid))
	return sum
}

// rssOf reads the RSS of each process in tree (as processTree returns it,
// the root first) and returns the root's and the sum. A process whose RSS
// cannot be read (it has exited) counts as 0.
func rssOf(tree []int) (root, sum uint64) {
	for i, p := range tree {
		r, err := readRSS(p)
		if err != nil {
			continue
		}
		if i == 0 {
			root = r
		}
		sum += r
	}
	return root, sum
}

// treeCPU is the CPU time used so far by pid's process tree (living
// processes only).
func treeCPU(pid int) time.Duration {
	var sum time.Duration
	for _, p := range processTree(pid) {
		if d, err := readCPU(p); err == nil {
			sum += d
		}
	}
	return sum
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
