package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
)

// boundsItems is the bounds host's mcp.limits.upstream_items.
const boundsItems = 100

// boundsHost is a host bridging the bounds server (see runBoundsServer)
// as "big", everything allowed to everyone, with alice to call it.
type boundsHost struct {
	ctx   context.Context // bounds the test
	host  *server.Server
	base  string // http://<host tailnet IP>
	alice caller
	logs  *logBuffer
}

// startBoundsHost starts a boundsHost and waits until the upstream is
// up; the host is stopped when the test ends.
func startBoundsHost(t *testing.T) *boundsHost {
	t.Helper()
	tn := startTailnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	logs := &logBuffer{}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ups := []config.Upstream{{Name: "big", Command: []string{self}, Env: map[string]string{stdioServerEnv: "bounds"}}}
	host, err := startHost(ctx, tn.net, "bounds-"+strings.ToLower(t.Name()), logs, func(c *config.Config, _ *server.Options) {
		c.ACL.Rules = []acl.Rule{{Src: []string{"*"}, Tools: []string{"*"}, Prompts: []string{"*"}, Resources: []string{"*"}}}
		c.Upstreams = ups
		c.MCP.Limits.UpstreamItems = boundsItems
		// The default keepalive: mcp-go's SSE client takes a server ping
		// whose ID equals a pending request's for that request's answer.
		c.MCP.Keepalive = config.Default().MCP.Keepalive
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		host.Close()
		if t.Failed() {
			t.Log(safeTail(logs.String(), 8<<10))
		}
	})
	waitUpstreamsUp(ctx, t, host, ups)
	return &boundsHost{ctx: ctx, host: host, base: "http://" + host.TailnetIP().String(), alice: tn.callers()[0], logs: logs}
}

// safeTail is the end of a log, at most n bytes (the log quotes megabyte
// strings otherwise).
func safeTail(s string, n int) string {
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}

// hasControl reports whether s has a C0 or C1 control character other
// than newline, carriage return and tab (an HTML page's own layout).
func hasControl(s string) bool {
	for _, r := range s {
		if (r < 0x20 && r != '\n' && r != '\r' && r != '\t') || (r >= 0x7f && r <= 0x9f) {
			return true
		}
	}
	return false
}

// TestUpstreamListsAndPageAreBounded: an upstream that lists a 2 MiB
// title laced with terminal escapes, a URI too long to keep and more
// tools than mcp.limits.upstream_items reaches a real MCP client on the
// tailnet bounded (titles cut to upstream_title_bytes on a character
// boundary, descriptions to upstream_description_bytes, the long URI and
// the tools past the limit dropped, each with a log line), and the
// identity page, in HTML and JSON, is small and carries no control
// character.
func TestUpstreamListsAndPageAreBounded(t *testing.T) {
	h := startBoundsHost(t)
	ctx, base, alice, logs := h.ctx, h.base, h.alice, h.logs
	limits := config.DefaultLimits()

	s := featSession(ctx, t, base+"/mcp", alice, nil)
	var bridged []*sdk.Tool
	eventually(t, "the upstream's tools are served", func() bool {
		bridged = bridged[:0]
		for tl, err := range s.Tools(ctx, nil) {
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(tl.Name, "big__") {
				bridged = append(bridged, tl)
			}
		}
		return len(bridged) > 0
	})

	t.Run("tools/list", func(t *testing.T) {
		if len(bridged) != boundsItems {
			t.Errorf("%d tools of the upstream listed, want upstream_items = %d", len(bridged), boundsItems)
		}
		var title *sdk.Tool
		for _, tl := range bridged {
			if tl.Name == "big__a_title" {
				title = tl
			}
			if tl.Name == fmt.Sprintf("big__t%03d", boundsFillers-1) {
				t.Errorf("%s, past upstream_items, is listed", tl.Name)
			}
		}
		if title == nil {
			t.Fatal("big__a_title is not listed")
		}
		if n := len(title.Title); n > int(limits.UpstreamTitleBytes) || !utf8.ValidString(title.Title) || !strings.HasSuffix(title.Title, "…") {
			t.Errorf("title has %d bytes (valid UTF-8 %v), want at most %d ending in …", n, utf8.ValidString(title.Title), limits.UpstreamTitleBytes)
		}
		if title.Annotations == nil || len(title.Annotations.Title) > int(limits.UpstreamTitleBytes) {
			t.Errorf("annotations title not cut: %+v", title.Annotations != nil)
		}
		if n := len(title.Description); n > int(limits.UpstreamDescriptionBytes) {
			t.Errorf("description has %d bytes, want at most %d", n, limits.UpstreamDescriptionBytes)
		}
		raw, _ := json.Marshal(bridged)
		if len(raw) > 256<<10 {
			t.Errorf("tools/list carries %d bytes of the upstream's tools", len(raw))
		}
		if lines := logs.JSONLines("upstream items dropped: it lists more than mcp.limits.upstream_items"); len(lines) == 0 || lines[0]["kind"] != "tool" {
			t.Errorf("no log line for the tools past upstream_items: %v", lines)
		}
	})

	t.Run("prompts and resources", func(t *testing.T) {
		var uris []string
		for r, err := range s.Resources(ctx, nil) {
			if err != nil {
				t.Fatal(err)
			}
			uris = append(uris, r.URI)
			if len(r.Title) > int(limits.UpstreamTitleBytes) || len(r.Description) > int(limits.UpstreamDescriptionBytes) {
				t.Errorf("resource %s: title %d bytes, description %d bytes", r.URI, len(r.Title), len(r.Description))
			}
		}
		if !slices.Contains(uris, "big+ctl://x") || slices.Contains(uris, "big+"+longURI) {
			t.Errorf("resources = %.200q, want big+ctl://x and not the long URI", strings.Join(uris, " "))
		}
		dropped := false
		for _, l := range logs.JSONLines("upstream item dropped: uri too long") {
			dropped = dropped || l["kind"] == "resource" && l["limit"] == "mcp.limits.upstream_uri_bytes"
		}
		if !dropped {
			t.Error("no log line for the resource whose URI is too long")
		}
		for tm, err := range s.ResourceTemplates(ctx, nil) {
			if err != nil {
				t.Fatal(err)
			}
			if len(tm.Title) > int(limits.UpstreamTitleBytes) {
				t.Errorf("template %s: title %d bytes", tm.URITemplate, len(tm.Title))
			}
		}
		found := false
		for p, err := range s.Prompts(ctx, nil) {
			if err != nil {
				t.Fatal(err)
			}
			found = found || p.Name == "big__p_title"
			if len(p.Title) > int(limits.UpstreamTitleBytes) {
				t.Errorf("prompt %s: title %d bytes", p.Name, len(p.Title))
			}
		}
		if !found {
			t.Error("big__p_title is not listed")
		}
	})

	t.Run("identity page", func(t *testing.T) {
		for _, accept := range []string{"text/html", "application/json"} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
			req.Header.Set("Accept", accept)
			resp, err := alice.httpClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET / (%s) = %d", accept, resp.StatusCode)
			}
			if !strings.Contains(body, "big__a_title") || !strings.Contains(body, "ctl://x") {
				t.Errorf("the %s page lacks the upstream's tool or resource", accept)
			}
			if len(body) > 128<<10 {
				t.Errorf("the %s page has %d bytes", accept, len(body))
			}
			if hasControl(body) {
				i := strings.IndexFunc(body, func(r rune) bool { return hasControl(string(r)) })
				t.Errorf("the %s page carries a control character: %q", accept, body[max(i-40, 0):min(i+40, len(body))])
			}
			if accept == "application/json" {
				// The JSON form escapes controls anyway; what it
				// says must be as clean as the HTML.
				var p struct {
					Tools     []struct{ Name, Title string }
					Resources []struct{ Name, Title string }
				}
				if err := json.Unmarshal([]byte(body), &p); err != nil {
					t.Fatal(err)
				}
				for _, it := range append(p.Tools, p.Resources...) {
					if hasControl(it.Name) || hasControl(it.Title) {
						t.Errorf("the JSON page shows %.80q / %.80q with a control character", it.Name, it.Title)
						break
					}
				}
			}
		}
	})
}

