package declared

import (
	"context"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
)

// TestAnnotations: a tool's configured annotations override the defaults
// of its kind, field by field; unset fields keep the defaults.
func TestAnnotations(t *testing.T) {
	yes, no := true, false
	get := &config.HTTPTool{URL: "https://api.example.com/x"}
	tests := []struct {
		name string
		tool config.Tool
		want mcp.ToolAnnotation
		// title is the tool's own title, beside annotations.title.
		title string
	}{
		{
			name: "exec defaults",
			tool: shTool("e", "true"),
			want: mcp.ToolAnnotation{ReadOnlyHint: &no, DestructiveHint: &yes, IdempotentHint: &no, OpenWorldHint: &yes},
		},
		{
			name: "http GET defaults",
			tool: config.Tool{Name: "g", HTTP: get},
			want: mcp.ToolAnnotation{ReadOnlyHint: &yes, DestructiveHint: &no, IdempotentHint: &yes, OpenWorldHint: &yes},
		},
		{
			name: "exec declared read-only, closed-world, with a title",
			tool: func() config.Tool {
				tl := shTool("e", "true")
				tl.Annotations = &config.ToolAnnotations{Title: "Disk usage", ReadOnly: &yes, OpenWorld: &no}
				return tl
			}(),
			want:  mcp.ToolAnnotation{Title: "Disk usage", ReadOnlyHint: &yes, DestructiveHint: &no, IdempotentHint: &no, OpenWorldHint: &no},
			title: "Disk usage",
		},
		{
			name: "exec not read-only but not destructive, idempotent",
			tool: func() config.Tool {
				tl := shTool("e", "true")
				tl.Annotations = &config.ToolAnnotations{Destructive: &no, Idempotent: &yes}
				return tl
			}(),
			want: mcp.ToolAnnotation{ReadOnlyHint: &no, DestructiveHint: &no, IdempotentHint: &yes, OpenWorldHint: &yes},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newProvider(t, []config.Tool{tt.tool}, Options{})
			ts, err := p.Tools(context.Background())
			if err != nil || len(ts) != 1 {
				t.Fatalf("Tools = %v, %v", ts, err)
			}
			got := ts[0].Tool
			if got.Title != tt.title {
				t.Errorf("title = %q, want %q", got.Title, tt.title)
			}
			a := got.Annotations
			if a.Title != tt.want.Title || *a.ReadOnlyHint != *tt.want.ReadOnlyHint || *a.DestructiveHint != *tt.want.DestructiveHint ||
				*a.IdempotentHint != *tt.want.IdempotentHint || *a.OpenWorldHint != *tt.want.OpenWorldHint {
				t.Errorf("annotations = %s, want %s", show(a), show(tt.want))
			}
		})
	}
}

func show(a mcp.ToolAnnotation) string {
	b := func(p *bool) string {
		if p == nil {
			return "nil"
		}
		if *p {
			return "true"
		}
		return "false"
	}
	return "{title " + a.Title + " ro " + b(a.ReadOnlyHint) + " destr " + b(a.DestructiveHint) + " idem " + b(a.IdempotentHint) + " open " + b(a.OpenWorldHint) + "}"
}
