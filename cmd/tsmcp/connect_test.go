package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/devnet"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/testutil"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// progressSteps is how many progress notifications the count tool sends.
const progressSteps = 3

// progressTools provides "count", a tool that reports progress to the
// caller's progress token and then waits until "release" is called before
// it answers. (A tool that answered at once could lose its last progress
// notifications: mcp-go drops those not yet written to the request's
// stream when the response is. Waiting for the client to have seen them
// makes the test deterministic.)
type progressTools struct {
	release chan struct{}
}

func newProgressTools() progressTools { return progressTools{release: make(chan struct{}, 16)} }

func (progressTools) Name() string { return "test-progress" }
func (progressTools) Close() error { return nil }
func (p progressTools) Tools(context.Context) ([]tools.Tool, error) {
	count := mcp.NewTool("count", mcp.WithDescription("Counts to 3, reporting progress, then waits for release."))
	release := mcp.NewTool("release", mcp.WithDescription("Lets one waiting count call answer."))
	return []tools.Tool{
		{Tool: count, Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var token mcp.ProgressToken
			if req.Params.Meta != nil {
				token = req.Params.Meta.ProgressToken
			}
			if token != nil {
				srv := mcpserver.ServerFromContext(ctx)
				for i := 1; i <= progressSteps; i++ {
					err := srv.SendNotificationToClient(ctx, "notifications/progress", map[string]any{
						"progressToken": token, "progress": i, "total": progressSteps,
					})
					if err != nil {
						return nil, err
					}
				}
			}
			select {
			case <-p.release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return mcp.NewToolResultText(fmt.Sprintf("counted to %d", progressSteps)), nil
		}},
		{Tool: release, Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			p.release <- struct{}{}
			return mcp.NewToolResultText("released"), nil
		}},
		{Tool: mcp.NewTool("ask", mcp.WithDescription("Asks the client's model (sampling) and returns its answer.")),
			Handler: func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				res, err := mcpserver.ServerFromContext(ctx).RequestSampling(ctx, mcp.CreateMessageRequest{
					CreateMessageParams: mcp.CreateMessageParams{
						Messages:  []mcp.SamplingMessage{{Role: mcp.RoleUser, Content: mcp.NewTextContent("the answer?")}},
						MaxTokens: 10,
					},
				})
				if err != nil {
					return mcp.NewToolResultError("sampling failed: " + err.Error()), nil
				}
				text, _ := res.Content.(mcp.TextContent)
				return mcp.NewToolResultText("the model said " + text.Text), nil
			}},
	}, nil
}

// connectHost is a tsmcp host, in this process, whose node state is kept
// in a directory, so that it keeps its tailnet IP across restarts.
type connectHost struct {
	srv    *server.Server
	runErr chan error
	logs   *testutil.Buffer
}

// startConnectHost starts a host named tsmcp on n with state in dir.
func startConnectHost(ctx context.Context, t *testing.T, n *devnet.Network, dir string) *connectHost {
	t.Helper()
	cfg := config.Default()
	cfg.Tailnet.Hostname = "tsmcp"
	cfg.Tailnet.ControlURL = n.ControlURL
	cfg.Tailnet.State = dir
	cfg.Tailnet.Tags = []string{"tag:mcp"}
	cfg.Health.Addr = "127.0.0.1:0"
	cfg.MCP.ShutdownGrace = time.Second
	cfg.ACL = acl.Config{
		Capability: acl.DefaultCapability,
		Rules:      []acl.Rule{{Src: []string{"*"}, Tools: []string{"*"}}},
	}
	h := &connectHost{runErr: make(chan error, 1), logs: &testutil.Buffer{}}
	var err error
	h.srv, err = server.New(server.Options{
		Config: cfg,
		Logger: slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Tools:  server.Providers(tools.Builtin{}, newProgressTools()),
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { h.runErr <- h.srv.Run(context.Background()) }()
	select {
	case <-h.srv.Ready():
	case err := <-h.runErr:
		t.Fatalf("host stopped before ready: %v\n%s", err, h.logs.String())
	case <-ctx.Done():
		h.srv.Close()
		t.Fatalf("host not ready: %v", ctx.Err())
	}
	return h
}

// stop stops the host and waits for Run.
func (h *connectHost) stop(t *testing.T) {
	t.Helper()
	h.srv.Close()
	if err := <-h.runErr; err != nil {
		t.Errorf("host Run: %v", err)
	}
}

// connectCommand is `tsmcp connect --tsnet` as a real process (this test
// binary running main), joining n as a node named hostname of its own,
// with its state under a fresh user config directory.
func connectCommand(t *testing.T, n *devnet.Network, hostname, url string, extra ...string) (*exec.Cmd, *testutil.Buffer) {
	t.Helper()
	home := t.TempDir()
	args := append([]string{"connect", "--tsnet", "--ephemeral", "--control-url", n.ControlURL,
		"--hostname", hostname, "--dial-timeout", "10s", "--log-format", "text"}, extra...)
	args = append(args, url)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(),
		"TSMCP_TEST_RUN_MAIN=1",
		"TS_NO_LOGS_NO_SUPPORT=true",
		"HOME="+home,
		"XDG_CONFIG_HOME="+home+"/.config",
	)
	stderr := &testutil.Buffer{}
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	t.Cleanup(func() {
		if cmd.Process != nil && cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("tsmcp connect stderr:\n%s", stderr.String())
		}
	})
	return cmd, stderr
}

