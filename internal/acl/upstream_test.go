package acl

import (
	"strings"
	"testing"

	"tailscale.com/tailcfg"

	"github.com/tsmcp/tsmcp/internal/identity"
)

func TestDecideUpstream(t *testing.T) {
	p := mustNew(t, Config{
		Capability: DefaultCapability,
		Rules: []Rule{
			{Src: []string{"alice@example.com"}, Tools: []string{"gh__*"}},
			{Src: []string{"bob@example.com"}, Tools: []string{"gh__search"}},
			{Src: []string{"carol@example.com"}, Tools: []string{"g*"}},
			{Src: []string{"dave@example.com"}, Tools: []string{"ghx__*", "docs__read"}},
			{Src: []string{"tag:ci"}, Tools: []string{"*"}},
		},
	})
	grant := func(id *identity.Identity, g string) *identity.Identity {
		return withCaps(id, tailcfg.PeerCapMap{DefaultCapability: {tailcfg.RawMessage(g)}})
	}
	for _, tt := range []struct {
		name     string
		id       *identity.Identity
		upstream string
		prefixed bool
		tools    []string
		allow    bool
		reason   string
	}{
		{name: "glob under the prefix", id: user("alice@example.com"), upstream: "gh", prefixed: true, allow: true},
		{name: "one exact tool", id: user("bob@example.com"), upstream: "gh", prefixed: true, allow: true},
		{name: "glob reaching the prefix", id: user("carol@example.com"), upstream: "gh", prefixed: true, allow: true},
		{name: "another upstream's tools", id: user("dave@example.com"), upstream: "gh", prefixed: true, reason: "no rule or grant allows a tool of the upstream"},
		{name: "nobody's rule", id: user("mallory@example.com"), upstream: "gh", prefixed: true, reason: "no rule or grant allows"},
		{name: "tag", id: tagged("tag:ci"), upstream: "gh", prefixed: true, allow: true},
		{name: "grant", id: grant(user("mallory@example.com"), `{"tools":["gh__issues"]}`), upstream: "gh", prefixed: true, allow: true},
		{name: "malformed grant denies", id: grant(user("alice@example.com"), `{"tools":"gh__*"}`), upstream: "gh", prefixed: true, reason: "malformed grant"},
		{name: "unprefixed by listed tools", id: user("bob@example.com"), upstream: "gh", tools: []string{"search", "gh__search"}, allow: true},
		{name: "unprefixed without listed tools", id: user("alice@example.com"), upstream: "gh", reason: "no rule or grant allows"},
		{name: "nil identity", id: nil, upstream: "gh", prefixed: true, reason: "unidentified caller"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := p.DecideUpstream(tt.id, tt.upstream, tt.prefixed, tt.tools)
			if d.Allow != tt.allow || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("DecideUpstream = %+v, want allow %v, reason containing %q", d, tt.allow, tt.reason)
			}
		})
	}
}
