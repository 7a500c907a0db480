package server

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/safetext"
)

// The identity page at / on the tailnet listener: who the host sees the
// caller as, exactly what the caller may use (the same decisions as MCP),
// and copy-paste settings for the common clients with this host's real
// names. Server-rendered, no external assets, a strict
// Content-Security-Policy; JSON for Accept: application/json.
//
// Every text on the page comes from others (upstreams, the tailnet, the
// configuration) and is written for people: each is bounded and shown
// without control or formatting characters (safetext.Show), in the HTML
// and the JSON form alike, and each list shows at most maxPageItems.

// pageView is what the identity page shows, and its JSON form.
type pageView struct {
	// Login is the caller's login; empty for a tagged node.
	Login string `json:"login"`
	// DisplayName is the user's display name; empty for a tagged node.
	DisplayName string `json:"display_name,omitempty"`
	// Node is the caller's node name.
	Node string `json:"node"`
	// Tags are the node's tags; empty for a user's node.
	Tags []string `json:"tags"`
	// IP is the caller's tailnet address.
	IP string `json:"tailnet_ip"`
	// Membership is "tagged node", "member" or "shared".
	Membership string `json:"membership"`
	// Tools are the tools the caller may call.
	Tools []pageItem `json:"tools"`
	// Prompts are the prompts the caller may get.
	Prompts []pageItem `json:"prompts"`
	// Resources are the resources and resource templates the caller may
	// read.
	Resources []pageItem `json:"resources"`
	// MoreTools, MorePrompts and MoreResources count what the caller may
	// use past the maxPageItems each list shows (its MCP client lists
	// them all); zero when the list is whole.
	MoreTools     int `json:"more_tools,omitempty"`
	MorePrompts   int `json:"more_prompts,omitempty"`
	MoreResources int `json:"more_resources,omitempty"`
	// URL is the Streamable HTTP endpoint under the short MagicDNS name;
	// FullURL under the full name (empty without MagicDNS); SSEURL the
	// legacy SSE endpoint.
	URL     string `json:"url"`
	FullURL string `json:"full_url,omitempty"`
	SSEURL  string `json:"sse_url"`
	// Clients are copy-paste settings, one per client.
	Clients []clientSetting `json:"clients"`
	// Connections are the upstreams with auth the caller may use, and
	// whether the caller connected each (connect.go).
	Connections []pageConnection `json:"connections"`
}

