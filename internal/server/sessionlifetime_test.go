package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	mcpgotransport "github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/statestore/fakekube"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// lifetimeRun numbers the hosts of the session lifetime tests, so that
// under -count no run finds a host of a previous one by name.
var lifetimeRun atomic.Int64

// checkedSession starts an mcp-go client over hc at url (http://host/mcp),
// pinned to the last protocol with sessions (2026-07-28 has none), runs
// initialize and a whoami call that must show login, and returns the
// client (closed when the test ends) and its session ID.
func checkedSession(ctx context.Context, t *testing.T, hc *http.Client, url, login string) (*mcpgoclient.Client, string) {
	t.Helper()
	tr, err := mcpgotransport.NewStreamableHTTP(url, mcpgotransport.WithHTTPBasicClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	cl := mcpgoclient.NewClient(tr, mcpgoclient.WithProtocolVersion(mcpgo.LATEST_LEGACY_PROTOCOL_VERSION))
	testutil.StartMCPGo(ctx, t, cl, "lifetime-test") // the handshake: the pinned version is legacy
	sid := tr.GetSessionId()
	if !strings.HasPrefix(sid, "s2.") {
		t.Fatalf("session ID %q, want an s2. ID", sid)
	}
	if got, err := testutil.MCPGoCallText(ctx, cl, "whoami", nil); err != nil || !strings.Contains(got, login) {
		t.Fatalf("whoami in the new session = %q, %v; want %s", got, err, login)
	}
	return cl, sid
}

// listInSession POSTs tools/list in session sid to url as hc and returns
// the status.
func listInSession(t *testing.T, hc *http.Client, url, sid string) int {
	t.Helper()
	list := `{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{}}`
	return postMCP(t, hc, url, strings.NewReader(list), sessionHeaders(sid)).StatusCode
}

// wantUnknownSession fails t unless a tools/list POST and a GET stream in
// session sid at url, as hc, both get 404; what says where.
func wantUnknownSession(ctx context.Context, t *testing.T, hc *http.Client, url, sid, what string) {
	t.Helper()
	if got := listInSession(t, hc, url, sid); got != http.StatusNotFound {
		t.Fatalf("POST %s: status %d, want 404", what, got)
	}
	if got := sendMCP(ctx, t, hc, http.MethodGet, url, nil, sessionHeaders(sid)).StatusCode; got != http.StatusNotFound {
		t.Fatalf("GET %s: status %d, want 404", what, got)
	}
}

// TestEndedSessionStaysEndedAfterRestart: a session alice ended (DELETE,
// by mcp-go's client) stays ended when the host restarts with the same
// mcp.session_key and tailnet.state, a directory or a Kubernetes Secret
// (on the least privilege the manifests grant): the ended sessions are
// kept in the node's state, and its ID gets 404 there. Her other session,
// which the shutdown only closed (it had a GET stream), was not ended: the
// restarted host adopts it.
func TestEndedSessionStaysEndedAfterRestart(t *testing.T) {
	for _, tt := range []struct {
		name  string
		state func(t *testing.T) string
	}{
		{"a directory", func(t *testing.T) string { return t.TempDir() }},
		{"a Kubernetes Secret", func(t *testing.T) string {
			fk := fakekube.Use(t, fakekube.Options{Namespace: "tsmcp", ResourceNames: []string{"tsmcp-state"}})
			fk.CreateSecret("tsmcp-state", nil)
			return "kube:tsmcp-state"
		}},
	} {
		t.Run(tt.name, func(t *testing.T) { testEndedAfterRestart(t, tt.state(t)) })
	}
}

func testEndedAfterRestart(t *testing.T, state string) {
	tn := startTailnet(t)
	alice := tn.callers()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	name := fmt.Sprintf("restarted-%d", lifetimeRun.Add(1))
	start := func(logs *logBuffer) (*server.Server, string) {
		t.Helper()
		host, err := startHost(ctx, tn.net, name, logs, func(c *config.Config, _ *server.Options) {
			c.Tailnet.State = state
			c.Tailnet.Ephemeral = false
			c.MCP.SessionKey = replicaKey
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { host.Close() })
		return host, "http://" + host.TailnetIP().String() + "/mcp"
	}
	logs1 := &logBuffer{}
	first, url := start(logs1)
	hc := alice.httpClient()

	endedCl, ended := checkedSession(ctx, t, hc, url, alice.login)
	liveCl, live := checkedSession(ctx, t, hc, url, alice.login)
	if resp := sendMCP(ctx, t, hc, http.MethodGet, url, nil, sessionHeaders(live)); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET stream of the live session: status %d", resp.StatusCode)
	}
	endedCl.Close() // DELETE
	if got := listInSession(t, hc, url, ended); got != http.StatusNotFound {
		t.Fatalf("the ended session before the restart: status %d, want 404", got)
	}
	first.Close()
	hc.CloseIdleConnections() // their host is gone

	logs2 := &logBuffer{}
	_, url2 := start(logs2)
	if url2 != url {
		t.Fatalf("the restarted host is at %s, want %s (same state, same node)", url2, url)
	}
	if got := listInSession(t, hc, url2, ended); got != http.StatusNotFound {
		t.Errorf("the session ended before the restart: status %d, want 404\nlog after the restart:\n%s", got, logs2.String())
	}
	if got := listInSession(t, hc, url2, live); got != http.StatusOK {
		t.Errorf("the session the shutdown closed: status %d, want 200 (adopted)\nlog after the restart:\n%s", got, logs2.String())
	}
	if n := len(logs2.JSONLines("adopted a session minted by another host")); n != 1 {
		t.Errorf("the restarted host adopted %d sessions, want 1 (the live one)", n)
	}
	liveCl.Close() // its DELETE, while the host still runs
}

// TestSessionMaxAge: replica B, sharing A's mcp.session_key, adopts a
// session of A's within mcp.session_max_age (1h here), ends it once it is
// past it (404 from then on), and never adopts an ID already past it, nor
// one issued too far in its future. B's clock is moved instead of waiting:
// an ID's issue time is A's clock at minting, under the MAC.
func TestSessionMaxAge(t *testing.T) {
	tn := startTailnet(t)
	alice := tn.callers()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := lifetimeRun.Add(1)
	var ahead atomic.Int64 // B's clock: time.Now plus this
	start := func(name string, mod func(*server.Options)) (*server.Server, *logBuffer, string) {
		t.Helper()
		logs := &logBuffer{}
		host, err := startHost(ctx, tn.net, fmt.Sprintf("%s-%d", name, run), logs, func(c *config.Config, o *server.Options) {
			c.MCP.SessionKey = replicaKey
			c.MCP.SessionMaxAge = time.Hour
			if mod != nil {
				mod(o)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { host.Close() })
		return host, logs, "http://" + host.TailnetIP().String() + "/mcp"
	}
	_, _, urlA := start("maxage-a", nil)
	_, logsB, urlB := start("maxage-b", func(o *server.Options) {
		server.SetClock(o, func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) })
	})
	hc := alice.httpClient()
	adopted := func() int { return len(logsB.JSONLines("adopted a session minted by another host")) }

	t.Run("adopted within the max age, ended past it", func(t *testing.T) {
		_, sid := checkedSession(ctx, t, hc, urlA, alice.login)
		ahead.Store(int64(59 * time.Minute))
		before := adopted()
		if got := listInSession(t, hc, urlB, sid); got != http.StatusOK {
			t.Fatalf("at 59 min on B: status %d, want 200", got)
		}
		if adopted() != before+1 {
			t.Fatal("B answered without adopting the session")
		}
		ahead.Store(int64(time.Hour + time.Minute))
		wantUnknownSession(ctx, t, hc, urlB, sid, "at 61 min on B, which serves it")
		ended := false
		for _, l := range logsB.JSONLines("ended a session") {
			ended = ended || l["why"] == "past mcp.session_max_age"
		}
		if !ended {
			t.Fatal("B did not log ending the session past its max age")
		}
	})

	for _, tt := range []struct {
		name  string
		ahead time.Duration
	}{
		{"never adopted past the max age", time.Hour + time.Minute},
		{"never adopted past the max age by a day", 25 * time.Hour},
		{"never adopted when issued too far in the future", -2 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, sid := checkedSession(ctx, t, hc, urlA, alice.login)
			ahead.Store(int64(tt.ahead))
			before := adopted()
			wantUnknownSession(ctx, t, hc, urlB, sid, fmt.Sprintf("on B with its clock %s ahead", tt.ahead))
			if adopted() != before {
				t.Fatal("B adopted the session")
			}
			if got := listInSession(t, hc, urlA, sid); got != http.StatusOK {
				t.Fatalf("the same session on A: status %d, want 200", got)
			}
		})
	}
}
