package upstream

import (
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/logx"
	"github.com/tsmcp/tsmcp/internal/testutil"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// listedUpstream is an upstream that has listed tools, prompts, resources
// and templates (as clients see them), without a child or session: for
// the ownership rules of unprefixed.go, which look only at listings.
func listedUpstream(p *Provider, name string, prefixed bool, toolNames, prompts, uris, templates []string) *upstream {
	u := &upstream{p: p, name: name, unprefixed: !prefixed}
	u.warns = logx.NewRepeats(p.opts.Logger.With("upstream", name), 0, warnBurst)
	for _, n := range toolNames {
		u.tools = append(u.tools, tools.Tool{Tool: mcp.NewTool(n)})
	}
	u.feat.promptSet = map[string]string{}
	for _, n := range prompts {
		u.feat.prompts = append(u.feat.prompts, tools.Prompt{Prompt: mcp.Prompt{Name: n}})
		u.feat.promptSet[n] = n
	}
	for _, uri := range uris {
		u.feat.resources = append(u.feat.resources, mcp.Resource{URI: uri})
	}
	u.feat.tmplSet = map[string]string{}
	for _, raw := range templates {
		var ut mcp.URITemplate
		b, _ := json.Marshal(raw)
		if err := json.Unmarshal(b, &ut); err != nil {
			panic(err)
		}
		u.feat.templates = append(u.feat.templates, mcp.ResourceTemplate{URITemplate: &ut})
		u.feat.tmplSet[raw] = raw
	}
	return u
}

func TestUnprefixedOwnership(t *testing.T) {
	logs := &testutil.Buffer{}
	p := &Provider{opts: Options{
		Logger:        slog.New(slog.NewJSONHandler(logs, nil)),
		ReservedTools: []string{"whoami", "deploy"},
	}}
	p.ups = []*upstream{
		// An unprefixed upstream listed before the prefixed "pre" still
		// cannot take names in pre's namespace.
		listedUpstream(p, "a", false,
			[]string{"search", "deploy", "pre__fetch", "pre__other"},
			[]string{"greet", "pre__greet"},
			[]string{"docs://a/1", "pre+docs://x", "shared://1"},
			[]string{"docs://a/{id}", "item://{id}"}),
		listedUpstream(p, "pre", true,
			[]string{"pre__fetch"}, []string{"pre__greet"}, []string{"pre+docs://x"}, []string{"pre+docs://{id}"}),
		listedUpstream(p, "b", false,
			[]string{"search", "b-only"},
			[]string{"greet", "b-prompt"},
			[]string{"shared://1", "docs://b/1"},
			[]string{"item://{id}", "b://{id}"}),
	}

	ts0, _ := p.mergeTools(true)
	gotTools := tools.Names(ts0)
	if want := []string{"search", "pre__fetch", "b-only"}; !slices.Equal(gotTools, want) {
		t.Errorf("tools = %v, want %v", gotTools, want)
	}
	var gotPrompts []string
	for _, pr := range p.Prompts(t.Context()) {
		gotPrompts = append(gotPrompts, pr.Prompt.Name)
	}
	if want := []string{"greet", "pre__greet", "b-prompt"}; !slices.Equal(gotPrompts, want) {
		t.Errorf("prompts = %v, want %v", gotPrompts, want)
	}
	rs, ts := p.Resources(t.Context())
	var gotURIs, gotTmpls []string
	for _, r := range rs {
		gotURIs = append(gotURIs, r.URI)
	}
	for _, tm := range ts {
		gotTmpls = append(gotTmpls, tm.URITemplate.Raw())
	}
	if want := []string{"docs://a/1", "shared://1", "pre+docs://x", "docs://b/1"}; !slices.Equal(gotURIs, want) {
		t.Errorf("resources = %v, want %v", gotURIs, want)
	}
	if want := []string{"docs://a/{id}", "item://{id}", "pre+docs://{id}", "b://{id}"}; !slices.Equal(gotTmpls, want) {
		t.Errorf("templates = %v, want %v", gotTmpls, want)
	}

	wantDropped := []string{
		`upstream a: tool "deploy" is dropped: a built-in or declared tool serves it`,
		`upstream a: tool "pre__fetch" is dropped: upstream pre's prefix serves it`,
		`upstream a: tool "pre__other" is dropped: upstream pre's prefix serves it`,
		`upstream b: tool "search" is dropped: upstream a serves it`,
		`upstream a: prompt "pre__greet" is dropped: upstream pre's prefix serves it`,
		`upstream b: prompt "greet" is dropped: upstream a serves it`,
		`upstream a: resource "pre+docs://x" is dropped: upstream pre's prefix serves it`,
		`upstream b: resource "shared://1" is dropped: upstream a serves it`,
		`upstream b: template "item://{id}" is dropped: upstream a serves it`,
	}
	if got := p.Collisions(); !slices.Equal(got, wantDropped) {
		t.Errorf("Collisions =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantDropped, "\n"))
	}
	if n := strings.Count(logs.String(), "dropped: another serves the name"); n != len(wantDropped) {
		t.Errorf("%d drop lines logged, want %d (Collisions logs nothing):\n%s", n, len(wantDropped), logs)
	}

	for _, tt := range []struct {
		name, uri string
		want      string // upstream, "" for none
		orig      string
	}{
		{name: "listed by the first", uri: "shared://1", want: "a", orig: "shared://1"},
		{name: "listed by the second only", uri: "docs://b/1", want: "b", orig: "docs://b/1"},
		{name: "prefixed namespace", uri: "pre+docs://x", want: "pre", orig: "docs://x"},
		{name: "prefixed namespace, unlisted", uri: "pre+docs://y", want: "pre", orig: "docs://y"},
		{name: "first matching template", uri: "item://7", want: "a", orig: "item://7"},
		{name: "second's template", uri: "b://7", want: "b", orig: "b://7"},
		{name: "no owner among two unprefixed", uri: "other://1"},
		{name: "unknown prefix is no namespace", uri: "nope+docs://1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, orig := p.upstreamFor(tt.uri)
			got := ""
			if u != nil {
				got = u.name
			}
			if got != tt.want || orig != tt.orig {
				t.Errorf("upstreamFor(%q) = %q, %q; want %q, %q", tt.uri, got, orig, tt.want, tt.orig)
			}
		})
	}

	t.Run("one unprefixed upstream takes unlisted URIs", func(t *testing.T) {
		one := &Provider{opts: p.opts}
		one.ups = []*upstream{p.ups[1], listedUpstream(one, "solo", false, nil, nil, nil, nil)}
		for _, uri := range []string{"demo://resource/linked/9", "nope+x://1"} {
			if u, orig := one.upstreamFor(uri); u == nil || u.name != "solo" || orig != uri {
				t.Errorf("upstreamFor(%q) = %v, %q; want solo", uri, u, orig)
			}
		}
		if u, _ := one.upstreamFor("pre+docs://1"); u == nil || u.name != "pre" {
			t.Errorf("a URI in pre's namespace went to %v", u)
		}
	})
}
