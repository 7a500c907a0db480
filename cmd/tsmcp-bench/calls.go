package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// The transports measured.
const (
	transportStreamable = "streamable"
	transportSSE        = "sse"
)

// clientProtocol is the protocol version the benchmark client negotiates:
// the last revision with the initialize handshake and sessions, which
// today's clients speak.
const clientProtocol = mcp.ProtocolVersion20251125

// cellResult is one measured cell: one server kind, transport and
// concurrency.
type cellResult struct {
	kind, transport string
	clients         int
	calls           int
	errors          int64
	elapsed         time.Duration
	p50, p99        time.Duration
	hostCPU         time.Duration // CPU the server process used during the cell
	// allCalls counts the successful calls of the warm-up and the
	// measured window (the tracing cell compares it with the spans
	// exported).
	allCalls int64
	// rss is the server process's resident set size at the end of the
	// measured window; sidecarRSS is tailscaled's (sidecar cells only).
	rss, sidecarRSS uint64
	err             error // the cell could not run
}

// callsPerSec is the cell's throughput.
func (c cellResult) callsPerSec() float64 {
	if c.elapsed <= 0 {
		return 0
	}
	return float64(c.calls) / c.elapsed.Seconds()
}

// cpuPerCall is the server process's CPU time per call.
func (c cellResult) cpuPerCall() time.Duration {
	if c.calls == 0 {
		return 0
	}
	return c.hostCPU / time.Duration(c.calls)
}

// httpClientFunc returns a new HTTP client (with its own connection pool)
// for one MCP client.
type httpClientFunc func() *http.Client

