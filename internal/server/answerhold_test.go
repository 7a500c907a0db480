package server

import (
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

// TestAnswerSizes: an answer's size counts the strings its contents carry,
// whatever kind of content carries them.
func TestAnswerSizes(t *testing.T) {
	mb := strings.Repeat("x", 1<<20)
	tests := []struct {
		name string
		size int64
		min  int64 // at least
		max  int64 // at most
	}{
		{name: "tool text", size: toolResultSize(mcp.NewToolResultText(mb)), min: 1 << 20, max: 1<<20 + 64},
		{name: "tool text, pointer", size: toolResultSize(&mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: mb}}}), min: 1 << 20, max: 1<<20 + 64},
		{name: "tool image", size: toolResultSize(mcp.NewToolResultImage("", mb, "image/png")), min: 1 << 20, max: 1<<20 + 64},
		{name: "tool embedded blob", size: toolResultSize(&mcp.CallToolResult{Content: []mcp.Content{mcp.NewEmbeddedResource(mcp.BlobResourceContents{URI: "a://b", Blob: mb})}}), min: 1 << 20, max: 1<<20 + 64},
		{name: "tool structured", size: toolResultSize(&mcp.CallToolResult{StructuredContent: map[string]string{"k": mb}}), min: 1 << 20, max: 1<<20 + 64},
		{name: "tool raw structured", size: toolResultSize(&mcp.CallToolResult{RawStructuredContent: []byte(`"` + mb + `"`)}), min: 1 << 20, max: 1<<20 + 64},
		{name: "tool link", size: toolResultSize(&mcp.CallToolResult{Content: []mcp.Content{mcp.NewResourceLink("a://"+mb, "n", "", "")}}), min: 1 << 20, max: 1<<20 + 256},
		{name: "no tool result", size: toolResultSize(nil), min: 0, max: 0},
		{name: "resource contents", size: contentsSize([]mcp.ResourceContents{mcp.TextResourceContents{URI: "a://b", Text: mb}, &mcp.BlobResourceContents{Blob: mb}}), min: 2 << 20, max: 2<<20 + 64},
		{name: "prompt", size: promptResultSize(mcp.NewGetPromptResult("d", []mcp.PromptMessage{mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(mb))})), min: 1 << 20, max: 1<<20 + 64},
		{name: "completion", size: completionSize(&mcp.Completion{Values: []string{mb, "a"}}), min: 1<<20 + 1, max: 1<<20 + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.size < tt.min || tt.size > tt.max {
				t.Fatalf("size %d, want %d to %d", tt.size, tt.min, tt.max)
			}
		})
	}
}
