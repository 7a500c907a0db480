package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// abuseProvider has the tools the limit tests attack with: "big" answers
// bigAnswer bytes; "block" runs until its context ends and reports it.
type abuseProvider struct {
	started   chan struct{} // receives when a block call begins
	cancelled chan struct{} // receives when a block call's context ends
}

const bigAnswer = 1 << 20

func newAbuseProvider() *abuseProvider {
	return &abuseProvider{started: make(chan struct{}, 64), cancelled: make(chan struct{}, 64)}
}

func (p *abuseProvider) Name() string { return "abuse" }
func (p *abuseProvider) Close() error { return nil }
func (p *abuseProvider) Tools(context.Context) ([]tools.Tool, error) {
	return []tools.Tool{
		{Tool: mcpgo.NewTool("big"), Handler: func(context.Context, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
			return mcpgo.NewToolResultText(strings.Repeat("x", bigAnswer)), nil
		}},
		{Tool: mcpgo.NewTool("block"), Handler: func(ctx context.Context, _ mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
			p.started <- struct{}{}
			<-ctx.Done()
			p.cancelled <- struct{}{}
			return nil, ctx.Err()
		}},
	}, nil
}

// limitsHost starts a host with testLimits (then mod, if any) and the
// abuse tools on the shared devnet; it is stopped when the test ends.
func limitsHost(t *testing.T, name string, mod func(*config.Config)) (base string, p *abuseProvider, logs *logBuffer) {
	t.Helper()
	p = newAbuseProvider()
	host, logs := startLimitsHost(t, name, func(c *config.Config, o *server.Options) {
		if mod != nil {
			mod(c)
		}
		o.Tools = server.Providers(tools.Builtin{}, p)
	})
	return "http://" + host.TailnetIP().String(), p, logs
}

// startLimitsHost starts a host with testLimits, then mod, on the shared
// devnet; it is stopped when the test ends (its log shown if the test
// failed).
func startLimitsHost(t *testing.T, name string, mod func(*config.Config, *server.Options)) (*server.Server, *logBuffer) {
	t.Helper()
	tn := startTailnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logs := &logBuffer{}
	host, err := startHost(ctx, tn.net, name, logs, func(c *config.Config, o *server.Options) {
		testLimits(c)
		mod(c, o)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		host.Close()
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	return host, logs
}

// wantRefused fails unless resp is a limit refusal with status code and a
// Retry-After, and the host audited it naming limit.
func wantRefused(t *testing.T, logs *logBuffer, resp *http.Response, code int, limit string) {
	t.Helper()
	if resp.StatusCode != code || resp.Header.Get("Retry-After") == "" {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		t.Fatalf("got %d (Retry-After %q) %q, want %d with Retry-After (%s)", resp.StatusCode, resp.Header.Get("Retry-After"), b, code, limit)
	}
	for _, l := range logs.JSONLines("limit") {
		if l["limit"] == limit && l["log"] == "audit" {
			return
		}
	}
	t.Fatalf("no limit audit line for %s", limit)
}

// eventually polls cond every 20ms until it holds, failing the test with
// what if it has not within 30 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// initialize opens a Streamable HTTP session as hc and returns the
// response; with used, it also sends notifications/initialized.
func initialize(t *testing.T, hc *http.Client, base string, used bool) *http.Response {
	t.Helper()
	resp := postMCP(t, hc, base+"/mcp", strings.NewReader(initializeBody), nil)
	if sid := resp.Header.Get("Mcp-Session-Id"); used && sid != "" {
		n := postMCP(t, hc, base+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), sessionHeaders(sid))
		if n.StatusCode != http.StatusAccepted {
			t.Fatalf("notifications/initialized: status %d", n.StatusCode)
		}
	}
	return resp
}

// TestSessionLimits: an identity opening sessions past
// mcp.limits.sessions_per_identity gets 429 while another identity still
// opens one; past sessions_total everyone gets 503; ending a session frees
// its place.
func TestSessionLimits(t *testing.T) {
	base, _, logs := limitsHost(t, "limits-sessions", nil)
	cs := startTailnet(t).callers()
	alice, bob, ci := cs[0].httpClient(), cs[1].httpClient(), cs[2].httpClient()

	var aliceSIDs []string
	for i := range 2 {
		resp := initialize(t, alice, base, true)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("alice's session %d: status %d", i, resp.StatusCode)
		}
		aliceSIDs = append(aliceSIDs, resp.Header.Get("Mcp-Session-Id"))
	}
	wantRefused(t, logs, initialize(t, alice, base, false), http.StatusTooManyRequests, "mcp.limits.sessions_per_identity")
	if resp := initialize(t, bob, base, true); resp.StatusCode != http.StatusOK {
		t.Fatalf("bob, while alice is refused: status %d, want 200", resp.StatusCode)
	}
	wantRefused(t, logs, initialize(t, ci, base, false), http.StatusServiceUnavailable, "mcp.limits.sessions_total")

	// Ending one of alice's sessions gives her its place back.
	del := sendMCP(context.Background(), t, alice, http.MethodDelete, base+"/mcp", nil, sessionHeaders(aliceSIDs[0]))
	if del.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: status %d", del.StatusCode)
	}
	if resp := initialize(t, alice, base, true); resp.StatusCode != http.StatusOK {
		t.Fatalf("alice after DELETE: status %d, want 200", resp.StatusCode)
	}
}

