package playground_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/playground"
	"github.com/tsmcp/tsmcp/internal/testutil"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// TestPlayground runs `tsmcp dev` in-process, then connects the official Go
// SDK to each printed endpoint and checks that the host sees that demo
// identity.
func TestPlayground(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	epFile := filepath.Join(t.TempDir(), "endpoints.json")
	out := &testutil.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- playground.Run(ctx, playground.Options{
			Out:           out,
			Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
			EndpointsFile: epFile,
		})
	}()
	var eps playground.Endpoints
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(epFile); err == nil {
			if err := json.Unmarshal(b, &eps); err != nil {
				t.Fatal(err)
			}
			break
		}
		select {
		case err := <-done:
			t.Fatalf("playground stopped: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no endpoints file")
		}
	}
	if len(eps.Identities) != 3 {
		t.Fatalf("identities = %+v, want alice, bob, ci", eps.Identities)
	}

	client := sdk.NewClient(&sdk.Implementation{Name: "playground-test", Version: "1"}, nil)
	for _, id := range eps.Identities {
		t.Run(id.Name, func(t *testing.T) {
			if !strings.Contains(out.String(), id.MCP) {
				t.Errorf("printed endpoints lack %s", id.MCP)
			}
			cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
			defer ccancel()
			cs, err := client.Connect(cctx, &sdk.StreamableClientTransport{Endpoint: id.MCP, MaxRetries: -1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			res, err := cs.CallTool(cctx, &sdk.CallToolParams{Name: "whoami"})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(res.StructuredContent)
			var w tools.WhoAmI
			if err := json.Unmarshal(b, &w); err != nil {
				t.Fatal(err)
			}
			if w.Login != id.Login || !slices.Equal(w.Tags, id.Tags) || !strings.HasPrefix(w.Node, id.Name+".") {
				t.Fatalf("whoami = %+v, want login %q tags %v node %s.*", w, id.Login, id.Tags, id.Name)
			}
			// The example's exec tool: as the table says.
			res, err = cs.CallTool(cctx, &sdk.CallToolParams{Name: "server_time", Arguments: map[string]any{"format": "+%Y"}})
			allowed := slices.Contains(id.MayCall, "server_time")
			switch {
			case allowed && (err != nil || res.IsError):
				t.Fatalf("server_time: %v %+v, want the year", err, res)
			case allowed:
				if text := res.Content[0].(*sdk.TextContent).Text; !strings.HasPrefix(text, strconv.Itoa(time.Now().UTC().Year())) {
					t.Fatalf("server_time = %q, want the year", text)
				}
			case err == nil:
				t.Fatalf("server_time succeeded for %s, whom the table says may not call it", id.Name)
			}
			if want := id.Name != "bob"; allowed != want {
				t.Errorf("%s may call server_time = %v, want %v", id.Name, allowed, want)
			}
		})
	}

	t.Run("proxies refuse a non-loopback Host (DNS rebinding)", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, eps.Identities[0].SSE, nil)
		req.Host = "evil.example:80"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status = %d, want 403", resp.StatusCode)
		}
	})

	t.Run("proxies serve their own origin and refuse others", func(t *testing.T) {
		u, err := url.Parse(eps.Identities[0].MCP)
		if err != nil {
			t.Fatal(err)
		}
		const init = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
		tests := []struct {
			name, host, origin string
			want               int
		}{
			{"the endpoint's own origin", u.Host, "http://" + u.Host, http.StatusOK},
			{"its own origin by the name localhost", "localhost:" + u.Port(), "http://localhost:" + u.Port(), http.StatusOK},
			{"no Origin", u.Host, "", http.StatusOK},
			{"another site", u.Host, "http://evil.example", http.StatusForbidden},
			{"another loopback port", u.Host, "http://127.0.0.1:1", http.StatusForbidden},
			{"its own host over https", u.Host, "https://" + u.Host, http.StatusForbidden},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodPost, u.String(), strings.NewReader(init))
				req.Host = tt.host
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				if tt.origin != "" {
					req.Header.Set("Origin", tt.origin)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Fatalf("Host %s, Origin %q: status %d, want %d", tt.host, tt.origin, resp.StatusCode, tt.want)
				}
			})
		}
	})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("playground did not stop")
	}
	if _, err := http.Get(eps.Identities[0].MCP); err == nil {
		t.Error("proxy still listening after the playground stopped")
	}
}
