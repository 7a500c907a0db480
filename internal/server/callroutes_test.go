package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	mcpgotransport "github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// heard records what a test client received from the host besides
// results: progress, log messages, elicitation and sampling requests.
type heard struct {
	mu       sync.Mutex // guards the fields below
	progress []string   // "<token> <message>"
	logs     []string   // log data
	elicited []string   // elicitation messages
	sampled  []string   // sampling prompts
}

func (h *heard) add(list *[]string, s string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	*list = append(*list, s)
}

// snapshot returns a copy of one of h's lists.
func (h *heard) snapshot(list *[]string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(*list)
}

// waitFor polls until cond holds on a copy of list, failing the test at ctx's end.
func (h *heard) waitFor(ctx context.Context, t *testing.T, what string, list *[]string, cond func([]string) bool) {
	t.Helper()
	for !cond(h.snapshot(list)) {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: never happened; have %q", what, h.snapshot(list))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// testAnswer is what the test clients answer elicitation and sampling
// with, tagged by who answered.
func testAnswer(who string) string { return "answer-from-" + who }

// mcpgoPeer connects an mcp-go Streamable HTTP client, pinned to the
// 2025-11-25 protocol (sessions, server-to-client requests) with the
// standalone GET stream open, recording into
// h and answering elicitation and sampling as who.
func mcpgoPeer(ctx context.Context, t *testing.T, endpoint string, c caller, who string, h *heard) *mcpgoclient.Client {
	t.Helper()
	return legacyMCPGo(ctx, t, endpoint, c, "calls-test-"+who, func(cl *mcpgoclient.Client) {
		cl.OnNotification(func(n mcp.JSONRPCNotification) {
			switch n.Method {
			case string(mcp.MethodNotificationProgress):
				h.add(&h.progress, fmt.Sprintf("%v %v", n.Params.AdditionalFields["progressToken"], n.Params.AdditionalFields["message"]))
			case string(mcp.MethodNotificationMessage):
				h.add(&h.logs, fmt.Sprint(n.Params.AdditionalFields["data"]))
			}
		})
	},
		mcpgoclient.WithElicitationHandler(elicitFunc(func(_ context.Context, r mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
			h.add(&h.elicited, r.Params.Message)
			return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{
				Action: mcp.ElicitationResponseActionAccept, Content: map[string]any{"name": testAnswer(who)}}}, nil
		})),
		mcpgoclient.WithSamplingHandler(sampleFunc(func(_ context.Context, r mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			prompt := ""
			if len(r.Messages) > 0 {
				if tc, ok := r.Messages[0].Content.(mcp.TextContent); ok {
					prompt = tc.Text
				}
			}
			h.add(&h.sampled, prompt)
			return &mcp.CreateMessageResult{Model: "test-model", StopReason: "endTurn",
				SamplingMessage: mcp.SamplingMessage{Role: mcp.RoleAssistant, Content: mcp.NewTextContent(testAnswer(who))}}, nil
		})),
	)
}

// legacyMCPGo connects mcp-go's client as c over Streamable HTTP in the
// 2025-11-25 protocol with its standalone GET stream (mcp-go's server
// sends sampling and roots requests there only), with opts; started is
// called between Start and Initialize (to register handlers). It is
// closed when the test ends.
func legacyMCPGo(ctx context.Context, t *testing.T, endpoint string, c caller, name string, started func(*mcpgoclient.Client), opts ...mcpgoclient.ClientOption) *mcpgoclient.Client {
	t.Helper()
	tr, err := mcpgotransport.NewStreamableHTTP(endpoint, mcpgotransport.WithHTTPBasicClient(c.httpClient()),
		//lint:ignore SA1019 the client is pinned to 2025-11-25, where this stream exists
		mcpgotransport.WithContinuousListening())
	if err != nil {
		t.Fatal(err)
	}
	cl := mcpgoclient.NewClient(tr, append([]mcpgoclient.ClientOption{mcpgoclient.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION)}, opts...)...)
	t.Cleanup(func() { cl.Close() })
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if started != nil {
		started(cl)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: name, Version: "1"}
	if _, err := cl.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	return cl
}

type elicitFunc func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error)

func (f elicitFunc) Elicit(ctx context.Context, r mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	return f(ctx, r)
}

type sampleFunc func(context.Context, mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error)

func (f sampleFunc) CreateMessage(ctx context.Context, r mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
	return f(ctx, r)
}

// mcpgoCall calls tool with args and progress token (none if empty) and
// returns the result's text and whether it is a tool error.
func mcpgoCall(ctx context.Context, t *testing.T, cl *mcpgoclient.Client, tool, token string, args map[string]any) (string, bool) {
	t.Helper()
	text, isErr, err := mcpgoTry(ctx, cl, tool, token, args)
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return text, isErr
}

// goText runs call on a goroutine and returns a channel that gets its
// text, or its error as text (t.Fatal is for the test's goroutine only).
func goText(call func() (string, bool, error)) <-chan string {
	done := make(chan string, 1)
	go func() {
		text, _, err := call()
		if err != nil {
			text = "error: " + err.Error()
		}
		done <- text
	}()
	return done
}

