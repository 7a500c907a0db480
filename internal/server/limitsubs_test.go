package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	mcpgotransport "github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// subsHost starts a host with testLimits (then mod, if any) bridging the
// stdio test server in its "limits" mode (limitsChild) as the shared
// upstream "subs", everything allowed to everyone. It is stopped when the
// test ends.
func subsHost(t *testing.T, name string, mod func(*config.Config)) (base string, logs *logBuffer) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ups := []config.Upstream{{Name: "subs", Command: []string{self}, Env: map[string]string{stdioServerEnv: "limits"}, Timeout: 30 * time.Second}}
	host, logs := startLimitsHost(t, name, func(c *config.Config, _ *server.Options) {
		c.ACL = acl.Config{Rules: []acl.Rule{{Src: []string{"*"}, Tools: all, Prompts: all, Resources: all}}}
		c.Upstreams = ups
		if mod != nil {
			mod(c)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitUpstreamsUp(ctx, t, host, ups)
	return "http://" + host.TailnetIP().String(), logs
}

// legacySession opens an mcp-go Streamable HTTP session as c, pinned to
// 2025-11-25 (the protocol of resources/subscribe); it is closed (DELETE)
// when the test ends.
func legacySession(ctx context.Context, t *testing.T, base string, c caller) *mcpgoclient.Client {
	t.Helper()
	tr, err := mcpgotransport.NewStreamableHTTP(base+"/mcp", mcpgotransport.WithHTTPBasicClient(c.httpClient()))
	if err != nil {
		t.Fatal(err)
	}
	return startLegacy(ctx, t, tr, "limits-test")
}

// item is the URI clients see of the test server's resource test://item/n.
func item(n int) string { return fmt.Sprintf("subs+test://item/%d", n) }

func subscribe(ctx context.Context, cl *mcpgoclient.Client, uri string) error {
	req := mcpgo.SubscribeRequest{}
	req.Params.URI = uri
	return cl.Subscribe(ctx, req)
}

func unsubscribe(ctx context.Context, cl *mcpgoclient.Client, uri string) error {
	req := mcpgo.UnsubscribeRequest{}
	req.Params.URI = uri
	return cl.Unsubscribe(ctx, req)
}

// upstreamSubs asks the test server, through cl, what it was sent.
func upstreamSubs(ctx context.Context, t *testing.T, cl *mcpgoclient.Client) subState {
	t.Helper()
	text, err := testutil.MCPGoCallText(ctx, cl, "subs__substate", nil)
	if err != nil {
		t.Fatalf("substate: %v", err)
	}
	var st subState
	if err := json.Unmarshal([]byte(text), &st); err != nil {
		t.Fatalf("substate %q: %v", text, err)
	}
	return st
}

// origs are the test server's URIs of items ns.
func origs(ns ...int) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, fmt.Sprintf("test://item/%d", n))
	}
	slices.Sort(out)
	return out
}

// wantLimitAudit fails unless the host audited a refusal by limit.
func wantLimitAudit(t *testing.T, logs *logBuffer, limit string) {
	t.Helper()
	for _, l := range logs.JSONLines("limit") {
		if l["limit"] == limit && l["log"] == "audit" {
			return
		}
	}
	t.Fatalf("no limit audit line for %s", limit)
}

