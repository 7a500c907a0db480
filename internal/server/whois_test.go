package server_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"tailscale.com/client/tailscale/apitype"
	"tailscale.com/tailcfg"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
)

// TestWhoIsFailureIs403 runs a second host whose WhoIs fails or answers
// without an identity, and checks that every MCP path refuses with 403 and
// logs why.
func TestWhoIsFailureIs403(t *testing.T) {
	tn := startTailnet(t)
	tests := []struct {
		name  string
		whois server.WhoIsFunc
		log   string
	}{
		{
			name: "error",
			whois: func(context.Context, string) (*apitype.WhoIsResponse, error) {
				return nil, errors.New("peer not found")
			},
			log: "peer not found",
		},
		{
			name: "no node",
			whois: func(context.Context, string) (*apitype.WhoIsResponse, error) {
				return &apitype.WhoIsResponse{}, nil
			},
			log: "no node or no user",
		},
		{
			name: "untagged node without user",
			whois: func(context.Context, string) (*apitype.WhoIsResponse, error) {
				return &apitype.WhoIsResponse{Node: &tailcfg.Node{Name: "x."}}, nil
			},
			log: "no node or no user",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			logs := &logBuffer{}
			host, err := startHost(ctx, tn.net, "failing-whois-"+string(rune('a'+i)), logs, func(_ *config.Config, o *server.Options) {
				o.WhoIs = tt.whois
			})
			if err != nil {
				t.Fatal(err)
			}
			defer host.Close()
			base := "http://" + host.TailnetIP().String()
			hc := tn.callers()[0].httpClient()
			for _, path := range []string{"/mcp", "/message?sessionId=x"} {
				resp := postMCP(t, hc, base+path, strings.NewReader(initializeBody), nil)
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("POST %s = %d, want 403", path, resp.StatusCode)
				}
			}
			if code, body := get(t, hc, base+"/sse"); code != http.StatusForbidden || strings.Contains(body, tt.log) {
				t.Errorf("GET /sse = %d %q, want 403 with a generic body", code, body)
			}
			refusals := logs.JSONLines("refused unidentified caller")
			if len(refusals) != 3 {
				t.Fatalf("%d refusal log lines, want 3", len(refusals))
			}
			if msg, _ := refusals[0]["err"].(string); !strings.Contains(msg, tt.log) {
				t.Errorf("log err = %q, want it to say %q", msg, tt.log)
			}
		})
	}
}
