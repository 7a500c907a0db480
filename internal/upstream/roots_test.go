package upstream

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
)

// TestRootsOffered: per-identity children are offered roots (with
// listChanged), shared ones are not; a caller's roots/list_changed goes
// to its own identity's child only, never to another identity's.
func TestRootsOffered(t *testing.T) {
	h := newHarness(t, []config.Upstream{perIdentityUpstream(t, "p"), testUpstream(t, "s")}, testOptions()).in(t)
	bg := context.Background()
	rootsOf := func(ctx context.Context, tool string) string { return h.childEnvOf(ctx, tool)["roots"] }
	if got := rootsOf(alice(bg), "p__env"); got != "cap=true changed=0" {
		t.Errorf("alice's per-identity child: %q, want roots offered", got)
	}
	if got := rootsOf(bob(bg), "p__env"); got != "cap=true changed=0" {
		t.Errorf("bob's per-identity child: %q, want roots offered", got)
	}
	if got := rootsOf(alice(bg), "s__env"); got != "cap=false changed=0" {
		t.Errorf("shared child: %q, want no roots offered", got)
	}

	// Alice's context has no MCP session to ask (the host's have): her
	// child is still told, and the roots it had are forgotten.
	h.p.RootsChanged(alice(bg))
	waitFor(t, "alice's child told her roots changed", func() bool { return rootsOf(alice(bg), "p__env") == "cap=true changed=1" })
	h.waitLog("caller's roots not fetched after its roots/list_changed")
	h.p.RootsChanged(ciNode(bg)) // no child: nothing to tell
	if got := rootsOf(bob(bg), "p__env"); got != "cap=true changed=0" {
		t.Errorf("bob's child: %q, want alice's list_changed not to reach it", got)
	}
	if got := rootsOf(alice(bg), "s__env"); got != "cap=false changed=0" {
		t.Errorf("shared child: %q, want alice's list_changed not to reach it", got)
	}
}

// TestRootsBounded: a caller's roots pass through Bounds before they
// reach an upstream: the first Items kept, a URI over URIBytes or a root
// larger than ItemBytes dropped, a name over TitleBytes cut; drops logged.
func TestRootsBounded(t *testing.T) {
	opts := testOptions()
	opts.Bounds = testBounds // Items 5, ItemBytes 8 KiB, URIBytes 64, TitleBytes 8
	h := newHarness(t, []config.Upstream{perIdentityUpstream(t, "p")}, opts)
	u := h.p.ups[0]
	root := func(uri, name string) mcp.Root { return mcp.Root{URI: uri, Name: name} }
	big := root("file:///big", "big")
	big.Meta = &mcp.Meta{AdditionalFields: map[string]any{"x": strings.Repeat("m", 10<<10)}}
	tests := []struct {
		name    string
		in      []mcp.Root
		want    []string // "uri name"
		wantLog string
	}{
		{name: "within bounds", in: []mcp.Root{root("file:///a", "a"), root("file:///b", "")},
			want: []string{"file:///a a", "file:///b "}},
		{name: "more than Items", in: []mcp.Root{root("file:///1", ""), root("file:///2", ""), root("file:///3", ""),
			root("file:///4", ""), root("file:///5", ""), root("file:///6", "")},
			want:    []string{"file:///1 ", "file:///2 ", "file:///3 ", "file:///4 ", "file:///5 "},
			wantLog: "upstream items dropped: it lists more than mcp.limits.upstream_items"},
		{name: "URI too long", in: []mcp.Root{root("file:///"+strings.Repeat("u", 64), "long"), root("file:///ok", "ok")},
			want: []string{"file:///ok ok"}, wantLog: "upstream item dropped: uri too long"},
		{name: "name cut", in: []mcp.Root{root("file:///n", "0123456789abc")},
			want: []string{"file:///n 01234…"}}, // 8 bytes with the …
		{name: "too large", in: []mcp.Root{big, root("file:///ok", "ok")},
			want: []string{"file:///ok ok"}, wantLog: "upstream item dropped: larger than mcp.limits.upstream_item_bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range u.boundRoots(tc.in) {
				got = append(got, r.URI+" "+r.Name)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("bounded roots = %q, want %q", got, tc.want)
			}
			if tc.wantLog != "" && !slices.ContainsFunc(h.logs.JSONLines(tc.wantLog), func(m map[string]any) bool { return m["kind"] == "root" }) {
				t.Errorf("no %q line of kind root", tc.wantLog)
			}
		})
	}
}
