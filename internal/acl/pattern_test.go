package acl

import (
	"strings"
	"testing"
)

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		name string
		pat  string
		tool string
		want bool
	}{
		{name: "exact", pat: "whoami", tool: "whoami", want: true},
		{name: "exact mismatch", pat: "whoami", tool: "whoamI", want: false},
		{name: "exact is not prefix", pat: "who", tool: "whoami", want: false},
		{name: "star matches all", pat: "*", tool: "anything", want: true},
		{name: "prefix", pat: "docs__*", tool: "docs__search", want: true},
		{name: "prefix empty rest", pat: "docs__*", tool: "docs__", want: true},
		{name: "prefix mismatch", pat: "docs__*", tool: "docs_search", want: false},
		{name: "suffix", pat: "*_status", tool: "service_status", want: true},
		{name: "suffix mismatch", pat: "*_status", tool: "service_statuses", want: false},
		{name: "middle", pat: "a*z", tool: "abcz", want: true},
		{name: "backtracking", pat: "*ab*ab", tool: "xabyabab", want: true},
		{name: "backtracking mismatch", pat: "*ab*abc", tool: "xabyabab", want: false},
		{name: "double star", pat: "a**b", tool: "ab", want: true},
		{name: "trailing stars", pat: "a***", tool: "a", want: true},
		{name: "pattern longer than name", pat: "abc*", tool: "ab", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := compilePattern(KindTool, tt.pat)
			if err != nil {
				t.Fatalf("compilePattern(%q): %v", tt.pat, err)
			}
			if got := p.match(tt.tool); got != tt.want {
				t.Errorf("pattern %q match %q = %v, want %v", tt.pat, tt.tool, got, tt.want)
			}
			if got := matchGlob(tt.pat, tt.tool); got != tt.want {
				t.Errorf("matchGlob(%q, %q) = %v, want %v", tt.pat, tt.tool, got, tt.want)
			}
		})
	}
}

// TestMatchGlobURIs: a "*" with more pattern after it stays out of a URI's
// query and fragment, so a path pattern cannot be met by a URI whose path
// (what a server that drops the query reads) is elsewhere; a final "*"
// matches them.
func TestMatchGlobURIs(t *testing.T) {
	for _, tt := range []struct {
		name, pat, uri string
		want           bool
	}{
		{name: "middle star in the path", pat: "docs+file:///*/public/*", uri: "docs+file:///team/public/x", want: true},
		{name: "middle star across a query", pat: "docs+file:///*/public/*", uri: "docs+file:///secret?/public/x", want: false},
		{name: "middle star across a fragment", pat: "docs+file:///*/public/*", uri: "docs+file:///secret#/public/x", want: false},
		{name: "final star takes a query", pat: "docs+file:///handbook/*", uri: "docs+file:///handbook/a?b=c", want: true},
		{name: "final star takes a fragment", pat: "docs+file:///handbook/*", uri: "docs+file:///handbook/a#top", want: true},
		{name: "literal query after a star", pat: "docs+file:///*?v=1", uri: "docs+file:///a?v=1", want: true},
		{name: "star before a literal query stays in the path", pat: "docs+file:///*?v=1", uri: "docs+file:///a?x?v=1", want: false},
		{name: "star before a literal query", pat: "docs+file:///a?*", uri: "docs+file:///a?v=1", want: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := matchGlob(tt.pat, tt.uri); got != tt.want {
				t.Errorf("matchGlob(%q, %q) = %v, want %v", tt.pat, tt.uri, got, tt.want)
			}
		})
	}
}

func TestValidNames(t *testing.T) {
	tests := []struct {
		name        string
		s           string
		wantPattern bool
		wantTool    bool
	}{
		{name: "plain", s: "disk_usage", wantPattern: true, wantTool: true},
		{name: "dash and digits", s: "fs-2__read", wantPattern: true, wantTool: true},
		{name: "star", s: "docs__*", wantPattern: true, wantTool: false},
		{name: "empty", s: "", wantPattern: false, wantTool: false},
		{name: "slash", s: "a/b", wantPattern: false, wantTool: false},
		{name: "dot", s: "a.b", wantPattern: false, wantTool: false},
		{name: "space", s: "a b", wantPattern: false, wantTool: false},
		{name: "non-ASCII", s: "é", wantPattern: false, wantTool: false},
		{name: "64 chars", s: strings.Repeat("a", 64), wantPattern: true, wantTool: true},
		{name: "65 chars", s: strings.Repeat("a", 65), wantPattern: false, wantTool: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validPattern(tt.s); got != tt.wantPattern {
				t.Errorf("validPattern(%q) = %v, want %v", tt.s, got, tt.wantPattern)
			}
			if got := validToolName(tt.s); got != tt.wantTool {
				t.Errorf("validToolName(%q) = %v, want %v", tt.s, got, tt.wantTool)
			}
		})
	}
}
