package acl

import (
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/identity"
	"tailscale.com/tailcfg"
)

// TestDecideKinds: each kind is decided from its own patterns only, and
// every kind is default-deny.
func TestDecideKinds(t *testing.T) {
	p := mustNew(t, Config{
		Groups: map[string][]string{"sre": {"alice@example.com"}},
		Rules: []Rule{
			{Src: []string{"group:sre"}, Tools: []string{"*"}, Prompts: []string{"*"}, Resources: []string{"*"}},
			{Src: []string{"bob@example.com"}, Tools: []string{"docs__*"}},
			{Src: []string{"carol@example.com"}, Prompts: []string{"docs__greet"}, Resources: []string{"docs+file:///pub/*"}},
			{Src: []string{"tag:ci"}, Resources: []string{"every+test://static/resource/{id}"}},
		},
	})
	grantOnlyResources := tailcfg.PeerCapMap{DefaultCapability: {`{"resources":["every+*"]}`}}
	tests := []struct {
		name   string
		id     *identity.Identity
		kind   Kind
		target string
		allow  bool
		reason string
	}{
		{name: "sre any prompt", id: user("alice@example.com"), kind: KindPrompt, target: "docs__greet", allow: true, reason: "acl.rules[0]"},
		{name: "sre any resource", id: user("alice@example.com"), kind: KindResource, target: "docs+file:///etc/x", allow: true, reason: "acl.rules[0]"},
		{name: "tools only: no prompt", id: user("bob@example.com"), kind: KindPrompt, target: "docs__greet", reason: "no rule or grant allows the prompt"},
		{name: "tools only: no resource", id: user("bob@example.com"), kind: KindResource, target: "docs+file:///pub/a", reason: "no rule or grant allows the resource"},
		{name: "tools only: the tool", id: user("bob@example.com"), kind: KindTool, target: "docs__search", allow: true, reason: "acl.rules[1]"},
		{name: "a prompt name is not a tool", id: user("carol@example.com"), kind: KindTool, target: "docs__greet", reason: "no rule or grant allows the tool"},
		{name: "exact prompt", id: user("carol@example.com"), kind: KindPrompt, target: "docs__greet", allow: true, reason: "acl.rules[2]"},
		{name: "other prompt", id: user("carol@example.com"), kind: KindPrompt, target: "docs__other", reason: "no rule or grant allows the prompt"},
		{name: "resource under prefix", id: user("carol@example.com"), kind: KindResource, target: "docs+file:///pub/a/b.md", allow: true, reason: "acl.rules[2]"},
		{name: "resource outside prefix", id: user("carol@example.com"), kind: KindResource, target: "docs+file:///private/a", reason: "no rule or grant allows the resource"},
		{name: "a resource pattern is not a prompt", id: user("carol@example.com"), kind: KindPrompt, target: "docs", reason: "no rule or grant allows the prompt"},
		{name: "template by its URI template", id: tagged("tag:ci"), kind: KindResource, target: "every+test://static/resource/{id}", allow: true, reason: "acl.rules[3]"},
		{name: "template pattern is literal", id: tagged("tag:ci"), kind: KindResource, target: "every+test://static/resource/1", reason: "no rule or grant allows the resource"},
		{name: "grant opens resources", id: withCaps(user("dave@example.com"), grantOnlyResources), kind: KindResource, target: "every+test://static/resource/1", allow: true, reason: "grant tsmcp.dev/cap/mcp"},
		{name: "resource grant opens no prompt", id: withCaps(user("dave@example.com"), grantOnlyResources), kind: KindPrompt, target: "every__simple_prompt", reason: "no rule or grant allows the prompt"},
		{name: "resource grant opens no tool", id: withCaps(user("dave@example.com"), grantOnlyResources), kind: KindTool, target: "every__echo", reason: "no rule or grant allows the tool"},
		{name: "resource URI with space", id: user("alice@example.com"), kind: KindResource, target: "docs+file:///a b", reason: "invalid resource URI"},
		{name: "resource URI too long", id: user("alice@example.com"), kind: KindResource, target: "docs+" + strings.Repeat("a", 5000), reason: "invalid resource URI"},
		{name: "empty resource URI", id: user("alice@example.com"), kind: KindResource, target: "", reason: "invalid resource URI"},
		{name: "invalid prompt name", id: user("alice@example.com"), kind: KindPrompt, target: "docs+x", reason: "invalid prompt name"},
		{name: "unidentified", id: nil, kind: KindResource, target: "docs+x", reason: "unidentified caller"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decision
			switch tt.kind {
			case KindTool:
				d = p.Decide(tt.id, tt.target)
			case KindPrompt:
				d = p.DecidePrompt(tt.id, tt.target)
			case KindResource:
				d = p.DecideResource(tt.id, tt.target)
			}
			if d.Allow != tt.allow || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("%s %q: %+v, want Allow=%v, reason containing %q", tt.kind, tt.target, d, tt.allow, tt.reason)
			}
		})
	}
}

