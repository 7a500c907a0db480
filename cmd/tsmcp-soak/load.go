package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/tsmcp/tsmcp/internal/devnet"
)

// identity is one caller of the soak: a tailnet node and its HTTP client.
type identity struct {
	name string
	node *devnet.Node
	hc   *http.Client
	base string // the host's http://<tailnet IP>
}

// workers are the kinds of load; each identity runs one of each in a loop
// until the load ends.
var workers = []func(context.Context, *identity, *loadCounts){
	churnWorker,
	abandonWorker,
	slowSSEWorker,
	nonReaderWorker,
	crashWorker,
	trickleWorker,
	subscribeWorker,
	unreadReadWorker,
	pageWorker,
	chatterWorker,
	parkWorker,
	listenWorker,
}

const protocol = "2025-06-18"

func call(id int, tool, args string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, id, tool, args)
}

// post sends body to path; sid, if any, is the Streamable HTTP session.
// It returns the response with its body read (up to 4 MiB) and closed.
func (id *identity) post(ctx context.Context, path, sid, body string) (*http.Response, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, id.base+path, strings.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", protocol)
	}
	resp, err := id.hc.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp, string(b), nil
}

// count records the outcome of one request.
func (c *loadCounts) count(resp *http.Response, err error, ok func()) {
	switch {
	case err != nil:
		c.errors.Add(1)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		c.refused.Add(1)
	case resp.StatusCode < 300:
		ok()
	default:
		c.errors.Add(1)
	}
}

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"soak","version":"1"}}}`

// churnOnce opens a session, calls whoami and the upstream's echo, and
// ends the session, as a well-behaved client does.
func (id *identity) churnOnce(ctx context.Context) {
	var c loadCounts
	churnWorker(ctx, id, &c)
}

func churnWorker(ctx context.Context, id *identity, c *loadCounts) {
	resp, _, err := id.post(ctx, "/mcp", "", initialize)
	if err != nil || resp.StatusCode != http.StatusOK {
		c.count(resp, err, func() {})
		pause(ctx, 200*time.Millisecond)
		return
	}
	c.sessions.Add(1)
	sid := resp.Header.Get("Mcp-Session-Id")
	id.post(ctx, "/mcp", sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	for _, body := range []string{call(2, "whoami", "{}"), call(3, "up__echo", `{"text":"hi"}`)} {
		resp, _, err := id.post(ctx, "/mcp", sid, body)
		c.count(resp, err, func() { c.calls.Add(1) })
	}
	id.endSession(ctx, sid)
}

// abandonWorker opens sessions and never uses them (they expire after
// mcp.limits.unused_session_ttl), until the identity's limit refuses it.
func abandonWorker(ctx context.Context, id *identity, c *loadCounts) {
	resp, _, err := id.post(ctx, "/mcp", "", initialize)
	c.count(resp, err, func() { c.sessions.Add(1) })
	pause(ctx, 100*time.Millisecond)
}

// slowSSEWorker opens a legacy SSE stream, posts calls, reads the answers
// slowly, and leaves after a few seconds (sometimes mid-call).
func slowSSEWorker(ctx context.Context, id *identity, c *loadCounts) {
	sctx, cancel := context.WithTimeout(ctx, time.Duration(2+rand.IntN(4))*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(sctx, http.MethodGet, id.base+"/sse", nil)
	resp, err := id.hc.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		c.count(resp, err, func() {})
		if err == nil {
			resp.Body.Close()
		}
		pause(ctx, 200*time.Millisecond)
		return
	}
	defer resp.Body.Close()
	c.streams.Add(1)
	br := bufio.NewReader(resp.Body)
	endpoint := ""
	for endpoint == "" {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
			endpoint = data
		}
	}
	go func() {
		for i := range 10 {
			r, _, err := id.post(sctx, endpoint, "", call(i, "up__echo", `{"text":"slow"}`))
			if sctx.Err() != nil {
				return
			}
			c.count(r, err, func() { c.calls.Add(1) })
		}
	}()
	for sctx.Err() == nil {
		if _, err := br.ReadString('\n'); err != nil {
			return
		}
		pause(sctx, 50*time.Millisecond)
	}
}

// nonReaderWorker opens a legacy SSE stream it never reads, floods it with
// big answers (the exec tool "big", a child process per call), and waits for the host to cut it (mcp.limits.write_timeout).
func nonReaderWorker(ctx context.Context, id *identity, c *loadCounts) {
	host := strings.TrimPrefix(id.base, "http://")
	conn, err := id.node.Dial(ctx, "tcp", host+":80")
	if err != nil {
		c.errors.Add(1)
		pause(ctx, time.Second)
		return
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /sse HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", host)
	br := bufio.NewReader(conn)
	endpoint := ""
	for endpoint == "" {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if strings.HasPrefix(line, "HTTP/1.1 ") && !strings.HasPrefix(line, "HTTP/1.1 200") {
			c.refused.Add(1)
			pause(ctx, time.Second)
			return
		}
		if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
			endpoint = data
		}
	}
	c.streams.Add(1)
	// Flood until the session is gone (the stream was cut) or the load ends.
	for i := 0; ctx.Err() == nil; i++ {
		resp, _, err := id.post(ctx, endpoint, "", call(i, "big", "{}"))
		if err != nil {
			return
		}
		if resp.StatusCode == http.StatusNotFound {
			c.cut.Add(1)
			return
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			c.refused.Add(1)
			pause(ctx, 200*time.Millisecond)
		}
	}
}

// crashWorker makes the identity's upstream child crash, then, 10 s later,
// calls it again (the supervisor restarts it).
func crashWorker(ctx context.Context, id *identity, c *loadCounts) {
	resp, _, err := id.post(ctx, "/mcp", "", initialize)
	if err != nil || resp.StatusCode != http.StatusOK {
		c.count(resp, err, func() {})
		pause(ctx, time.Second)
		return
	}
	sid := resp.Header.Get("Mcp-Session-Id")
	id.post(ctx, "/mcp", sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if _, _, err := id.post(ctx, "/mcp", sid, call(2, "up__crash", "{}")); err == nil {
		c.crashes.Add(1)
	}
	pause(ctx, 10*time.Second)
	resp, _, err = id.post(ctx, "/mcp", sid, call(3, "up__echo", `{"text":"after the crash"}`))
	c.count(resp, err, func() { c.calls.Add(1) })
	id.endSession(ctx, sid)
}

// trickleWorker sends near-limit bodies slowly and gives up on them.
func trickleWorker(ctx context.Context, id *identity, c *loadCounts) {
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(tctx, http.MethodPost, id.base+"/mcp", pr)
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = 4 << 20
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := id.hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
				c.refused.Add(1)
			}
		}
	}()
	chunk := []byte(strings.Repeat(" ", 64<<10))
	for tctx.Err() == nil {
		if _, err := pw.Write(chunk); err != nil {
			break
		}
		pause(tctx, 100*time.Millisecond)
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-done
	c.trickles.Add(1)
}

// openSession initializes a Streamable HTTP session and returns its ID;
// "" (counted) when the host refused or failed.
func (id *identity) openSession(ctx context.Context, c *loadCounts) string {
	resp, _, err := id.post(ctx, "/mcp", "", initialize)
	if err != nil || resp.StatusCode != http.StatusOK {
		c.count(resp, err, func() {})
		pause(ctx, time.Second)
		return ""
	}
	c.sessions.Add(1)
	sid := resp.Header.Get("Mcp-Session-Id")
	id.post(ctx, "/mcp", sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return sid
}

// endSession DELETEs the session sid.
func (id *identity) endSession(ctx context.Context, sid string) {
	req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodDelete, id.base+"/mcp", nil)
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("Mcp-Protocol-Version", protocol)
	if resp, err := id.hc.Do(req); err == nil {
		resp.Body.Close()
	}
}

// subscribeWorker subscribes one session to more resources than
// mcp.limits.subscriptions_per_session allows, on the per-identity and the
// shared upstream (every identity wants the shared child's items: one
// upstream subscription each), and ends the session, or abandons it.
func subscribeWorker(ctx context.Context, id *identity, c *loadCounts) {
	sid := id.openSession(ctx, c)
	if sid == "" {
		return
	}
	for i := range 120 {
		up := "up"
		if i%2 == 1 {
			up = "sh"
		}
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"resources/subscribe","params":{"uri":"%s+soak://item/%d"}}`, i+2, up, rand.IntN(soakItems))
		resp, text, err := id.post(ctx, "/mcp", sid, body)
		c.count(resp, err, func() {
			if strings.Contains(text, `"error"`) {
				c.refused.Add(1)
				return
			}
			c.subscriptions.Add(1)
		})
	}
	if rand.IntN(4) > 0 {
		id.endSession(ctx, sid)
	}
	pause(ctx, 500*time.Millisecond)
}

