package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

// The variants of `tsmcp serve` measurement 6 compares.
const (
	variantBaseline = "baseline" // metrics off, tracing off
	variantMetrics  = "metrics"  // metrics on, scraped every second
	variantTracing  = "tracing"  // tracing on (OTLP to the harness's sink), metrics off
)

var overheadVariants = []string{variantBaseline, variantMetrics, variantTracing}

// scrapeInterval is how often the metrics variant's /metrics is scraped, as
// a Prometheus with a short scrape interval would.
const scrapeInterval = time.Second

// overheadResults are measurement 6's results.
type overheadResults struct {
	// unavailable, if set, says why nothing was measured.
	unavailable string
	cells       []cellResult // kind is the variant
	// scrape is what the scraper of the metrics variant saw.
	scrape scrapeStats
	// baselineMetricsStatus is the HTTP status of /metrics on the
	// baseline (metrics off: 404 expected).
	baselineMetricsStatus int
	// sink is what the OTLP sink received, after the tracing variant
	// stopped (and flushed).
	sink otlpStats
	// tracedCalls counts the successful calls made to the tracing
	// variant, warm-ups included.
	tracedCalls int64
}

// cell finds a result.
func (r *overheadResults) cell(variant, tr string, n int) (cellResult, bool) {
	for _, c := range r.cells {
		if c.kind == variant && c.transport == tr && c.clients == n {
			return c, true
		}
	}
	return cellResult{}, false
}

// scrapeStats counts a scraper's requests.
type scrapeStats struct {
	ok, failed int64
	lastBytes  int64
	lastErr    string
}

// childEnv returns base without the variables whose names start with one
// of drop, followed by add. The harness's own environment must not turn
// tracing on, metrics off or a config key of the measured tsmcp.
func childEnv(base, drop []string, add ...string) []string {
	var out []string
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		dropped := false
		for _, p := range drop {
			if strings.HasPrefix(name, p) {
				dropped = true
				break
			}
		}
		if !dropped {
			out = append(out, kv)
		}
	}
	return append(out, add...)
}

// variantEnv is the environment of the `tsmcp serve` of a variant: metrics
// and tracing are switched as a user would switch them, through tsmcp's
// environment variables (TSMCP_HEALTH_METRICS) and the standard OTEL_*
// ones, so that each variant runs exactly the code path of `tsmcp serve`.
func variantEnv(variant, otlpEndpoint string) []string {
	add := []string{"TS_NO_LOGS_NO_SUPPORT=true"}
	switch variant {
	case variantBaseline:
		add = append(add, "TSMCP_HEALTH_METRICS=false")
	case variantMetrics:
		add = append(add, "TSMCP_HEALTH_METRICS=true")
	case variantTracing:
		add = append(add, "TSMCP_HEALTH_METRICS=false",
			"OTEL_EXPORTER_OTLP_ENDPOINT="+otlpEndpoint,
			"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf")
	}
	return childEnv(os.Environ(), []string{"TSMCP_", "OTEL_"}, add...)
}

// servedTsmcp is a `tsmcp serve` on the harness's tailnet.
type servedTsmcp struct {
	proc *serveProc
	url  string // http://<tailnet IP>
}

// startServeTailnet starts `tsmcp serve` on the harness's tailnet with the
// harness's test configuration plus extra, in env, and waits until
// /readyz answers 200 and tsmcp has logged its tailnet IP.
func (b *bench) startServeTailnet(ctx context.Context, hostname, extra string, env []string) (*servedTsmcp, error) {
	cfg, health, err := b.writeServeConfig(b.tmp, hostname, "mem:", true, extra)
	if err != nil {
		return nil, err
	}
	ip := &readyWatcher{found: make(chan string, 1)}
	cmd := exec.Command(b.tsmcpBin, "serve", "--config", cfg)
	cmd.Env = env
	p := &serveProc{cmd: cmd, exited: make(chan error, 1), stderr: &tailBuffer{}, health: health}
	ip.tail = p.stderr
	cmd.Stderr = ip
	if err := b.procs.start(cmd); err != nil {
		return nil, err
	}
	go func() { p.exited <- cmd.Wait() }()
	if _, err := p.waitReady(ctx, 90*time.Second); err != nil {
		b.stopServe(p)
		return nil, err
	}
	select {
	case addr := <-ip.found:
		return &servedTsmcp{proc: p, url: "http://" + addr}, nil
	case <-time.After(5 * time.Second):
		b.stopServe(p)
		return nil, fmt.Errorf("no \"ready\" log line with tailnet_ip: %s", p.stderr)
	}
}

