package upstream

import (
	"encoding/json"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
)

// uriSep separates the upstream's name from a resource's original URI in
// the URIs clients see: "<upstream>+<original-uri>". Upstream names cannot
// contain it, so the first one splits the URI again, whatever the original
// holds. As a prefix of a URI scheme ("every+demo://…" has the scheme
// "every+demo") it keeps the result a valid URI for any upstream name that
// starts with a letter.
const uriSep = "+"

// uiPrefix starts the URIs of MCP Apps' UI resources (the
// io.modelcontextprotocol/ui extension), which Apps hosts render only
// under that scheme. A prefixed upstream's "ui://<rest>" is served as
// "ui://<upstream>+<rest>": the name goes after the "//" instead of before
// the scheme, and the first "+" after "ui://" splits it back as the first
// "+" of any other served URI does. <rest> is anything, an empty
// authority ("ui:///x" is "ui://apps+/x") or none at all included. Only
// the scheme spelled "ui" in lower case, as the extension writes it, takes
// this form; "UI://x" is served as "apps+UI://x", like any other scheme.
const uiPrefix = "ui://"

// servedURI is the URI clients see for the upstream's resource (or URI
// template) orig: "<upstream>+<orig>" ("ui://<upstream>+…" for a ui://
// orig), or orig itself when the upstream is not prefixed.
func (u *upstream) servedURI(orig string) string {
	if u.unprefixed {
		return orig
	}
	return prefixURI(u.name, orig)
}

// prefixURI is the URI clients see for the resource orig of the prefixed
// upstream name.
func prefixURI(name, orig string) string {
	if rest, ok := strings.CutPrefix(orig, uiPrefix); ok {
		return uiPrefix + name + uriSep + rest
	}
	return name + uriSep + orig
}

// splitURI splits a URI as clients see it into the name of the upstream
// whose namespace it is in and the original URI; name is "" when it is in
// none (no separator, or nothing before it). served reports whether uri is
// exactly prefixURI(name, orig): "apps+ui://x" is in apps's namespace but
// is not how any resource is served (that is "ui://apps+x"), so it reads
// nothing, and a policy pattern for "ui://apps+…" cannot be got around by
// spelling the URI the other way.
func splitURI(uri string) (name, orig string, served bool) {
	if rest, ok := strings.CutPrefix(uri, uiPrefix); ok {
		name, orig, ok := strings.Cut(rest, uriSep)
		if !ok || name == "" {
			return "", "", false
		}
		return name, uiPrefix + orig, true
	}
	name, orig, ok := strings.Cut(uri, uriSep)
	if !ok || name == "" {
		return "", "", false
	}
	return name, orig, !strings.HasPrefix(orig, uiPrefix)
}

// rewriteContent rewrites the resource URIs in one content item of a tool
// result or prompt message (resource_link, embedded resource) to the form
// clients see. Other content is returned unchanged.
func (u *upstream) rewriteContent(c mcp.Content) mcp.Content {
	switch c := c.(type) {
	case mcp.ResourceLink:
		c.URI = u.servedURI(c.URI)
		return c
	case *mcp.ResourceLink:
		cp := *c
		cp.URI = u.servedURI(c.URI)
		return &cp
	case mcp.EmbeddedResource:
		c.Resource = u.rewriteContents(c.Resource)
		return c
	case *mcp.EmbeddedResource:
		cp := *c
		cp.Resource = u.rewriteContents(c.Resource)
		return &cp
	}
	return c
}

// rewriteContents rewrites the URI of one resource's contents (a
// resources/read result item, an embedded resource).
func (u *upstream) rewriteContents(rc mcp.ResourceContents) mcp.ResourceContents {
	switch rc := rc.(type) {
	case mcp.TextResourceContents:
		rc.URI = u.servedURI(rc.URI)
		return rc
	case *mcp.TextResourceContents:
		cp := *rc
		cp.URI = u.servedURI(rc.URI)
		return &cp
	case mcp.BlobResourceContents:
		rc.URI = u.servedURI(rc.URI)
		return rc
	case *mcp.BlobResourceContents:
		cp := *rc
		cp.URI = u.servedURI(rc.URI)
		return &cp
	}
	return rc
}

// rewriteToolResult rewrites the resource URIs in a bridged tool's result,
// so that every resource_link and embedded resource names a URI that
// resources/read on tsmcp serves. res may be nil.
func (u *upstream) rewriteToolResult(res *mcp.CallToolResult) *mcp.CallToolResult {
	if res == nil {
		return nil
	}
	for i, c := range res.Content {
		res.Content[i] = u.rewriteContent(c)
	}
	return res
}

// rewriteResource rewrites a listed resource.
func (u *upstream) rewriteResource(r mcp.Resource) mcp.Resource {
	r.URI = u.servedURI(r.URI)
	return r
}

// rewriteTemplate rewrites a listed resource template; ok is false when the
// rewritten template does not parse (it is then skipped).
func (u *upstream) rewriteTemplate(t mcp.ResourceTemplate) (mcp.ResourceTemplate, bool) {
	if t.URITemplate == nil || t.URITemplate.Template == nil {
		return t, false
	}
	raw, err := json.Marshal(u.servedURI(t.URITemplate.Raw()))
	if err != nil {
		return t, false
	}
	var ut mcp.URITemplate
	if err := json.Unmarshal(raw, &ut); err != nil {
		return t, false
	}
	t.URITemplate = &ut
	return t, true
}