// mcpgoTry is mcpgoCall returning the client's error.
func mcpgoTry(ctx context.Context, cl *mcpgoclient.Client, tool, token string, args map[string]any) (string, bool, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	if token != "" {
		req.Params.Meta = &mcp.Meta{ProgressToken: token}
	}
	res, err := cl.CallTool(ctx, req)
	if err != nil {
		return "", false, err
	}
	var text []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			text = append(text, tc.Text)
		}
	}
	return strings.Join(text, "\n"), res.IsError, nil
}

// sdkPeer connects a go-sdk client at protocol version (empty: the newest,
// the stateless 2026-07-28), recording into h and answering as who.
func sdkPeer(ctx context.Context, t *testing.T, endpoint string, c caller, version, who string, h *heard) *sdk.ClientSession {
	t.Helper()
	client := sdk.NewClient(&sdk.Implementation{Name: "calls-test-" + who, Version: "1"}, &sdk.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *sdk.ProgressNotificationClientRequest) {
			h.add(&h.progress, fmt.Sprintf("%v %v", r.Params.ProgressToken, r.Params.Message))
		},
		LoggingMessageHandler: func(_ context.Context, r *sdk.LoggingMessageRequest) {
			h.add(&h.logs, fmt.Sprint(r.Params.Data))
		},
		ElicitationHandler: func(_ context.Context, r *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
			h.add(&h.elicited, r.Params.Message)
			return &sdk.ElicitResult{Action: "accept", Content: map[string]any{"name": testAnswer(who)}}, nil
		},
		CreateMessageHandler: func(_ context.Context, r *sdk.CreateMessageRequest) (*sdk.CreateMessageResult, error) {
			prompt := ""
			if len(r.Params.Messages) > 0 {
				if tc, ok := r.Params.Messages[0].Content.(*sdk.TextContent); ok {
					prompt = tc.Text
				}
			}
			h.add(&h.sampled, prompt)
			return &sdk.CreateMessageResult{Model: "test-model", Role: "assistant", StopReason: "endTurn",
				Content: &sdk.TextContent{Text: testAnswer(who)}}, nil
		},
	})
	s, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: c.httpClient(), MaxRetries: -1},
		&sdk.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rawStatelessPeer connects the go-sdk client as name through c's node,
// on 2026-07-28, with its multi round trips off: an input_required result
// reaches the test, which answers it itself. It declares elicitation (a
// stateless caller is asked only for what its request declared); its
// handler is never called.
func rawStatelessPeer(ctx context.Context, t *testing.T, endpoint string, c caller, name string) *sdk.ClientSession {
	t.Helper()
	client := sdk.NewClient(&sdk.Implementation{Name: name, Version: "1"}, &sdk.ClientOptions{
		MultiRoundTrip: &sdk.MultiRoundTripOptions{Disabled: true},
		ElicitationHandler: func(context.Context, *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
			return nil, errors.New("not here")
		},
	})
	s, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: c.httpClient(), MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sdkCall calls tool with args and progress token (none if empty) and
// returns the result's text and whether it is a tool error.
func sdkCall(ctx context.Context, t *testing.T, s *sdk.ClientSession, tool, token string, args map[string]any) (string, bool) {
	t.Helper()
	text, isErr, err := sdkTry(ctx, s, tool, token, args)
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return text, isErr
}

// sdkTry is sdkCall returning the client's error.
func sdkTry(ctx context.Context, s *sdk.ClientSession, tool, token string, args map[string]any) (string, bool, error) {
	p := &sdk.CallToolParams{Name: tool, Arguments: args}
	if token != "" {
		p.SetProgressToken(token)
	}
	res, err := s.CallTool(ctx, p)
	if err != nil {
		return "", false, err
	}
	var text []string
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			text = append(text, tc.Text)
		}
	}
	return strings.Join(text, "\n"), res.IsError, nil
}

// callsHost starts a host bridging the stdio test server as "rt" (shared,
// timeout 1s) and returns its /mcp endpoint and logs.
func callsHost(ctx context.Context, t *testing.T, tn *tailnet) (string, *logBuffer) {
	t.Helper()
	return callsHostWith(ctx, t, tn, nil)
}

// callsUpstream is the stdio test server with the call routing tools
// (addCallRoutingTools), bridged as name with isolation and timeout.
func callsUpstream(t *testing.T, name, isolation string, timeout time.Duration) config.Upstream {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return config.Upstream{Name: name, Command: []string{self}, Env: map[string]string{stdioServerEnv: "calls"},
		Timeout: timeout, Isolation: isolation}
}

