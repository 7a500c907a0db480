package acl

import (
	"strings"
	"testing"
)

func TestNewValidation(t *testing.T) {
	ok := []Rule{{Src: []string{"*"}, Tools: []string{"whoami"}}}
	tests := []struct {
		name string
		cfg  Config
		want []string // each must be one line of the error, exactly
	}{
		{
			name: "unknown group",
			cfg:  Config{Rules: []Rule{ok[0], {Src: []string{"group:sre"}, Tools: []string{"*"}}}},
			want: []string{`acl.rules[1].src[0]: unknown group "sre" (define it under acl.groups)`},
		},
		{
			name: "empty patterns and src",
			cfg:  Config{Rules: []Rule{{}}},
			want: []string{"acl.rules[0].src: must not be empty", "acl.rules[0]: allows nothing: give at least one of tools, prompts or resources"},
		},
		{
			name: "group member not a login",
			cfg:  Config{Groups: map[string][]string{"sre": {"alice@example.com", "carol@example.com", "bob"}}},
			want: []string{`acl.groups.sre[2]: "bob" is not a login (want user@domain)`},
		},
		{
			name: "group member with two @",
			cfg:  Config{Groups: map[string][]string{"sre": {"a@b@c"}}},
			want: []string{`acl.groups.sre[0]: "a@b@c" is not a login (want user@domain)`},
		},
		{
			name: "group member empty user",
			cfg:  Config{Groups: map[string][]string{"sre": {"@example.com"}}},
			want: []string{`acl.groups.sre[0]: "@example.com" is not a login (want user@domain)`},
		},
		{
			name: "nested group not allowed",
			cfg:  Config{Groups: map[string][]string{"sre": {"group:ops"}}},
			want: []string{`acl.groups.sre[0]: "group:ops" is not a login (want user@domain)`},
		},
		{
			name: "invalid group name",
			cfg:  Config{Groups: map[string][]string{"-sre": {"alice@example.com"}}},
			want: []string{`acl.groups: "-sre" is not a valid group name (want [a-zA-Z0-9][a-zA-Z0-9_-]*)`},
		},
		{
			name: "groups differing in case",
			cfg:  Config{Groups: map[string][]string{"SRE": nil, "sre": nil}},
			want: []string{`acl.groups.sre: same group as "SRE" (group names are case-insensitive)`},
		},
		{
			name: "invalid capability",
			cfg:  Config{Capability: "x y"},
			want: []string{`acl.capability: "x y" is not a valid capability name (want domain/path, e.g. tsmcp.dev/cap/mcp)`},
		},
		{
			name: "capability without path",
			cfg:  Config{Capability: "tsmcp.dev"},
			want: []string{`acl.capability: "tsmcp.dev" is not a valid capability name (want domain/path, e.g. tsmcp.dev/cap/mcp)`},
		},
		{
			name: "invalid tool patterns",
			cfg:  Config{Rules: []Rule{{Src: []string{"*"}, Tools: []string{"docs/*", "", strings.Repeat("a", 65), "ok_*"}}}},
			want: []string{
				`acl.rules[0].tools[0]: "docs/*" is not a valid tool pattern (want 1-64 characters from a-z A-Z 0-9 _ - *)`,
				`acl.rules[0].tools[1]: "" is not a valid tool pattern (want 1-64 characters from a-z A-Z 0-9 _ - *)`,
				`acl.rules[0].tools[2]: "` + strings.Repeat("a", 65) + `" is not a valid tool pattern (want 1-64 characters from a-z A-Z 0-9 _ - *)`,
			},
		},
		{
			name: "invalid prompt and resource patterns",
			cfg: Config{Rules: []Rule{{Src: []string{"*"},
				Prompts:   []string{"docs+x", "ok__*"},
				Resources: []string{"docs+file:///a b", "", "docs+\x00", "docs+*", strings.Repeat("r", 4097)},
			}}},
			want: []string{
				`acl.rules[0].prompts[0]: "docs+x" is not a valid prompt pattern (want 1-64 characters from a-z A-Z 0-9 _ - *)`,
				`acl.rules[0].resources[0]: "docs+file:///a b" is not a valid resource pattern (want 1-4096 characters without spaces or control characters, * for any run)`,
				`acl.rules[0].resources[1]: "" is not a valid resource pattern (want 1-4096 characters without spaces or control characters, * for any run)`,
				`acl.rules[0].resources[2]: "docs+\x00" is not a valid resource pattern (want 1-4096 characters without spaces or control characters, * for any run)`,
				`acl.rules[0].resources[4]: "` + strings.Repeat("r", 4097) + `" is not a valid resource pattern (want 1-4096 characters without spaces or control characters, * for any run)`,
			},
		},
		{
			name: "invalid principals",
			cfg: Config{Groups: map[string][]string{"sre": nil}, Rules: []Rule{{
				Src:   []string{"bob", "autogroup:admin", "tag:", "tag:1ci", "group:", "a@b@c", "user:a@b", "group:s re"},
				Tools: []string{"*"},
			}}},
			want: []string{
				`acl.rules[0].src[0]: "bob" is not a principal (want user@domain, group:<name>, tag:<name>, autogroup:member, autogroup:shared or *)`,
				`acl.rules[0].src[1]: "autogroup:admin" is not supported (want autogroup:member or autogroup:shared)`,
				`acl.rules[0].src[2]: "tag:" is not a valid tag (want tag:<name>, name [a-zA-Z][a-zA-Z0-9-]*)`,
				`acl.rules[0].src[3]: "tag:1ci" is not a valid tag (want tag:<name>, name [a-zA-Z][a-zA-Z0-9-]*)`,
				`acl.rules[0].src[4]: "group:" is not a valid group (want group:<name>, name [a-zA-Z0-9][a-zA-Z0-9_-]*)`,
				`acl.rules[0].src[5]: "a@b@c" is not a login (want user@domain)`,
				`acl.rules[0].src[6]: "user:a@b" is not a login (want user@domain)`,
				`acl.rules[0].src[7]: "group:s re" is not a valid group (want group:<name>, name [a-zA-Z0-9][a-zA-Z0-9_-]*)`,
			},
		},
		{
			name: "all problems reported",
			cfg: Config{
				Capability: "nope",
				Groups:     map[string][]string{"sre": {"bob"}},
				Rules:      []Rule{{Src: []string{"group:ops"}}},
			},
			want: []string{
				`acl.capability: "nope" is not a valid capability name (want domain/path, e.g. tsmcp.dev/cap/mcp)`,
				`acl.groups.sre[0]: "bob" is not a login (want user@domain)`,
				`acl.rules[0].src[0]: unknown group "ops" (define it under acl.groups)`,
				`acl.rules[0]: allows nothing: give at least one of tools, prompts or resources`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.cfg)
			if err == nil {
				t.Fatalf("New = %v, nil; want errors %q", p, tt.want)
			}
			if p != nil {
				t.Errorf("New returned a policy with an error")
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("New error lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestNewValid(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		cap  string
	}{
		{name: "empty", cfg: Config{}, cap: DefaultCapability},
		{name: "design example", cap: "tsmcp.dev/cap/mcp", cfg: Config{
			Capability: "tsmcp.dev/cap/mcp",
			Groups:     map[string][]string{"sre": {"alice@example.com", "bob@example.com"}},
			Rules: []Rule{
				{Src: []string{"group:sre", "tag:ci"}, Tools: []string{"*"}},
				{Src: []string{"*"}, Tools: []string{"whoami"}},
			},
		}},
		{name: "group name case-insensitive", cap: DefaultCapability, cfg: Config{
			Groups: map[string][]string{"sre": nil}, // viper lower-cases keys
			Rules:  []Rule{{Src: []string{"group:SRE"}, Tools: []string{"*"}}},
		}},
		{name: "github-style login and custom capability", cap: "example.com/mcp", cfg: Config{
			Capability: "example.com/mcp",
			Rules:      []Rule{{Src: []string{"octocat@github", "autogroup:member", "autogroup:shared"}, Tools: []string{"a-b_c*"}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, tt.cfg)
			if got := p.Capability(); got != tt.cap {
				t.Errorf("Capability() = %q, want %q", got, tt.cap)
			}
		})
	}
}
