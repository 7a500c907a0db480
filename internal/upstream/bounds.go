package upstream

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/safetext"
)

// maxLoggedErr bounds an error text in a log line: an upstream's error
// may quote whatever it likes.
const maxLoggedErr = 4096

// errAttr is err for a log line, bounded.
func errAttr(err error) slog.Attr {
	return slog.String("err", safetext.Log(err.Error(), maxLoggedErr))
}

// Bounds limit what one upstream adds to the lists clients, the identity
// page and the log see: how many items of each kind, and the size of each
// item and of its strings (the upstream_* keys of config.Limits). Zero
// fields mean the defaults of config.DefaultLimits.
type Bounds struct {
	// Items caps each kind (tools, prompts, resources, resource
	// templates): the first Items listed are kept, the rest dropped.
	Items int
	// ItemBytes caps one item's JSON once its titles and descriptions are
	// cut; a larger item is dropped.
	ItemBytes int
	// NameBytes caps the name of a resource, a resource template or a
	// prompt argument; a longer one drops its item.
	NameBytes int
	// URIBytes caps a resource URI or URI template; a longer one drops its
	// item.
	URIBytes int
	// TitleBytes caps each title; a longer one is cut (safetext.Cut).
	TitleBytes int
	// DescriptionBytes caps each description; a longer one is cut.
	DescriptionBytes int
}

// BoundsFrom returns the bounds the upstream_* keys of l set.
func BoundsFrom(l config.Limits) Bounds {
	return Bounds{
		Items:            l.UpstreamItems,
		ItemBytes:        int(l.UpstreamItemBytes),
		NameBytes:        int(l.UpstreamNameBytes),
		URIBytes:         int(l.UpstreamURIBytes),
		TitleBytes:       int(l.UpstreamTitleBytes),
		DescriptionBytes: int(l.UpstreamDescriptionBytes),
	}
}

func (b Bounds) withDefaults() Bounds {
	d := BoundsFrom(config.DefaultLimits())
	for _, f := range []struct{ v, def *int }{
		{&b.Items, &d.Items}, {&b.ItemBytes, &d.ItemBytes}, {&b.NameBytes, &d.NameBytes},
		{&b.URIBytes, &d.URIBytes}, {&b.TitleBytes, &d.TitleBytes}, {&b.DescriptionBytes, &d.DescriptionBytes},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return b
}

// bounder applies the upstream's Bounds to one listing of one kind. What
// it drops is logged per item (through the upstream's Repeats, so a long
// list cannot flood the log); what it cuts is counted and logged once by
// done.
type bounder struct {
	u    *upstream
	b    Bounds
	kind string // "tool", "prompt", "resource" or "resource template"
	cut  int    // titles and descriptions cut
}

func (u *upstream) bounder(kind string) *bounder {
	return &bounder{u: u, b: u.p.opts.Bounds, kind: kind}
}

// title cuts a title to TitleBytes.
func (bd *bounder) title(s string) string { return bd.text(s, bd.b.TitleBytes) }

// description cuts a description to DescriptionBytes.
func (bd *bounder) description(s string) string { return bd.text(s, bd.b.DescriptionBytes) }

func (bd *bounder) text(s string, n int) string {
	if len(s) <= n {
		return s
	}
	bd.cut++
	return safetext.Cut(s, n)
}

// nameOK reports whether a name fits NameBytes; the item is dropped with
// a log line when it does not. item names the item in the log line.
func (bd *bounder) nameOK(name, item string) bool {
	return bd.fits("name", name, bd.b.NameBytes, "mcp.limits.upstream_name_bytes", item)
}

// uriOK reports whether a URI or URI template fits URIBytes, like nameOK.
func (bd *bounder) uriOK(uri string) bool {
	return bd.fits("uri", uri, bd.b.URIBytes, "mcp.limits.upstream_uri_bytes", uri)
}

// urisOK reports whether every one of uris fits URIBytes, like uriOK.
func (bd *bounder) urisOK(uris []string) bool {
	for _, uri := range uris {
		if !bd.uriOK(uri) {
			return false
		}
	}
	return true
}

func (bd *bounder) fits(what, s string, n int, key, item string) bool {
	if len(s) <= n {
		return true
	}
	bd.u.warns.Warn("upstream item dropped: "+what+" too long",
		slog.String("kind", bd.kind), slog.String("item", safetext.Log(item, 128)),
		slog.Int("bytes", len(s)), slog.String("limit", key), slog.Int("max", n))
	return false
}

// sizeOK reports whether item (bridged, its texts cut) fits ItemBytes as
// JSON; the item is dropped with a log line when it does not.
func (bd *bounder) sizeOK(item any, name string) bool {
	raw, err := json.Marshal(item)
	if err == nil && len(raw) <= bd.b.ItemBytes {
		return true
	}
	bd.u.warns.Warn("upstream item dropped: larger than mcp.limits.upstream_item_bytes",
		slog.String("kind", bd.kind), slog.String("item", safetext.Log(name, 128)),
		slog.Int("bytes", len(raw)), slog.Int("max", bd.b.ItemBytes))
	return false
}

// done logs what the listing cut, and that items past Items were dropped
// when more is set.
func (bd *bounder) done(more bool) {
	if more {
		bd.u.warns.Warn("upstream items dropped: it lists more than mcp.limits.upstream_items",
			slog.String("kind", bd.kind), slog.Int("kept", bd.b.Items))
	}
	if bd.cut > 0 {
		bd.u.warns.Log(context.Background(), slog.LevelInfo, "upstream titles or descriptions cut",
			slog.String("kind", bd.kind), slog.Int("cut", bd.cut),
			slog.Int("title_max", bd.b.TitleBytes), slog.Int("description_max", bd.b.DescriptionBytes))
	}
}
