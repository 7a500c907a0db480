package upstream

import (
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

func TestServedURIsSplitBack(t *testing.T) {
	origs := []struct {
		name string
		orig string
		ui   bool // served in the ui:// form
	}{
		{"scheme URI", "demo://resource/static/document/architecture.md", false},
		{"original holds the separator", "file:///tmp/a+b/c+d.txt", false},
		{"no scheme", "notes", false},
		{"spaces and unicode", "file:///home/é/My Docs/x.md", false},
		{"empty", "", false},
		{"ui resource", "ui://clock/app.html", true},
		{"ui without authority", "ui:///app.html", true},
		{"ui, nothing after //", "ui://", true},
		{"ui, just +", "ui://+", true},
		{"ui authority holding +", "ui://a+b/c+d.html", true},
		{"ui that looks served already", "ui://every+clock/app.html", true},
		{"ui dot authority", "ui://../etc/passwd", true},
		{"ui with NUL and newline", "ui://a\x00\n/b", true},
		{"ui without //", "ui:clock", false},
		{"ui with one /", "ui:/clock", false},
		{"upper-case UI", "UI://clock/app.html", false},
		{"ui without colon", "ui//clock", false},
		{"generic form of a ui URI", "every+ui://clock", false},
	}
	for _, name := range []string{"every", "a", "x-1", "UI"} {
		u := &upstream{name: name}
		for _, tt := range origs {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				served := u.servedURI(tt.orig)
				if got := strings.HasPrefix(served, "ui://"); got != tt.ui {
					t.Errorf("servedURI(%q) = %q: ui:// form %v, want %v", tt.orig, served, got, tt.ui)
				}
				gotName, orig, ok := splitURI(served)
				if !ok || gotName != name || orig != tt.orig {
					t.Errorf("splitURI(%q) = %q, %q, %v; want %s, %q, true", served, gotName, orig, ok, name, tt.orig)
				}
			})
		}
	}
	if got := (&upstream{name: "every", unprefixed: true}).servedURI("ui://clock/app.html"); got != "ui://clock/app.html" {
		t.Errorf("an unprefixed upstream serves ui://clock/app.html as %q", got)
	}
}

// TestSplitURIHostile: URIs a client may send. Each is in at most one
// upstream's namespace, and only the exact served form of a resource is
// served (reads it): the other spelling of a ui:// resource names the
// upstream but nothing in it.
func TestSplitURIHostile(t *testing.T) {
	tests := []struct {
		uri, name, orig string
		served          bool
	}{
		{"ui://apps+get-time/mcp-app.html", "apps", "ui://get-time/mcp-app.html", true},
		{"apps+ui://get-time/mcp-app.html", "apps", "ui://get-time/mcp-app.html", false},
		{"apps+ui://", "apps", "ui://", false},
		{"apps+UI://get-time/x", "apps", "UI://get-time/x", true},
		{"apps+ui:/x", "apps", "ui:/x", true},
		{"ui://apps+", "apps", "ui://", true},
		{"ui://apps++x", "apps", "ui://+x", true},
		{"ui://apps+ui://x", "apps", "ui://ui://x", true},
		// A name no upstream can have (names are letters, digits and
		// "-"): no prefixed upstream's namespace.
		{"ui://get-time/a+b.html", "get-time/a", "ui://b.html", true},
		{"ui:/apps+x", "ui:/apps", "x", true},
		{"UI://apps+x", "UI://apps", "x", true},
		// In no namespace at all.
		{"ui://get-time/mcp-app.html", "", "", false},
		{"ui://+get-time/x", "", "", false},
		{"ui://", "", "", false},
		{"ui://apps", "", "", false},
		{"+demo://x", "", "", false},
		{"demo://x", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			name, orig, served := splitURI(tt.uri)
			if name != tt.name || orig != tt.orig || served != tt.served {
				t.Errorf("splitURI(%q) = %q, %q, %v; want %q, %q, %v", tt.uri, name, orig, served, tt.name, tt.orig, tt.served)
			}
			if served && prefixURI(name, orig) != tt.uri {
				t.Errorf("splitURI(%q) says served, but %q, %q is served as %q", tt.uri, name, orig, prefixURI(name, orig))
			}
		})
	}
}

// FuzzSplitURI: whatever a client sends, splitURI's served answer is
// exactly whether the URI is how prefixURI serves what it split into, and
// every served URI splits back to its upstream and original.
//
// go test ./internal/upstream -run '^$' -fuzz FuzzSplitURI
func FuzzSplitURI(f *testing.F) {
	for _, s := range []string{"ui://apps+get-time/mcp-app.html", "apps+ui://x", "ui://+", "every+demo://a+b", "ui:///x", ""} {
		f.Add(s, "apps")
	}
	f.Fuzz(func(t *testing.T, uri, upName string) {
		if name, orig, served := splitURI(uri); served != (name != "" && prefixURI(name, orig) == uri) {
			t.Fatalf("splitURI(%q) = %q, %q, %v", uri, name, orig, served)
		}
		if upName == "" || strings.ContainsAny(upName, "+:/") {
			return // not an upstream name
		}
		name, orig, served := splitURI(prefixURI(upName, uri))
		if !served || name != upName || orig != uri {
			t.Fatalf("prefixURI(%q, %q) = %q splits to %q, %q, %v", upName, uri, prefixURI(upName, uri), name, orig, served)
		}
	})
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
	ui, ok := u.rewriteTemplate(mcp.NewResourceTemplate("ui://{app}/view.html", "view"))
	if !ok || ui.URITemplate.Raw() != "ui://ev+{app}/view.html" {
		t.Fatalf("rewriteTemplate(ui://{app}/view.html) = %q, %v", ui.URITemplate.Raw(), ok)
	}
	if got := ui.URITemplate.Match("ui://ev+clock/view.html").Get("app").String(); got != "clock" {
		t.Errorf("the rewritten ui:// template matches app %q, want clock", got)
	}
	if _, ok := u.rewriteTemplate(mcp.ResourceTemplate{}); ok {
		t.Error("a template without a URI template was accepted")
	}
}