// TestStreamLimits: legacy SSE streams and GET /mcp streams (in a session)
// count against mcp.limits.streams_*; a closed stream frees its place.
func TestStreamLimits(t *testing.T) {
	base, _, logs := limitsHost(t, "limits-streams", nil)
	cs := startTailnet(t).callers()
	alice, bob, ci := cs[0].httpClient(), cs[1].httpClient(), cs[2].httpClient()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// A GET /mcp stream belongs to a session (without one it is a 400).
	session := func(hc *http.Client) string {
		resp := initialize(t, hc, base, true)
		resp.Body.Close()
		sid := resp.Header.Get("Mcp-Session-Id")
		if sid == "" {
			t.Fatalf("initialize: status %d, no session", resp.StatusCode)
		}
		return sid
	}
	alice1, alice2, ci1 := session(alice), session(alice), session(ci)
	getMCP := func(hc *http.Client, sid string) *http.Response {
		hdr := sessionHeaders(sid)
		hdr["Mcp-Protocol-Version"] = "2025-06-18"
		return sendMCP(ctx, t, hc, http.MethodGet, base+"/mcp", nil, hdr)
	}
	sseCtx, closeSSE := context.WithCancel(ctx)
	openSSE(t, sseCtx, alice, base)
	if resp := getMCP(alice, alice1); resp.StatusCode != http.StatusOK {
		t.Fatalf("alice's GET /mcp stream: status %d", resp.StatusCode)
	}
	wantRefused(t, logs, getMCP(alice, alice2), http.StatusTooManyRequests, "mcp.limits.streams_per_identity")
	third, err := alice.Get(base + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	third.Body.Close()
	wantRefused(t, logs, third, http.StatusTooManyRequests, "mcp.limits.streams_per_identity")

	openSSE(t, ctx, bob, base) // served while alice is refused
	wantRefused(t, logs, getMCP(ci, ci1), http.StatusServiceUnavailable, "mcp.limits.streams_total")

	closeSSE()
	eventually(t, "alice's closed SSE stream frees its place", func() bool {
		resp := getMCP(alice, alice2)
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// TestUnusedSessionsExpireSooner: a session that sends nothing after
// initialize is ended after mcp.limits.unused_session_ttl (and its place
// freed); a session in use is not.
func TestUnusedSessionsExpireSooner(t *testing.T) {
	base, _, _ := limitsHost(t, "limits-unused", func(c *config.Config) { testUnusedSessionTTL(c, time.Second) })
	alice := startTailnet(t).callers()[0].httpClient()
	ping := func(sid string) int {
		resp := postMCP(t, alice, base+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"ping"}`), sessionHeaders(sid))
		defer resp.Body.Close()
		return resp.StatusCode
	}
	usedResp := initialize(t, alice, base, true)
	unusedResp := initialize(t, alice, base, false)
	used, unused := usedResp.Header.Get("Mcp-Session-Id"), unusedResp.Header.Get("Mcp-Session-Id")
	if used == "" || unused == "" {
		b1, _ := io.ReadAll(usedResp.Body)
		b2, _ := io.ReadAll(unusedResp.Body)
		t.Fatalf("no session IDs: %d %v %q / %d %v %q", usedResp.StatusCode, usedResp.Header, b1, unusedResp.StatusCode, unusedResp.Header, b2)
	}
	// Wait without touching the unused session (any request marks it
	// used): alice is at her limit of 2 until it expires.
	eventually(t, "the unused session expires and frees its place", func() bool {
		return initialize(t, alice, base, true).StatusCode == http.StatusOK
	})
	if code := ping(unused); code != http.StatusNotFound {
		t.Fatalf("the unused session: ping status %d, want 404 (expired)", code)
	}
	if code := ping(used); code != http.StatusOK {
		t.Fatalf("the session in use: ping status %d, want 200", code)
	}
}

// TestBodyBudget: bodies are counted against mcp.limits.body_bytes_*
// before they are buffered: with her budget held by two bodies still
// arriving, alice's next request gets 429 at once while bob is served; with
// the host's budget held, everyone gets 503. Both with Content-Length
// (reserved whole) and chunked (reserved as it arrives).
func TestBodyBudget(t *testing.T) {
	cs := startTailnet(t).callers()
	alice, bob, ci := cs[0].httpClient(), cs[1].httpClient(), cs[2].httpClient()
	const max = 64 << 10

	for _, tt := range []struct {
		name    string
		chunked bool
	}{
		{"content-length", false},
		{"chunked", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A host of its own: bodies given up on by the other subtest
			// leave the budgets only once the host notices.
			base, _, logs := limitsHost(t, "limits-body-"+tt.name, nil)
			small := func(hc *http.Client) *http.Response {
				return postMCP(t, hc, base+"/mcp", strings.NewReader(initializeBody), nil)
			}
			// trickle starts a body that stays open until the subtest ends.
			type trickling struct {
				w      *io.PipeWriter
				cancel context.CancelFunc
				done   chan struct{}
			}
			var open []trickling
			trickle := func(hc *http.Client) {
				pr, pw := io.Pipe()
				ctx, cancel := context.WithCancel(context.Background())
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/mcp", pr)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				if !tt.chunked {
					req.ContentLength = max
				}
				done := make(chan struct{})
				go func() {
					defer close(done)
					if resp, err := hc.Do(req); err == nil {
						resp.Body.Close()
					}
				}()
				// A chunked body is reserved as it arrives: send most of it.
				if _, err := pw.Write([]byte(strings.Repeat(" ", max-1024))); err != nil {
					t.Fatal(err)
				}
				open = append(open, trickling{pw, cancel, done})
			}
			defer func() {
				for _, o := range open {
					o.cancel()
					o.w.CloseWithError(io.ErrUnexpectedEOF)
					<-o.done
				}
			}()
			trickle(alice)
			trickle(alice)
			var refused *http.Response
			eventually(t, "alice's third body is refused", func() bool {
				refused = small(alice)
				return refused.StatusCode == http.StatusTooManyRequests
			})
			wantRefused(t, logs, refused, http.StatusTooManyRequests, "mcp.limits.body_bytes_per_identity")
			if resp := small(bob); resp.StatusCode != http.StatusOK {
				t.Fatalf("bob, while alice is refused: status %d, want 200", resp.StatusCode)
			}
			if tt.chunked {
				return
			}
			trickle(bob)
			eventually(t, "with the host's budget held, ci is refused", func() bool {
				refused = small(ci)
				return refused.StatusCode == http.StatusServiceUnavailable
			})
			wantRefused(t, logs, refused, http.StatusServiceUnavailable, "mcp.limits.body_bytes_total")
		})
	}
}

// heapInUse is the test process's live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestNonReadingClientIsCut: a legacy SSE client that never reads its
// stream, while its POSTs produce 1 MiB answers, has its stream closed
// (mcp.limits.write_timeout) and the answers queued for it freed: the
// host's heap returns near its baseline. Further POSTs find no session.
func TestNonReadingClientIsCut(t *testing.T) {
	base, _, logs := limitsHost(t, "limits-stall", nil)
	tn := startTailnet(t)
	alice := tn.callers()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// A raw stream that reads only up to the endpoint event.
	host := strings.TrimPrefix(base, "http://")
	conn, err := alice.node.Dial(ctx, "tcp", host+":80")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /sse HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", host)
	br := bufio.NewReader(conn)
	var endpoint string
	for endpoint == "" {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the SSE stream: %v", err)
		}
		if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
			endpoint = data
		}
	}
	baseline := heapInUse()

	// 48 MiB of answers the client never reads.
	hc := alice.httpClient()
	call := `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"big","arguments":{}}}`
	statuses := map[int]int{}
	for i := range 48 {
		resp := postMCP(t, hc, sessionURL(base, endpoint), strings.NewReader(fmt.Sprintf(call, i)), nil)
		resp.Body.Close()
		statuses[resp.StatusCode]++
	}
	t.Logf("POST statuses: %v", statuses)
	eventually(t, "the stalled stream is closed (its session is gone)", func() bool {
		resp := postMCP(t, hc, sessionURL(base, endpoint), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`), nil)
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusNotFound
	})
	conn.Close() // the client's own receive buffer is not the host's memory

	const bound = 12 << 20 // a quarter of what the flood produced
	var grown int64
	eventually(t, "the host's heap returns near its baseline", func() bool {
		grown = int64(heapInUse()) - int64(baseline)
		return grown < bound
	})
	t.Logf("heap: baseline %d MiB, grown %d KiB after the stream was cut", baseline>>20, grown>>10)
	if lines := logs.JSONLines("client stopped reading; closing its response"); len(lines) == 0 {
		t.Error("no log line for the closed stream")
	}
}

