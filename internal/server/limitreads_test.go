package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// statelessRequest is a 2026-07-28 request body of method with params
// (a JSON object's members, without braces).
func statelessRequest(id int, method, params string) string {
	if params != "" {
		params += ","
	}
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q,"params":{%s%s}}`, id, method, params, statelessMeta)
}

// readBody is a stateless resources/read of uri.
func readBody(id int, uri string) string {
	return statelessRequest(id, "resources/read", fmt.Sprintf(`"uri":%q`, uri))
}

// TestReadsInFlightLimits: resources/read and prompts/get count against
// mcp.limits.calls_per_identity as tool calls do: with two reads of alice
// waiting on the upstream, her next read and her prompts/get get 429 (and
// a limit audit line) without reaching the upstream, while bob is served;
// once her reads are answered she is served again.
func TestReadsInFlightLimits(t *testing.T) {
	base, logs := subsHost(t, "limits-reads", nil) // 2 per identity
	cs := startTailnet(t).callers()
	alice, bob := cs[0].httpClient(), cs[1].httpClient()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	observer := legacySession(ctx, t, base, cs[2])
	slowReads := func() string {
		text, err := testutil.MCPGoCallText(ctx, observer, "subs__slowreads", nil)
		if err != nil {
			t.Fatal(err)
		}
		return text
	}

	answers := make(chan string, 2)
	for i := range 2 {
		go func() {
			resp := statelessPost(ctx, t, alice, base+"/mcp", "resources/read", "subs+test://slow", readBody(i, "subs+test://slow"))
			answers <- readAll(resp)
		}()
	}
	eventually(t, "alice's two slow reads wait on the upstream", func() bool { return slowReads() == "2" })

	read := func(hc *http.Client, uri string) *http.Response {
		return statelessPost(ctx, t, hc, base+"/mcp", "resources/read", uri, readBody(9, uri))
	}
	wantRefused(t, logs, read(alice, item(1)), http.StatusTooManyRequests, "mcp.limits.calls_per_identity")
	prompt := statelessPost(ctx, t, alice, base+"/mcp", "prompts/get", "subs__hello", statelessRequest(10, "prompts/get", `"name":"subs__hello"`))
	wantRefused(t, logs, prompt, http.StatusTooManyRequests, "mcp.limits.calls_per_identity")
	if body := readAll(read(bob, item(1))); !strings.Contains(body, "item 1") {
		t.Fatalf("bob's read while alice is refused: %q", body)
	}
	if got := slowReads(); got != "2" {
		t.Fatalf("%s slow reads at the upstream, want alice's 2", got)
	}

	if _, err := testutil.MCPGoCallText(ctx, observer, "subs__release", nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if a := <-answers; !strings.Contains(a, "released") {
			t.Fatalf("alice's slow read: %q", a)
		}
	}
	if body := readAll(read(alice, item(1))); !strings.Contains(body, "item 1") {
		t.Fatalf("alice's read once hers were answered: %q", body)
	}
}

// TestUnreadAnswersAreBounded: the answers an identity's client does not
// read stay counted against it until they are written: with a 7 MiB
// answer of alice's stuck in a write (a connection she pipelines reads on
// and never reads), her next 7 MiB read passes
// mcp.limits.answer_bytes_per_identity and gets a JSON-RPC error (and a
// limit audit line) instead of being held too, while bob reads the same
// resource; once her connection goes, she is served again.
func TestUnreadAnswersAreBounded(t *testing.T) {
	base, logs := subsHost(t, "limits-answers", func(c *config.Config) {
		c.MCP.Limits.WriteTimeout = 5 * time.Minute // the unread answer stays stuck
	}) // 8 MiB per identity, 16 MiB in all
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const size = 7 << 20
	uri := fmt.Sprintf("subs+test://blob/%d", size)

	// Three reads pipelined on one connection: 21 MiB, more than the
	// connection's buffers take, so one answer stays stuck in its write.
	host := strings.TrimPrefix(base, "http://")
	conn, err := cs[0].node.Dial(ctx, "tcp", host+":80")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 3 {
		body := readBody(i, uri)
		fmt.Fprintf(conn, "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"+
			"Mcp-Protocol-Version: 2026-07-28\r\nMcp-Method: resources/read\r\nMcp-Name: %s\r\nContent-Length: %d\r\n\r\n%s", host, uri, len(body), body)
	}

	read := func(c caller) string {
		resp := statelessPost(ctx, t, c.httpClient(), base+"/mcp", "resources/read", uri, readBody(9, uri))
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	eventually(t, "alice's read is refused while an unread answer of hers is held", func() bool {
		body := read(cs[0])
		return strings.Contains(body, `"error"`) && strings.Contains(body, "answer")
	})
	wantLimitAudit(t, logs, "mcp.limits.answer_bytes_per_identity")
	if body := read(cs[1]); len(body) < size {
		t.Fatalf("bob's read while alice is refused: %d bytes: %.200s", len(body), body)
	}

	conn.Close()
	eventually(t, "alice is served once her unread answers are gone", func() bool {
		return len(read(cs[0])) >= size
	})
}

// TestSSEAnswersFreeTheirPlace: on the legacy SSE transport a call's place
// in mcp.limits.calls_per_identity goes with its answer to the stream and
// is given back once the answer is written there: a client making more
// calls, one after the other, than it may run at once is never refused.
func TestSSEAnswersFreeTheirPlace(t *testing.T) {
	base, _, _ := limitsHost(t, "limits-sse-answers", nil) // 2 calls per identity
	alice := startTailnet(t).callers()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := mcpgoSSE(ctx, t, base, alice)
	for i := range 6 {
		if _, err := testutil.MCPGoCallText(ctx, cl, "whoami", nil); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}
