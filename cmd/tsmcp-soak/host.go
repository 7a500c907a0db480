package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/toolset"
)

const (
	hostSubcommand     = "host"     // run the tsmcp host (child of the harness)
	upstreamSubcommand = "upstream" // run the stdio upstream (child of the host)
	bigSubcommand      = "big"      // print bigAnswer bytes (the host's exec tool)
)

// Timers of the soak host, shorter than the defaults so that what the load
// leaves behind is reaped within the settling time.
const (
	soakWriteTimeout     = 3 * time.Second
	soakUnusedSessionTTL = 5 * time.Second
	soakUpstreamIdle     = 5 * time.Second
	soakInputWait        = 5 * time.Second // a parked stateless call's life
	bigAnswer            = 256 << 10       // bytes the upstream's big tool answers
	soakItems            = 200             // the upstream's soak://item/n resources
)

// hostReady is the line the host child prints once it serves.
type hostReady struct {
	URL   string `json:"url"`   // http://<tailnet IP>
	Stats string `json:"stats"` // loopback address of /stats
}

// stats is what the host child reports about itself.
type stats struct {
	RSS        int64 `json:"rss"` // bytes (VmRSS)
	Goroutines int64 `json:"goroutines"`
	FDs        int64 `json:"fds"`
	Children   int64 `json:"children"` // live child processes
	Heap       int64 `json:"heap"`     // bytes of live heap (HeapAlloc); reported, not bounded
}

// runHost runs the real tsmcp host with limits at their defaults except
// the timers above, a per-identity stdio upstream (this binary), and a
// /stats listener on loopback, until SIGTERM or stdin ends.
func runHost(args []string) error {
	fs := flag.NewFlagSet(hostSubcommand, flag.ContinueOnError)
	control := fs.String("control", "", "control URL of the harness's tailnet")
	if err := fs.Parse(args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg := config.Default()
	cfg.Tailnet.Hostname = "soak"
	cfg.Tailnet.ControlURL = *control
	cfg.Tailnet.State = "mem:"
	cfg.Tailnet.Ephemeral = true
	cfg.Tailnet.Tags = []string{"tag:mcp"}
	cfg.Health.Addr = "127.0.0.1:0"
	cfg.MCP.ShutdownGrace = 2 * time.Second
	cfg.MCP.Limits.WriteTimeout = soakWriteTimeout
	cfg.MCP.Limits.UnusedSessionTTL = soakUnusedSessionTTL
	cfg.MCP.Limits.InputWait = soakInputWait
	cfg.ACL = acl.Config{Capability: acl.DefaultCapability, Rules: []acl.Rule{{Src: []string{"*"}, Tools: []string{"*"}, Resources: []string{"*"}}}}
	cfg.Tools = []config.Tool{{Name: "big", Exec: &config.ExecTool{Command: []string{self, bigSubcommand}}}}
	cfg.Upstreams = []config.Upstream{{
		Name: "up", Command: []string{self, upstreamSubcommand},
		Isolation: config.IsolationPerIdentity, IdleTimeout: soakUpstreamIdle,
	}, {
		// One child shared by every identity: subscriptions fan in, and
		// its chatter (log messages no call caused) is attributed to no
		// one.
		Name: "sh", Command: []string{self, upstreamSubcommand},
	}}
	logger := hostLogger()
	ts, err := toolset.New(cfg, logger)
	if err != nil {
		return err
	}
	host, err := server.New(server.Options{
		Config:  cfg,
		Logger:  logger,
		Version: "soak",
		Tools:   ts,
	})
	if err != nil {
		ts.Close()
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { // the harness died: stop
		io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	runErr := make(chan error, 1)
	go func() { runErr <- host.Run(ctx) }()
	select {
	case <-host.Ready():
	case err := <-runErr:
		return fmt.Errorf("host stopped before ready: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(serveStats), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	line, _ := json.Marshal(hostReady{URL: "http://" + host.TailnetIP().String(), Stats: ln.Addr().String()})
	fmt.Printf("%s\n", line)
	return <-runErr
}

// serveStats reports the process's stats; ?gc=1 collects garbage and
// returns free memory to the OS first.
func serveStats(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("gc") != "" {
		runtime.GC()
		debug.FreeOSMemory()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	st := stats{Goroutines: int64(runtime.NumGoroutine()), RSS: rss(), FDs: countFDs(), Children: countChildren(os.Getpid()), Heap: int64(m.HeapAlloc)}
	json.NewEncoder(w).Encode(st)
}

// rss returns VmRSS in bytes, or -1.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}

func countFDs() int64 {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return int64(len(fds))
}

// countChildren counts the live (not zombie) processes whose parent is pid.
func countChildren(pid int) int64 {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return -1
	}
	var n int64
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[0] != "Z" && f[1] == strconv.Itoa(pid) {
			n++
		}
	}
	return n
}

// runUpstream is the bridged stdio MCP server: echo, big (bigAnswer
// bytes), crash (exits at once, as a crashing upstream would), ask (asks
// the caller for input), chatter
// (answers at once, then sends log messages for two seconds: messages
// after their call returned); resources soak://big (bigAnswer bytes) and
// soak://item/0 to soakItems-1, subscribable.
func runUpstream() {
	s := mcpserver.NewMCPServer("soak-upstream", "1", mcpserver.WithLogging(), mcpserver.WithResourceCapabilities(true, false))
	s.AddResource(mcp.NewResource("soak://big", "big"), func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		return []mcp.ResourceContents{mcp.TextResourceContents{URI: "soak://big", Text: strings.Repeat("r", bigAnswer)}}, nil
	})
	for i := range soakItems {
		uri := fmt.Sprintf("soak://item/%d", i)
		s.AddResource(mcp.NewResource(uri, fmt.Sprint("item ", i)), func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			return []mcp.ResourceContents{mcp.TextResourceContents{URI: uri, Text: uri}}, nil
		})
	}
	s.AddTool(mcp.NewTool("ask"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, err := s.RequestElicitation(ctx, mcp.ElicitationRequest{Params: mcp.ElicitationParams{
			Message: "anything?", RequestedSchema: map[string]any{"type": "object"}}})
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		return mcp.NewToolResultText(string(res.Action)), nil
	})
	s.AddTool(mcp.NewTool("chatter"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		ctx = context.WithoutCancel(ctx)
		go func() {
			for i := range 20 {
				time.Sleep(100 * time.Millisecond)
				_ = s.SendLogMessageToClient(ctx, mcp.NewLoggingMessageNotification(mcp.LoggingLevelError, "soak", fmt.Sprint("chatter ", i)))
			}
		}()
		return mcp.NewToolResultText("chattering"), nil
	})
	s.AddTool(mcp.NewTool("echo", mcp.WithString("text")), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText(req.GetString("text", "")), nil
	})
	s.AddTool(mcp.NewTool("big"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText(strings.Repeat("x", bigAnswer)), nil
	})
	s.AddTool(mcp.NewTool("crash"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		os.Exit(3)
		return nil, nil
	})
	if err := mcpserver.ServeStdio(s); err != nil {
		os.Exit(1)
	}
}

// hostLogger discards the host's logs unless TSMCP_SOAK_HOST_LOG is set,
// which sends those at warning level and above to stderr.
func hostLogger() *slog.Logger {
	if os.Getenv("TSMCP_SOAK_HOST_LOG") == "" {
		return slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