// TestSubscriptionFanIn: however many sessions subscribe to one URI, and
// however they come and go, the shared upstream is sent one
// resources/subscribe while anyone holds it and is unsubscribed when the
// last goes (by unsubscribing or by ending its session); it is never
// left unsubscribed under a subscriber nor subscribed twice.
func TestSubscriptionFanIn(t *testing.T) {
	base, _ := subsHost(t, "limits-fanin", func(c *config.Config) {
		c.MCP.Limits.SessionsPerIdentity, c.MCP.Limits.SessionsTotal = 8, 16
		c.MCP.Limits.CallsPerIdentity, c.MCP.Limits.CallsTotal = 16, 32
	})
	cs := startTailnet(t).callers()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	observer := legacySession(ctx, t, base, cs[2])
	var sessions []*mcpgoclient.Client
	for i := range 6 {
		sessions = append(sessions, legacySession(ctx, t, base, cs[i%2]))
	}
	each := func(f func(i int, cl *mcpgoclient.Client) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, len(sessions))
		for i, cl := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = f(i, cl)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("session %d: %v", i, err)
			}
		}
	}
	uri := item(1)
	each(func(_ int, cl *mcpgoclient.Client) error { return subscribe(ctx, cl, uri) })
	if st := upstreamSubs(ctx, t, observer); st.Subscribes != 1 || !slices.Equal(st.Active, origs(1)) {
		t.Fatalf("6 sessions subscribed at once: upstream got %+v, want one subscribe", st)
	}

	// All leave but the first; then two sessions come and go at once, so
	// that the URI's last subscriber leaves as another comes, again and
	// again; then the first is the only one left.
	each(func(i int, cl *mcpgoclient.Client) error {
		if i == 0 {
			return nil
		}
		return unsubscribe(ctx, cl, uri)
	})
	if err := unsubscribe(ctx, sessions[0], uri); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 40 {
				if errs[i] = subscribe(ctx, sessions[i], uri); errs[i] != nil {
					return
				}
				if errs[i] = unsubscribe(ctx, sessions[i], uri); errs[i] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := subscribe(ctx, sessions[0], uri); err != nil {
		t.Fatal(err)
	}
	st := upstreamSubs(ctx, t, observer)
	t.Logf("after the churn: %+v", st)
	if !slices.Equal(st.Active, origs(1)) || st.Dups != 0 || st.Subscribes != st.Unsubscribes+1 {
		t.Fatalf("after the churn, one session subscribed: upstream %+v, want %s subscribed, never twice", st, origs(1))
	}

	// A subscriber that comes while the upstream's subscribe is under way
	// is answered once that subscribe has taken effect, not before.
	slow := "subs+test://slowsub/1"
	firstDone, secondDone := make(chan error, 1), make(chan error, 1)
	go func() { firstDone <- subscribe(ctx, sessions[1], slow) }()
	eventually(t, "the upstream's subscribe is under way", func() bool { return upstreamSubs(ctx, t, observer).Pending == 1 })
	go func() { secondDone <- subscribe(ctx, sessions[2], slow) }()
	select {
	case err := <-secondDone:
		t.Fatalf("the second subscriber was answered (%v) while the upstream's subscribe was under way: %+v", err, upstreamSubs(ctx, t, observer))
	case <-time.After(time.Second): // long enough for a wrong answer to come
	}
	if _, err := testutil.MCPGoCallText(ctx, observer, "subs__release", nil); err != nil {
		t.Fatal(err)
	}
	for _, done := range []chan error{firstDone, secondDone} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if st := upstreamSubs(ctx, t, observer); !slices.Contains(st.Active, "test://slowsub/1") || st.Dups != 0 {
		t.Fatalf("upstream %+v, want test://slowsub/1 subscribed once", st)
	}
	for _, i := range []int{1, 2} {
		if err := unsubscribe(ctx, sessions[i], slow); err != nil {
			t.Fatal(err)
		}
	}

	// The last subscriber's session ends: the upstream is unsubscribed.
	sessions[0].Close()
	eventually(t, "the upstream is unsubscribed when the last subscriber's session ends", func() bool {
		return len(upstreamSubs(ctx, t, observer).Active) == 0
	})
}