// connectMCP connects one mcp-go client to baseURL over tr and initializes
// the session.
func connectMCP(ctx context.Context, tr, baseURL string, hc *http.Client) (*client.Client, error) {
	var (
		t   transport.Interface
		err error
	)
	switch tr {
	case transportSSE:
		t, err = transport.NewSSE(baseURL+"/sse", transport.WithHTTPClient(hc))
	default:
		t, err = transport.NewStreamableHTTP(baseURL+"/mcp", transport.WithHTTPBasicClient(hc))
	}
	if err != nil {
		return nil, err
	}
	c := client.NewClient(t, client.WithProtocolVersion(clientProtocol))
	if err := c.Start(ctx); err != nil {
		c.Close()
		return nil, err
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = clientProtocol
	req.Params.ClientInfo = mcp.Implementation{Name: "tsmcp-bench", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// callNoop calls the no-op tool once.
func callNoop(ctx context.Context, c *client.Client) error {
	req := mcp.CallToolRequest{}
	req.Params.Name = "noop"
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return err
	}
	if res.IsError {
		return fmt.Errorf("noop returned a tool error: %v", res.Content)
	}
	return nil
}

// loadSpec describes one cell to run.
type loadSpec struct {
	kind, transport string
	baseURL         string
	clients         int
	newHTTP         httpClientFunc
	warmup, measure time.Duration
	// call, if set, replaces callNoop (the bridge calls echo).
	call func(ctx context.Context, c *client.Client) error
	// cpu, if set, reports the server's CPU time so far.
	cpu func() time.Duration
	// atEnd, if set, is called right after the measured window, while the
	// clients still call, to record the server's state (RSS) in the cell.
	atEnd func(*cellResult)
	// profile, if set, is called after the measured window, while the
	// clients still call at the same load, with the measuring duration
	// (to take a CPU profile). Profiling outside the window keeps its
	// cost out of the measured numbers.
	profile func(d time.Duration)
}

// runLoad runs one cell: it connects spec.clients clients, each with its
// own HTTP client, lets each call in a closed loop for the warm-up and
// then for the measured duration, and summarizes the measured calls.
func runLoad(ctx context.Context, spec loadSpec) cellResult {
	res := cellResult{kind: spec.kind, transport: spec.transport, clients: spec.clients}
	call := spec.call
	if call == nil {
		call = callNoop
	}
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	clients := make([]*client.Client, spec.clients)
	// Each client's HTTP client (and connection pool), whose idle
	// connections are closed after the cell: left open, thousands of them
	// would pile up in the client nodes' netstacks over a run.
	pools := make([]*http.Client, spec.clients)
	var (
		wg      sync.WaitGroup
		connErr errRecord
	)
	sem := make(chan struct{}, 16)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			pools[i] = spec.newHTTP()
			c, err := connectMCP(cctx, spec.transport, spec.baseURL, pools[i])
			if err != nil {
				connErr.set(err)
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
		for _, hc := range pools {
			if hc != nil {
				hc.CloseIdleConnections()
			}
		}
	}()
	if err := connErr.get(); err != nil {
		res.err = fmt.Errorf("connect: %w", err)
		return res
	}

	var (
		measuring atomic.Bool
		stop      atomic.Bool
		errs      atomic.Int64
		okCalls   atomic.Int64
		lastErr   errRecord
	)
	samples := make([]latencies, len(clients))
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make(latencies, 0, 4096)
			for !stop.Load() {
				callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
				t0 := time.Now()
				err := call(callCtx, c)
				d := time.Since(t0)
				cancel()
				if err == nil {
					okCalls.Add(1)
				}
				if !measuring.Load() {
					continue
				}
				if err != nil {
					errs.Add(1)
					lastErr.set(err)
					continue
				}
				lat = append(lat, d)
			}
			samples[i] = lat
		}()
	}
	sleep(ctx, spec.warmup)
	var cpu0 time.Duration
	if spec.cpu != nil {
		cpu0 = spec.cpu()
	}
	measuring.Store(true)
	start := time.Now()
	sleep(ctx, spec.measure)
	measuring.Store(false)
	res.elapsed = time.Since(start)
	if spec.cpu != nil {
		res.hostCPU = spec.cpu() - cpu0
	}
	if spec.atEnd != nil {
		spec.atEnd(&res)
	}
	if spec.profile != nil {
		spec.profile(spec.measure)
	}
	stop.Store(true)
	wg.Wait()
	res.allCalls = okCalls.Load()
	if ctx.Err() != nil {
		res.err = ctx.Err()
		return res
	}
	var all latencies
	for _, s := range samples {
		all = append(all, s...)
	}
	res.calls = len(all)
	res.errors = errs.Load()
	res.p50 = all.percentile(50)
	res.p99 = all.percentile(99)
	if res.calls == 0 {
		res.err = fmt.Errorf("no successful calls (%d errors; last: %v)", res.errors, lastErr.get())
	}
	return res
}

// errRecord holds an error shared between goroutines. Unlike an
// atomic.Value, which panics when Store is given a different concrete
// type than before, it takes errors of any type.
type errRecord struct{ p atomic.Pointer[error] }

// set records err, replacing any error recorded before.
func (r *errRecord) set(err error) { r.p.Store(&err) }

// setFirst records err unless an error is already recorded.
func (r *errRecord) setFirst(err error) { r.p.CompareAndSwap(nil, &err) }