// callTool returns a call function for runLoad that calls the named tool
// without arguments and fails on a tool error.
func callTool(name string) func(context.Context, *client.Client) error {
	return func(ctx context.Context, c *client.Client) error {
		req := mcp.CallToolRequest{}
		req.Params.Name = name
		res, err := c.CallTool(ctx, req)
		if err != nil {
			return err
		}
		if res.IsError {
			return fmt.Errorf("%s returned a tool error: %v", name, res.Content)
		}
		return nil
	}
}

// measureOverhead runs measurement 6: three `tsmcp serve` processes that
// differ only in their environment (baseline: metrics and tracing off;
// metrics on and scraped every second; tracing on, exporting to an OTLP
// sink in the harness), loaded cell by cell, interleaved, with the
// built-in whoami tool.
func (b *bench) measureOverhead(ctx context.Context) *overheadResults {
	res := &overheadResults{}
	if b.tsmcpBin == "" {
		res.unavailable = "no tsmcp binary"
		return res
	}
	sink, err := startOTLPSink()
	if err != nil {
		res.unavailable = err.Error()
		return res
	}
	defer sink.close()
	served := map[string]*servedTsmcp{}
	defer func() {
		for _, s := range served {
			b.stopServe(s.proc)
		}
	}()
	for _, v := range overheadVariants {
		s, err := b.startServeTailnet(ctx, "overhead-"+v, "", variantEnv(v, sink.url))
		if err != nil {
			res.unavailable = fmt.Sprintf("tsmcp serve (%s): %v", v, err)
			return res
		}
		served[v] = s
	}
	res.baselineMetricsStatus = httpStatus(ctx, "http://"+served[variantBaseline].proc.health+"/metrics")

	scrapeCtx, stopScrape := context.WithCancel(ctx)
	var scrapeWG sync.WaitGroup
	scrapeWG.Add(1)
	go func() {
		defer scrapeWG.Done()
		res.scrape = scrapeMetrics(scrapeCtx, "http://"+served[variantMetrics].proc.health+"/metrics", scrapeInterval)
	}()

	var traced atomic.Int64
	for _, tr := range b.overheadTrs {
		for _, n := range b.concurrency {
			for _, v := range overheadVariants {
				s := served[v]
				pid := s.proc.cmd.Process.Pid
				c := runLoad(ctx, loadSpec{
					kind: v, transport: tr, baseURL: s.url, clients: n,
					newHTTP: b.tailnetHTTP, warmup: b.warmup, measure: b.cell,
					call: callTool("whoami"),
					cpu: func() time.Duration {
						d, _ := readCPU(pid)
						return d
					},
					atEnd: func(c *cellResult) { c.rss, _ = readRSS(pid) },
				})
				if ctx.Err() != nil {
					stopScrape()
					scrapeWG.Wait()
					return res
				}
				if v == variantTracing {
					traced.Add(c.allCalls)
				}
				b.logf("overhead %-9s %-10s c=%-3d %8.0f calls/s p50 %-8s p99 %-8s cpu/call %-8s err %d %v",
					v, tr, n, c.callsPerSec(), fmtDur(c.p50), fmtDur(c.p99), fmtDur(c.cpuPerCall()), c.errors, errOrEmpty(c.err))
				res.cells = append(res.cells, c)
			}
		}
	}
	stopScrape()
	scrapeWG.Wait()
	// Stopping the tracing variant flushes its span exporter; what the
	// sink holds afterwards is everything it exported.
	if s := served[variantTracing]; s != nil {
		if err := b.stopServe(s.proc); err != nil {
			b.logf("overhead: stopping the tracing variant: %v", err)
		}
		delete(served, variantTracing)
	}
	res.sink = sink.snapshot()
	res.tracedCalls = traced.Load()
	b.logf("overhead: %d scrapes ok, %d failed; OTLP sink: %d exports, %d spans, %s, %d bad; %d calls traced",
		res.scrape.ok, res.scrape.failed, res.sink.Exports, res.sink.Spans, fmtBytes(float64(res.sink.Bytes)), res.sink.Bad, res.tracedCalls)
	return res
}

// scrapeMetrics GETs url every interval until ctx ends, like Prometheus.
func scrapeMetrics(ctx context.Context, url string, interval time.Duration) scrapeStats {
	var st scrapeStats
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Accept", "text/plain;version=0.0.4")
		resp, err := hc.Do(req)
		switch {
		case ctx.Err() != nil:
			return st
		case err != nil:
			st.failed++
			st.lastErr = err.Error()
		default:
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				st.ok++
				st.lastBytes = n
			} else {
				st.failed++
				st.lastErr = resp.Status
			}
		}
		select {
		case <-ctx.Done():
			return st
		case <-t.C:
		}
	}
}

// httpStatus GETs url and returns the status code, or 0 if it failed.
func httpStatus(ctx context.Context, url string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
