package upstream

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// testBounds are small bounds the bounds test server's lists pass.
var testBounds = Bounds{Items: 5, ItemBytes: 8 << 10, NameBytes: 16, URIBytes: 64, TitleBytes: 8, DescriptionBytes: 100}

// boundsTools is the test server's tools/list in "bounds" mode: one with
// texts to cut, one too large, then more than Items.
var boundsTools = []string{
	`{"name":"cut","title":"éééééx","description":"` + strings.Repeat("d", 300) + `","annotations":{"title":"0123456789"},"inputSchema":{"type":"object"}}`,
	`{"name":"bigschema","inputSchema":{"type":"object","properties":{"a":{"type":"string","description":"` + strings.Repeat("s", 10<<10) + `"}}}}`,
	`{"name":"ok1","inputSchema":{"type":"object"}}`,
	`{"name":"ok2","inputSchema":{"type":"object"}}`,
	`{"name":"ok3","inputSchema":{"type":"object"}}`,
	`{"name":"ok4","inputSchema":{"type":"object"}}`,
}

// boundsLists are the test server's other lists in "bounds" mode, by
// method: in each, items past a bound, then more than Items.
var boundsLists = map[string]any{
	"prompts/list": map[string]any{"prompts": []any{
		map[string]any{"name": "p_cut", "title": "0123456789abc", "arguments": []any{map[string]any{"name": "a", "description": strings.Repeat("a", 300)}}},
		map[string]any{"name": "p_longarg", "arguments": []any{map[string]any{"name": strings.Repeat("n", 20)}}},
		map[string]any{"name": "p1"}, map[string]any{"name": "p2"}, map[string]any{"name": "p3"},
		map[string]any{"name": "p4"}, map[string]any{"name": "p5"},
	}},
	"resources/list": map[string]any{"resources": []any{
		map[string]any{"uri": "r://ok", "name": "ok", "description": strings.Repeat("r", 300)},
		map[string]any{"uri": "r://" + strings.Repeat("u", 70), "name": "longuri"},
		map[string]any{"uri": "r://longname", "name": strings.Repeat("n", 20)},
		map[string]any{"uri": "r://big", "name": "big", "_meta": map[string]any{"x": strings.Repeat("m", 10<<10)}},
		map[string]any{"uri": "r://1", "name": "1"}, map[string]any{"uri": "r://2", "name": "2"},
		map[string]any{"uri": "r://3", "name": "3"},
	}},
	"resources/templates/list": map[string]any{"resourceTemplates": []any{
		map[string]any{"uriTemplate": "t://{id}", "name": "t", "title": "0123456789"},
		map[string]any{"uriTemplate": "t://" + strings.Repeat("u", 70) + "{id}", "name": "long"},
	}},
}

