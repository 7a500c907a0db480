package upstream

import (
	"maps"

	"github.com/mark3labs/mcp-go/mcp"
)

// MCP Apps (the io.modelcontextprotocol/ui extension): a tool names the UI
// resource an Apps host renders for it in its _meta, as "ui":
// {"resourceUri": …} or, in the extension's first drafts, the flat key
// "ui/resourceUri". The host reads that URI with resources/read, so the
// bridge rewrites it to the URI tsmcp serves the resource under
// (servedURI; "ui://<upstream>+…" for a prefixed upstream, see uri.go).

const (
	// uiMetaKey is the _meta key of a tool's MCP Apps settings.
	uiMetaKey = "ui"
	// uiResourceURIKey is the key in uiMetaKey naming the UI resource.
	uiResourceURIKey = "resourceUri"
	// uiFlatResourceURIKey is the older flat _meta key naming it.
	uiFlatResourceURIKey = "ui/resourceUri"
)

// rewriteToolMeta returns a tool's _meta with the UI resource URIs it
// names rewritten to the served form, and those URIs as the upstream wrote
// them (for the bounds). m is not changed; a _meta without such URIs is
// returned as it is. A value that is not a string is left alone: it names
// no resource anyone could read.
func (u *upstream) rewriteToolMeta(m *mcp.Meta) (*mcp.Meta, []string) {
	if m == nil {
		return nil, nil
	}
	var origs []string
	fields := m.AdditionalFields
	own := func() {
		if origs == nil {
			fields = maps.Clone(fields)
		}
	}
	if ui, ok := fields[uiMetaKey].(map[string]any); ok {
		if orig, ok := ui[uiResourceURIKey].(string); ok {
			own()
			ui = maps.Clone(ui)
			ui[uiResourceURIKey] = u.servedURI(orig)
			fields[uiMetaKey] = ui
			origs = append(origs, orig)
		}
	}
	if orig, ok := fields[uiFlatResourceURIKey].(string); ok {
		own()
		fields[uiFlatResourceURIKey] = u.servedURI(orig)
		origs = append(origs, orig)
	}
	if origs == nil {
		return m, nil
	}
	return &mcp.Meta{ProgressToken: m.ProgressToken, AdditionalFields: fields}, origs
}
