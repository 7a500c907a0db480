package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
	"tailscale.com/ipn/store/mem"
	"tailscale.com/tsnet"
	"tailscale.com/types/logger"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/tools"
	"github.com/tsmcp/tsmcp/internal/tsnetx"
)

// The kinds of MCP server a host child runs.
const (
	kindTsmcp        = "tsmcp"        // the real internal/server host, ACL and audit on
	kindBareTailnet  = "bare-tailnet" // a bare mcp-go server on its own tsnet node
	kindBareLoopback = "bare-loopback"
	// kindSidecar is the anchor a user would deploy instead of tsmcp: the
	// bare mcp-go server on 127.0.0.1 (with mcp-go's DNS-rebinding
	// protection off, as `tailscale serve` requires) behind a tailscaled
	// sidecar running `tailscale serve --http=80` (see sidecar.go).
	kindSidecar = "sidecar"
)

// hostSubcommand is the first argument that makes the bench binary run as
// a host child (see runHost).
const hostSubcommand = "host"

// hostReady is the one JSON line a host child prints on stdout once it
// serves.
type hostReady struct {
	// URL is the MCP base URL: http://<tailnet IP> or http://127.0.0.1:port.
	URL string `json:"url"`
	// Stats is the loopback address of the child's stats/pprof listener.
	Stats string `json:"stats"`
}

// hostStats is what a host child's /stats endpoint reports.
type hostStats struct {
	PID        int    `json:"pid"`
	RSS        uint64 `json:"rss"`        // bytes, VmRSS
	HeapAlloc  uint64 `json:"heap_alloc"` // bytes of live + unswept heap objects
	HeapInuse  uint64 `json:"heap_inuse"` // bytes in in-use heap spans
	Sys        uint64 `json:"sys"`        // bytes obtained from the OS by the Go runtime
	Goroutines int    `json:"goroutines"`
	AuditLines int64  `json:"audit_lines"` // log lines written by the host (tsmcp only)
}