// get returns the recorded error, or nil.
func (r *errRecord) get() error {
	if p := r.p.Load(); p != nil {
		return *p
	}
	return nil
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// callsResults are the results of measurement 1.
type callsResults struct {
	cells []cellResult
	// auditLines is how many log lines the tsmcp host encoded (at least
	// one per call), proving the audit ran.
	auditLines int64
	profiles   []string // CPU profiles written
	// sidecarErr, if set, says why the sidecar anchor was not measured.
	sidecarErr string
}

// cell finds a result.
func (r *callsResults) cell(kind, tr string, clients int) cellResult {
	for _, c := range r.cells {
		if c.kind == kind && c.transport == tr && c.clients == clients {
			return c
		}
	}
	return cellResult{}
}

// has reports whether a cell of kind, tr and clients was run (it may have
// failed).
func (r *callsResults) has(kind, tr string, clients int) bool {
	for _, c := range r.cells {
		if c.kind == kind && c.transport == tr && c.clients == clients {
			return true
		}
	}
	return false
}

// measureCalls runs measurement 1: the server kinds side by side,
// interleaved cell by cell so that drift on a shared machine hits all of
// them alike.
func (b *bench) measureCalls(ctx context.Context) (*callsResults, error) {
	res := &callsResults{}
	hosts := map[string]*hostProc{}
	var sc *sidecar
	defer func() {
		if sc != nil {
			b.stopSidecar(sc)
		}
		for _, h := range hosts {
			h.stop()
		}
	}()
	var kinds []string
	for _, kind := range b.callKinds {
		h, err := b.startHostProc(ctx, kind, "calls-"+kind)
		if err != nil {
			return nil, err
		}
		hosts[kind] = h
		if kind == kindSidecar {
			sc, err = b.startSidecar(ctx, "calls-sidecar", h.ready.URL)
			if err != nil {
				res.sidecarErr = err.Error()
				b.logf("calls: sidecar anchor not available: %v", err)
				continue
			}
			b.logf("calls: sidecar %s serves %s (probe: %s)", sc.url, h.ready.URL, sc.probe)
		}
		kinds = append(kinds, kind)
	}
	for _, tr := range b.callTransports {
		for _, n := range b.concurrency {
			for _, kind := range kinds {
				h := hosts[kind]
				newHTTP := b.tailnetHTTP
				if kind == kindBareLoopback {
					newHTTP = loopbackHTTP
				}
				spec := loadSpec{
					kind: kind, transport: tr, baseURL: h.ready.URL, clients: n,
					newHTTP: newHTTP, warmup: b.warmup, measure: b.cell,
					cpu: h.cpu,
					atEnd: func(c *cellResult) {
						c.rss, _ = readRSS(h.cmd.Process.Pid)
					},
				}
				if kind == kindSidecar {
					// The anchor's cost is the server's and the
					// sidecar's together.
					spec.baseURL = sc.url
					spec.cpu = func() time.Duration { return h.cpu() + sc.cpu() }
					spec.atEnd = func(c *cellResult) {
						c.rss, _ = readRSS(h.cmd.Process.Pid)
						c.sidecarRSS = sc.rss()
					}
				}
				if b.profileDir != "" && kind != kindBareLoopback && n == b.concurrency[len(b.concurrency)-1] {
					path := filepath.Join(b.profileDir, fmt.Sprintf("cpu-%s-%s-%d.pprof", kind, tr, n))
					res.profiles = append(res.profiles, path)
					var tsPath string
					if kind == kindSidecar {
						// The anchor's CPU is two processes': profile both.
						path = filepath.Join(b.profileDir, fmt.Sprintf("cpu-sidecar-mcpgo-%s-%d.pprof", tr, n))
						tsPath = filepath.Join(b.profileDir, fmt.Sprintf("cpu-sidecar-tailscaled-%s-%d.pprof", tr, n))
						res.profiles = append(res.profiles[:len(res.profiles)-1], path, tsPath)
					}
					spec.profile = func(d time.Duration) {
						var wg sync.WaitGroup
						if tsPath != "" {
							wg.Go(func() {
								if err := sc.profile(ctx, d, tsPath); err != nil {
									b.logf("profile %s: %v", tsPath, err)
								}
							})
						}
						if err := h.profile(ctx, d, path); err != nil {
							b.logf("profile %s: %v", path, err)
						}
						wg.Wait()
					}
				}
				c := runLoad(ctx, spec)
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				b.logf("calls %-13s %-10s c=%-3d %8.0f calls/s p50 %-8s p99 %-8s cpu/call %-8s err %d %v",
					kind, tr, n, c.callsPerSec(), fmtDur(c.p50), fmtDur(c.p99), fmtDur(c.cpuPerCall()), c.errors, errOrEmpty(c.err))
				res.cells = append(res.cells, c)
			}
		}
	}
	if h := hosts[kindTsmcp]; h != nil {
		if st, err := h.stats(ctx, false); err == nil {
			res.auditLines = st.AuditLines
		}
	}
	return res, nil
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// loopbackHTTP returns a plain HTTP client with its own connection pool.
func loopbackHTTP() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
}
