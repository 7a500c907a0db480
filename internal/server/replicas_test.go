package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// Two 32-byte keys, hex: one shared by replicas A and B, one for C.
var (
	replicaKey      = strings.Repeat("5a", 32)
	otherReplicaKey = strings.Repeat("a5", 32)
)

// replicaRun numbers the replica hosts of each run, so that under -count
// no run finds a host of a previous one by name.
var replicaRun atomic.Int64

// replica is one tsmcp host of a replicated deployment.
type replica struct {
	host *server.Server
	logs *logBuffer
	url  string // http://<tailnet IP>
	addr string // <tailnet IP>
}

// startReplicas starts one host per key, at once, with fakeFeatures
// (a prompt and a resource) and a policy that lets alice, bob and the
// tagged node use everything: only session binding refuses anything.
func startReplicas(t *testing.T, tn *tailnet, mod func(name string, c *config.Config), keys ...string) []*replica {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cs := tn.callers()
	run := replicaRun.Add(1)
	out := make([]*replica, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Go(func() {
			name := fmt.Sprintf("replica-%c-%d", 'a'+i, run)
			logs := &logBuffer{}
			host, err := startHost(ctx, tn.net, name, logs, func(c *config.Config, o *server.Options) {
				c.MCP.SessionKey = key
				c.ACL.Rules = toRules([]aclRule{
					{src: cs[0].login, tools: all, prompts: all, resources: all},
					{src: cs[1].login, tools: all, prompts: all, resources: all},
					{src: "tag:ci", tools: all, prompts: all, resources: all},
				})
				o.Tools = server.Providers(tools.Builtin{}, &fakeFeatures{prompts: []string{"fake__one"}})
				if mod != nil {
					mod(name[:len("replica-a")], c)
				}
			})
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", name, err)
				return
			}
			addr := host.TailnetIP().String()
			out[i] = &replica{host: host, logs: logs, url: "http://" + addr, addr: addr}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, r := range out {
			if r != nil {
				r.host.Close()
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// switchHost sends every request to the host it currently names, as a
// Tailscale Service does when it moves to another replica: the client
// keeps its URL and its session.
type switchHost struct {
	base http.RoundTripper
	host atomic.Value // string
}

func (s *switchHost) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	h := s.host.Load().(string)
	r.URL.Host, r.Host = h, h
	return s.base.RoundTrip(r)
}

// hijackLines returns the session_hijack audit lines in logs whose caller
// is user (a login) or, for "", a tagged node.
func hijackLines(logs *logBuffer, user string) int {
	n := 0
	for _, l := range logs.JSONLines("session_hijack") {
		c, _ := l["caller"].(map[string]any)
		if c != nil && c["user"] == user && l["decision"] == "deny" {
			n++
		}
	}
	return n
}

// TestSessionMovesBetweenReplicas: a session opened on replica A by
// mcp-go's client is honoured by replica B (same mcp.session_key, never
// saw the session) for its owner, for tools, prompts and resources, with
// the same session ID; on B another user, a tagged node, a tampered ID and
// a replica with another key are refused with 404, the identities with a
// session_hijack audit line.
func TestSessionMovesBetweenReplicas(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	alice, bob, ci := cs[0], cs[1], cs[2]
	rs := startReplicas(t, tn, nil, replicaKey, replicaKey, otherReplicaKey)
	a, b, c := rs[0], rs[1], rs[2]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	sw := &switchHost{base: alice.httpClient().Transport}
	sw.host.Store(a.addr)
	cl, sid := checkedSession(ctx, t, &http.Client{Transport: sw}, a.url+"/mcp", alice.login)

	whoami := func(t *testing.T) {
		t.Helper()
		res, err := cl.CallTool(ctx, mcpgo.CallToolRequest{Params: mcpgo.CallToolParams{Name: "whoami"}})
		if err != nil {
			t.Fatalf("whoami: %v", err)
		}
		text := ""
		if len(res.Content) > 0 {
			if tc, ok := res.Content[0].(mcpgo.TextContent); ok {
				text = tc.Text
			}
		}
		if res.IsError || !strings.Contains(text, alice.login) {
			t.Fatalf("whoami = %q (error %v), want alice's identity", text, res.IsError)
		}
	}
	whoami(t)

	t.Run("B continues the session for its owner", func(t *testing.T) {
		sw.host.Store(b.addr)
		whoami(t)
		tl, err := cl.ListTools(ctx, mcpgo.ListToolsRequest{})
		if err != nil || len(tl.Tools) == 0 {
			t.Fatalf("tools/list on B: %v, %v", tl, err)
		}
		pl, err := cl.ListPrompts(ctx, mcpgo.ListPromptsRequest{})
		if err != nil || len(pl.Prompts) != 1 || pl.Prompts[0].Name != "fake__one" {
			t.Fatalf("prompts/list on B: %+v, %v", pl, err)
		}
		if _, err := cl.GetPrompt(ctx, mcpgo.GetPromptRequest{Params: mcpgo.GetPromptParams{Name: "fake__one"}}); err != nil {
			t.Fatalf("prompts/get on B: %v", err)
		}
		rl, err := cl.ListResources(ctx, mcpgo.ListResourcesRequest{})
		if err != nil || len(rl.Resources) != 1 {
			t.Fatalf("resources/list on B: %+v, %v", rl, err)
		}
		rr, err := cl.ReadResource(ctx, mcpgo.ReadResourceRequest{Params: mcpgo.ReadResourceParams{URI: rl.Resources[0].URI}})
		if err != nil || len(rr.Contents) != 1 {
			t.Fatalf("resources/read on B: %+v, %v", rr, err)
		}
		if got := cl.GetSessionId(); got != sid {
			t.Fatalf("session ID changed from %q to %q: the client re-initialized", sid, got)
		}
		if n := len(b.logs.JSONLines("adopted a session minted by another host")); n != 1 {
			t.Fatalf("B adopted %d sessions, want 1", n)
		}
		// A GET stream on B, for the notifications of this session.
		resp := sendMCP(ctx, t, alice.httpClient(), http.MethodGet, b.url+"/mcp", nil, sessionHeaders(sid))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("GET stream on B: status %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		resp.Body.Close()
		sw.host.Store(a.addr)
		whoami(t) // and back on A
	})

	list := `{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}`
	t.Run("another identity presenting the ID on B", func(t *testing.T) {
		for _, thief := range []struct {
			name  string
			c     caller
			login string
		}{{"another user", bob, bob.login}, {"a tagged node replaying a user's ID", ci, ""}} {
			t.Run(thief.name, func(t *testing.T) {
				before := hijackLines(b.logs, thief.login)
				for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
					var body io.Reader
					if method == http.MethodPost {
						body = strings.NewReader(list)
					}
					resp := sendMCP(ctx, t, thief.c.httpClient(), method, b.url+"/mcp", body, sessionHeaders(sid))
					if resp.StatusCode != http.StatusNotFound {
						t.Fatalf("%s with alice's session: status %d, want 404", method, resp.StatusCode)
					}
				}
				if got := hijackLines(b.logs, thief.login) - before; got != 3 {
					t.Fatalf("B wrote %d session_hijack lines for %s, want 3", got, thief.name)
				}
			})
		}
	})

	t.Run("a tampered ID", func(t *testing.T) {
		body := len("s2.")
		for _, tt := range []struct {
			name string
			at   int
		}{{"issue time", body + 8}, {"random", body + 20}, {"MAC", len(sid) - 3}} {
			t.Run(tt.name, func(t *testing.T) {
				bad := sid[:tt.at] + string("AB"[boolIndex(sid[tt.at] == 'A')]) + sid[tt.at+1:]
				for _, r := range []*replica{a, b} {
					resp := postMCP(t, alice.httpClient(), r.url+"/mcp", strings.NewReader(list), sessionHeaders(bad))
					if resp.StatusCode != http.StatusNotFound {
						t.Fatalf("POST to %s with a tampered ID: status %d, want 404", r.url, resp.StatusCode)
					}
				}
			})
		}
	})

	t.Run("a replica with another key", func(t *testing.T) {
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			var body io.Reader
			if method == http.MethodPost {
				body = strings.NewReader(list)
			}
			resp := sendMCP(ctx, t, alice.httpClient(), method, c.url+"/mcp", body, sessionHeaders(sid))
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("%s to C with A's session: status %d, want 404", method, resp.StatusCode)
			}
		}
		if n := len(c.logs.JSONLines("session_hijack")); n != 0 {
			t.Errorf("C logged %d session_hijack lines for an ID of another key, want 0 (it is unknown, not foreign)", n)
		}
	})

	t.Run("a legacy SSE session cannot move", func(t *testing.T) {
		endpoint, _, _ := openSSE(t, ctx, alice.httpClient(), a.url)
		q := endpoint[strings.Index(endpoint, "?"):]
		resp := postMCP(t, alice.httpClient(), b.url+"/message"+q, strings.NewReader(initializeBody), nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("alice's SSE session on B: status %d, want 404", resp.StatusCode)
		}
		before := hijackLines(b.logs, bob.login)
		resp = postMCP(t, bob.httpClient(), b.url+"/message"+q, strings.NewReader(initializeBody), nil)
		if resp.StatusCode != http.StatusNotFound || hijackLines(b.logs, bob.login) != before+1 {
			t.Fatalf("bob with alice's SSE session on B: status %d, want 404 and a session_hijack line", resp.StatusCode)
		}
		resp = postMCP(t, alice.httpClient(), sessionURL(a.url, endpoint), strings.NewReader(initializeBody), nil)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("alice's SSE session on A: status %d, want 202", resp.StatusCode)
		}
	})

	t.Run("DELETE on B", func(t *testing.T) {
		resp := sendMCP(ctx, t, alice.httpClient(), http.MethodDelete, b.url+"/mcp", nil, sessionHeaders(sid))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("DELETE on B: status %d, want 200", resp.StatusCode)
		}
		resp = postMCP(t, alice.httpClient(), b.url+"/mcp", strings.NewReader(list), sessionHeaders(sid))
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("POST on B after its DELETE: status %d, want 404", resp.StatusCode)
		}
		// A cannot know of a DELETE on B (documented): it serves the
		// session's owner until the session ends there too.
		resp = postMCP(t, alice.httpClient(), a.url+"/mcp", strings.NewReader(list), sessionHeaders(sid))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST on A after a DELETE on B: status %d, want 200", resp.StatusCode)
		}
	})
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestAdoptedSessionsCountAgainstLimits: a session B adopts holds one of
// B's mcp.limits.sessions_per_identity units until it ends there.
func TestAdoptedSessionsCountAgainstLimits(t *testing.T) {
	tn := startTailnet(t)
	alice := tn.callers()[0]
	rs := startReplicas(t, tn, func(name string, c *config.Config) {
		if name == "replica-b" {
			c.MCP.Limits.SessionsPerIdentity = 1
		}
	}, replicaKey, replicaKey)
	a, b := rs[0], rs[1]
	hc := alice.httpClient()
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}`

	var sids []string
	for range 2 {
		resp := postMCP(t, hc, a.url+"/mcp", strings.NewReader(initializeBody), nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("initialize on A: status %d", resp.StatusCode)
		}
		sids = append(sids, resp.Header.Get("Mcp-Session-Id"))
	}
	if resp := postMCP(t, hc, b.url+"/mcp", strings.NewReader(list), sessionHeaders(sids[0])); resp.StatusCode != http.StatusOK {
		t.Fatalf("first session on B: status %d, want 200", resp.StatusCode)
	}
	if resp := postMCP(t, hc, b.url+"/mcp", strings.NewReader(list), sessionHeaders(sids[1])); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second session on B (limit 1): status %d, want 429", resp.StatusCode)
	}
	found := false
	for _, l := range b.logs.JSONLines("limit") {
		found = found || l["limit"] == "mcp.limits.sessions_per_identity"
	}
	if !found {
		t.Fatal("no limit audit line for mcp.limits.sessions_per_identity on B")
	}
	if resp := sendMCP(context.Background(), t, hc, http.MethodDelete, b.url+"/mcp", nil, sessionHeaders(sids[0])); resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE of the first session on B: status %d", resp.StatusCode)
	}
	if resp := postMCP(t, hc, b.url+"/mcp", strings.NewReader(list), sessionHeaders(sids[1])); resp.StatusCode != http.StatusOK {
		t.Fatalf("second session on B after the first ended: status %d, want 200", resp.StatusCode)
	}
}