// TestSubscriptionLimits: past mcp.limits.subscriptions_per_session on one
// session, and past subscriptions_per_identity over an identity's
// sessions, a resources/subscribe gets a JSON-RPC error, is audited, and
// never reaches the upstream; subscribing again to a URI held costs
// nothing; unsubscribing frees a place; another identity is unaffected.
func TestSubscriptionLimits(t *testing.T) {
	base, logs := subsHost(t, "limits-subs", func(c *config.Config) { c.MCP.Limits.SessionsTotal = 8 }) // 3 per session, 4 per identity
	cs := startTailnet(t).callers()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	observer := legacySession(ctx, t, base, cs[2])
	a1, a2 := legacySession(ctx, t, base, cs[0]), legacySession(ctx, t, base, cs[0])
	bob := legacySession(ctx, t, base, cs[1])

	for n := 1; n <= 3; n++ {
		if err := subscribe(ctx, a1, item(n)); err != nil {
			t.Fatalf("alice's session 1, item %d: %v", n, err)
		}
	}
	err := subscribe(ctx, a1, item(4))
	if err == nil || !strings.Contains(err.Error(), "too many resource subscriptions") {
		t.Fatalf("alice's 4th subscription on one session: %v, want a too-many-subscriptions error", err)
	}
	wantLimitAudit(t, logs, "mcp.limits.subscriptions_per_session")
	if err := subscribe(ctx, a1, item(1)); err != nil {
		t.Fatalf("subscribing again to a URI held: %v", err)
	}
	if err := subscribe(ctx, a2, item(5)); err != nil {
		t.Fatalf("alice's 4th subscription, on her second session: %v", err)
	}
	err = subscribe(ctx, a2, item(6))
	if err == nil || !strings.Contains(err.Error(), "too many resource subscriptions") {
		t.Fatalf("alice's 5th subscription: %v, want a too-many-subscriptions error", err)
	}
	wantLimitAudit(t, logs, "mcp.limits.subscriptions_per_identity")
	if st := upstreamSubs(ctx, t, observer); st.Subscribes != 4 || !slices.Equal(st.Active, origs(1, 2, 3, 5)) {
		t.Fatalf("upstream got %+v, want only the 4 subscriptions allowed", st)
	}

	for n := 7; n <= 9; n++ {
		if err := subscribe(ctx, bob, item(n)); err != nil {
			t.Fatalf("bob, item %d, while alice is refused: %v", n, err)
		}
	}
	if err := unsubscribe(ctx, a1, item(1)); err != nil {
		t.Fatal(err)
	}
	if err := subscribe(ctx, a2, item(6)); err != nil {
		t.Fatalf("alice after unsubscribing one: %v", err)
	}
	if st := upstreamSubs(ctx, t, observer); !slices.Equal(st.Active, origs(2, 3, 5, 6, 7, 8, 9)) {
		t.Fatalf("upstream subscribed to %v, want %v", st.Active, origs(2, 3, 5, 6, 7, 8, 9))
	}
	a1.Close() // its session ends: its subscriptions go
	eventually(t, "the ended session's subscriptions are unsubscribed upstream", func() bool {
		return slices.Equal(upstreamSubs(ctx, t, observer).Active, origs(5, 6, 7, 8, 9))
	})
}

