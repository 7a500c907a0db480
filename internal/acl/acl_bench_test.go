package acl

import (
	"testing"

	"github.com/tsmcp/tsmcp/internal/identity"
	"tailscale.com/tailcfg"
)

func BenchmarkDecide(b *testing.B) {
	p := mustNew(b, testConfig())
	grantee := withCaps(user("zed@example.com"), tailcfg.PeerCapMap{
		"tsmcp.dev/cap/mcp": []tailcfg.RawMessage{`{"tools":["docs__*"]}`},
	})
	benches := []struct {
		name  string
		id    *identity.Identity
		tool  string
		allow bool
	}{
		{name: "rule hit", id: user("bob@example.com"), tool: "group_tool", allow: true},
		{name: "grant hit", id: grantee, tool: "docs__search", allow: true},
		{name: "deny", id: tagged("tag:prod"), tool: "group_tool", allow: false},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			if d := p.Decide(bb.id, bb.tool); d.Allow != bb.allow {
				b.Fatalf("Decide = %+v, want Allow=%v", d, bb.allow)
			}
			b.ReportAllocs()
			for b.Loop() {
				p.Decide(bb.id, bb.tool)
			}
		})
	}
}