// unreadReadWorker reads the big resource on a connection it never reads
// from, and leaves after a second.
func unreadReadWorker(ctx context.Context, id *identity, c *loadCounts) {
	sid := id.openSession(ctx, c)
	if sid == "" {
		return
	}
	defer id.endSession(ctx, sid)
	host := strings.TrimPrefix(id.base, "http://")
	for range 4 {
		conn, err := id.node.Dial(ctx, "tcp", host+":80")
		if err != nil {
			c.errors.Add(1)
			return
		}
		body := `{"jsonrpc":"2.0","id":9,"method":"resources/read","params":{"uri":"up+soak://big"}}`
		fmt.Fprintf(conn, "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: %s\r\nMcp-Protocol-Version: %s\r\nContent-Length: %d\r\n\r\n%s",
			host, sid, protocol, len(body), body)
		c.reads.Add(1)
		pause(ctx, time.Second)
		conn.Close()
	}
}

// pageWorker views the identity page, as HTML and JSON, sometimes
// leaving before the answer.
func pageWorker(ctx context.Context, id *identity, c *loadCounts) {
	for _, accept := range []string{"text/html", "application/json"} {
		pctx, cancel := context.WithTimeout(ctx, time.Duration(1+rand.IntN(50))*time.Millisecond)
		req, _ := http.NewRequestWithContext(pctx, http.MethodGet, id.base+"/", nil)
		req.Header.Set("Accept", accept)
		resp, err := id.hc.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			c.count(resp, nil, func() { c.pages.Add(1) })
		}
		cancel()
	}
	pause(ctx, 100*time.Millisecond)
}