// listenBody is a 2026-07-28 subscriptions/listen request for uris (and
// tools/list_changed).
func listenBody(id int, uris ...string) string {
	b, _ := json.Marshal(uris)
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true,"resourceSubscriptions":%s},%s}}`, id, b, statelessMeta)
}

// listen opens a subscriptions/listen stream as hc and waits for its
// subscriptions/acknowledged; the stream stays open until ctx ends.
func listen(ctx context.Context, t *testing.T, hc *http.Client, base string, uris ...string) {
	t.Helper()
	resp := statelessPost(ctx, t, hc, base+"/mcp", "subscriptions/listen", "", listenBody(1, uris...))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("listen: status %d: %s", resp.StatusCode, readAll(resp))
	}
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("listen: the stream ended before its acknowledgement: %v", err)
		}
		if strings.Contains(line, "error") {
			t.Fatalf("listen: %s", line)
		}
		if strings.Contains(line, "subscriptions/acknowledged") {
			return
		}
	}
}

// firstMessage reads resp's body up to its first JSON-RPC message (the
// body itself, or its first SSE event's data) and closes it: a listen
// stream that was not refused never ends.
func firstMessage(resp *http.Response) string {
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		line = strings.TrimSpace(line)
		if data, ok := strings.CutPrefix(line, "data:"); ok {
			return strings.TrimSpace(data)
		}
		if strings.HasPrefix(line, "{") || err != nil {
			return line
		}
	}
}

// TestListenURIsLimit: a stateless subscriptions/listen naming more URIs
// than mcp.limits.subscriptions_per_session gets a JSON-RPC error, is
// audited, and sends nothing upstream.
func TestListenURIsLimit(t *testing.T) {
	base, logs := subsHost(t, "limits-listen-uris", nil) // 3 per session
	cs := startTailnet(t).callers()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	observer := legacySession(ctx, t, base, cs[2])

	resp := statelessPost(ctx, t, cs[0].httpClient(), base+"/mcp", "subscriptions/listen", "", listenBody(1, item(1), item(2), item(3), item(4)))
	if msg := firstMessage(resp); !strings.Contains(msg, `"error"`) || !strings.Contains(msg, "too many resource subscriptions") {
		t.Fatalf("a listen naming 4 URIs: status %d %q, want a too-many-subscriptions error", resp.StatusCode, msg)
	}
	wantLimitAudit(t, logs, "mcp.limits.subscriptions_per_session")
	if st := upstreamSubs(ctx, t, observer); st.Subscribes != 0 {
		t.Fatalf("the refused listen reached the upstream: %+v", st)
	}
}

// TestListenStreamLimits: stateless subscriptions/listen streams count
// against mcp.limits.streams_per_identity like any other stream, and their
// subscriptions against subscriptions_per_identity; a closed listen
// stream frees both, and its subscriptions are unsubscribed upstream.
func TestListenStreamLimits(t *testing.T) {
	base, logs := subsHost(t, "limits-listen-streams", nil) // 2 streams, 4 subscriptions per identity
	cs := startTailnet(t).callers()
	alice := cs[0].httpClient()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	observer := legacySession(ctx, t, base, cs[2])

	first, closeFirst := context.WithCancel(ctx)
	listen(first, t, alice, base, item(1), item(2))
	listen(ctx, t, alice, base, item(3), item(4))
	if st := upstreamSubs(ctx, t, observer); !slices.Equal(st.Active, origs(1, 2, 3, 4)) {
		t.Fatalf("upstream subscribed to %v, want %v", st.Active, origs(1, 2, 3, 4))
	}
	// Two listen streams are all alice may hold.
	third := statelessPost(ctx, t, alice, base+"/mcp", "subscriptions/listen", "", listenBody(3))
	firstMessage(third)
	wantRefused(t, logs, third, http.StatusTooManyRequests, "mcp.limits.streams_per_identity")
	sse, err := alice.Get(base + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	sse.Body.Close()
	wantRefused(t, logs, sse, http.StatusTooManyRequests, "mcp.limits.streams_per_identity")
	// Her listen streams hold 4 subscriptions: a session's is refused.
	a := legacySession(ctx, t, base, cs[0])
	if err := subscribe(ctx, a, item(5)); err == nil || !strings.Contains(err.Error(), "too many resource subscriptions") {
		t.Fatalf("alice's 5th subscription, on a session: %v, want a too-many-subscriptions error", err)
	}

	closeFirst()
	eventually(t, "the closed listen stream's subscriptions are unsubscribed upstream", func() bool {
		return slices.Equal(upstreamSubs(ctx, t, observer).Active, origs(3, 4))
	})
	if err := subscribe(ctx, a, item(5)); err != nil {
		t.Fatalf("alice's subscription once a listen stream closed: %v", err)
	}
	listen(ctx, t, alice, base, item(6))
}
