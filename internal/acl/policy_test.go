package acl

import (
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/identity"
	"tailscale.com/tailcfg"
)

// testConfig exercises every principal kind; each rule has its own tool so
// a test can tell which rule allowed.
func testConfig() Config {
	return Config{
		Groups: map[string][]string{
			"sre": {"Alice@Example.com", "bob@example.com"},
		},
		Rules: []Rule{
			{Src: []string{"carol@example.com"}, Tools: []string{"login_tool"}},
			{Src: []string{"group:sre"}, Tools: []string{"group_tool"}},
			{Src: []string{"tag:ci"}, Tools: []string{"tag_tool"}},
			{Src: []string{"autogroup:member"}, Tools: []string{"member_tool"}},
			{Src: []string{"autogroup:shared"}, Tools: []string{"shared_tool"}},
			{Src: []string{"*"}, Tools: []string{"whoami"}},
			{Src: []string{"dave@example.com"}, Tools: []string{"docs__*", "*_status", "a*b*c"}},
		},
	}
}

func mustNew(t testing.TB, cfg Config) *Policy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func user(login string) *identity.Identity {
	return &identity.Identity{LoginName: login, NodeName: "laptop"}
}

func tagged(tags ...string) *identity.Identity {
	return &identity.Identity{Tags: tags, NodeName: "ci-runner"}
}

func withCaps(id *identity.Identity, caps tailcfg.PeerCapMap) *identity.Identity {
	id.Caps = caps
	return id
}

func TestDecide(t *testing.T) {
	p := mustNew(t, testConfig())
	shared := user("eve@other.org")
	shared.Shared = true
	// A tagged node that somehow carries a login (and is shared) still
	// matches only by its tags.
	taggedWithLogin := &identity.Identity{LoginName: "carol@example.com", Tags: []string{"tag:ci"}, Shared: true}

	tests := []struct {
		name   string
		id     *identity.Identity
		tool   string
		allow  bool
		reason string // substring of Decision.Reason
	}{
		{name: "nil identity", id: nil, tool: "whoami", reason: "unidentified caller"},
		{name: "untagged without login", id: &identity.Identity{NodeName: "x"}, tool: "whoami", reason: "neither a login nor tags"},
		{name: "invalid tool name", id: user("carol@example.com"), tool: "bad/name", reason: "invalid tool name"},
		{name: "empty tool name", id: user("carol@example.com"), tool: "", reason: "invalid tool name"},

		{name: "login allowed", id: user("carol@example.com"), tool: "login_tool", allow: true, reason: "acl.rules[0] (src carol@example.com)"},
		{name: "login case-insensitive", id: user("CAROL@Example.COM"), tool: "login_tool", allow: true, reason: "acl.rules[0]"},
		{name: "other login denied", id: user("mallory@example.com"), tool: "login_tool", reason: "no rule or grant allows the tool"},

		{name: "group member allowed", id: user("bob@example.com"), tool: "group_tool", allow: true, reason: "acl.rules[1] (src group:sre)"},
		{name: "group member case-insensitive", id: user("alice@EXAMPLE.com"), tool: "group_tool", allow: true, reason: "acl.rules[1]"},
		{name: "non-member denied group tool", id: user("carol@example.com"), tool: "group_tool", reason: "no rule or grant allows"},

		{name: "tag allowed", id: tagged("tag:ci"), tool: "tag_tool", allow: true, reason: "acl.rules[2] (src tag:ci)"},
		{name: "one of several tags allowed", id: tagged("tag:a", "tag:ci"), tool: "tag_tool", allow: true, reason: "acl.rules[2]"},
		{name: "other tag denied", id: tagged("tag:prod"), tool: "tag_tool", reason: "no rule or grant allows"},
		{name: "tags are case-sensitive", id: tagged("tag:CI"), tool: "tag_tool", reason: "no rule or grant allows"},
		{name: "user denied tag tool", id: user("carol@example.com"), tool: "tag_tool", reason: "no rule or grant allows"},

		{name: "tagged with login: tag matches", id: taggedWithLogin, tool: "tag_tool", allow: true, reason: "acl.rules[2]"},
		{name: "tagged with login: login ignored", id: taggedWithLogin, tool: "login_tool", reason: "no rule or grant allows"},
		{name: "tagged with group member login: group ignored", id: &identity.Identity{LoginName: "bob@example.com", Tags: []string{"tag:x"}}, tool: "group_tool", reason: "no rule or grant allows"},
		{name: "tagged: not autogroup:member", id: tagged("tag:ci"), tool: "member_tool", reason: "no rule or grant allows"},
		{name: "tagged shared: not autogroup:shared", id: taggedWithLogin, tool: "shared_tool", reason: "no rule or grant allows"},
		{name: "tagged: matches *", id: tagged("tag:ci"), tool: "whoami", allow: true, reason: "acl.rules[5] (src *)"},

		{name: "member allowed member tool", id: user("carol@example.com"), tool: "member_tool", allow: true, reason: "acl.rules[3] (src autogroup:member)"},
		{name: "member denied shared tool", id: user("carol@example.com"), tool: "shared_tool", reason: "no rule or grant allows"},
		{name: "shared allowed shared tool", id: shared, tool: "shared_tool", allow: true, reason: "acl.rules[4] (src autogroup:shared)"},
		{name: "shared denied member tool", id: shared, tool: "member_tool", reason: "no rule or grant allows"},
		{name: "shared matches *", id: shared, tool: "whoami", allow: true, reason: "acl.rules[5]"},

		{name: "wildcard prefix", id: user("dave@example.com"), tool: "docs__search", allow: true, reason: "acl.rules[6]"},
		{name: "wildcard prefix matches empty rest", id: user("dave@example.com"), tool: "docs__", allow: true, reason: "acl.rules[6]"},
		{name: "wildcard suffix", id: user("dave@example.com"), tool: "service_status", allow: true, reason: "acl.rules[6]"},
		{name: "wildcard middle", id: user("dave@example.com"), tool: "axxbyyc", allow: true, reason: "acl.rules[6]"},
		{name: "wildcard no match", id: user("dave@example.com"), tool: "wiki__search", reason: "no rule or grant allows the tool"},
		{name: "wildcard is case-sensitive", id: user("dave@example.com"), tool: "DOCS__search", reason: "no rule or grant allows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(tt.id, tt.tool)
			if d.Allow != tt.allow || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Decide(%v, %q) = %+v, want Allow=%v with reason containing %q", tt.id, tt.tool, d, tt.allow, tt.reason)
			}
		})
	}
}