// TestListsBounded: what an upstream lists passes through Bounds: the
// first Items of each kind are kept, an item with a name or URI over its
// bound or larger than ItemBytes is dropped, titles and descriptions are
// cut on a character boundary, and each of these is logged.
func TestListsBounded(t *testing.T) {
	up := testUpstream(t, "b")
	up.Env[testServerEnv] = "bounds"
	opts := testOptions()
	opts.Bounds = testBounds
	h := newHarness(t, []config.Upstream{up}, opts)
	h.waitStatus("b", true)
	ctx := context.Background()

	ts, err := h.p.Tools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tools.Names(ts), []string{"b__cut", "b__ok1", "b__ok2", "b__ok3"}; !slices.Equal(got, want) {
		t.Errorf("tools = %v, want %v (bigschema too large, ok4 past Items)", got, want)
	}
	cut := h.tool("b__cut").Tool
	for name, got := range map[string]string{"title": cut.Title, "annotations title": cut.Annotations.Title, "description": cut.Description} {
		max := testBounds.TitleBytes
		if name == "description" {
			max = testBounds.DescriptionBytes
		}
		if len(got) > max || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
			t.Errorf("%s = %q: want at most %d bytes of valid UTF-8 ending in …", name, got, max)
		}
	}
	if cut.Title != "éé…" {
		t.Errorf("title = %q, want %q (cut before the third é, which would not fit)", cut.Title, "éé…")
	}

	var prompts []string
	for _, p := range h.p.Prompts(ctx) {
		prompts = append(prompts, p.Prompt.Name)
		if p.Prompt.Name == "b__p_cut" {
			if len(p.Prompt.Title) > testBounds.TitleBytes || len(p.Prompt.Arguments[0].Description) > testBounds.DescriptionBytes {
				t.Errorf("p_cut = %+v: title or argument description not cut", p.Prompt)
			}
		}
	}
	if want := []string{"b__p_cut", "b__p1", "b__p2", "b__p3"}; !slices.Equal(prompts, want) {
		t.Errorf("prompts = %v, want %v (p_longarg's argument name too long, p4 and p5 past Items)", prompts, want)
	}

	rs, tmpls := h.p.Resources(ctx)
	var uris []string
	for _, r := range rs {
		uris = append(uris, r.URI)
		if len(r.Description) > testBounds.DescriptionBytes {
			t.Errorf("resource %s: description of %d bytes", r.URI, len(r.Description))
		}
	}
	if want := []string{"b+r://ok", "b+r://1"}; !slices.Equal(uris, want) {
		t.Errorf("resources = %q, want %q (a long URI, a long name, one too large, then past Items)", uris, want)
	}
	if len(tmpls) != 1 || tmpls[0].URITemplate.Raw() != "b+t://{id}" || tmpls[0].Title != "01234…" {
		b, _ := json.Marshal(tmpls)
		t.Errorf("templates = %.300s, want only b+t://{id} with its title cut", b)
	}

	for _, want := range []struct{ msg, kind, item string }{
		{"upstream item dropped: larger than mcp.limits.upstream_item_bytes", "tool", "bigschema"},
		{"upstream item dropped: name too long", "prompt", "p_longarg"},
		{"upstream item dropped: uri too long", "resource", "r://" + strings.Repeat("u", 70)},
		{"upstream item dropped: name too long", "resource", "r://longname"},
		{"upstream item dropped: larger than mcp.limits.upstream_item_bytes", "resource", "b+r://big"},
		{"upstream item dropped: uri too long", "resource template", "t://" + strings.Repeat("u", 70) + "{id}"},
	} {
		found := false
		for _, l := range h.logs.JSONLines(want.msg) {
			found = found || l["kind"] == want.kind && l["item"] == want.item
		}
		if !found {
			t.Errorf("no %q line for the %s %s", want.msg, want.kind, want.item)
		}
	}
	kinds := map[any]bool{}
	for _, l := range h.logs.JSONLines("upstream items dropped: it lists more than mcp.limits.upstream_items") {
		kinds[l["kind"]] = true
	}
	for _, k := range []string{"tool", "prompt", "resource"} {
		if !kinds[k] {
			t.Errorf("no line for the %ss past upstream_items", k)
		}
	}
	if kinds["resource template"] {
		t.Error("the templates, fewer than Items, were said to be past it")
	}
}

// TestStatusDetailForPeople: a remote upstream's error text, which
// /readyz and `tsmcp check` print, reaches the status bounded and without
// the terminal escapes the server put in it, and the log bounded.
func TestStatusDetailForPeople(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "\x1b]0;pwned\x07"+strings.Repeat("e", 1<<20))
	}))
	defer srv.Close()
	h := newHarness(t, []config.Upstream{{Name: "r", URL: srv.URL + "/mcp"}}, testOptions())
	var detail string
	waitFor(t, "the upstream to be down with a reason", func() bool {
		detail = h.status("r").Detail
		return strings.Contains(detail, "500")
	})
	if len(detail) > maxDetailBytes || strings.ContainsAny(detail, "\x1b\x07") || !utf8.ValidString(detail) {
		t.Errorf("detail = %.200q (%d bytes): want at most %d bytes without control characters", detail, len(detail), maxDetailBytes)
	}
	for _, l := range h.logs.JSONLines("upstream down") {
		if reason, _ := l["reason"].(string); len(reason) > maxLoggedErr+32 {
			t.Errorf("the log's reason has %d bytes", len(reason))
		}
	}
}