// callsHostWith is callsHost with the config adjusted by mod.
func callsHostWith(ctx context.Context, t *testing.T, tn *tailnet, mod func(*config.Config)) (string, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	host, err := startHost(ctx, tn.net, "calls", logs, func(c *config.Config, _ *server.Options) {
		c.ACL = acl.Config{Rules: []acl.Rule{{Src: []string{"*"}, Tools: []string{"*"}}}}
		c.Upstreams = []config.Upstream{callsUpstream(t, "rt", "", time.Second)}
		if mod != nil {
			mod(c)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	return "http://" + host.TailnetIP().String() + "/mcp", logs
}

// only reports whether every item of got starts with prefix, and there is
// at least one.
func only(prefix string) func([]string) bool {
	return func(got []string) bool {
		if len(got) == 0 {
			return false
		}
		for _, g := range got {
			if !strings.HasPrefix(g, prefix) {
				return false
			}
		}
		return true
	}
}

// TestBridgedProgressAndTimeout: the caller's progress token reaches the
// upstream (as a token of tsmcp's own) and the progress comes back under
// the caller's token, to that caller only, over a 2025-11-25 session and
// over the stateless 2026-07-28 protocol. A call with timeout 1s that
// reports progress every 200 ms for 3 s completes; one that stays silent
// is cut.
func TestBridgedProgressAndTimeout(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	endpoint, logs := callsHost(ctx, t, tn)

	var ah, bh heard
	alice := mcpgoPeer(ctx, t, endpoint, cs[0], "alice", &ah)
	bob := sdkPeer(ctx, t, endpoint, cs[1], "", "bob", &bh) // stateless

	t.Run("progress renews the deadline", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			call func() (string, bool)
			h    *heard
			want string
		}{
			{name: "mcp-go 2025-11-25", h: &ah, want: "a-tick alice", call: func() (string, bool) {
				return mcpgoCall(ctx, t, alice, "rt__tick", "a-tick", map[string]any{"every_ms": 200, "for_ms": 3000, "label": "alice"})
			}},
			{name: "go-sdk 2026-07-28", h: &bh, want: "b-tick bob", call: func() (string, bool) {
				return sdkCall(ctx, t, bob, "rt__tick", "b-tick", map[string]any{"every_ms": 200, "for_ms": 3000, "label": "bob"})
			}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				text, isErr := tt.call()
				if isErr || !strings.HasPrefix(text, "ticked ") {
					t.Fatalf("tick = %q (isError %v), want it to complete", text, isErr)
				}
				var n int
				fmt.Sscanf(text, "ticked %d", &n)
				// mcp-go's Streamable HTTP server may drop a notification
				// queued as the response is written (its forwarder
				// checks done after taking it): the last one may be lost.
				tt.h.waitFor(ctx, t, "every progress notification, under the caller's token", &tt.h.progress, func(got []string) bool {
					return len(got) >= n-1 && len(got) <= n && only(tt.want)(got)
				})
			})
		}
	})

	t.Run("silence is cut", func(t *testing.T) {
		text, isErr := mcpgoCall(ctx, t, alice, "rt__silent", "", map[string]any{"ms": 3000})
		if !isErr || !strings.Contains(text, "timed out") {
			t.Fatalf("silent = %q (isError %v), want a timeout", text, isErr)
		}
		if !slices.ContainsFunc(logs.JSONLines("upstream call timed out"), func(m map[string]any) bool { return m["tool"] == "silent" }) {
			t.Error("no log line for the timeout")
		}
	})

	t.Run("progress that stops is cut", func(t *testing.T) {
		text, isErr := sdkCall(ctx, t, bob, "rt__tick", "b-stop", map[string]any{"every_ms": 200, "for_ms": 1000, "then_ms": 3000, "label": "bob"})
		if !isErr || !strings.Contains(text, "timed out") {
			t.Fatalf("tick then silence = %q (isError %v), want a timeout", text, isErr)
		}
		if got := bh.snapshot(&bh.progress); !slices.Contains(got, "b-stop bob") {
			t.Errorf("bob heard %q, want the progress before the silence", got)
		}
	})

	t.Run("two callers on one shared child", func(t *testing.T) {
		var ch, dh heard
		carol := mcpgoPeer(ctx, t, endpoint, cs[0], "carol", &ch)
		dave := sdkPeer(ctx, t, endpoint, cs[1], mcp.LATEST_LEGACY_PROTOCOL_VERSION, "dave", &dh)
		done := goText(func() (string, bool, error) {
			return sdkTry(ctx, dave, "rt__gate", "same-token", map[string]any{"name": "progress", "label": "dave"})
		})
		// Dave's call is in flight on the child once his progress arrives.
		dh.waitFor(ctx, t, "dave's first progress", &dh.progress, only("same-token dave"))
		// Carol uses the same token as dave: tsmcp's own tokens keep them apart.
		text, isErr := mcpgoCall(ctx, t, carol, "rt__tick", "same-token", map[string]any{"every_ms": 50, "for_ms": 500, "label": "carol"})
		if isErr {
			t.Fatalf("carol's tick = %q", text)
		}
		mcpgoCall(ctx, t, carol, "rt__open", "", map[string]any{"name": "progress"})
		if got := <-done; got != "passed" {
			t.Fatalf("dave's gate = %q", got)
		}
		ch.waitFor(ctx, t, "carol hears only her progress", &ch.progress, only("same-token carol"))
		if got := dh.snapshot(&dh.progress); !only("same-token dave")(got) {
			t.Errorf("dave heard %q, want only his own progress", got)
		}
	})
}

