package acl

import (
	"fmt"
	"sync"
	"testing"

	"github.com/tsmcp/tsmcp/internal/identity"
	"tailscale.com/tailcfg"
)

// The caches must not change a single decision: the same questions asked
// cold, warm, concurrently and past the cache bounds get the same answers.
func TestCachesDoNotChangeDecisions(t *testing.T) {
	cfg := testConfig()
	ids := []*identity.Identity{
		user("alice@example.com"), user("ALICE@example.com"), user("bob@example.com"),
		user("carol@example.com"), tagged("tag:ci"), tagged("tag:ci", "tag:prod"),
		tagged("tag:prod", "tag:ci"), {LoginName: "ext@other.example", Shared: true},
		withCaps(user("zed@example.com"), tailcfg.PeerCapMap{
			"tsmcp.dev/cap/mcp": []tailcfg.RawMessage{`{"tools":["docs__*"]}`, `{"tools":["whoami"]}`},
		}),
		withCaps(user("bob@example.com"), tailcfg.PeerCapMap{
			"tsmcp.dev/cap/mcp": []tailcfg.RawMessage{`{"tools":"notalist"}`},
		}),
	}
	toolNames := []string{"whoami", "group_tool", "tag_tool", "login_tool", "member_tool", "shared_tool", "docs__search", "other"}

	// Reference answers from a policy whose caches are bypassed: a
	// fresh Policy per decision.
	base := mustNew(t, cfg)
	fresh := func() *Policy {
		return &Policy{capability: base.capability, capKey: base.capKey, grantReason: base.grantReason, groups: base.groups, rules: base.rules}
	}
	want := make([][]Decision, len(ids))
	for i, id := range ids {
		for _, tool := range toolNames {
			want[i] = append(want[i], fresh().Decide(id, tool))
		}
	}

	p := mustNew(t, cfg)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				for i, id := range ids {
					for j, tool := range toolNames {
						if got := p.Decide(id, tool); got != want[i][j] {
							t.Errorf("Decide(%v, %q) = %+v, want %+v", id, tool, got, want[i][j])
						}
					}
				}
			}
		}()
	}
	wg.Wait()

	// Past the bounds: more subjects and grant values than the caches
	// hold still get correct answers.
	for i := range maxCachedSubjects + 10 {
		id := user(fmt.Sprintf("x%d@example.com", i))
		if d := p.Decide(id, "group_tool"); d.Allow {
			t.Fatalf("Decide(%v, group_tool) = %+v, want deny", id, d)
		}
	}
	if n := len(p.subjects.m); n > maxCachedSubjects {
		t.Errorf("subject cache holds %d entries, bound is %d", n, maxCachedSubjects)
	}
	if d := p.Decide(user("bob@example.com"), "group_tool"); !d.Allow {
		t.Errorf("bob after cache filled: %+v, want allow", d)
	}
	for i := range maxCachedGrants + 10 {
		id := withCaps(user("g@example.com"), tailcfg.PeerCapMap{
			"tsmcp.dev/cap/mcp": []tailcfg.RawMessage{tailcfg.RawMessage(fmt.Sprintf(`{"tools":["t%d"]}`, i))},
		})
		if d := p.Decide(id, fmt.Sprintf("t%d", i)); !d.Allow {
			t.Fatalf("grant %d: %+v, want allow", i, d)
		}
	}
	if n := len(p.grants.m); n > maxCachedGrants {
		t.Errorf("grant cache holds %d entries, bound is %d", n, maxCachedGrants)
	}
}