// runHost runs one MCP server of the given kind until ctx ends, in this
// process (a child of the harness, so that its memory and CPU are its
// own). It prints a hostReady line on stdout and serves /stats and
// /debug/pprof/ on a loopback listener.
func runHost(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(hostSubcommand, flag.ContinueOnError)
	kind := fs.String("kind", kindTsmcp, "tsmcp | bare-tailnet | bare-loopback | sidecar")
	control := fs.String("control", "", "control URL of the harness's in-process tailnet")
	hostname := fs.String("hostname", "bench-host", "tailnet hostname")
	sessions := fs.Int("sessions", 0, "tsmcp only: raise the session and stream limits to hold this many idle sessions (0: tsmcp's default limits)")
	stall := fs.Bool("stall", false, "tsmcp only: the stalled-reader measurement's host (stall.go): the huge tool, open to every caller, a 5 s write timeout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	audit := &lineCounter{}
	statsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	statsSrv := &http.Server{Handler: statsHandler(audit), ReadHeaderTimeout: 5 * time.Second}
	go statsSrv.Serve(statsLn)
	defer statsSrv.Close()

	var (
		url  string
		stop func() error
	)
	switch *kind {
	case kindTsmcp:
		url, stop, err = startTsmcpHost(ctx, *control, *hostname, *sessions, *stall, audit)
	case kindBareTailnet:
		url, stop, err = startBareTailnet(ctx, *control, *hostname)
	case kindBareLoopback:
		url, stop, err = startBareLoopback(false)
	case kindSidecar:
		url, stop, err = startBareLoopback(true)
	default:
		err = fmt.Errorf("unknown kind %q", *kind)
	}
	if err != nil {
		return err
	}
	line, _ := json.Marshal(hostReady{URL: url, Stats: statsLn.Addr().String()})
	fmt.Fprintf(stdout, "%s\n", line)
	<-ctx.Done()
	return stop()
}

// benchACL is the policy of the tsmcp host under test: a group, a tag rule
// and a catch-all, as in internal/config/testdata/design-example.yaml, so that a decision walks more
// than one rule. The harness's callers are user nodes and match "*".
func benchACL() acl.Config {
	return acl.Config{
		Capability: acl.DefaultCapability,
		Groups:     map[string][]string{"sre": {"alice@example.com", "bob@example.com"}},
		Rules: []acl.Rule{
			{Src: []string{"group:sre", "tag:ci"}, Tools: []string{"*"}},
			{Src: []string{"*"}, Tools: []string{"whoami", "noop"}},
		},
	}
}

// sessionLimits returns limits with the session and stream caps raised to
// hold n idle sessions from the harness's few identities, and unused
// sessions kept for the whole measurement: the idle-session measurement is
// about the memory a session costs, not about the caps (tsmcp's defaults
// refuse a 129th session per identity with 429). Tool-call and body limits
// keep their defaults. n <= 0 returns limits unchanged.
func sessionLimits(limits config.Limits, n int) config.Limits {
	if n <= 0 {
		return limits
	}
	headroom := n + 1024
	limits.SessionsPerIdentity, limits.SessionsTotal = headroom, headroom
	limits.StreamsPerIdentity, limits.StreamsTotal = headroom, headroom
	limits.UnusedSessionTTL = time.Hour
	return limits
}

// startTsmcpHost runs the real tsmcp host (internal/server) with the no-op
// tool, logging JSON at info level (every audit line included) to audit,
// which counts and discards the encoded lines. sessions > 0 raises the
// session limits (see sessionLimits); stall makes it the stalled-reader
// measurement's host (see stallHost).
func startTsmcpHost(ctx context.Context, control, hostname string, sessions int, stall bool, audit io.Writer) (string, func() error, error) {
	cfg := config.Default()
	cfg.Tailnet.Hostname = hostname
	cfg.Tailnet.ControlURL = control
	cfg.Tailnet.State = "mem:"
	cfg.Tailnet.Ephemeral = true
	cfg.Tailnet.Tags = []string{"tag:mcp"}
	cfg.Health.Addr = "127.0.0.1:0"
	cfg.MCP.ShutdownGrace = 2 * time.Second
	cfg.ACL = benchACL()
	cfg.MCP.Limits = sessionLimits(cfg.MCP.Limits, sessions)
	providers := []tools.Provider{noopProvider{}, tools.Builtin{}}
	if stall {
		providers = append(providers, stallHost(cfg))
	}
	host, err := server.New(server.Options{
		Config:  cfg,
		Logger:  slog.New(slog.NewJSONHandler(audit, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Tools:   server.Providers(providers...),
		Version: "bench",
	})
	if err != nil {
		return "", nil, err
	}
	runErr := make(chan error, 1)
	go func() { runErr <- host.Run(context.WithoutCancel(ctx)) }()
	select {
	case <-host.Ready():
	case err := <-runErr:
		return "", nil, fmt.Errorf("tsmcp host stopped before ready: %v", err)
	case <-ctx.Done():
		host.Close()
		return "", nil, ctx.Err()
	}
	return "http://" + host.TailnetIP().String(), host.Close, nil
}

// startBareTailnet runs a bare mcp-go server (defaults, same tool) on its
// own tsnet node, joined as tsmcp joins (mem: state, ephemeral).
func startBareTailnet(ctx context.Context, control, hostname string) (string, func() error, error) {
	dir, err := os.MkdirTemp("", "tsmcp-bench-bare-")
	if err != nil {
		return "", nil, err
	}
	node := &tsnet.Server{
		Dir:        dir,
		Store:      new(mem.Store),
		Hostname:   hostname,
		ControlURL: control,
		Ephemeral:  true,
		Logf:       logger.Discard,
		UserLogf:   logger.Discard,
	}
	closeNode := func() error {
		err := node.Close()
		return errors.Join(err, os.RemoveAll(dir))
	}
	upCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := node.Up(upCtx)
	if err != nil {
		closeNode()
		return "", nil, fmt.Errorf("bare node: %w", err)
	}
	if err := tsnetx.WaitHomeDERP(upCtx, node); err != nil {
		closeNode()
		return "", nil, err
	}
	var ip string
	for _, a := range st.TailscaleIPs {
		if a.Is4() {
			ip = a.String()
		}
	}
	ln, err := node.Listen("tcp", ":80")
	if err != nil {
		closeNode()
		return "", nil, err
	}
	stop := serveBare(ln, false)
	return "http://" + ip, func() error { return errors.Join(stop(), closeNode()) }, nil
}

// startBareLoopback runs the bare mcp-go server on 127.0.0.1; behindProxy
// turns off mcp-go's DNS-rebinding protection, without which mcp-go v1.2.1
// answers 403 to requests that `tailscale serve` forwards (a loopback
// connection carrying the tailnet Host).
func startBareLoopback(behindProxy bool) (string, func() error, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	return "http://" + ln.Addr().String(), serveBare(ln, behindProxy), nil
}

// serveBare serves a bare mcp-go server with mcp-go's defaults: /mcp
// (Streamable HTTP), /sse and /message (legacy SSE), and the no-op tool;
// behindProxy turns off the DNS-rebinding protection of both transports
// (the only change from the defaults). It returns a function that stops it.
func serveBare(ln net.Listener, behindProxy bool) func() error {
	m := mcpserver.NewMCPServer("bare", "bench", mcpserver.WithToolCapabilities(false))
	m.AddTools(noopTool())
	streamable := mcpserver.NewStreamableHTTPServer(m, mcpserver.WithEndpointPath("/mcp"),
		mcpserver.WithDisableLocalhostProtection(behindProxy))
	sse := mcpserver.NewSSEServer(m, mcpserver.WithSSEEndpoint("/sse"), mcpserver.WithMessageEndpoint("/message"),
		mcpserver.WithSSEDisableLocalhostProtection(behindProxy))
	mux := http.NewServeMux()
	mux.Handle("/mcp", streamable)
	mux.Handle("/sse", sse.SSEHandler())
	mux.Handle("/message", sse.MessageHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return func() error {
		sse.CloseSessions()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		streamable.Shutdown(ctx)
		return srv.Close()
	}
}

// noopTool is the tool every server under test serves: no arguments, an
// empty text result.
func noopTool() mcpserver.ServerTool {
	return mcpserver.ServerTool{
		Tool: mcp.NewTool("noop", mcp.WithDescription("Does nothing; for benchmarks.")),
		Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("ok"), nil
		},
	}
}

// noopProvider supplies noopTool to the tsmcp host.
type noopProvider struct{}

// Name implements tools.Provider.
func (noopProvider) Name() string { return "bench-noop" }

// Tools implements tools.Provider.
func (noopProvider) Tools(context.Context) ([]tools.Tool, error) {
	return []tools.Tool{noopTool()}, nil
}

// Close implements tools.Provider.
func (noopProvider) Close() error { return nil }

// lineCounter is an io.Writer that counts and discards log lines. The host
// still encodes every line as JSON; only the write is skipped.
type lineCounter struct{ lines atomic.Int64 }

// Write implements io.Writer.
func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines.Add(int64(strings.Count(string(p), "\n")))
	return len(p), nil
}

// statsHandler serves /stats (see hostStats; ?gc=1 runs a GC first, so that
// the heap figures are live memory) and the pprof endpoints.
func statsHandler(audit *lineCounter) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rss, _ := readRSS(os.Getpid())
		json.NewEncoder(w).Encode(hostStats{
			PID:        os.Getpid(),
			RSS:        rss,
			HeapAlloc:  ms.HeapAlloc,
			HeapInuse:  ms.HeapInuse,
			Sys:        ms.Sys,
			Goroutines: runtime.NumGoroutine(),
			AuditLines: audit.lines.Load(),
		})
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	return mux
}

// readRSS returns the resident set size of process pid in bytes, from
// /proc/<pid>/status (VmRSS).
func readRSS(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseUint(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// readCPU returns the user+system CPU time process pid has used, from
// /proc/<pid>/stat (assumes the usual 100 Hz clock tick).
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields after the
	// closing parenthesis are fixed.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("short stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