// TestCancelledCallsAudit: a call the caller cancels is audited with
// outcome "cancelled", for a bridged tool (whose upstream gets the
// cancellation) and for a declarative exec tool alike.
func TestCancelledCallsAudit(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	started := t.TempDir() + "/started"
	endpoint, logs := callsHostWith(ctx, t, tn, func(c *config.Config) {
		c.Tools = []config.Tool{{Name: "nap", Exec: &config.ExecTool{
			Command: []string{"sh", "-c", "touch " + started + "; exec sleep 60"}}}}
	})
	var ah heard
	alice := mcpgoPeer(ctx, t, endpoint, cs[0], "alice", &ah)
	bob := sdkPeer(ctx, t, endpoint, cs[1], mcp.LATEST_LEGACY_PROTOCOL_VERSION, "bob", &heard{})

	for _, tt := range []struct {
		name, tool string
		call       func(context.Context) error
		inFlight   func() bool
	}{
		{name: "bridged, mcp-go", tool: "rt__gate",
			call: func(cctx context.Context) error {
				req := mcp.CallToolRequest{}
				req.Params.Name = "rt__gate"
				req.Params.Arguments = map[string]any{"name": "never", "label": "alice"}
				req.Params.Meta = &mcp.Meta{ProgressToken: "cancel-me"}
				_, err := alice.CallTool(cctx, req)
				return err
			},
			inFlight: func() bool { return len(ah.snapshot(&ah.progress)) > 0 }},
		{name: "exec, go-sdk", tool: "nap",
			call: func(cctx context.Context) error {
				_, err := bob.CallTool(cctx, &sdk.CallToolParams{Name: "nap"})
				return err
			},
			inFlight: func() bool { _, err := os.Stat(started); return err == nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cctx, ccancel := context.WithCancel(ctx)
			errc := make(chan error, 1)
			go func() { errc <- tt.call(cctx) }()
			for !tt.inFlight() {
				select {
				case <-ctx.Done():
					t.Fatal("the call never started")
				case <-time.After(20 * time.Millisecond):
				}
			}
			ccancel()
			if err := <-errc; err == nil {
				t.Fatal("the cancelled call returned no error")
			}
			for {
				i := slices.IndexFunc(logs.JSONLines("tool_call"), func(m map[string]any) bool { return m["tool"] == tt.tool })
				if i >= 0 {
					if got := logs.JSONLines("tool_call")[i]["outcome"]; got != "cancelled" {
						t.Fatalf("audit outcome = %v, want cancelled", got)
					}
					break
				}
				select {
				case <-ctx.Done():
					t.Fatal("no audit line for the cancelled call")
				case <-time.After(20 * time.Millisecond):
				}
			}
		})
	}
}