func TestDecideGrants(t *testing.T) {
	// Only the "*" rule: everything else must come from grants.
	p := mustNew(t, Config{Rules: []Rule{{Src: []string{"*"}, Tools: []string{"whoami"}}}})
	custom := mustNew(t, Config{Capability: "example.com/cap/tools"})
	docs := tailcfg.PeerCapMap{"tsmcp.dev/cap/mcp": []tailcfg.RawMessage{`{"tools":["docs__*"]}`}}

	tests := []struct {
		name   string
		p      *Policy
		id     *identity.Identity
		tool   string
		allow  bool
		reason string
	}{
		{name: "grant allows", p: p, id: withCaps(user("carol@example.com"), docs), tool: "docs__search", allow: true, reason: "grant tsmcp.dev/cap/mcp"},
		{name: "grant allows tagged node", p: p, id: withCaps(tagged("tag:ci"), docs), tool: "docs__search", allow: true, reason: "grant tsmcp.dev/cap/mcp"},
		{name: "grant does not cover tool", p: p, id: withCaps(user("carol@example.com"), docs), tool: "wiki__search", reason: "no rule or grant allows the tool"},
		{name: "rule still allows with grant", p: p, id: withCaps(user("carol@example.com"), docs), tool: "whoami", allow: true, reason: "acl.rules[0]"},
		{name: "no caps", p: p, id: user("carol@example.com"), tool: "docs__search", reason: "no rule or grant allows"},
		{name: "second grant value allows", p: p, id: withCaps(user("carol@example.com"), tailcfg.PeerCapMap{
			"tsmcp.dev/cap/mcp": []tailcfg.RawMessage{`{"tools":["a"]}`, `{"tools":["b","wiki__*"]}`},
		}), tool: "wiki__page", allow: true, reason: "grant tsmcp.dev/cap/mcp"},
		{name: "grant for other capability ignored", p: p, id: withCaps(user("carol@example.com"), tailcfg.PeerCapMap{
			"example.com/cap/other": []tailcfg.RawMessage{`{"tools":["*"]}`},
		}), tool: "docs__search", reason: "no rule or grant allows"},
		{name: "custom capability read", p: custom, id: withCaps(user("carol@example.com"), tailcfg.PeerCapMap{
			"example.com/cap/tools": []tailcfg.RawMessage{`{"tools":["docs__*"]}`},
		}), tool: "docs__search", allow: true, reason: "grant example.com/cap/tools"},
		{name: "custom capability ignores default", p: custom, id: withCaps(user("carol@example.com"), docs), tool: "docs__search", reason: "no rule or grant allows"},
		{name: "invalid pattern in grant ignored", p: p, id: withCaps(user("carol@example.com"), tailcfg.PeerCapMap{
			"tsmcp.dev/cap/mcp": []tailcfg.RawMessage{`{"tools":["docs/*","", "docs__*"]}`},
		}), tool: "docs__search", allow: true, reason: "grant tsmcp.dev/cap/mcp"},
		{name: "only invalid patterns in grant", p: p, id: withCaps(user("carol@example.com"), tailcfg.PeerCapMap{
			"tsmcp.dev/cap/mcp": []tailcfg.RawMessage{`{"tools":["docs/*"]}`},
		}), tool: "docs__search", reason: "no rule or grant allows"},
		{name: "grant without tools", p: p, id: withCaps(user("carol@example.com"), tailcfg.PeerCapMap{
			"tsmcp.dev/cap/mcp": []tailcfg.RawMessage{`{}`},
		}), tool: "docs__search", reason: "no rule or grant allows"},
		{name: "malformed grant JSON denies even when a rule allows", p: p, id: withCaps(user("carol@example.com"), tailcfg.PeerCapMap{
			"tsmcp.dev/cap/mcp": []tailcfg.RawMessage{`{"tools":`},
		}), tool: "whoami", reason: "malformed grant for tsmcp.dev/cap/mcp: "},
		{name: "wrongly typed grant denies", p: p, id: withCaps(user("carol@example.com"), tailcfg.PeerCapMap{
			"tsmcp.dev/cap/mcp": []tailcfg.RawMessage{`{"tools":"docs__*"}`},
		}), tool: "docs__search", reason: "malformed grant for tsmcp.dev/cap/mcp: "},
		{name: "one malformed value spoils all", p: p, id: withCaps(user("carol@example.com"), tailcfg.PeerCapMap{
			"tsmcp.dev/cap/mcp": []tailcfg.RawMessage{`{"tools":["docs__*"]}`, `[1]`},
		}), tool: "docs__search", reason: "malformed grant for tsmcp.dev/cap/mcp: "},
		{name: "malformed grant for other capability ignored", p: p, id: withCaps(user("carol@example.com"), tailcfg.PeerCapMap{
			"example.com/cap/other": []tailcfg.RawMessage{`{`},
		}), tool: "whoami", allow: true, reason: "acl.rules[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.p.Decide(tt.id, tt.tool)
			if d.Allow != tt.allow || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Decide(%v, %q) = %+v, want Allow=%v with reason containing %q", tt.id, tt.tool, d, tt.allow, tt.reason)
			}
		})
	}
}

func TestZeroPolicy(t *testing.T) {
	tests := []struct {
		name string
		p    *Policy
	}{
		{name: "nil", p: nil},
		{name: "zero value", p: &Policy{}},
	}
	docs := tailcfg.PeerCapMap{"tsmcp.dev/cap/mcp": []tailcfg.RawMessage{`{"tools":["*"]}`}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := tt.p.Decide(withCaps(user("carol@example.com"), docs), "whoami"); d.Allow {
				t.Errorf("Decide = %+v, want deny", d)
			}
			if c := tt.p.Capability(); c != "" {
				t.Errorf("Capability() = %q, want empty", c)
			}
		})
	}
}

func TestEmptyConfig(t *testing.T) {
	p := mustNew(t, Config{})
	if got := p.Capability(); got != DefaultCapability {
		t.Errorf("Capability() = %q, want %q", got, DefaultCapability)
	}
	if d := p.Decide(user("carol@example.com"), "whoami"); d.Allow {
		t.Errorf("Decide = %+v, want deny", d)
	}
}
