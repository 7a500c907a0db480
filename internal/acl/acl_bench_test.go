package acl

import (
	"fmt"
	"testing"

	"github.com/tsmcp/tsmcp/internal/identity"
	"tailscale.com/tailcfg"
)

// decisionBench is one decision to measure and the answer it must give.
type decisionBench struct {
	name  string
	id    *identity.Identity
	tool  string
	allow bool
}

// benchDecisions checks each decision once, then measures it.
func benchDecisions(b *testing.B, p *Policy, benches []decisionBench) {
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

func BenchmarkDecide(b *testing.B) {
	p := mustNew(b, testConfig())
	grantee := withCaps(user("zed@example.com"), tailcfg.PeerCapMap{
		"tsmcp.dev/cap/mcp": []tailcfg.RawMessage{`{"tools":["docs__*"]}`},
	})
	benches := []decisionBench{
		{name: "rule hit", id: user("bob@example.com"), tool: "group_tool", allow: true},
		{name: "grant hit", id: grantee, tool: "docs__search", allow: true},
		{name: "deny", id: tagged("tag:prod"), tool: "group_tool", allow: false},
	}
	benchDecisions(b, p, benches)
}

// largePolicy is the scale: 1,000 rules over 10,000 tools, 100
// groups of 10 users, 50 tags. Rule i names one group or one tag and lists
// five tools of service i exactly plus a glob for its admin tools.
func largePolicy(b *testing.B) (*Policy, []string) {
	cfg := Config{Groups: map[string][]string{}}
	for g := range 100 {
		var members []string
		for k := range 10 {
			members = append(members, fmt.Sprintf("u%d@example.com", g*10+k))
		}
		cfg.Groups[fmt.Sprintf("team%d", g)] = members
	}
	for i := range 1000 {
		src := fmt.Sprintf("group:team%d", i%100)
		if i%2 == 1 {
			src = fmt.Sprintf("tag:svc%d", i%50)
		}
		var ts []string
		for j := range 5 {
			ts = append(ts, fmt.Sprintf("svc%d_tool%d", i, j))
		}
		ts = append(ts, fmt.Sprintf("svc%d_admin_*", i))
		cfg.Rules = append(cfg.Rules, Rule{Src: []string{src}, Tools: ts})
	}
	cfg.Rules = append(cfg.Rules, Rule{Src: []string{"*"}, Tools: []string{"whoami"}})
	tools := make([]string, 0, 10000)
	for i := range 1000 {
		for j := range 5 {
			tools = append(tools, fmt.Sprintf("svc%d_tool%d", i, j))
		}
		for j := range 5 {
			tools = append(tools, fmt.Sprintf("svc%d_admin_%d", i, j))
		}
	}
	return mustNew(b, cfg), tools
}

// BenchmarkDecideLarge measures one decision with 1,000 rules and 10,000
// tools for a caller already seen (the steady state), and a whole
// tools/list (10,000 decisions) per op.
func BenchmarkDecideLarge(b *testing.B) {
	p, tools := largePolicy(b)
	// u0 is in team0, which rules 0, 100, 200, ... name.
	member := user("u0@example.com")
	grantee := withCaps(user("zed@example.com"), tailcfg.PeerCapMap{
		"tsmcp.dev/cap/mcp": []tailcfg.RawMessage{`{"tools":["svc7_*"]}`},
	})
	benches := []decisionBench{
		{name: "user exact hit", id: member, tool: "svc900_tool3", allow: true},
		{name: "user glob hit", id: member, tool: "svc900_admin_3", allow: true},
		{name: "user deny", id: member, tool: "svc901_tool3", allow: false},
		{name: "tagged exact hit", id: tagged("tag:svc1"), tool: "svc951_tool0", allow: true},
		{name: "tagged deny", id: tagged("tag:svc1"), tool: "svc2_tool0", allow: false},
		{name: "grant hit", id: grantee, tool: "svc7_tool1", allow: true},
		{name: "grant deny", id: grantee, tool: "svc8_tool1", allow: false},
	}
	benchDecisions(b, p, benches)
	b.Run("tools/list of 10000 for a user", func(b *testing.B) {
		want := 0
		for _, t := range tools {
			if p.Decide(member, t).Allow {
				want++
			}
		}
		if want != 100 { // 10 rules x (5 exact + 5 admin)
			b.Fatalf("user may call %d tools, want 100", want)
		}
		b.ReportAllocs()
		for b.Loop() {
			for _, t := range tools {
				p.Decide(member, t)
			}
		}
	})
	b.Run("first sight of a user", func(b *testing.B) {
		// Worst case: every decision builds the caller's index (a new
		// policy each time, so nothing is cached).
		cfg := p
		b.ReportAllocs()
		for b.Loop() {
			fresh := &Policy{capability: cfg.capability, capKey: cfg.capKey, grantReason: cfg.grantReason, groups: cfg.groups, rules: cfg.rules}
			fresh.Decide(member, "svc900_tool3")
		}
	})
}
