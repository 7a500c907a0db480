package upstream

import (
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

func TestServedURIsSplitBack(t *testing.T) {
	u := &upstream{name: "every"}
	tests := []struct {
		name string
		orig string
	}{
		{"scheme URI", "demo://resource/static/document/architecture.md"},
		{"original holds the separator", "file:///tmp/a+b/c+d.txt"},
		{"no scheme", "notes"},
		{"spaces and unicode", "file:///home/é/My Docs/x.md"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			served := u.servedURI(tt.orig)
			name, orig, ok := splitURI(served)
			if !ok || name != "every" || orig != tt.orig {
				t.Errorf("splitURI(%q) = %q, %q, %v; want every, %q", served, name, orig, ok, tt.orig)
			}
		})
	}
	for _, bad := range []string{"demo://x", "+demo://x", ""} {
		if name, _, ok := splitURI(bad); ok {
			t.Errorf("splitURI(%q) named upstream %q", bad, name)
		}
	}
}

func TestRewriteToolResultAndContents(t *testing.T) {
	u := &upstream{name: "ev"}
	res := &mcp.CallToolResult{Content: []mcp.Content{
		mcp.NewTextContent("demo://not-a-link"),
		mcp.NewResourceLink("demo://a", "a", "", ""),
		&mcp.ResourceLink{Type: "resource_link", URI: "demo://b"},
		mcp.NewEmbeddedResource(mcp.TextResourceContents{URI: "demo://c", Text: "x"}),
		&mcp.EmbeddedResource{Type: "resource", Resource: &mcp.BlobResourceContents{URI: "demo://d", Blob: "eA=="}},
	}}
	u.rewriteToolResult(res)
	if tc := res.Content[0].(mcp.TextContent); tc.Text != "demo://not-a-link" {
		t.Errorf("text content changed: %q", tc.Text)
	}
	if got := res.Content[1].(mcp.ResourceLink).URI; got != "ev+demo://a" {
		t.Errorf("resource_link = %q", got)
	}
	if got := res.Content[2].(*mcp.ResourceLink).URI; got != "ev+demo://b" {
		t.Errorf("*resource_link = %q", got)
	}
	if got := res.Content[3].(mcp.EmbeddedResource).Resource.(mcp.TextResourceContents).URI; got != "ev+demo://c" {
		t.Errorf("embedded text = %q", got)
	}
	if got := res.Content[4].(*mcp.EmbeddedResource).Resource.(*mcp.BlobResourceContents).URI; got != "ev+demo://d" {
		t.Errorf("embedded blob = %q", got)
	}
	if u.rewriteToolResult(nil) != nil {
		t.Error("nil result rewritten to non-nil")
	}
}

func TestRewriteTemplate(t *testing.T) {
	u := &upstream{name: "ev"}
	orig := mcp.NewResourceTemplate("demo://resource/dynamic/text/{resourceId}", "text")
	got, ok := u.rewriteTemplate(orig)
	if !ok || got.URITemplate.Raw() != "ev+demo://resource/dynamic/text/{resourceId}" || got.Name != "text" {
		t.Fatalf("rewriteTemplate = %q, %v", got.URITemplate.Raw(), ok)
	}
	if orig.URITemplate.Raw() != "demo://resource/dynamic/text/{resourceId}" {
		t.Error("the original template was changed")
	}
	vals := got.URITemplate.Match("ev+demo://resource/dynamic/text/7")
	if vals.Get("resourceId").String() != "7" {
		t.Errorf("the rewritten template does not match its own URIs: %v", vals)
	}
	if _, ok := u.rewriteTemplate(mcp.ResourceTemplate{}); ok {
		t.Error("a template without a URI template was accepted")
	}
}
