package server_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// failingProvider has a tool that panics and one that fails with an error
// whose text must not reach the client.
type failingProvider struct{}

const secretDetail = "dial tcp 10.0.0.7:5432: password authentication failed for user admin"

func (failingProvider) Name() string { return "failing" }
func (failingProvider) Close() error { return nil }
func (failingProvider) Tools(context.Context) ([]tools.Tool, error) {
	return []tools.Tool{
		{Tool: mcpgo.NewTool("boom"), Handler: func(context.Context, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
			panic("boom: " + secretDetail)
		}},
		{Tool: mcpgo.NewTool("fails"), Handler: func(context.Context, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
			return nil, errors.New(secretDetail)
		}},
	}, nil
}

// TestPolicyOnTheHost runs a host with a restrictive policy and tailnet
// grants, and checks what each identity lists and may call, and the audit
// lines of every decision.
func TestPolicyOnTheHost(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	alice, bob, ci, carol := cs[0], cs[1], cs[2], tn.carolCaller()
	capName := tailcfg.PeerCapability(acl.DefaultCapability)
	// Grants from the "tailnet policy": ci gets whoami; bob's grant is
	// malformed, which must deny him everything, local rules included.
	tn.net.SetPeerCaps(ci.node.IP, tailcfg.PeerCapMap{capName: {`{"tools":["whoami"]}`}})
	tn.net.SetPeerCaps(bob.node.IP, tailcfg.PeerCapMap{capName: {`{"tools":"whoami"}`}})
	// carol's grant reads as whoami to a reviewer, but a case-variant key
	// would grant everything to a case-insensitive decoder.
	tn.net.SetPeerCaps(carol.node.IP, tailcfg.PeerCapMap{capName: {`{"tools":["whoami"],"TOOLS":["*"]}`}})
	defer tn.net.SetPeerCaps(ci.node.IP, nil)
	defer tn.net.SetPeerCaps(bob.node.IP, nil)
	defer tn.net.SetPeerCaps(carol.node.IP, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logs := &logBuffer{}
	host, err := startHost(ctx, tn.net, "policy", logs, func(c *config.Config, o *server.Options) {
		c.ACL = acl.Config{
			Groups: map[string][]string{"sre": {alice.login}},
			Rules: []acl.Rule{
				{Src: []string{"group:sre"}, Tools: []string{"*"}},
				{Src: []string{bob.login}, Tools: []string{"whoami"}},
			},
		}
		o.Tools = server.Providers(tools.Builtin{}, failingProvider{})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	base := "http://" + host.TailnetIP().String()

	connect := func(t *testing.T, c caller) *sdk.ClientSession {
		return streamableSession(ctx, t, base+"/mcp", c)
	}
	call := func(s *sdk.ClientSession, name string) (*sdk.CallToolResult, error) {
		return s.CallTool(ctx, &sdk.CallToolParams{Name: name})
	}

	tests := []struct {
		name      string
		who       caller
		wantList  []string
		callable  []string
		refused   []string
		reasonHas string // in the audit line of a refusal
	}{
		{"group member sees everything", alice, []string{"boom", "fails", "whoami"}, []string{"whoami"}, []string{"no-such-tool"}, "no such tool"},
		{"malformed grant denies despite a rule", bob, nil, nil, []string{"whoami", "boom"}, "malformed grant"},
		{"tagged node allowed by a grant only", ci, []string{"whoami"}, []string{"whoami"}, []string{"boom", "fails"}, "no rule or grant allows"},
		{"case-variant grant key is malformed", carol, nil, nil, []string{"whoami", "boom"}, `malformed grant for tsmcp.dev/cap/mcp: grant has unknown key "TOOLS"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := connect(t, tt.who)
			if names := toolNames(ctx, t, s); !slices.Equal(names, tt.wantList) {
				t.Errorf("tools/list = %v, want %v", names, tt.wantList)
			}
			for _, name := range tt.callable {
				if r, err := call(s, name); err != nil || r.IsError {
					t.Errorf("call %s: %v %+v, want success", name, err, r)
				}
			}
			for _, name := range tt.refused {
				r, err := call(s, name)
				if err == nil && !r.IsError {
					t.Errorf("call %s succeeded, want refusal", name)
				}
				if !auditHas(logs, tt.who.login, name, "deny", tt.reasonHas) {
					t.Errorf("no deny audit line for %s calling %s with reason containing %q", tt.who.name, name, tt.reasonHas)
				}
			}
		})
	}

	t.Run("failures reach the client generic, the log in detail", func(t *testing.T) {
		s := connect(t, alice)
		for _, name := range []string{"boom", "fails"} {
			_, err := call(s, name)
			if err == nil {
				t.Fatalf("%s succeeded", name)
			}
			if strings.Contains(err.Error(), "password") || strings.Contains(err.Error(), "10.0.0.7") {
				t.Errorf("%s: client saw the failure's details: %v", name, err)
			}
		}
	})

	// The audit: one line per decision, with who, what, why and how.
	audit := logs.JSONLines("tool_call")
	find := func(user, tool, decision string) map[string]any {
		for _, l := range audit {
			c, _ := l["caller"].(map[string]any)
			if c["user"] == user && l["tool"] == tool && l["decision"] == decision {
				return l
			}
		}
		return nil
	}
	checks := []struct {
		name, user, tool, decision, field, want string
	}{
		{"rule allow", alice.login, "whoami", "allow", "reason", "acl.rules[0] (src group:sre)"},
		{"grant allow", "", "whoami", "allow", "reason", "grant " + acl.DefaultCapability},
		{"malformed grant", bob.login, "whoami", "deny", "reason", "malformed grant"},
		{"no such tool", alice.login, "no-such-tool", "deny", "reason", "no such tool"},
		{"tool not granted", "", "boom", "deny", "reason", "no rule or grant allows the tool"},
		{"panic outcome", alice.login, "boom", "allow", "outcome", "panic"},
		{"panic detail logged", alice.login, "boom", "allow", "err", "password authentication failed"},
		{"error outcome", alice.login, "fails", "allow", "outcome", "error"},
	}
	for _, c := range checks {
		t.Run("audit/"+c.name, func(t *testing.T) {
			l := find(c.user, c.tool, c.decision)
			if l == nil {
				t.Fatalf("no audit line for %s %s %s", c.user, c.tool, c.decision)
			}
			if got, _ := l[c.field].(string); !strings.Contains(got, c.want) {
				t.Fatalf("%s = %q, want it to contain %q (line %v)", c.field, got, c.want, l)
			}
			if _, ok := l["duration_ms"]; !ok {
				t.Errorf("audit line lacks duration_ms: %v", l)
			}
		})
	}
	// Tags are a list, as whoami shows them: empty for a user's node.
	for _, c := range []struct {
		user string
		want string
	}{{"", "[tag:ci]"}, {alice.login, "[]"}} {
		l := find(c.user, "whoami", "allow")
		if l == nil {
			t.Fatalf("no whoami audit line for %q", c.user)
		}
		tags, ok := l["caller"].(map[string]any)["tags"].([]any)
		if got := fmt.Sprint(tags); !ok || got != c.want {
			t.Errorf("audit caller.tags for %q = %#v, want the list %s", c.user, l["caller"].(map[string]any)["tags"], c.want)
		}
	}
}

// TestRevokedGrantTakesEffectMidSession: a grant removed from the tailnet
// policy stops the next call in an already open session.
func TestRevokedGrantTakesEffectMidSession(t *testing.T) {
	tn := startTailnet(t)
	ci := tn.callers()[2]
	capName := tailcfg.PeerCapability(acl.DefaultCapability)
	tn.net.SetPeerCaps(ci.node.IP, tailcfg.PeerCapMap{capName: {`{"tools":["whoami"]}`}})
	defer tn.net.SetPeerCaps(ci.node.IP, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	host, err := startHost(ctx, tn.net, "revoking", &logBuffer{}, func(c *config.Config, _ *server.Options) {
		c.ACL = acl.Config{} // grants only
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()

	client := sdk.NewClient(&sdk.Implementation{Name: "revoke-test", Version: "1"}, nil)
	s, err := client.Connect(ctx, &sdk.SSEClientTransport{Endpoint: "http://" + host.TailnetIP().String() + "/sse", HTTPClient: ci.httpClient()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if r, err := s.CallTool(ctx, &sdk.CallToolParams{Name: "whoami"}); err != nil || r.IsError {
		t.Fatalf("whoami with the grant: %v %+v", err, r)
	}

	tn.net.SetPeerCaps(ci.node.IP, nil)
	tn.net.Reconnect()
	for {
		_, err := s.CallTool(ctx, &sdk.CallToolParams{Name: "whoami"})
		if err != nil && strings.Contains(err.Error(), "not found") {
			return // refused, in the same session
		}
		if ctx.Err() != nil {
			t.Fatalf("the revoked grant still allowed calls: last error %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// auditHas reports whether logs hold a tool_call audit line for user's call
// of tool with decision and a reason containing reason.
func auditHas(logs *logBuffer, user, tool, decision, reason string) bool {
	for _, l := range logs.JSONLines("tool_call") {
		c, _ := l["caller"].(map[string]any)
		r, _ := l["reason"].(string)
		if c["user"] == user && l["tool"] == tool && l["decision"] == decision && strings.Contains(r, reason) {
			return true
		}
	}
	return false
}
