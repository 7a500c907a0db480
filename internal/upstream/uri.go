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

// servedURI is the URI clients see for the upstream's resource (or URI
// template) orig: "<upstream>+<orig>", or orig itself when the upstream is
// not prefixed.
func (u *upstream) servedURI(orig string) string {
	if u.unprefixed {
		return orig
	}
	return u.name + uriSep + orig
}

// splitURI splits a URI as clients see it into the upstream's name and the
// original URI. ok is false when uri has no separator or an empty name.
func splitURI(uri string) (name, orig string, ok bool) {
	name, orig, ok = strings.Cut(uri, uriSep)
	return name, orig, ok && name != ""
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
