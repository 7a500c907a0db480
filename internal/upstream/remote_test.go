package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/config"
)

type headersKey struct{}

// remoteServer is an mcp-go server on a loopback listener that the test
// can stop and restart on the same address.
type remoteServer struct {
	t       *testing.T
	mcp     *server.MCPServer
	handler http.Handler
	path    string // the URL path to bridge

	mu   sync.Mutex // guards the fields below
	addr string
	srv  *http.Server
	seen []http.Header // headers of every request
}

func newRemoteServer(t *testing.T, sseOnly bool) *remoteServer {
	t.Helper()
	s := server.NewMCPServer("remote-test", "1", server.WithToolCapabilities(true))
	s.AddTool(mcp.NewToolWithRawSchema("echo", "Echoes text", json.RawMessage(echoSchema)),
		func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText(req.GetString("text", "")), nil
		})
	s.AddTool(mcp.NewTool("who", mcp.WithDescription("The caller headers the server saw")),
		func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			h, _ := ctx.Value(headersKey{}).(http.Header)
			return mcp.NewToolResultText(h.Get(headerCallerLogin) + "|" + h.Get("Authorization")), nil
		})
	r := &remoteServer{t: t, mcp: s}
	withHeaders := func(ctx context.Context, req *http.Request) context.Context {
		return context.WithValue(ctx, headersKey{}, req.Header.Clone())
	}
	if sseOnly {
		sse := server.NewSSEServer(s, server.WithSSEContextFunc(withHeaders))
		mux := http.NewServeMux()
		mux.Handle("/sse", sse.SSEHandler())
		mux.Handle("/message", sse.MessageHandler())
		r.handler, r.path = mux, "/sse"
		t.Cleanup(func() { _ = sse.Shutdown(context.Background()) })
	} else {
		st := server.NewStreamableHTTPServer(s, server.WithHTTPContextFunc(withHeaders))
		r.handler, r.path = st, "/mcp"
		t.Cleanup(func() { _ = st.Shutdown(context.Background()) })
	}
	r.start("127.0.0.1:0")
	t.Cleanup(r.stop)
	return r
}

func (r *remoteServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.seen = append(r.seen, req.Header.Clone())
	r.mu.Unlock()
	r.handler.ServeHTTP(w, req)
}

func (r *remoteServer) start(addr string) {
	r.t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		r.t.Fatal(err)
	}
	srv := &http.Server{Handler: r}
	r.mu.Lock()
	r.addr, r.srv = ln.Addr().String(), srv
	r.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			r.t.Errorf("serve: %v", err)
		}
	}()
}

func (r *remoteServer) stop() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (r *remoteServer) url() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return "http://" + r.addr + r.path
}

// headerValues returns every value of header name the server received.
func (r *remoteServer) headerValues(name string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var vs []string
	for _, h := range r.seen {
		if v := h.Get(name); v != "" {
			vs = append(vs, v)
		}
	}
	return vs
}

func TestRemoteUpstreams(t *testing.T) {
	tests := []struct {
		name      string
		sseOnly   bool
		transport string // the session kind the bridge must settle on
	}{
		{name: "streamable HTTP", transport: "streamable-http"},
		{name: "SSE-only server: fallback", sseOnly: true, transport: "sse"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRemoteServer(t, tc.sseOnly)
			u := config.Upstream{Name: "r", URL: srv.url(), Headers: map[string]string{"Authorization": `Bearer {{env "REMOTE_TOKEN"}}`}}
			opts := testOptions()
			opts.LookupEnv = func(name string) (string, bool) {
				if name == "REMOTE_TOKEN" {
					return "s3cret-token", true
				}
				return "", false
			}
			h := newHarness(t, []config.Upstream{u}, opts)
			ctx := context.Background()

			echo := h.tool("r__echo")
			if string(echo.Tool.RawInputSchema) != echoSchema {
				t.Errorf("input schema = %s, want %s", echo.Tool.RawInputSchema, echoSchema)
			}
			wantText(t, h.call(ctx, "r__echo", map[string]any{"text": "over http"}), "over http")
			// A shared upstream gets no caller headers, even for an
			// identified caller.
			wantText(t, h.call(alice(ctx), "r__who", nil), "|Bearer s3cret-token")
			ups := h.logs.JSONLines("upstream up")
			if len(ups) == 0 || ups[len(ups)-1]["transport"] != tc.transport {
				t.Errorf("upstream up records %v, want transport %s", ups, tc.transport)
			}
			if strings.Contains(h.logs.String(), "s3cret-token") {
				t.Errorf("a header value (a secret) is in the log")
			}

			// list_changed from the server reaches the callback and Tools.
			drain(h.changed)
			srv.mcp.AddTool(mcp.NewTool("late", mcp.WithDescription("Added later")),
				func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
					return mcp.NewToolResultText("late"), nil
				})
			select {
			case <-h.changed:
			case <-time.After(guard):
				t.Fatal("no OnToolsChanged after the server's list_changed")
			}
			wantText(t, h.call(ctx, "r__late", nil), "late")
		})
	}
}