// TestGrantDecodingIsStrict: a grant value means what a reviewer reads.
// Keys are exact and lower-case, each at most once, every value a list of
// strings; anything else is malformed and denies the caller everything,
// even what a local rule allows.
func TestGrantDecodingIsStrict(t *testing.T) {
	p := mustNew(t, Config{Rules: []Rule{{Src: []string{"*"}, Tools: []string{"whoami"}}}})
	tests := []struct {
		name      string
		grant     string
		malformed string // "" when the grant must decode
	}{
		{name: "upper-case key beside lower-case", grant: `{"tools":["whoami"],"TOOLS":["*"]}`, malformed: `unknown key "TOOLS"`},
		{name: "mixed-case key", grant: `{"Tools":["*"]}`, malformed: `unknown key "Tools"`},
		{name: "case variant of prompts", grant: `{"PROMPTS":["*"]}`, malformed: `unknown key "PROMPTS"`},
		{name: "case variant of resources", grant: `{"Resources":["*"]}`, malformed: `unknown key "Resources"`},
		{name: "unicode case fold", grant: `{"tooLſ":["*"]}`, malformed: `unknown key`},
		{name: "unknown key", grant: `{"tools":["whoami"],"admin":true}`, malformed: `unknown key "admin"`},
		{name: "duplicate key", grant: `{"tools":["whoami"],"tools":["*"]}`, malformed: `key "tools" twice`},
		{name: "null value", grant: `{"tools":null}`, malformed: "tools is not a list of strings"},
		{name: "string value", grant: `{"resources":"*"}`, malformed: "resources is not a list of strings"},
		{name: "numbers in list", grant: `{"prompts":[1]}`, malformed: "prompts is not a list of strings"},
		{name: "trailing data", grant: `{"tools":["whoami"]}{"tools":["*"]}`, malformed: "data after its object"},
		{name: "not an object", grant: `["*"]`, malformed: "not a JSON object"},
		{name: "null", grant: `null`, malformed: "not a JSON object"},
		{name: "empty", grant: ``, malformed: "not a JSON object"},
		{name: "truncated", grant: `{"tools":["whoami"]`, malformed: "grant:"},
		{name: "invalid UTF-8", grant: "{\"tools\":[\"who\xffami\"]}", malformed: "not valid UTF-8"},
		{name: "empty object", grant: `{}`},
		{name: "all three kinds", grant: `{"tools":["whoami"],"prompts":["docs__*"],"resources":["docs+*"]}`},
		{name: "whitespace around", grant: " \n{ \"tools\" : [ \"whoami\" ] }\n "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := withCaps(user("carol@example.com"), tailcfg.PeerCapMap{DefaultCapability: {tailcfg.RawMessage(tt.grant)}})
			// whoami is allowed by the "*" rule: only a malformed
			// grant can deny it.
			for _, d := range []Decision{p.Decide(id, "whoami"), p.DecidePrompt(id, "docs__x"), p.DecideResource(id, "docs+file:///x")} {
				if tt.malformed == "" {
					if strings.Contains(d.Reason, "malformed") {
						t.Fatalf("grant %q: %+v, want it to decode", tt.grant, d)
					}
					continue
				}
				if d.Allow || !strings.Contains(d.Reason, "malformed grant") || !strings.Contains(d.Reason, tt.malformed) {
					t.Fatalf("grant %q: %+v, want a malformed-grant denial containing %q", tt.grant, d, tt.malformed)
				}
			}
		})
	}
}
