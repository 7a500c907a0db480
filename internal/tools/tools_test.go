package tools

import (
	"context"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

type fakeProvider struct {
	name  string
	tools []string
}

func (p fakeProvider) Name() string { return p.name }
func (p fakeProvider) Close() error { return nil }
func (p fakeProvider) Tools(context.Context) ([]Tool, error) {
	var ts []Tool
	for _, n := range p.tools {
		ts = append(ts, Tool{Tool: mcp.NewTool(n)})
	}
	return ts, nil
}

func TestCollect(t *testing.T) {
	tests := []struct {
		name      string
		providers []Provider
		wantErr   string
		want      []string
	}{
		{"builtin", []Provider{Builtin{}}, "", []string{"whoami"}},
		{"two providers", []Provider{Builtin{}, fakeProvider{"x", []string{"x__a"}}}, "", []string{"whoami", "x__a"}},
		{"collision names both providers", []Provider{Builtin{}, fakeProvider{"x", []string{"whoami"}}}, `tool "whoami" is provided by both builtin and x`, nil},
		{"invalid name", []Provider{fakeProvider{"x", []string{"a.b"}}}, `invalid tool name "a.b"`, nil},
		{"too long", []Provider{fakeProvider{"x", []string{strings.Repeat("a", 65)}}}, "invalid tool name", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := Collect(context.Background(), tt.providers)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(Names(ts), ","); got != strings.Join(tt.want, ",") {
				t.Fatalf("tools = %s, want %v", got, tt.want)
			}
		})
	}
}

func TestWhoamiRefusesWithoutIdentity(t *testing.T) {
	res, err := whoami(context.Background(), mcp.CallToolRequest{})
	if err != nil || res == nil || !res.IsError {
		t.Fatalf("whoami without identity = %+v, %v; want a tool error", res, err)
	}
}

// TestWhoamiAnnotations: whoami only reads, so clients may call it without
// asking: read-only, not destructive, idempotent, closed-world.
func TestWhoamiAnnotations(t *testing.T) {
	ts, err := Builtin{}.Tools(context.Background())
	if err != nil || len(ts) != 1 {
		t.Fatalf("Tools = %v, %v", ts, err)
	}
	a := ts[0].Tool.Annotations
	for _, c := range []struct {
		name string
		got  *bool
		want bool
	}{
		{"readOnlyHint", a.ReadOnlyHint, true},
		{"destructiveHint", a.DestructiveHint, false},
		{"idempotentHint", a.IdempotentHint, true},
		{"openWorldHint", a.OpenWorldHint, false},
	} {
		if c.got == nil || *c.got != c.want {
			t.Errorf("whoami %s = %v, want %v", c.name, c.got, c.want)
		}
	}
}
