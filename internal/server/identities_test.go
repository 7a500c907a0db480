package server_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"tailscale.com/tailcfg"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// countingProvider's tools count how often their bodies run.
type countingProvider struct {
	mu   sync.Mutex // guards the fields below
	runs map[string]int
}

func (p *countingProvider) Name() string { return "counting" }
func (p *countingProvider) Close() error { return nil }
func (p *countingProvider) Tools(context.Context) ([]tools.Tool, error) {
	var ts []tools.Tool
	for _, name := range []string{"ops_restart", "docs_search", "secret_dump"} {
		ts = append(ts, tools.Tool{Tool: mcpgo.NewTool(name), Handler: func(context.Context, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
			p.mu.Lock()
			p.runs[name]++
			p.mu.Unlock()
			return mcpgo.NewToolResultText("ran " + name), nil
		}})
	}
	return ts, nil
}

func (p *countingProvider) count(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runs[name]
}

// TestEachIdentitySeesExactlyItsTools: user A is allowed by a local rule,
// user B only by a tailnet grant pushed to the host for B's node, user C
// and a tagged node by nothing. Each lists exactly its tools, and every
// other call fails the same way as a tool that does not exist, without
// the tool's body running.
func TestEachIdentitySeesExactlyItsTools(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	alice, bob, ci, carol := cs[0], cs[1], cs[2], tn.carolCaller()
	capName := tailcfg.PeerCapability(acl.DefaultCapability)
	tn.net.SetPeerCaps(bob.node.IP, tailcfg.PeerCapMap{capName: {`{"tools":["docs_*"]}`}})
	defer tn.net.SetPeerCaps(bob.node.IP, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	counting := &countingProvider{runs: map[string]int{}}
	logs := &logBuffer{}
	host, err := startHost(ctx, tn.net, "identities", logs, func(c *config.Config, o *server.Options) {
		c.ACL = acl.Config{Rules: []acl.Rule{
			{Src: []string{alice.login}, Tools: []string{"ops_*", "whoami"}},
		}}
		o.Tools = server.Providers(tools.Builtin{}, counting)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	endpoint := "http://" + host.TailnetIP().String() + "/mcp"
	all := []string{"docs_search", "ops_restart", "secret_dump", "whoami", "no_such_tool"}

	for _, tt := range []struct {
		name string
		who  caller
		want []string // sorted
	}{
		{name: "A by a local rule", who: alice, want: []string{"ops_restart", "whoami"}},
		{name: "B by a tailnet grant only", who: bob, want: []string{"docs_search"}},
		{name: "C with nothing", who: carol},
		{name: "tagged node with nothing", who: ci},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := streamableSession(ctx, t, endpoint, tt.who)
			before := len(logs.JSONLines("tools_list"))
			if names := toolNames(ctx, t, s); !slices.Equal(names, tt.want) {
				t.Errorf("tools/list = %v, want %v", names, tt.want)
			}

			lines := logs.JSONLines("tools_list")
			if len(lines) != before+1 {
				t.Fatalf("%d tools_list audit lines for one tools/list, want 1", len(lines)-before)
			}
			caller, _ := lines[before]["caller"].(map[string]any)
			if got := lines[before]["shown"]; got != float64(len(tt.want)) || caller["user"] != tt.who.login {
				t.Errorf("tools_list audit line %v, want caller %q shown %d", lines[before], tt.who.login, len(tt.want))
			}

			// The error for an unknown tool is what every forbidden
			// call must look like.
			_, notFound := s.CallTool(ctx, &sdk.CallToolParams{Name: "no_such_tool"})
			if notFound == nil {
				t.Fatal("calling no_such_tool succeeded")
			}
			for _, name := range all {
				before := counting.count(name)
				r, err := s.CallTool(ctx, &sdk.CallToolParams{Name: name})
				allowed := slices.Contains(tt.want, name)
				switch {
				case allowed && (err != nil || r.IsError):
					t.Errorf("call %s: %v %+v, want success", name, err, r)
				case allowed:
					if name != "whoami" && counting.count(name) != before+1 {
						t.Errorf("call %s succeeded but its body ran %d times", name, counting.count(name)-before)
					}
				case err == nil:
					t.Errorf("call %s succeeded (%+v), want refusal", name, r)
				default:
					if got, want := sameShape(err.Error(), name), sameShape(notFound.Error(), "no_such_tool"); got != want {
						t.Errorf("refusal of %s = %q, differs from an unknown tool's %q", name, err, notFound)
					}
					if n := counting.count(name) - before; n != 0 {
						t.Errorf("refused call %s ran the tool body %d times", name, n)
					}
				}
			}
		})
	}
	if n := counting.count("secret_dump"); n != 0 {
		t.Errorf("secret_dump, allowed to no one, ran %d times", n)
	}
}

// sameShape replaces the tool name in an error text, so that refusals of
// different tools can be compared.
func sameShape(msg, tool string) string {
	return strings.ReplaceAll(msg, tool, "<tool>")
}