// TestBridgedLogging: logging/setLevel reaches the upstream (the mcp-go
// child sends nothing below "error" unless asked) and a per-identity
// child's log messages reach its identity's callers with calls in flight,
// filtered by each caller's level. A shared stdio child's messages name no
// call, so they go to tsmcp's log, whoever has calls in flight (see
// TestRemoteCallStreamAttribution for a shared upstream whose messages are
// attributable).
func TestBridgedLogging(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	endpoint, logs := callsHostWith(ctx, t, tn, func(c *config.Config) {
		c.Upstreams = append(c.Upstreams, callsUpstream(t, "pi", config.IsolationPerIdentity, time.Second))
	})
	gates := 0
	// logWhile has cl call rt__log with args, which stays in flight until
	// heard holds; then it opens the call's gate.
	logWhile := func(cl *mcpgoclient.Client, args map[string]any, what string, heard func() bool) {
		t.Helper()
		gates++
		args["gate"] = fmt.Sprint("log-", gates)
		up := "rt"
		if args["upstream"] != nil {
			up = args["upstream"].(string)
			delete(args, "upstream")
		}
		done := goText(func() (string, bool, error) { return mcpgoTry(ctx, cl, up+"__log", "", args) })
		for !heard() {
			select {
			case <-ctx.Done():
				t.Fatalf("%s: never happened", what)
			case <-time.After(20 * time.Millisecond):
			}
		}
		mcpgoCall(ctx, t, cl, up+"__open", "", map[string]any{"name": args["gate"]})
		if got := <-done; got != "passed" {
			t.Fatalf("%s__log = %q", up, got)
		}
	}
	heardLogs := func(h *heard, want ...string) func() bool {
		return func() bool { return slices.Equal(h.snapshot(&h.logs), want) }
	}
	setLevel := func(cl *mcpgoclient.Client, level mcp.LoggingLevel) {
		t.Helper()
		req := mcp.SetLevelRequest{}
		req.Params.Level = level
		if err := cl.SetLevel(ctx, req); err != nil {
			t.Fatal(err)
		}
	}

	var ah heard
	alice := mcpgoPeer(ctx, t, endpoint, cs[0], "alice", &ah)
	setLevel(alice, mcp.LoggingLevelDebug)
	logWhile(alice, map[string]any{"upstream": "pi", "label": "alice-info"}, "alice hears her info message", heardLogs(&ah, "alice-info"))
	setLevel(alice, mcp.LoggingLevelError)
	// Messages of one call arrive in order: had the info one been
	// delivered, it would be there before the error one.
	logWhile(alice, map[string]any{"upstream": "pi", "label": "alice-info-2", "label2": "alice-error", "level2": "error"},
		"alice hears her error message and not the info one", heardLogs(&ah, "alice-info", "alice-error"))

	var ch, dh heard
	carol := mcpgoPeer(ctx, t, endpoint, cs[0], "carol", &ch)
	dave := sdkPeer(ctx, t, endpoint, cs[1], mcp.LATEST_LEGACY_PROTOCOL_VERSION, "dave", &dh)
	setLevel(carol, mcp.LoggingLevelDebug)
	if err := dave.SetLoggingLevel(ctx, &sdk.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	done := goText(func() (string, bool, error) {
		return sdkTry(ctx, dave, "rt__gate", "d", map[string]any{"name": "logging", "label": "dave"})
	})
	dh.waitFor(ctx, t, "dave's call in flight", &dh.progress, only("d dave"))
	logWhile(carol, map[string]any{"label": "carol-shared"}, "the unattributable message in tsmcp's log", func() bool {
		return slices.ContainsFunc(logs.JSONLines("upstream log message"), func(m map[string]any) bool {
			return strings.Contains(fmt.Sprint(m["data"]), "carol-shared")
		})
	})
	mcpgoCall(ctx, t, carol, "rt__open", "", map[string]any{"name": "logging"})
	if got := <-done; got != "passed" {
		t.Fatalf("dave's gate = %q", got)
	}
	// Alone on the shared child, carol's call still does not make the
	// child's message hers: nothing on stdio says which call it is about.
	logWhile(carol, map[string]any{"label": "carol-alone"}, "carol's message in tsmcp's log", func() bool {
		return slices.ContainsFunc(logs.JSONLines("upstream log message"), func(m map[string]any) bool {
			return strings.Contains(fmt.Sprint(m["data"]), "carol-alone")
		})
	})
	for who, h := range map[string]*heard{"carol": &ch, "dave": &dh} {
		if got := h.snapshot(&h.logs); len(got) != 0 {
			t.Errorf("%s heard %q from the shared child, want nothing", who, got)
		}
	}
	if got := ah.snapshot(&ah.logs); !slices.Equal(got, []string{"alice-info", "alice-error"}) {
		t.Errorf("alice heard %q, want only her own messages", got)
	}

	// A per-identity child serves one identity: its message goes to each
	// of that identity's sessions with a call in flight.
	var eh, fh heard
	erin := mcpgoPeer(ctx, t, endpoint, cs[1], "erin", &eh) // bob's identity, two sessions
	setLevel(erin, mcp.LoggingLevelDebug)
	frank := mcpgoPeer(ctx, t, endpoint, cs[1], "frank", &fh)
	setLevel(frank, mcp.LoggingLevelDebug)
	pdone := goText(func() (string, bool, error) {
		return mcpgoTry(ctx, erin, "pi__gate", "e", map[string]any{"name": "pi", "label": "erin"})
	})
	eh.waitFor(ctx, t, "erin's call in flight", &eh.progress, func(got []string) bool {
		select {
		case text := <-pdone:
			t.Fatalf("erin's gate ended early: %q", text)
		default:
		}
		return only("e erin")(got)
	})
	logWhile(frank, map[string]any{"upstream": "pi", "label": "per-identity"}, "both of the identity's sessions hear the message", func() bool {
		return heardLogs(&eh, "per-identity")() && heardLogs(&fh, "per-identity")()
	})
	mcpgoCall(ctx, t, frank, "pi__open", "", map[string]any{"name": "pi"})
	if got := <-pdone; got != "passed" {
		t.Fatalf("erin's gate = %q", got)
	}
	// Alice and carol are another identity; dave is erin's but has no
	// call in flight.
	for _, h := range []*heard{&ah, &ch, &dh} {
		if got := h.snapshot(&h.logs); slices.Contains(got, "per-identity") {
			t.Errorf("a session without a call on the child heard %q", got)
		}
	}
}

// TestBridgedElicitationAndSampling: a per-identity child's
// elicitation/create and sampling/createMessage reach the caller whose call
// caused them and the caller's answer goes back (mcp-go and go-sdk clients
// on 2025-11-25 sessions, and the stateless protocol's input round trips).
// A shared stdio child's requests cannot be attributed and are refused:
// no caller is asked, even one alone on the child.
func TestBridgedElicitationAndSampling(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	endpoint, logs := callsHostWith(ctx, t, tn, func(c *config.Config) {
		c.Upstreams = append(c.Upstreams, callsUpstream(t, "pi", config.IsolationPerIdentity, time.Second))
	})

	var ah, bh, sh heard
	alice := mcpgoPeer(ctx, t, endpoint, cs[0], "alice", &ah)
	bob := sdkPeer(ctx, t, endpoint, cs[1], mcp.LATEST_LEGACY_PROTOCOL_VERSION, "bob", &bh)
	stateless := sdkPeer(ctx, t, endpoint, cs[1], "", "stateless", &sh)
	for _, tt := range []struct {
		name, tool, label, want string
		call                    func(tool string, args map[string]any) (string, bool)
		h                       *heard
		list                    func(*heard) *[]string
	}{
		{name: "elicitation, mcp-go", tool: "pi__elicit", label: "alice-q", want: "accept map[name:answer-from-alice]",
			call: func(tool string, args map[string]any) (string, bool) { return mcpgoCall(ctx, t, alice, tool, "", args) },
			h:    &ah, list: func(h *heard) *[]string { return &h.elicited }},
		{name: "sampling, mcp-go", tool: "pi__sample", label: "alice-p", want: "sampled test-model answer-from-alice",
			call: func(tool string, args map[string]any) (string, bool) { return mcpgoCall(ctx, t, alice, tool, "", args) },
			h:    &ah, list: func(h *heard) *[]string { return &h.sampled }},
		{name: "elicitation, go-sdk", tool: "pi__elicit", label: "bob-q", want: "accept map[name:answer-from-bob]",
			call: func(tool string, args map[string]any) (string, bool) { return sdkCall(ctx, t, bob, tool, "", args) },
			h:    &bh, list: func(h *heard) *[]string { return &h.elicited }},
		{name: "sampling, go-sdk", tool: "pi__sample", label: "bob-p", want: "sampled test-model answer-from-bob",
			call: func(tool string, args map[string]any) (string, bool) { return sdkCall(ctx, t, bob, tool, "", args) },
			h:    &bh, list: func(h *heard) *[]string { return &h.sampled }},
		{name: "elicitation, go-sdk 2026-07-28 (input round trip)", tool: "pi__elicit", label: "stateless-q", want: "accept map[name:answer-from-stateless]",
			call: func(tool string, args map[string]any) (string, bool) {
				return sdkCall(ctx, t, stateless, tool, "", args)
			},
			h: &sh, list: func(h *heard) *[]string { return &h.elicited }},
		{name: "sampling, go-sdk 2026-07-28 (input round trip)", tool: "pi__sample", label: "stateless-p", want: "sampled test-model answer-from-stateless",
			call: func(tool string, args map[string]any) (string, bool) {
				return sdkCall(ctx, t, stateless, tool, "", args)
			},
			h: &sh, list: func(h *heard) *[]string { return &h.sampled }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text, isErr := tt.call(tt.tool, map[string]any{"label": tt.label})
			if isErr || text != tt.want {
				t.Fatalf("%s = %q (isError %v), want %q", tt.tool, text, isErr, tt.want)
			}
			if got := tt.h.snapshot(tt.list(tt.h)); !slices.Equal(got, []string{tt.label}) {
				t.Errorf("the caller was asked %q, want [%s]", got, tt.label)
			}
		})
	}

	t.Run("another identity cannot answer", func(t *testing.T) {
		// Stateless clients that handle input_required themselves.
		aliceRaw := rawStatelessPeer(ctx, t, endpoint, cs[0], "calls-test-raw")
		bobRaw := rawStatelessPeer(ctx, t, endpoint, cs[1], "calls-test-raw")
		res, err := aliceRaw.CallTool(ctx, &sdk.CallToolParams{Name: "pi__elicit", Arguments: map[string]any{"label": "alice-raw"}})
		if err != nil || res.RequestState == "" || len(res.InputRequests) != 1 {
			t.Fatalf("first round trip = %+v, %v; want an input_required result", res, err)
		}
		answer := sdk.InputResponseMap{}
		for id := range res.InputRequests {
			answer[id] = &sdk.ElicitResult{Action: "accept", Content: map[string]any{"name": "from-bob"}}
		}
		stolen, err := bobRaw.CallTool(ctx, &sdk.CallToolParams{Name: "pi__elicit", Arguments: map[string]any{"label": "alice-raw"},
			RequestState: res.RequestState, InputResponses: answer})
		if err == nil || !strings.Contains(err.Error(), "invalid requestState") {
			// The host refuses a state sealed for another identity
			// (requeststate.go) before the bridge sees it.
			t.Fatalf("bob answering alice's request = %+v, %v; want the state refused", stolen, err)
		}
		for id := range res.InputRequests {
			answer[id] = &sdk.ElicitResult{Action: "accept", Content: map[string]any{"name": "from-alice"}}
		}
		final, err := aliceRaw.CallTool(ctx, &sdk.CallToolParams{Name: "pi__elicit", Arguments: map[string]any{"label": "alice-raw"},
			RequestState: res.RequestState, InputResponses: answer})
		if err != nil || final.IsError || len(final.Content) != 1 || final.Content[0].(*sdk.TextContent).Text != "accept map[name:from-alice]" {
			t.Fatalf("alice's answer = %+v, %v; want her answer to reach the child", final, err)
		}
	})

	t.Run("a shared stdio child cannot attribute", func(t *testing.T) {
		var ch heard
		carol := mcpgoPeer(ctx, t, endpoint, cs[0], "carol", &ch)
		for _, tool := range []string{"rt__elicit", "rt__sample"} {
			text, isErr := mcpgoCall(ctx, t, carol, tool, "", map[string]any{"label": "carol-" + tool})
			if !isErr || !strings.Contains(text, "failed") {
				t.Errorf("%s = %q (isError %v), want the child's request refused", tool, text, isErr)
			}
		}
		if got := append(ch.snapshot(&ch.elicited), ch.snapshot(&ch.sampled)...); len(got) != 0 {
			t.Errorf("carol was asked %q, want no one", got)
		}
		if n := len(logs.JSONLines("upstream request refused: it cannot be attributed to the call that caused it (not on a call's own stream, and the session is shared by several identities or has several caller sessions in flight)")); n != 2 {
			t.Errorf("%d refusals logged, want 2", n)
		}
	})
}