// pageItem is one tool, prompt or resource as the page lists it.
type pageItem struct {
	Name        string `json:"name"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
}

// clientSetting is how one client is pointed at this host.
type clientSetting struct {
	Client  string `json:"client"`
	Where   string `json:"where"`
	Setting string `json:"setting"`
}

// pageCSS is the page's only style, allowed by its hash in the CSP.
const pageCSS = `body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;padding:1rem;max-width:48rem;color:#111;background:#fff}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
ul{padding-left:1.2rem}li{margin:.2rem 0}code,pre{font:14px ui-monospace,monospace;background:#f3f3f3;border-radius:4px}
code{padding:0 .2rem}pre{padding:.5rem;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere}
.none{color:#666}table{border-collapse:collapse;width:100%}td{vertical-align:top;padding:.4rem 0;border-top:1px solid #ddd}
@media (prefers-color-scheme:dark){body{color:#eee;background:#121212}code,pre{background:#222}.none{color:#aaa}td{border-color:#333}}`

// pageCSP is the identity page's Content-Security-Policy: nothing may
// load or run but the inline style above.
var pageCSP = func() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}()

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>tsmcp: {{.Who}}</title>
<style>` + pageCSS + `</style></head>
<body>
<h1>tsmcp sees you as {{.Who}}</h1>
<dl id="identity">
{{with .V.Login}}<dt>Login</dt><dd id="login">{{.}}</dd>{{end}}
{{with .V.DisplayName}}<dt>Name</dt><dd>{{.}}</dd>{{end}}
<dt>Node</dt><dd id="node">{{.V.Node}}</dd>
{{if .V.Tags}}<dt>Tags</dt><dd id="tags">{{range $i, $t := .V.Tags}}{{if $i}}, {{end}}{{$t}}{{end}}</dd>{{end}}
<dt>Tailnet IP</dt><dd>{{.V.IP}}</dd>
<dt>Access as</dt><dd id="membership">{{.V.Membership}}</dd>
</dl>
<h2>Tools you may call</h2>
{{template "items" .V.Tools}}{{template "more" .V.MoreTools}}
<h2>Prompts you may get</h2>
{{template "items" .V.Prompts}}{{template "more" .V.MorePrompts}}
<h2>Resources you may read</h2>
{{template "items" .V.Resources}}{{template "more" .V.MoreResources}}
{{if .V.Connections}}<h2 id="connections">Connections</h2>
<p class="none">These upstreams act as you: each needs your own authorization, kept for you alone.</p>
<table id="connection-list">
{{range .V.Connections}}<tr class="connection" data-upstream="{{.Upstream}}"><td><strong>{{.Upstream}}</strong>
{{if .Connected}}<span class="state">connected</span>{{with .Subject}} as <code class="subject">{{.}}</code>{{end}}{{with .Expiry}} <span class="none expiry">token until {{.}}</span>{{end}}{{if .Refreshable}} <span class="none">(renewed on use)</span>{{end}}
<form method="post" action="{{.URL}}?disconnect"><button type="submit" class="disconnect">Disconnect</button></form>
{{else}}<span class="state">not connected</span> <a class="connect" href="{{.URL}}">Connect</a>{{end}}</td></tr>
{{end}}</table>{{end}}
<h2>Connect</h2>
<p>Streamable HTTP: <code id="url">{{.V.URL}}</code>{{with .V.FullURL}} (or <code>{{.}}</code>){{end}}. Legacy SSE: <code>{{.V.SSEURL}}</code>.</p>
<table id="clients">
{{range .V.Clients}}<tr><td><strong>{{.Client}}</strong><br><span class="none">{{.Where}}</span><pre>{{.Setting}}</pre></td></tr>
{{end}}</table>
<p class="none">What you may use follows your tailnet identity and grants, decided per request; this page shows the same decisions as MCP.</p>
</body></html>
{{define "more"}}{{if .}}<p class="none">And {{.}} more, which your MCP client lists.</p>{{end}}{{end}}
{{define "items"}}{{if .}}<ul class="items">{{range .}}<li><code>{{.Name}}</code>{{with .Title}} {{.}}{{end}}{{with .Description}} <span class="none">{{.}}</span>{{end}}</li>{{end}}</ul>{{else}}<p class="none">None.</p>{{end}}{{end}}
`))

// servePage serves the identity page (GET /): HTML, or JSON when the
// client asks for application/json.
func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	id, ok := identity.FromContext(r.Context())
	if !ok {
		writeError(w, http.StatusForbidden)
		return
	}
	v := s.pageFor(r, id)
	h := w.Header()
	h.Set("Cache-Control", "no-store") // it is about one caller
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer a browser sends
	// the Disconnect form's POST with "Origin: null", which checkHost
	// refuses as foreign; other sites still get no Referer.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Vary", "Accept")
	if wantsJSON(r) {
		h.Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			s.log.Debug("writing the identity page", "err", err)
		}
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	who := v.Login
	if who == "" {
		who = strings.Join(v.Tags, ", ")
	}
	if err := pageTmpl.Execute(w, struct {
		Who string
		V   pageView
	}{who, v}); err != nil {
		s.log.Debug("writing the identity page", "err", err)
	}
}

// pageFor builds the page of id: the same policy decisions as MCP.
func (s *Server) pageFor(r *http.Request, id *identity.Identity) pageView {
	v := pageView{
		Login:       showName(id.LoginName),
		DisplayName: showName(id.DisplayName),
		Node:        showName(id.NodeName),
		Tags:        []string{},
		Membership:  "member",
		Tools:       []pageItem{},
		Prompts:     []pageItem{},
		Resources:   []pageItem{},
	}
	for _, t := range id.Tags {
		v.Tags = append(v.Tags, showName(t))
	}
	if id.TailnetIP.IsValid() {
		v.IP = id.TailnetIP.String()
	}
	switch {
	case id.IsTagged():
		v.Membership = "tagged node"
	case id.Shared:
		v.Membership = "shared"
	}
	policy := s.policy.Load()
	for name, t := range s.mcp.ListTools() {
		if policy.Decide(id, name).Allow {
			v.Tools = append(v.Tools, newPageItem(name, t.Tool.Title, t.Tool.Description))
		}
	}
	for name, p := range s.mcp.ListPrompts() {
		if policy.DecidePrompt(id, name).Allow {
			v.Prompts = append(v.Prompts, newPageItem(name, p.Prompt.Title, p.Prompt.Description))
		}
	}
	if s.res != nil {
		for _, rp := range s.res.providers {
			rs, ts := rp.Resources(r.Context())
			for _, res := range rs {
				if policy.DecideResource(id, res.URI).Allow {
					v.Resources = append(v.Resources, newPageItem(res.URI, res.Name, res.Description))
				}
			}
			for _, t := range ts {
				if uri := t.URITemplate.Raw(); policy.DecideResource(id, uri).Allow {
					v.Resources = append(v.Resources, newPageItem(uri, t.Name, t.Description))
				}
			}
		}
	}
	s.auditPage(r, id, len(v.Tools), len(v.Prompts), len(v.Resources))
	v.Tools, v.MoreTools = pageList(v.Tools)
	v.Prompts, v.MorePrompts = pageList(v.Prompts)
	v.Resources, v.MoreResources = pageList(v.Resources)

	ep, fullURL := s.endpointFor(r, id) // in `tsmcp dev`, the caller's loopback endpoint
	v.URL, v.SSEURL, v.FullURL = ep.Base+"/mcp", ep.Base+"/sse", fullURL
	v.Clients = clientSettings(ep.Name, v.URL, ep.Connect)
	v.Connections = s.connectionsFor(id)
	return v
}

// auditPage records the audit event of one identity page view: like a
// list, who asked and how many tools, prompts and resources it showed.
func (s *Server) auditPage(r *http.Request, id *identity.Identity, tools, prompts, resources int) {
	s.audit.Record(r.Context(), audit.Event{Action: audit.IdentityPage, Caller: audit.CallerOf(id), Decision: audit.Filter,
		Shown: tools, ShownPrompts: prompts, ShownResources: resources})
}

// clientSettings returns copy-paste settings for the common clients;
// connect is the command that starts `tsmcp connect` for stdio-only ones.
func clientSettings(name, url, connect string) []clientSetting {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	return []clientSetting{
		{"Claude Code", "in a terminal", "claude mcp add --transport http " + name + " " + url},
		{"Cursor", "~/.cursor/mcp.json", `{"mcpServers": {` + q(name) + `: {"url": ` + q(url) + `}}}`},
		{"VS Code", ".vscode/mcp.json", `{"servers": {` + q(name) + `: {"type": "http", "url": ` + q(url) + `}}}`},
		{"Claude Desktop", "claude_desktop_config.json (stdio only: through tsmcp connect, a local relay to the URL)",
			`{"mcpServers": {` + q(name) + `: {"command": ` + q(connect) + `, "args": ["connect", ` + q(url) + `]}}}`},
		{"MCP Inspector", "npx @modelcontextprotocol/inspector; transport Streamable HTTP, connection type Via Proxy (browser-direct requests carry a foreign Origin and are refused)", url},
		{"Codex CLI", "in a terminal", "codex mcp add " + name + " --url " + url},
		{"Gemini CLI", "~/.gemini/settings.json", `{"mcpServers": {` + q(name) + `: {"httpUrl": ` + q(url) + `}}}`},
	}
}

// wantsJSON reports whether the request prefers JSON to HTML.
func wantsJSON(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

// isBrowserNavigation reports whether a GET is a browser opening the URL
// (it accepts HTML), not an MCP client opening an event stream.
func isBrowserNavigation(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return r.Method == http.MethodGet && strings.Contains(a, "text/html") && !strings.Contains(a, "text/event-stream")
}

// Bounds of what the identity page shows.
const (
	// maxPageItems is the most tools (and prompts, and resources) the
	// page lists; the rest are counted.
	maxPageItems = 1000
	// maxPageName bounds a name, URI, login, node name or tag.
	maxPageName = 512
	// maxPageTitle bounds a title.
	maxPageTitle = 256
	// maxPageDescription bounds the first line of a description, the
	// only line shown.
	maxPageDescription = 200
)

// newPageItem is one item as the page shows it: every text bounded and
// without control characters, the description's first line only.
func newPageItem(name, title, description string) pageItem {
	description, _, _ = strings.Cut(description, "\n")
	return pageItem{
		Name:        showName(name),
		Title:       safetext.Show(title, maxPageTitle),
		Description: safetext.Show(description, maxPageDescription),
	}
}

// showName is a name as the page shows it.
func showName(s string) string { return safetext.Show(s, maxPageName) }

// pageList sorts items by name and keeps the first maxPageItems; more is
// how many it left out.
func pageList(items []pageItem) (_ []pageItem, more int) {
	slices.SortFunc(items, func(a, b pageItem) int { return strings.Compare(a.Name, b.Name) })
	if len(items) <= maxPageItems {
		return items, 0
	}
	return items[:maxPageItems:maxPageItems], len(items) - maxPageItems
}

// serveWellKnown answers /.well-known/*: 404 with a JSON body. Clients
// probe for OAuth metadata; tsmcp has none and must never look like it
// wants a token (no 401, no WWW-Authenticate).
func serveWellKnown(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusNotFound)
	w.Write([]byte(`{"error":"not_found","error_description":"tsmcp has no OAuth or other metadata: access is by tailnet identity, no token is needed"}` + "\n"))
}

// browserToPage sends a browser that opens /mcp to the identity page
// instead of an event stream that never ends; MCP clients pass through.
func browserToPage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isBrowserNavigation(r) {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r)
	})
}