// whoamiOf calls whoami and decodes its structured result.
func whoamiOf(ctx context.Context, s *sdk.ClientSession) (tools.WhoAmI, error) {
	var w tools.WhoAmI
	res, err := s.CallTool(ctx, &sdk.CallToolParams{Name: "whoami"})
	if err != nil {
		return w, err
	}
	if res.IsError {
		return w, fmt.Errorf("whoami failed: %+v", res.Content)
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		return w, err
	}
	return w, json.Unmarshal(b, &w)
}

// goSDKSession starts `tsmcp connect --tsnet` as node hostname under the
// official Go SDK's CommandTransport, as a stdio client does, speaking
// protocol version (empty: the SDK's latest). Progress notifications go
// to progress.
func goSDKSession(ctx context.Context, t *testing.T, n *devnet.Network, hostname, url, version string, progress chan<- float64) (*sdk.ClientSession, *exec.Cmd, *testutil.Buffer) {
	t.Helper()
	cmd, stderr := connectCommand(t, n, hostname, url)
	client := sdk.NewClient(&sdk.Implementation{Name: "connect-test", Version: "1"}, &sdk.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *sdk.ProgressNotificationClientRequest) {
			progress <- req.Params.Progress
		},
		CreateMessageHandler: func(context.Context, *sdk.CreateMessageRequest) (*sdk.CreateMessageResult, error) {
			return &sdk.CreateMessageResult{Model: "test", Role: "assistant", Content: &sdk.TextContent{Text: "42"}}, nil
		},
	})
	session, err := client.Connect(ctx, &sdk.CommandTransport{Command: cmd}, &sdk.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect (%s): %v", hostname, err)
	}
	t.Cleanup(func() { session.Close() })
	return session, cmd, stderr
}