// TestResourceUpdateFloodLogsBounded: an upstream call that floods
// notifications/resources/updated past the host's delivery queue leaves a
// few log lines, not one per dropped update, and what they count (the
// first drop, then "more") with what was delivered (audited) accounts for
// the whole flood.
func TestResourceUpdateFloodLogsBounded(t *testing.T) {
	// Each update reaches every subscriber's queue entry: several
	// subscribers make the queue fill faster than it drains.
	const flood, subscribers = 10000, 4
	h := startBoundsHost(t)
	ctx, base, alice, logs := h.ctx, h.base, h.alice, h.logs
	uri := "big+" + boundsFloodURI

	var cl *mcpgoclient.Client
	for i := range subscribers {
		cl = mcpgoSSE(ctx, t, base, alice)
		sub := mcpgo.SubscribeRequest{}
		sub.Params.URI = uri
		if err := cl.Subscribe(ctx, sub); err != nil {
			t.Fatal(err)
		}
		waitAudit(ctx, t, logs, "resource_subscribe", uri, i+1)
	}
	call := mcpgo.CallToolRequest{}
	call.Params.Name = "big__a_updates"
	call.Params.Arguments = map[string]any{"n": flood}
	res, err := cl.CallTool(ctx, call)
	if err != nil || res.IsError {
		t.Fatalf("a_updates: %v %+v", err, res)
	}
	// The upstream wrote every update before the answer, on one stream:
	// each has been queued or dropped. Stopping the host logs the count
	// of the drops not yet reported.
	h.host.Close()

	const msg = "resource update dropped: delivery queue full"
	lines := logs.JSONLines(msg)
	if len(lines) == 0 {
		t.Fatalf("the flood of %d updates never filled the delivery queue: the test proves nothing", flood)
	}
	// One line in full and one count per interval (10 s): a flood that
	// takes far longer than the test allows would still stay below this.
	if len(lines) > 20 {
		t.Fatalf("%d %q lines for one flood", len(lines), msg)
	}
	dropped := 0
	for _, l := range lines {
		if more, ok := l["more"].(float64); ok {
			dropped += int(more)
		} else {
			dropped++
		}
	}
	delivered := 0
	for _, l := range logs.JSONLines("resource_updated") {
		if l["uri"] == uri {
			delivered++
		}
	}
	t.Logf("%d updates to %d subscribers: %d dropped (%d log lines), %d delivered", flood, subscribers, dropped, len(lines), delivered)
	// At most the queue (256) was still waiting when the host stopped.
	if total, want := dropped+delivered, flood*subscribers; total > want || total < want-256 {
		t.Errorf("%d dropped (in %d lines) + %d delivered = %d, want %d less at most the queue", dropped, len(lines), delivered, total, want)
	}
}
