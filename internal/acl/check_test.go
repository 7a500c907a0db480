package acl

import (
	"slices"
	"strings"
	"testing"
)

var checkTools = []string{"login_tool", "group_tool", "tag_tool", "member_tool", "shared_tool", "whoami", "docs__search", "bad/name"}

func TestToolsFor(t *testing.T) {
	p := mustNew(t, testConfig())
	tests := []struct {
		name      string
		principal string
		want      []string
		wantErr   string
	}{
		{name: "login", principal: "carol@example.com", want: []string{"login_tool", "member_tool", "whoami"}},
		{name: "login in group, any case", principal: "ALICE@example.com", want: []string{"group_tool", "member_tool", "whoami"}},
		{name: "login with wildcard rule", principal: "dave@example.com", want: []string{"member_tool", "whoami", "docs__search"}},
		{name: "group", principal: "group:sre", want: []string{"group_tool", "member_tool", "whoami"}},
		{name: "tag", principal: "tag:ci", want: []string{"tag_tool", "whoami"}},
		{name: "other tag", principal: "tag:prod", want: []string{"whoami"}},
		{name: "autogroup:member", principal: "autogroup:member", want: []string{"member_tool", "whoami"}},
		{name: "autogroup:shared", principal: "autogroup:shared", want: []string{"shared_tool", "whoami"}},
		{name: "any", principal: "*", want: []string{"whoami"}},
		{name: "unknown group", principal: "group:ops", wantErr: `unknown group "ops"`},
		{name: "not a principal", principal: "bob", wantErr: `"bob" is not a principal`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.ToolsFor(tt.principal, checkTools)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ToolsFor(%q) error = %v, want %q", tt.principal, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ToolsFor(%q): %v", tt.principal, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ToolsFor(%q) = %q, want %q", tt.principal, got, tt.want)
			}
		})
	}
}

func TestMatrix(t *testing.T) {
	cfg := Config{
		Groups: map[string][]string{"sre": {"bob@example.com"}},
		Rules: []Rule{
			{Src: []string{"group:sre", "tag:ci"}, Tools: []string{"*"}},
			{Src: []string{"Alice@Example.com", "*"}, Tools: []string{"whoami"}},
			{Src: []string{"alice@example.com", "group:SRE"}, Tools: []string{"docs__*"}},
		},
	}
	p := mustNew(t, cfg)
	tools := []string{"whoami", "docs__search", "disk_usage"}
	got := p.Matrix(tools)
	want := []Row{
		{Src: "group:sre", Tools: tools},
		{Src: "tag:ci", Tools: tools},
		{Src: "Alice@Example.com", Tools: []string{"whoami", "docs__search"}},
		{Src: "*", Tools: []string{"whoami"}},
	}
	if !slices.EqualFunc(got, want, func(a, b Row) bool { return a.Src == b.Src && slices.Equal(a.Tools, b.Tools) }) {
		t.Errorf("Matrix = %q, want %q", got, want)
	}
	if rows := mustNew(t, Config{}).Matrix(tools); rows != nil {
		t.Errorf("Matrix of empty policy = %q, want nil", rows)
	}
}

func TestPatternsForAndUnmatched(t *testing.T) {
	p := mustNew(t, Config{
		Groups: map[string][]string{"sre": {"alice@example.com"}},
		Rules: []Rule{
			{Src: []string{"group:sre"}, Tools: []string{"*"}, Prompts: []string{"docs__*"}, Resources: []string{"docs+*"}},
			{Src: []string{"*"}, Tools: []string{"whoami", "wiki__*", "whoamii"}, Resources: []string{"docs+file:///pub/*", "wiki+*"}},
			{Src: []string{"bob@example.com"}, Prompts: []string{"docs__*", "d*__x"}},
		},
	})
	for _, tt := range []struct {
		name      string
		principal string
		kind      Kind
		want      []string
	}{
		{name: "group member prompts", principal: "alice@example.com", kind: KindPrompt, want: []string{"docs__*"}},
		{name: "group member resources in rule order", principal: "alice@example.com", kind: KindResource, want: []string{"docs+*", "docs+file:///pub/*", "wiki+*"}},
		{name: "repeats dropped", principal: "bob@example.com", kind: KindPrompt, want: []string{"docs__*", "d*__x"}},
		{name: "any caller", principal: "*", kind: KindPrompt, want: nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.PatternsFor(tt.principal, tt.kind)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("PatternsFor(%q, %s) = %q, %v; want %q", tt.principal, tt.kind, got, err, tt.want)
			}
		})
	}

	got := p.Unmatched(KindTool, []string{"whoami", "disk"}, []string{"docs__"})
	want := []string{
		`acl.rules[1].tools[1]: "wiki__*" matches no known tool and no upstream's`,
		`acl.rules[1].tools[2]: "whoamii" matches no known tool and no upstream's`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Unmatched(tools) = %q, want %q", got, want)
	}
	got = p.Unmatched(KindResource, nil, []string{"docs+"})
	want = []string{`acl.rules[1].resources[1]: "wiki+*" matches no known resource and no upstream's`}
	if !slices.Equal(got, want) {
		t.Errorf("Unmatched(resources) = %q, want %q", got, want)
	}
}

func TestCanMatchPrefix(t *testing.T) {
	for _, tt := range []struct {
		pat, prefix string
		want        bool
	}{
		{"*", "docs__", true},
		{"docs__*", "docs__", true},
		{"docs__search", "docs__", true},
		{"d*", "docs__", true},
		{"*s__x", "docs__", true},
		{"wiki__*", "docs__", false},
		{"doc", "docs__", false},
		{"docs_*", "docs__", true},
		{"x*", "docs__", false},
		{"*__*", "docs+", true},
		{"docs+file:///*", "docs+", true},
		{"", "", true},
	} {
		if got := CanMatchPrefix(tt.pat, tt.prefix); got != tt.want {
			t.Errorf("CanMatchPrefix(%q, %q) = %v, want %v", tt.pat, tt.prefix, got, tt.want)
		}
	}
}
