package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// blockingProvider has one tool, "block", that runs until the test
// releases it or its context ends, and reports which happened.
type blockingProvider struct {
	started chan string   // the caller's login, when a call begins
	release chan struct{} // each receive lets one call finish
	ended   chan string   // "<login> done" or "<login> cancelled"
}

func newBlockingProvider() *blockingProvider {
	return &blockingProvider{started: make(chan string, 4), release: make(chan struct{}), ended: make(chan string, 4)}
}

func (p *blockingProvider) Name() string { return "blocking" }
func (p *blockingProvider) Close() error { return nil }
func (p *blockingProvider) Tools(context.Context) ([]tools.Tool, error) {
	return []tools.Tool{{
		Tool: mcpgo.NewTool("block", mcpgo.WithDescription("runs until released or cancelled")),
		Handler: func(ctx context.Context, _ mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
			id, _ := identity.FromContext(ctx)
			p.started <- id.LoginName
			select {
			case <-p.release:
				p.ended <- id.LoginName + " done"
				return mcpgo.NewToolResultText("done"), nil
			case <-ctx.Done():
				p.ended <- id.LoginName + " cancelled"
				return nil, ctx.Err()
			}
		},
	}}, nil
}

// statelessMeta is the _meta of a 2026-07-28 request.
const statelessMeta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}`

// statelessPost sends one stateless (2026-07-28) JSON-RPC message.
func statelessPost(ctx context.Context, t *testing.T, hc *http.Client, url, method, name, body string) *http.Response {
	t.Helper()
	hdr := map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": method}
	if name != "" {
		hdr["Mcp-Name"] = name
	}
	return sendMCP(ctx, t, hc, http.MethodPost, url, strings.NewReader(body), hdr)
}

// TestStatelessCancelIsScopedToTheCaller: in the stateless protocol a
// request has no session, and mcp-go matches notifications/cancelled by
// request ID alone. Over the tailnet, bob's cancel naming alice's request
// ID does not stop her call (and is audited), bob's cancel of his own call
// that shares alice's ID stops only his, and alice can still cancel her
// own call.
func TestStatelessCancelIsScopedToTheCaller(t *testing.T) {
	tn := startTailnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logs := &logBuffer{}
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	blocking := newBlockingProvider()
	host, err := startHost(ctx, tn.net, "cancels", logs, func(_ *config.Config, o *server.Options) {
		o.Tools = server.Providers(tools.Builtin{}, blocking)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	url := "http://" + host.TailnetIP().String() + "/mcp"
	cs := tn.callers()
	alice, bob := cs[0], cs[1]

	// call starts c's tools/call of "block" with JSON-RPC ID id and
	// returns a channel with the response's text (or error).
	call := func(t *testing.T, c caller, id int) <-chan string {
		out := make(chan string, 1)
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"block","arguments":{},%s}}`, id, statelessMeta)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
			req.Header.Set("Mcp-Method", "tools/call")
			req.Header.Set("Mcp-Name", "block")
			resp, err := c.httpClient().Do(req)
			if err != nil {
				out <- "error: " + err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			out <- fmt.Sprintf("%d %s", resp.StatusCode, b)
		}()
		if got := recv(t, ctx, blocking.started); got != c.login {
			t.Errorf("call started for %q, want %q", got, c.login)
		}
		return out
	}
	cancelReq := func(t *testing.T, c caller, id int) {
		t.Helper()
		body := fmt.Sprintf(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":%d,"reason":"test",%s}}`, id, statelessMeta)
		resp := statelessPost(ctx, t, c.httpClient(), url, "notifications/cancelled", "", body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s's cancel: status %d, want 202", c.name, resp.StatusCode)
		}
	}
	noEnd := func(t *testing.T) {
		t.Helper()
		select {
		case e := <-blocking.ended:
			t.Fatalf("a call ended (%s) before it was released", e)
		default:
		}
	}

	t.Run("another identity cannot cancel", func(t *testing.T) {
		aliceDone := call(t, alice, 7)
		cancelReq(t, bob, 7) // the cancellation, had it matched, is done when 202 arrives
		noEnd(t)
		send(t, ctx, blocking.release)
		if got := recv(t, ctx, blocking.ended); got != alice.login+" done" {
			t.Fatalf("alice's call ended %q, want done", got)
		}
		if res := recv(t, ctx, aliceDone); !strings.HasPrefix(res, "200 ") || !strings.Contains(res, `"text":"done"`) || strings.Contains(res, `"error"`) {
			t.Fatalf("alice's response %s, want her result", res)
		}
		var denied bool
		for _, l := range logs.JSONLines("cancel") {
			c, _ := l["caller"].(map[string]any)
			denied = denied || (l["decision"] == "deny" && c["user"] == bob.login && l["request_id"] == "7")
		}
		if !denied {
			t.Fatal("no audit line for bob's refused cancel")
		}
	})

	t.Run("same request ID from two identities", func(t *testing.T) {
		aliceDone := call(t, alice, 8)
		bobDone := call(t, bob, 8)
		cancelReq(t, bob, 8)
		if got := recv(t, ctx, blocking.ended); got != bob.login+" cancelled" {
			t.Fatalf("after bob cancelled his call 8: %q ended, want bob's call cancelled", got)
		}
		if res := recv(t, ctx, bobDone); !strings.Contains(res, `"error"`) {
			t.Fatalf("bob's cancelled call answered %s, want an error", res)
		}
		noEnd(t)
		send(t, ctx, blocking.release)
		if got := recv(t, ctx, blocking.ended); got != alice.login+" done" {
			t.Fatalf("alice's call 8 ended %q, want done", got)
		}
		if res := recv(t, ctx, aliceDone); !strings.Contains(res, `"text":"done"`) {
			t.Fatalf("alice's response %s, want her result", res)
		}
	})

	t.Run("the caller cancels her own call", func(t *testing.T) {
		aliceDone := call(t, alice, 9)
		cancelReq(t, alice, 9)
		if got := recv(t, ctx, blocking.ended); got != alice.login+" cancelled" {
			t.Fatalf("alice's call ended %q, want cancelled", got)
		}
		if res := recv(t, ctx, aliceDone); !strings.Contains(res, `"error"`) {
			t.Fatalf("alice's cancelled call answered %s, want an error", res)
		}
	})
}

// recv receives from ch, failing the test if ctx ends first.
func recv[T any](t *testing.T, ctx context.Context, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("nothing received: %v", ctx.Err())
		panic("unreachable")
	}
}

// send sends on ch, failing the test if ctx ends first.
func send(t *testing.T, ctx context.Context, ch chan<- struct{}) {
	t.Helper()
	select {
	case ch <- struct{}{}:
	case <-ctx.Done():
		t.Fatalf("nothing took the send: %v", ctx.Err())
	}
}
