package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/config"
)

// TestLimitLineBoundsPathAndMethod: a request refused by a limit is
// audited with its path and method bounded like every name the caller
// chooses (cut to 128 bytes and marked, control characters shown as
// U+FFFD): alice holds her whole body budget with one body still
// arriving, then sends a small body with a 3,000-byte path that ends in a
// newline and a 200-byte method; the limit line carries neither whole.
func TestLimitLineBoundsPathAndMethod(t *testing.T) {
	alice := startTailnet(t).callers()[0].httpClient()
	base, _, logs := limitsHost(t, "limits-audit-bounds", func(c *config.Config) {
		c.MCP.Limits.BodyBytesPerIdentity = c.MCP.MaxBody
	})

	// A body of max_body bytes, announced and never sent, holds alice's
	// budget until the test ends. Should it arrive while another of her
	// bodies is held, it is refused itself: it is then sent again.
	type holding struct {
		cancel context.CancelFunc
		pw     *io.PipeWriter
		done   chan struct{}
	}
	hold := func() *holding {
		pr, pw := io.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/mcp", pr)
		req.ContentLength = int64(64 * config.KiB)
		h := &holding{cancel, pw, make(chan struct{})}
		go func() {
			defer close(h.done)
			if resp, err := alice.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		return h
	}
	release := func(h *holding) {
		h.cancel()
		h.pw.CloseWithError(io.ErrUnexpectedEOF)
		<-h.done
	}
	h := hold()
	defer func() { release(h) }()

	path := "/" + strings.Repeat("p", 3000) + "%0A"
	method := strings.Repeat("M", 200)
	eventually(t, "alice's request is refused by her body budget", func() bool {
		select {
		case <-h.done:
			release(h)
			h = hold()
		default:
		}
		req, _ := http.NewRequest(method, base+path, strings.NewReader("{}"))
		resp, err := alice.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusTooManyRequests
	})
	wantPath := "/" + strings.Repeat("p", 127) + "…[3002 bytes]"
	wantMethod := strings.Repeat("M", 128) + "…[200 bytes]"
	var found bool
	for _, l := range logs.JSONLines("limit") {
		p, _ := l["path"].(string)
		if l["limit"] != "mcp.limits.body_bytes_per_identity" || !strings.HasPrefix(p, "/ppp") {
			continue
		}
		found = true
		if p != wantPath || l["method"] != wantMethod {
			t.Errorf("limit line path %.200q method %.200q, want %q and %q", p, l["method"], wantPath, wantMethod)
		}
	}
	if !found {
		t.Fatal("no limit line for the refused request")
	}
}