func TestRemoteDownAndBack(t *testing.T) {
	srv := newRemoteServer(t, false)
	opts := testOptions()
	opts.PingInterval = 20 * time.Millisecond
	h := newHarness(t, []config.Upstream{{Name: "r", URL: srv.url()}}, opts)
	ctx := context.Background()
	wantText(t, h.call(ctx, "r__echo", map[string]any{"text": "1"}), "1")

	addr := strings.TrimSuffix(strings.TrimPrefix(srv.url(), "http://"), "/mcp")
	srv.stop()
	waitFor(t, "the bridge to notice the server is gone", func() bool {
		s := h.status("r")
		return !s.Up && strings.Contains(s.Detail, "restarting")
	})
	waitFor(t, "calls to fail fast while the server is down", func() bool {
		return resultText(h.call(ctx, "r__echo", map[string]any{"text": "x"})) == "upstream r is unavailable"
	})
	// The tools stay listed while the upstream is down.
	h.tool("r__echo")

	srv.start(addr)
	h.waitStatus("r", true)
	wantText(t, h.call(ctx, "r__echo", map[string]any{"text": "2"}), "2")
}

func TestRemotePerIdentitySessions(t *testing.T) {
	srv := newRemoteServer(t, false)
	u := config.Upstream{Name: "r", URL: srv.url(), Isolation: config.IsolationPerIdentity}
	h := newHarness(t, []config.Upstream{u}, testOptions())
	bg := context.Background()
	tests := []struct {
		name string
		ctx  context.Context
		want string
	}{
		{name: "alice", ctx: alice(bg), want: "alice@example.com|"},
		{name: "bob", ctx: bob(bg), want: "bob@example.com|"},
		{name: "tagged node", ctx: ciNode(bg), want: "|"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantText(t, h.in(t).call(tc.ctx, "r__who", nil), tc.want)
		})
	}
	if got := h.status("r"); got.PerIdentity != 3 || got.Detail != "" {
		t.Errorf("status = %+v, want 3 per-identity sessions and no detail", got)
	}
	if tags := srv.headerValues(headerCallerTags); len(tags) == 0 || tags[len(tags)-1] != "tag:ci,tag:prod" {
		t.Errorf("%s values %v", headerCallerTags, tags)
	}
}

// A configured header named like a caller header, in any case, must not
// reach a per-identity session in place of the real caller's value.
func TestRemotePerIdentityHeadersOverrideConfig(t *testing.T) {
	srv := newRemoteServer(t, false)
	u := config.Upstream{Name: "r", URL: srv.url(), Isolation: config.IsolationPerIdentity,
		Headers: map[string]string{"x-tsmcp-caller-login": "forged"}}
	h := newHarness(t, []config.Upstream{u}, testOptions())
	ctx := alice(context.Background())
	// Every request iterates the header map anew: with two keys differing
	// in case, a forged value would win about half the time.
	for range 20 {
		wantText(t, h.call(ctx, "r__who", nil), "alice@example.com|")
	}
}

func TestHeaderTemplates(t *testing.T) {
	env := map[string]string{"TOKEN": "tok-value"}
	lookup := func(n string) (string, bool) { v, ok := env[n]; return v, ok }
	tests := []struct {
		name    string
		headers map[string]string
		want    map[string]string
		err     string
	}{
		{name: "env", headers: map[string]string{"Authorization": `Bearer {{env "TOKEN"}}`}, want: map[string]string{"Authorization": "Bearer tok-value"}},
		{name: "plain", headers: map[string]string{"X-A": "b"}, want: map[string]string{"X-A": "b"}},
		{name: "name canonicalized", headers: map[string]string{"x-tsmcp-caller-login": "b"}, want: map[string]string{headerCallerLogin: "b"}},
		{name: "missing variable", headers: map[string]string{"Authorization": `Bearer {{env "NOPE"}}`},
			err: `upstreams[2].headers.Authorization: environment variable "NOPE" is not set`},
		{name: "secret read, then a missing variable", headers: map[string]string{"Authorization": `Bearer {{env "TOKEN"}}{{env "NOPE"}}`},
			err: `upstreams[2].headers.Authorization: environment variable "NOPE" is not set`},
		{name: "bad template", headers: map[string]string{"X-A": `{{env`}, err: `upstreams[2].headers.X-A: invalid template`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveHeaders(2, tc.headers, lookup)
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Fatalf("err = %v, want prefix %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "tok-value") {
					t.Errorf("error contains a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}

	// New reports the key too, and starts nothing.
	_, err := New([]config.Upstream{
		{Name: "ok", URL: "http://127.0.0.1:1/mcp"},
		{Name: "bad", URL: "http://127.0.0.1:1/mcp", Headers: map[string]string{"Authorization": `{{env "TSMCP_TEST_SURELY_UNSET"}}`}},
	}, Options{LookupEnv: lookup})
	if err == nil || err.Error() != `upstreams[1].headers.Authorization: environment variable "TSMCP_TEST_SURELY_UNSET" is not set` {
		t.Errorf("New: %v", err)
	}
}