// TestBridgedEverything drives the reference server-everything, bridged as
// a shared stdio child with timeout 1s, through tsmcp: its long-running
// operation completes (its progress, a step every 0.5 s, renews the
// deadline) and its progress reaches the caller; cancelling it is audited
// as cancelled. Bridged per identity, its elicitation and sampling requests
// are answered by the callers' handlers; shared, they are refused (nothing
// on stdio says which call they are about). Its simulated log messages,
// which no request caused, reach no caller: not alice, who turned them on,
// nor bob, whose call is in flight meanwhile.
func TestBridgedEverything(t *testing.T) {
	bin := testutil.EverythingBin(t)
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	endpoint, logs := callsHostWith(ctx, t, tn, func(c *config.Config) {
		c.Upstreams = append(c.Upstreams, config.Upstream{Name: "ev", Command: []string{bin}, Timeout: time.Second},
			config.Upstream{Name: "evp", Command: []string{bin}, Timeout: time.Second, Isolation: config.IsolationPerIdentity})
	})
	var ah, bh heard
	alice := mcpgoPeer(ctx, t, endpoint, cs[0], "alice", &ah)
	bob := sdkPeer(ctx, t, endpoint, cs[1], mcp.LATEST_LEGACY_PROTOCOL_VERSION, "bob", &bh)
	// Its capability-dependent tools come with a list_changed.
	for names := testutil.MCPGoToolNames(ctx, t, alice); !slices.Contains(names, "ev__trigger-sampling-request") ||
		!slices.Contains(names, "evp__trigger-sampling-request"); names = testutil.MCPGoToolNames(ctx, t, alice) {
		select {
		case <-ctx.Done():
			t.Fatal("server-everything's sampling tool never appeared: tsmcp did not declare sampling upstream")
		case <-time.After(50 * time.Millisecond):
		}
	}

	t.Run("long-running operation with progress", func(t *testing.T) {
		text, isErr := mcpgoCall(ctx, t, alice, "ev__trigger-long-running-operation", "ev-a", map[string]any{"duration": 3, "steps": 6})
		if isErr || !strings.Contains(text, "Long running operation completed") {
			t.Fatalf("long-running operation = %q (isError %v)", text, isErr)
		}
		ah.waitFor(ctx, t, "alice hears the operation's progress", &ah.progress, func(got []string) bool {
			return len(got) >= 5 && only("ev-a ")(got)
		})
		if got := bh.snapshot(&bh.progress); len(got) != 0 {
			t.Errorf("bob heard %q", got)
		}
	})

	t.Run("cancelled operation", func(t *testing.T) {
		cctx, ccancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() {
			_, err := bob.CallTool(cctx, &sdk.CallToolParams{Name: "ev__trigger-long-running-operation",
				Arguments: map[string]any{"duration": 60, "steps": 120}, Meta: sdk.Meta{"progressToken": "ev-b"}})
			errc <- err
		}()
		bh.waitFor(ctx, t, "bob's operation in flight", &bh.progress, only("ev-b "))
		ccancel()
		if err := <-errc; err == nil {
			t.Fatal("the cancelled call returned no error")
		}
		for !slices.ContainsFunc(logs.JSONLines("tool_call"), func(m map[string]any) bool {
			return m["tool"] == "ev__trigger-long-running-operation" && m["outcome"] == "cancelled"
		}) {
			select {
			case <-ctx.Done():
				t.Fatalf("no cancelled audit line; have %v", logs.JSONLines("tool_call"))
			case <-time.After(20 * time.Millisecond):
			}
		}
	})

	t.Run("shared: elicitation and sampling refused", func(t *testing.T) {
		for _, tool := range []string{"ev__trigger-elicitation-request", "ev__trigger-sampling-request"} {
			if text, isErr := mcpgoCall(ctx, t, alice, tool, "", map[string]any{"prompt": "p"}); !isErr {
				t.Errorf("%s = %q, want an error", tool, text)
			}
		}
		if got := append(ah.snapshot(&ah.elicited), ah.snapshot(&ah.sampled)...); len(got) != 0 {
			t.Errorf("alice was asked %q", got)
		}
	})

	t.Run("elicitation", func(t *testing.T) {
		text, isErr := mcpgoCall(ctx, t, alice, "evp__trigger-elicitation-request", "", nil)
		if isErr || !strings.Contains(text, "User provided the requested information") || !strings.Contains(text, testAnswer("alice")) {
			t.Fatalf("elicitation = %q (isError %v)", text, isErr)
		}
		if got := ah.snapshot(&ah.elicited); len(got) != 1 || !strings.HasPrefix(got[0], "Please provide inputs") {
			t.Errorf("alice was asked %q", got)
		}
	})

	t.Run("sampling", func(t *testing.T) {
		text, isErr := sdkCall(ctx, t, bob, "evp__trigger-sampling-request", "", map[string]any{"prompt": "hello from bob"})
		if isErr || !strings.Contains(text, testAnswer("bob")) {
			t.Fatalf("sampling = %q (isError %v)", text, isErr)
		}
		if got := bh.snapshot(&bh.sampled); len(got) != 1 || !strings.Contains(got[0], "hello from bob") {
			t.Errorf("bob was asked %q", got)
		}
		if got := ah.snapshot(&ah.sampled); len(got) != 0 {
			t.Errorf("alice was asked %q", got)
		}
	})

	t.Run("logging", func(t *testing.T) {
		hearEveryLevel(ctx, t, alice)
		hearEveryLevelSDK(ctx, t, bob)
		before := len(logs.JSONLines("upstream log message"))
		if text, isErr := mcpgoCall(ctx, t, alice, "ev__toggle-simulated-logging", "", nil); isErr {
			t.Fatalf("toggle-simulated-logging = %q", text)
		}
		// Bob's call is the only one in flight while the messages come.
		octx, ocancel := context.WithCancel(ctx)
		done := goText(func() (string, bool, error) {
			return sdkTry(octx, bob, "ev__trigger-long-running-operation", "ev-log", map[string]any{"duration": 60, "steps": 120})
		})
		bh.waitFor(ctx, t, "bob's operation in flight", &bh.progress, func(got []string) bool {
			return slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "ev-log ") })
		})
		for len(logs.JSONLines("upstream log message")) < before+2 {
			select {
			case <-ctx.Done():
				t.Fatal("the simulated log messages never reached tsmcp's log")
			case <-time.After(50 * time.Millisecond):
			}
		}
		mcpgoCall(ctx, t, alice, "ev__toggle-simulated-logging", "", nil)
		for who, h := range map[string]*heard{"alice": &ah, "bob": &bh} {
			if got := h.snapshot(&h.logs); len(got) != 0 {
				t.Errorf("%s heard %q, want nothing", who, got)
			}
		}
		ocancel()
		<-done
	})
}