// chatterWorker makes the shared child send log messages after the call
// that asked for them has returned, while the identity's other calls are
// in flight: they go to the host's log, never to a caller.
func chatterWorker(ctx context.Context, id *identity, c *loadCounts) {
	sid := id.openSession(ctx, c)
	if sid == "" {
		return
	}
	defer id.endSession(ctx, sid)
	id.post(ctx, "/mcp", sid, `{"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"debug"}}`)
	resp, _, err := id.post(ctx, "/mcp", sid, call(3, "sh__chatter", "{}"))
	c.count(resp, err, func() { c.calls.Add(1) })
	for i := range 10 {
		resp, _, err := id.post(ctx, "/mcp", sid, call(4+i, "sh__echo", `{"text":"meanwhile"}`))
		c.count(resp, err, func() { c.calls.Add(1) })
	}
}

// statelessMeta is the _meta of a 2026-07-28 (stateless) request from a
// client that can be asked for input.
const statelessMeta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"soak","version":"1"},"io.modelcontextprotocol/clientCapabilities":{"elicitation":{"form":{}}}}`

// statelessPost sends a 2026-07-28 request (method, and name for
// tools/call) and reads its answer, or stops reading after hold (0: the
// whole answer).
func (id *identity) statelessPost(ctx context.Context, method, name, body string, hold time.Duration) (*http.Response, string, error) {
	if hold > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, hold)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, id.base+"/mcp", strings.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", method)
	if name != "" {
		req.Header.Set("Mcp-Name", name)
	}
	resp, err := id.hc.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(b), nil
}

// parkWorker makes stateless calls that stop at input_required (the
// per-identity child asks for input) and never answers them: each parks
// until mcp.limits.input_wait, at most 16 per identity.
func parkWorker(ctx context.Context, id *identity, c *loadCounts) {
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"up__ask","arguments":{},` + statelessMeta + `}}`
	resp, text, err := id.statelessPost(ctx, "tools/call", "up__ask", body, 0)
	c.count(resp, err, func() {
		if strings.Contains(text, "input_required") {
			c.parked.Add(1)
		} else {
			c.refused.Add(1)
		}
	})
	pause(ctx, 200*time.Millisecond)
}

// listenWorker holds a stateless subscriptions/listen stream on resources
// of the per-identity and the shared child for a few seconds, then leaves.
func listenWorker(ctx context.Context, id *identity, c *loadCounts) {
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true,"resourceSubscriptions":["up+soak://item/%d","sh+soak://item/%d"]},%s}}`,
		rand.IntN(soakItems), rand.IntN(soakItems), statelessMeta)
	resp, _, err := id.statelessPost(ctx, "subscriptions/listen", "", body, time.Duration(1+rand.IntN(3))*time.Second)
	switch {
	case err == nil:
		c.count(resp, nil, func() { c.listens.Add(1) })
	case ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded):
		c.errors.Add(1)
	}
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
