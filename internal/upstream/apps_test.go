package upstream

import (
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/logx"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// TestUIResourceRouting: a prefixed upstream's ui:// resources route back
// to it from their served form only; the other spelling of the same
// resource names nothing, even where a lone unprefixed upstream takes
// every URI nobody else owns; an unprefixed upstream cannot list a URI in
// a prefixed upstream's ui:// namespace; completions of a ui:// template
// go to its upstream.
func TestUIResourceRouting(t *testing.T) {
	logs := &testutil.Buffer{}
	p := &Provider{opts: Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))}}
	p.ups = []*upstream{
		listedUpstream(p, "apps", true, nil, nil,
			[]string{"ui://apps+get-time/mcp-app.html"}, []string{"ui://apps+{app}/view.html"}),
		listedUpstream(p, "solo", false, nil, nil,
			[]string{"ui://apps+stolen/x.html", "ui://clock/app.html", "ui://other+clock/app.html"},
			[]string{"ui://apps+{x}/y", "ui://{app}/solo.html"}),
	}
	checkRoutes(t, p, []routeCase{
		{name: "served form", uri: "ui://apps+get-time/mcp-app.html", want: "apps", orig: "ui://get-time/mcp-app.html"},
		{name: "served form, unlisted", uri: "ui://apps+x/y.html", want: "apps", orig: "ui://x/y.html"},
		{name: "served form, no authority", uri: "ui://apps+/y.html", want: "apps", orig: "ui:///y.html"},
		{name: "generic spelling of a ui resource", uri: "apps+ui://get-time/mcp-app.html"},
		{name: "generic spelling, nothing after", uri: "apps+ui://"},
		{name: "the unprefixed upstream's own", uri: "ui://clock/app.html", want: "solo", orig: "ui://clock/app.html"},
		{name: "unknown name is no namespace", uri: "ui://other+clock/app.html", want: "solo", orig: "ui://other+clock/app.html"},
		{name: "upper-case UI is another scheme", uri: "UI://apps+x", want: "solo", orig: "UI://apps+x"},
	})

	uris, tmpls := listedURIs(t, p)
	if want := []string{"ui://apps+get-time/mcp-app.html", "ui://clock/app.html", "ui://other+clock/app.html"}; !slices.Equal(uris, want) {
		t.Errorf("resources = %q, want %q", uris, want)
	}
	if want := []string{"ui://apps+{app}/view.html", "ui://{app}/solo.html"}; !slices.Equal(tmpls, want) {
		t.Errorf("templates = %q, want %q", tmpls, want)
	}
	wantDropped := []string{
		`upstream solo: resource "ui://apps+stolen/x.html" is dropped: upstream apps's prefix serves it`,
		`upstream solo: template "ui://apps+{x}/y" is dropped: upstream apps's prefix serves it`,
	}
	if got := p.Collisions(); !slices.Equal(got, wantDropped) {
		t.Errorf("Collisions =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantDropped, "\n"))
	}
	if u := p.uriNamespaceOf("ui://apps+{app}/view.html"); u == nil || u.name != "apps" {
		t.Errorf("the template ui://apps+{app}/view.html is in %v's namespace, want apps's", u)
	}
}

// appsTool is an MCP Apps tool as an upstream lists it (the shape of
// @modelcontextprotocol/server-basic-vanillajs's get-time), with meta as
// its _meta.
func appsTool(name string, meta map[string]any) json.RawMessage {
	b, err := json.Marshal(map[string]any{"name": name, "inputSchema": map[string]any{"type": "object"}, "_meta": meta})
	if err != nil {
		panic(err)
	}
	return b
}