// TestBridgedRemoteExactAttribution bridges server-everything over
// Streamable HTTP (shared session): its elicitation request arrives on the
// stream of the call that caused it, which attributes it exactly, so it
// reaches that caller even while another caller's call is in flight on the
// same upstream session (over stdio it would be refused).
func TestBridgedRemoteExactAttribution(t *testing.T) {
	bin := testutil.EverythingBin(t)
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	addr := testutil.FreeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(bin, "streamableHttp")
	cmd.Env = append(os.Environ(), "PORT="+port)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("server-everything never listened")
		case <-time.After(50 * time.Millisecond):
		}
	}
	endpoint, logs := callsHostWith(ctx, t, tn, func(c *config.Config) {
		c.Upstreams = []config.Upstream{{Name: "evr", URL: "http://127.0.0.1:" + port + "/mcp", Timeout: 5 * time.Second}}
	})
	var ah, bh heard
	alice := mcpgoPeer(ctx, t, endpoint, cs[0], "alice", &ah)
	bob := sdkPeer(ctx, t, endpoint, cs[1], mcp.LATEST_LEGACY_PROTOCOL_VERSION, "bob", &bh)
	for !slices.Contains(testutil.MCPGoToolNames(ctx, t, alice), "evr__trigger-elicitation-request") {
		select {
		case <-ctx.Done():
			t.Fatal("server-everything's elicitation tool never appeared")
		case <-time.After(50 * time.Millisecond):
		}
	}
	done := goText(func() (string, bool, error) {
		return sdkTry(ctx, bob, "evr__trigger-long-running-operation", "b-op", map[string]any{"duration": 4, "steps": 8})
	})
	bh.waitFor(ctx, t, "bob's operation in flight", &bh.progress, only("b-op "))
	text, isErr := mcpgoCall(ctx, t, alice, "evr__trigger-elicitation-request", "", map[string]any{})
	if isErr || !strings.Contains(text, testAnswer("alice")) {
		t.Fatalf("elicitation with bob's call in flight = %q (isError %v); log: %v", text, isErr,
			logs.JSONLines("upstream request refused: it belongs to no single caller (no call in flight, or calls of several callers)"))
	}
	if got := <-done; !strings.Contains(got, "completed") {
		t.Errorf("bob's operation = %q", got)
	}
	if got := bh.snapshot(&bh.elicited); len(got) != 0 {
		t.Errorf("bob was asked %q", got)
	}
	if got := ah.snapshot(&ah.progress); len(got) != 0 {
		t.Errorf("alice heard bob's progress %q", got)
	}
}