// TestSSECallsEndWithTheirStream: tool calls posted on a legacy SSE
// session are cancelled once its stream closes (they could never answer).
func TestSSECallsEndWithTheirStream(t *testing.T) {
	base, p, _ := limitsHost(t, "limits-orphans", nil)
	alice := startTailnet(t).callers()[0].httpClient()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sseCtx, closeSSE := context.WithCancel(ctx)
	endpoint, stream, _ := openSSE(t, sseCtx, alice, base)
	go io.Copy(io.Discard, stream)
	for i := range 2 {
		resp := postMCP(t, alice, sessionURL(base, endpoint), strings.NewReader(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"block","arguments":{}}}`, i)), nil)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("call %d: status %d", i, resp.StatusCode)
		}
		waitFor(t, ctx, p.started, "call start")
	}
	closeSSE()
	for range 2 {
		waitFor(t, ctx, p.cancelled, "a call of the closed stream is cancelled")
	}
}

// waitFor receives from ch or fails the test when ctx ends.
func waitFor(t *testing.T, ctx context.Context, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatalf("never: %s", what)
	}
}

// TestCallLimits: an identity running mcp.limits.calls_per_identity calls
// gets 429 for the next (on both transports) while another identity is
// served; past calls_total everyone gets 503.
func TestCallLimits(t *testing.T) {
	base, p, logs := limitsHost(t, "limits-calls", nil)
	cs := startTailnet(t).callers()
	alice, bob, ci := cs[0].httpClient(), cs[1].httpClient(), cs[2].httpClient()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	callBody := func(tool string) io.Reader {
		return strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}}}`)
	}
	session := func(hc *http.Client) string {
		return initialize(t, hc, base, true).Header.Get("Mcp-Session-Id")
	}

	endpoint, stream, _ := openSSE(t, ctx, alice, base)
	go io.Copy(io.Discard, stream)
	for i := range 2 {
		if resp := postMCP(t, alice, sessionURL(base, endpoint), callBody("block"), nil); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("alice's call %d: status %d", i, resp.StatusCode)
		}
		waitFor(t, ctx, p.started, "alice's call start")
	}
	wantRefused(t, logs, postMCP(t, alice, sessionURL(base, endpoint), callBody("whoami"), nil), http.StatusTooManyRequests, "mcp.limits.calls_per_identity")
	aliceSID := session(alice)
	wantRefused(t, logs, postMCP(t, alice, base+"/mcp", callBody("whoami"), sessionHeaders(aliceSID)), http.StatusTooManyRequests, "mcp.limits.calls_per_identity")

	bobSID := session(bob)
	if resp := postMCP(t, bob, base+"/mcp", callBody("whoami"), sessionHeaders(bobSID)); !strings.Contains(readAll(resp), `"result"`) {
		t.Fatal("bob's call, while alice is refused, got no result")
	}
	// A third call running, bob's, fills the host's calls_total.
	bobCtx, stopBob := context.WithCancel(ctx)
	bobDone := make(chan struct{})
	go func() {
		defer close(bobDone)
		req, _ := http.NewRequestWithContext(bobCtx, http.MethodPost, base+"/mcp", callBody("block"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range sessionHeaders(bobSID) {
			req.Header.Set(k, v)
		}
		if resp, err := bob.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	waitFor(t, ctx, p.started, "bob's call start")
	ciSID := session(ci)
	wantRefused(t, logs, postMCP(t, ci, base+"/mcp", callBody("whoami"), sessionHeaders(ciSID)), http.StatusServiceUnavailable, "mcp.limits.calls_total")
	stopBob()
	<-bobDone
	waitFor(t, ctx, p.cancelled, "bob's call is cancelled with its request")
}

func readAll(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestUnreadStreamableResponseIsCut: a Streamable HTTP client that
// pipelines calls with 1 MiB answers and never reads them has its
// connection cut after mcp.limits.write_timeout instead of holding the
// handler and the answers.
func TestUnreadStreamableResponseIsCut(t *testing.T) {
	base, _, logs := limitsHost(t, "limits-unread", nil)
	alice := startTailnet(t).callers()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sid := initialize(t, alice.httpClient(), base, true).Header.Get("Mcp-Session-Id")

	host := strings.TrimPrefix(base, "http://")
	conn, err := alice.node.Dial(ctx, "tcp", host+":80")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 16 {
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"big","arguments":{}}}`, i)
		fmt.Fprintf(conn, "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"+
			"Mcp-Session-Id: %s\r\nMcp-Protocol-Version: 2025-06-18\r\nContent-Length: %d\r\n\r\n%s", host, sid, len(body), body)
	}
	eventually(t, "the unread response is cut", func() bool {
		for _, l := range logs.JSONLines("client stopped reading; closing its response") {
			if l["path"] == "/mcp" {
				return true
			}
		}
		return false
	})
	// The host has closed the connection: reading now reaches its end
	// without all 16 answers.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := io.Copy(io.Discard, conn)
	if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
		t.Fatalf("the connection is still open after %d bytes", n)
	}
	if n >= 16*bigAnswer {
		t.Fatalf("read %d bytes: every answer was delivered", n)
	}
}