// TestConnectGoSDK runs `tsmcp connect --tsnet` under the official Go
// SDK's CommandTransport against a host on the in-process tailnet, three
// times: Streamable HTTP with the SDK's latest protocol (2026-07-28,
// sessionless) and with 2025-11-25 (sessions), and legacy SSE (/sse).
// Each client lists and calls tools, is seen as its connect node's own
// identity, and receives progress; the session client also answers a
// sampling request from the host through the relay. Then the host goes
// down: a call fails with a clear error. The host comes back on the same
// state (same IP) without the sessions: connect re-initializes on its own
// and calls work again. Closing stdin ends each process with status 0.
func TestConnectGoSDK(t *testing.T) {
	n, err := devnet.Start(devnet.Options{Tags: []string{"tag:mcp"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stateDir := t.TempDir()
	host := startConnectHost(ctx, t, n, stateDir)
	hostIP := host.srv.TailnetIP().String()

	type client struct {
		name     string
		session  *sdk.ClientSession
		cmd      *exec.Cmd
		stderr   *testutil.Buffer
		progress chan float64
		login    string
	}
	var clients []*client
	for _, c := range []struct{ name, version, path string }{
		{"gosdk-latest", "", "/mcp"},
		{"gosdk-sessions", "2025-11-25", "/mcp"},
		{"gosdk-legacy", "2025-11-25", "/sse"},
	} {
		cl := &client{name: c.name, progress: make(chan float64, 16)}
		cl.session, cl.cmd, cl.stderr = goSDKSession(ctx, t, n, c.name, "http://"+hostIP+c.path, c.version, cl.progress)
		clients = append(clients, cl)
	}
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			res, err := cl.session.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tool := range res.Tools {
				names = append(names, tool.Name)
			}
			slices.Sort(names)
			if want := []string{"ask", "count", "release", "whoami"}; !slices.Equal(names, want) {
				t.Errorf("tools = %v, want %v", names, want)
			}

			w, err := whoamiOf(ctx, cl.session)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(w.Login, "user-") || !strings.HasPrefix(w.Node, cl.name) || len(w.Tags) != 0 {
				t.Errorf("whoami = %+v, want the connect node %s's own user login", w, cl.name)
			}
			cl.login = w.Login

			params := &sdk.CallToolParams{Name: "count"}
			params.SetProgressToken("tok-" + cl.name)
			counted := make(chan error, 1)
			go func() {
				cres, err := cl.session.CallTool(ctx, params)
				if err == nil && cres.IsError {
					err = fmt.Errorf("count failed: %+v", cres.Content)
				}
				counted <- err
			}()
			var got []float64
			for len(got) < progressSteps {
				select {
				case p := <-cl.progress:
					got = append(got, p)
				case err := <-counted:
					t.Fatalf("count answered (%v) before its progress arrived (got %v)", err, got)
				case <-ctx.Done():
					t.Fatalf("progress received %v, want %d notifications", got, progressSteps)
				}
			}
			// The SDK handles notifications concurrently, so their order
			// is not asserted.
			slices.Sort(got)
			if !slices.Equal(got, []float64{1, 2, 3}) {
				t.Errorf("progress = %v, want [1 2 3]", got)
			}
			if _, err := cl.session.CallTool(ctx, &sdk.CallToolParams{Name: "release"}); err != nil {
				t.Fatal(err)
			}
			if err := <-counted; err != nil {
				t.Fatal(err)
			}

			// A server-to-client request (sampling) goes to the client
			// and its answer back to the host. Only the session protocol
			// over Streamable HTTP has them here: 2026-07-28 replaced them
			// with multi round-trip results, and mcp-go's legacy SSE
			// sessions do not support sampling.
			if cl.name != "gosdk-sessions" {
				return
			}
			ares, err := cl.session.CallTool(ctx, &sdk.CallToolParams{Name: "ask"})
			if err != nil {
				t.Fatal(err)
			}
			if text := ares.Content[0].(*sdk.TextContent).Text; text != "the model said 42" {
				t.Errorf("ask = %q, want the model's answer relayed", text)
			}
		})
	}
	logins := map[string]bool{}
	for _, cl := range clients {
		logins[cl.login] = true
	}
	if len(logins) != len(clients) {
		t.Errorf("logins %v: each connect node should be its own user", logins)
	}

	// The host goes down: a call fails with an error that says so.
	host.stop(t)
	downErrs := make(chan error, len(clients))
	for _, cl := range clients {
		go func() {
			_, err := whoamiOf(ctx, cl.session)
			downErrs <- fmt.Errorf("%s: %w", cl.name, err)
		}()
	}
	for range clients {
		if err := <-downErrs; !strings.Contains(err.Error(), "cannot reach the host") {
			t.Errorf("whoami with the host down: err = %v, want \"cannot reach the host\"", err)
		}
	}

	// The host comes back on the same state (and IP) without the
	// sessions: the next call works.
	host = startConnectHost(ctx, t, n, stateDir)
	defer host.stop(t)
	if ip := host.srv.TailnetIP().String(); ip != hostIP {
		t.Fatalf("restarted host has IP %s, want %s", ip, hostIP)
	}
	for _, cl := range clients {
		w, err := whoamiOf(ctx, cl.session)
		if err != nil && cl.name == "gosdk-legacy" && strings.Contains(err.Error(), "being reopened") {
			// Legacy SSE learns of the restart only when its stream is
			// back: wait for that, then call again.
			for err != nil && strings.Contains(err.Error(), "being reopened") && ctx.Err() == nil {
				time.Sleep(200 * time.Millisecond)
				w, err = whoamiOf(ctx, cl.session)
			}
		}
		if err != nil {
			t.Errorf("%s: whoami after the host restarted: %v", cl.name, err)
			continue
		}
		if w.Login != cl.login {
			t.Errorf("%s: after restart whoami = %+v, want login %s", cl.name, w, cl.login)
		}
	}
	for _, cl := range clients[1:] {
		if s := cl.stderr.String(); !strings.Contains(s, "re-initialized") {
			t.Errorf("%s did not log a re-initialization:\n%s", cl.name, s)
		}
	}

	// Closing stdin ends each process cleanly.
	for _, cl := range clients {
		if err := cl.session.Close(); err != nil {
			t.Errorf("%s: close: %v", cl.name, err)
		}
		if cl.cmd.ProcessState == nil || cl.cmd.ProcessState.ExitCode() != 0 {
			t.Errorf("%s: connect exited with %v, want 0", cl.name, cl.cmd.ProcessState)
		}
	}
}

// TestConnectRefusedEndpoint points connect at a path the host does not
// serve: initialize fails with an error naming the HTTP status, and the
// process still speaks only JSON-RPC on stdout (the SDK would fail to
// parse anything else).
func TestConnectRefusedEndpoint(t *testing.T) {
	n, err := devnet.Start(devnet.Options{Tags: []string{"tag:mcp"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	host := startConnectHost(ctx, t, n, t.TempDir())
	defer host.stop(t)

	cmd, _ := connectCommand(t, n, "refused", "http://"+host.srv.TailnetIP().String()+"/nope")
	client := sdk.NewClient(&sdk.Implementation{Name: "connect-test", Version: "1"}, nil)
	session, err := client.Connect(ctx, &sdk.CommandTransport{Command: cmd}, nil)
	if err == nil {
		session.Close()
		t.Fatal("connect to /nope succeeded")
	}
	if !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "tsmcp connect") {
		t.Errorf("error = %v, want the relay's error naming HTTP 404", err)
	}
}