// TestToolUIMetaRewritten: a tool's _meta.ui.resourceUri and the older
// _meta["ui/resourceUri"] name the URI clients read the UI resource
// under, for prefixed upstreams (ui:// keeps its scheme) and unprefixed
// ones (unchanged); the rest of _meta passes as it was; a value that is
// not a string is left alone; a tool whose UI resource URI is over
// Bounds.URIBytes is dropped with the bounds' log line.
func TestToolUIMetaRewritten(t *testing.T) {
	long := "ui://app/" + strings.Repeat("x", testBounds.URIBytes)
	raws := []json.RawMessage{
		appsTool("get-time", map[string]any{
			"ui":             map[string]any{"resourceUri": "ui://get-time/mcp-app.html", "visibility": []any{"model", "app"}},
			"ui/resourceUri": "ui://get-time/mcp-app.html",
			"other":          "kept",
		}),
		appsTool("nested-only", map[string]any{"ui": map[string]any{"resourceUri": "ui:///no-authority.html"}}),
		appsTool("flat-only", map[string]any{"ui/resourceUri": "ui://flat/app.html"}),
		appsTool("not-ui-scheme", map[string]any{"ui": map[string]any{"resourceUri": "demo://x"}}),
		appsTool("not-a-string", map[string]any{"ui": map[string]any{"resourceUri": 7}, "ui/resourceUri": nil}),
		appsTool("no-meta", nil),
		appsTool("long-nested", map[string]any{"ui": map[string]any{"resourceUri": long}}),
		appsTool("long-flat", map[string]any{"ui/resourceUri": long}),
	}
	for _, tt := range []struct {
		prefixed bool
		want     map[string]string // tool -> its _meta as JSON
	}{
		{prefixed: true, want: map[string]string{
			"get-time":      `{"other":"kept","ui":{"resourceUri":"ui://apps+get-time/mcp-app.html","visibility":["model","app"]},"ui/resourceUri":"ui://apps+get-time/mcp-app.html"}`,
			"nested-only":   `{"ui":{"resourceUri":"ui://apps+/no-authority.html"}}`,
			"flat-only":     `{"ui/resourceUri":"ui://apps+flat/app.html"}`,
			"not-ui-scheme": `{"ui":{"resourceUri":"apps+demo://x"}}`,
			"not-a-string":  `{"ui":{"resourceUri":7},"ui/resourceUri":null}`,
			"no-meta":       `null`,
		}},
		{prefixed: false, want: map[string]string{
			"get-time":      `{"other":"kept","ui":{"resourceUri":"ui://get-time/mcp-app.html","visibility":["model","app"]},"ui/resourceUri":"ui://get-time/mcp-app.html"}`,
			"nested-only":   `{"ui":{"resourceUri":"ui:///no-authority.html"}}`,
			"flat-only":     `{"ui/resourceUri":"ui://flat/app.html"}`,
			"not-ui-scheme": `{"ui":{"resourceUri":"demo://x"}}`,
			"not-a-string":  `{"ui":{"resourceUri":7},"ui/resourceUri":null}`,
			"no-meta":       `null`,
		}},
	} {
		t.Run(map[bool]string{true: "prefixed", false: "unprefixed"}[tt.prefixed], func(t *testing.T) {
			logs := &testutil.Buffer{}
			p := &Provider{opts: Options{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Bounds: testBounds}}
			u := &upstream{p: p, name: "apps", unprefixed: !tt.prefixed}
			u.warns = logx.NewRepeats(p.opts.Logger, 0, warnBurst)
			got := map[string]string{}
			for _, tl := range u.bridge(raws, false) {
				b, err := json.Marshal(tl.Tool.Meta)
				if err != nil {
					t.Fatal(err)
				}
				got[strings.TrimPrefix(tl.Tool.Name, "apps__")] = string(b)
			}
			for name, want := range tt.want {
				if got[name] != want {
					t.Errorf("%s: _meta = %s, want %s", name, got[name], want)
				}
			}
			for name := range got {
				if _, ok := tt.want[name]; !ok {
					t.Errorf("%s bridged with _meta %s, want it dropped", name, got[name])
				}
			}
			dropped := 0
			for _, l := range logs.JSONLines("upstream item dropped: uri too long") {
				if l["kind"] == "tool" && l["item"] == long {
					dropped++
				}
			}
			if dropped != 2 {
				t.Errorf("%d uri-too-long lines for the long UI URIs, want 2:\n%s", dropped, logs)
			}
		})
	}

	// The upstream's own decoded _meta is not changed (a re-listing with
	// the same raw JSON bridges it again).
	var w wireTool
	if err := json.Unmarshal(raws[0], &w); err != nil {
		t.Fatal(err)
	}
	u := &upstream{name: "apps"}
	m, origs := u.rewriteToolMeta(w.Meta)
	if !slices.Equal(origs, []string{"ui://get-time/mcp-app.html", "ui://get-time/mcp-app.html"}) {
		t.Errorf("origs = %q", origs)
	}
	if w.Meta.AdditionalFields["ui/resourceUri"] != "ui://get-time/mcp-app.html" ||
		w.Meta.AdditionalFields["ui"].(map[string]any)["resourceUri"] != "ui://get-time/mcp-app.html" {
		t.Errorf("rewriteToolMeta changed its argument: %v", w.Meta.AdditionalFields)
	}
	if m.AdditionalFields["ui/resourceUri"] != "ui://apps+get-time/mcp-app.html" {
		t.Errorf("rewritten = %v", m.AdditionalFields)
	}
}
