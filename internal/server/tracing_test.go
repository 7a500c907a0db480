package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	mcpgotransport "github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// addTraceTool adds traceparent to the stdio test server: it answers with
// the traceparent its request's _meta carried ("" when none).
func addTraceTool(s *mcpserver.MCPServer) {
	s.AddTool(mcp.NewTool("traceparent"), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		tp := ""
		if m := req.Params.Meta; m != nil {
			tp, _ = m.AdditionalFields["traceparent"].(string)
		}
		return mcp.NewToolResultText(tp), nil
	})
}

// Values that must never reach a span: the http tool's header secret
// (from the environment) and an argument value.
const (
	traceSecret = "tr4ce-s3cret-token"
	traceArg    = "tr4ce-argument-marker"
)

// headerLog records the values of one header seen by a test target, per
// request path.
type headerLog struct {
	mu   sync.Mutex // guards the field below
	seen []string
}

func (h *headerLog) add(v string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen = append(h.seen, v)
}

func (h *headerLog) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen...)
}

// TestTracesEndToEnd: a host with a TracerProvider exporting over real
// OTLP/HTTP to a receiver in the test. Callers on the tailnet call
// whoami, an http tool, a bridged stdio tool and a bridged url tool over
// both transports, and a refused call: each call is one trace, a server
// span named by the MCP semantic conventions with their attributes and
// the audit's decision and outcome, with a client span per upstream or
// HTTP request under it; the http tool's target and the upstreams get the
// client span's traceparent (header, _meta); no attribute holds the
// secret, an argument or a caller's login.
func TestTracesEndToEnd(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	alice, bob := cs[0], cs[1]

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	rc := testutil.NewOTLPReceiver(t)
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(rc.URL+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "tsmcp-test"))))
	defer tp.Shutdown(context.Background())

	var fetchTP, fetchAuth headerLog
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetchTP.add(r.Header.Get("Traceparent"))
		fetchAuth.add(r.Header.Get("Authorization"))
		io.WriteString(w, "fetched")
	}))
	defer target.Close()
	t.Setenv("TRACE_TEST_TOKEN", traceSecret)

	// A url upstream: mcp-go's Streamable HTTP server, recording the
	// traceparent header of each tools/call.
	var remoteTP headerLog
	rs := mcpserver.NewMCPServer("remote-test", "1", mcpserver.WithToolCapabilities(true))
	addTraceTool(rs)
	remoteMCP := mcpserver.NewStreamableHTTPServer(rs)
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			if strings.Contains(string(b), `"tools/call"`) {
				remoteTP.add(r.Header.Get("Traceparent"))
			}
			r.Body = io.NopCloser(strings.NewReader(string(b)))
		}
		remoteMCP.ServeHTTP(w, r)
	}))
	defer remote.Close()

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	host, err := startHost(ctx, tn.net, "traced", logs, func(c *config.Config, o *server.Options) {
		o.TracerProvider = tp
		c.ACL = acl.Config{Rules: []acl.Rule{
			{Src: []string{alice.login}, Tools: []string{"*"}},
			{Src: []string{bob.login}, Tools: []string{"whoami"}},
		}}
		c.Tools = []config.Tool{
			{Name: "fetch", HTTP: &config.HTTPTool{URL: target.URL + "/items?q={{.q}}",
				Headers:    map[string]string{"Authorization": `Bearer {{env "TRACE_TEST_TOKEN"}}`},
				AllowHosts: []string{"127.0.0.1"}},
				Params: map[string]config.Param{"q": {Required: true}}},
		}
		c.Upstreams = []config.Upstream{
			{Name: "up", Command: []string{self}, Env: map[string]string{stdioServerEnv: "trace"}},
			{Name: "rem", URL: remote.URL + "/mcp"},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	base := "http://" + host.TailnetIP().String()

	connect := func(t *testing.T, transport string, c caller, headers map[string]string) *mcpgoclient.Client {
		t.Helper()
		var cl *mcpgoclient.Client
		var err error
		if transport == "sse" {
			cl, err = mcpgoclient.NewSSEMCPClient(base+"/sse", mcpgotransport.WithHTTPClient(c.httpClient()), mcpgotransport.WithHeaders(headers))
		} else {
			cl, err = mcpgoclient.NewStreamableHttpClient(base+"/mcp", mcpgotransport.WithHTTPBasicClient(c.httpClient()), mcpgotransport.WithHTTPHeaders(headers))
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		if err := cl.Start(ctx); err != nil {
			t.Fatal(err)
		}
		// A protocol with sessions (the stateless 2026-07-28 one has
		// none), so that spans carry mcp.session.id.
		init := mcp.InitializeRequest{}
		init.Params.ProtocolVersion = mcp.ProtocolVersion20251125
		init.Params.ClientInfo = mcp.Implementation{Name: "trace-test", Version: "1"}
		if _, err := cl.Initialize(ctx, init); err != nil {
			t.Fatal(err)
		}
		return cl
	}
	call := func(t *testing.T, cl *mcpgoclient.Client, name string, args map[string]any) (string, error) {
		t.Helper()
		return testutil.MCPGoCallText(ctx, cl, name, args)
	}

	// traceOf waits until the server span named name (the only server
	// span since the first `from` spans) and nClients client spans have
	// been exported, and returns them. Every span since `from` must be in
	// the server span's trace: one trace per call.
	traceOf := func(t *testing.T, from int, name string, nClients int) (srv testutil.Span, clients []testutil.Span, next int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			if err := tp.ForceFlush(ctx); err != nil {
				t.Fatal(err)
			}
			all := rc.Spans()
			spans := all[from:]
			var servers []testutil.Span
			clients = nil
			for _, s := range spans {
				switch s.Kind {
				case tracepb.Span_SPAN_KIND_SERVER:
					servers = append(servers, s)
				case tracepb.Span_SPAN_KIND_CLIENT:
					clients = append(clients, s)
				}
			}
			if len(servers) == 1 && len(clients) >= nClients {
				srv = servers[0]
				if srv.Name != name {
					t.Fatalf("server span %q, want %q", srv.Name, name)
				}
				if len(clients) != nClients || len(spans) != 1+nClients {
					t.Fatalf("%d spans for %s (%d client spans), want 1 server and %d client spans: %+v", len(spans), name, len(clients), nClients, spans)
				}
				for _, s := range spans {
					if s.TraceID != srv.TraceID {
						t.Errorf("span %q is in trace %s, not in the call's %s", s.Name, s.TraceID, srv.TraceID)
					}
				}
				for _, c := range clients {
					if c.ParentSpanID != srv.SpanID {
						t.Errorf("client span %q has parent %s, want the server span %s", c.Name, c.ParentSpanID, srv.SpanID)
					}
				}
				return srv, clients, len(all)
			}
			if len(servers) > 1 {
				t.Fatalf("%d server spans for one call: %+v", len(servers), servers)
			}
			if time.Now().After(deadline) {
				t.Fatalf("no complete trace for %s: %d server and %d client spans: %+v", name, len(servers), len(clients), spans)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	hasAttrs := func(t *testing.T, s testutil.Span, want map[string]string) {
		t.Helper()
		for k, v := range want {
			got, ok := s.Attrs[k]
			switch {
			case !ok:
				t.Errorf("span %q lacks %s (want %q); has %v", s.Name, k, v, s.Attrs)
			case v != "*" && got != v:
				t.Errorf("span %q: %s = %q, want %q", s.Name, k, got, v)
			}
		}
	}
	lacks := func(t *testing.T, s testutil.Span, keys ...string) {
		t.Helper()
		for _, k := range keys {
			if v, ok := s.Attrs[k]; ok {
				t.Errorf("span %q has %s = %q, want none", s.Name, k, v)
			}
		}
	}
	traceparent := func(s testutil.Span) string { return "00-" + s.TraceID + "-" + s.SpanID + "-01" }

	for _, transport := range []string{"streamable", "sse"} {
		t.Run(transport, func(t *testing.T) {
			ac := connect(t, transport, alice, nil)
			bc := connect(t, transport, bob, nil)
			// Everything the two handshakes started is exported first:
			// their last requests are notifications/initialized.
			deadline := time.Now().Add(20 * time.Second)
			for {
				if err := tp.ForceFlush(ctx); err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, s := range rc.Spans() {
					if s.Name == "notifications/initialized" && s.Attrs["tsmcp.transport"] == transport {
						n++
					}
				}
				if n == 2 {
					break
				}
				if time.Now().After(deadline) {
					var names []string
					for _, s := range rc.Spans() {
						names = append(names, s.Name+"/"+s.Attrs["tsmcp.transport"])
					}
					t.Fatalf("%d notifications/initialized spans on %s, want 2; spans: %q", n, transport, names)
				}
				time.Sleep(20 * time.Millisecond)
			}
			from := len(rc.Spans())
			common := map[string]string{
				"mcp.method.name":    "tools/call",
				"mcp.session.id":     "*",
				"jsonrpc.request.id": "*",
				"network.transport":  "tcp",
				"tsmcp.transport":    transport,
				"tsmcp.caller.kind":  "user",
			}
			if transport == "streamable" {
				common["mcp.protocol.version"] = "*"
			}
			with := func(extra map[string]string) map[string]string {
				m := map[string]string{}
				for k, v := range common {
					m[k] = v
				}
				for k, v := range extra {
					m[k] = v
				}
				return m
			}

			t.Run("whoami", func(t *testing.T) {
				if _, err := call(t, ac, "whoami", nil); err != nil {
					t.Fatal(err)
				}
				srv, _, next := traceOf(t, from, "tools/call whoami", 0)
				from = next
				hasAttrs(t, srv, with(map[string]string{"gen_ai.tool.name": "whoami",
					"tsmcp.decision": "allow", "tsmcp.outcome": "ok"}))
				lacks(t, srv, "error.type")
				if srv.ParentSpanID != "" {
					t.Errorf("the call's server span has parent %s; the caller sent no traceparent", srv.ParentSpanID)
				}
			})
			t.Run("http tool", func(t *testing.T) {
				before := len(fetchTP.all())
				if out, err := call(t, ac, "fetch", map[string]any{"q": traceArg}); err != nil || out != "fetched" {
					t.Fatalf("fetch = %q, %v", out, err)
				}
				srv, clients, next := traceOf(t, from, "tools/call fetch", 1)
				from = next
				hasAttrs(t, srv, with(map[string]string{"gen_ai.tool.name": "fetch",
					"tsmcp.decision": "allow", "tsmcp.outcome": "ok"}))
				c := clients[0]
				if c.Name != "GET" {
					t.Errorf("http tool's client span %q, want GET", c.Name)
				}
				hasAttrs(t, c, map[string]string{"http.request.method": "GET", "server.address": "127.0.0.1",
					"server.port": "*", "http.response.status_code": "200"})
				seen := fetchTP.all()
				if len(seen) != before+1 || seen[before] != traceparent(c) {
					t.Errorf("the http tool's target saw traceparent %q, want %q (the client span's)", seen[before:], traceparent(c))
				}
				if auth := fetchAuth.all(); auth[len(auth)-1] != "Bearer "+traceSecret {
					t.Errorf("the target saw Authorization %q: the test's secret was not sent", auth[len(auth)-1])
				}
			})
			t.Run("bridged stdio tool", func(t *testing.T) {
				out, err := call(t, ac, "up__traceparent", map[string]any{"note": traceArg})
				if err != nil {
					t.Fatal(err)
				}
				srv, clients, next := traceOf(t, from, "tools/call up__traceparent", 1)
				from = next
				hasAttrs(t, srv, with(map[string]string{"gen_ai.tool.name": "up__traceparent", "tsmcp.outcome": "ok"}))
				c := clients[0]
				if c.Name != "tools/call traceparent" {
					t.Errorf("upstream client span %q, want %q", c.Name, "tools/call traceparent")
				}
				hasAttrs(t, c, map[string]string{"mcp.method.name": "tools/call", "gen_ai.tool.name": "traceparent",
					"tsmcp.upstream": "up", "network.transport": "pipe"})
				if out != traceparent(c) {
					t.Errorf("the stdio child got _meta.traceparent %q, want %q (the client span's)", out, traceparent(c))
				}
			})
			t.Run("bridged url tool", func(t *testing.T) {
				before := len(remoteTP.all())
				out, err := call(t, ac, "rem__traceparent", nil)
				if err != nil {
					t.Fatal(err)
				}
				_, clients, next := traceOf(t, from, "tools/call rem__traceparent", 1)
				from = next
				c := clients[0]
				hasAttrs(t, c, map[string]string{"tsmcp.upstream": "rem", "network.transport": "tcp", "server.address": "127.0.0.1"})
				if out != traceparent(c) {
					t.Errorf("the url upstream got _meta.traceparent %q, want %q", out, traceparent(c))
				}
				seen := remoteTP.all()
				if len(seen) != before+1 || seen[before] != traceparent(c) {
					t.Errorf("the url upstream saw traceparent headers %q, want [%q]", seen[before:], traceparent(c))
				}
			})
			t.Run("refused call", func(t *testing.T) {
				before := len(fetchTP.all())
				if _, err := call(t, bc, "fetch", map[string]any{"q": traceArg}); err == nil {
					t.Fatal("bob called fetch, which his policy does not allow")
				}
				srv, _, next := traceOf(t, from, "tools/call fetch", 0)
				from = next
				hasAttrs(t, srv, with(map[string]string{"tsmcp.decision": "deny", "tsmcp.outcome": "refused", "error.type": "refused"}))
				if n := len(fetchTP.all()); n != before {
					t.Errorf("a refused call reached the http tool's target")
				}
			})
		})
	}

	t.Run("the caller's traceparent is the parent", func(t *testing.T) {
		const (
			traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
			spanID  = "00f067aa0ba902b7"
		)
		cl := connect(t, "streamable", alice, map[string]string{"traceparent": "00-" + traceID + "-" + spanID + "-01"})
		if _, err := call(t, cl, "whoami", nil); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			if err := tp.ForceFlush(ctx); err != nil {
				t.Fatal(err)
			}
			var found *testutil.Span
			for _, s := range rc.Spans() {
				if s.Name == "tools/call whoami" && s.TraceID == traceID {
					found = &s
				}
			}
			if found != nil {
				if found.ParentSpanID != spanID {
					t.Errorf("server span's parent %s, want the caller's %s", found.ParentSpanID, spanID)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no tools/call whoami span in the caller's trace")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	// Nothing secret or identifying in any name, attribute or status.
	for _, s := range rc.Spans() {
		texts := []string{s.Name, s.StatusMessage}
		for k, v := range s.Attrs {
			texts = append(texts, k+"="+v)
		}
		for k, v := range s.Resource {
			texts = append(texts, k+"="+v)
		}
		for _, txt := range texts {
			for _, bad := range []string{traceSecret, traceArg, alice.login, bob.login} {
				if strings.Contains(txt, bad) {
					t.Errorf("span %q records %q, which holds %q", s.Name, txt, bad)
				}
			}
		}
	}
}
