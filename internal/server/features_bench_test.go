package server_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// BenchmarkBridgedFeatures measures resources/read and prompts/get of
// server-everything through tsmcp (the go-sdk client on alice's tsnet node,
// the in-process tailnet, WhoIs, the policy, the audit line, the bridge)
// against the same calls made straight to the upstream: a stdio child of
// the benchmark, and the Streamable HTTP server on loopback.
//
//	go test -run '^$' -bench BridgedFeatures -benchtime 3s ./internal/server/
func BenchmarkBridgedFeatures(b *testing.B) {
	tn, err := sharedTailnet()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ups := bridgeWays(b)
	httpURL := ups[2].URL
	host, err := startHost(ctx, tn.net, "features-bench", &logBuffer{}, func(c *config.Config, o *server.Options) {
		c.ACL.Rules = toRules([]aclRule{{src: tn.callers()[0].login, tools: all, prompts: all, resources: all}})
		c.Upstreams = ups
	})
	if err != nil {
		b.Fatal(err)
	}
	defer host.Close()
	via := featSession(ctx, b, "http://"+host.TailnetIP().String()+"/mcp", tn.callers()[0], nil)
	client := sdk.NewClient(&sdk.Implementation{Name: "tsmcp-bench", Version: "1"}, nil)
	directStdio, err := client.Connect(ctx, &sdk.CommandTransport{Command: exec.Command(testutil.EverythingBin(b))}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer directStdio.Close()
	directHTTP, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: httpURL, MaxRetries: -1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer directHTTP.Close()

	for _, c := range []struct {
		name   string
		s      *sdk.ClientSession
		prefix string // of URIs; "<upstream>__" is derived from it
	}{
		{"stdio/direct", directStdio, ""},
		{"stdio/tsmcp", via, "every"},
		{"http/direct", directHTTP, ""},
		{"http/tsmcp", via, "everyhttp"},
	} {
		uri, prompt := staticDoc, "args-prompt"
		if c.prefix != "" {
			uri, prompt = c.prefix+"+"+staticDoc, c.prefix+"__"+prompt
		}
		b.Run("read/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := c.s.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri})
				if err != nil || len(res.Contents) != 1 {
					b.Fatalf("read %s: %v", uri, err)
				}
			}
		})
		b.Run("prompt/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := c.s.GetPrompt(ctx, &sdk.GetPromptParams{Name: prompt, Arguments: map[string]string{"city": "Lyon"}})
				if err != nil || !strings.Contains(res.Messages[0].Content.(*sdk.TextContent).Text, "Lyon") {
					b.Fatalf("prompt %s: %v", prompt, err)
				}
			}
		})
	}
}
