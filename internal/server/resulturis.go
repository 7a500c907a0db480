package server

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/identity"
)

// Every resource URI in an answer is decided again, with
// Policy.DecideResource, before it reaches the caller: an upstream
// answers with the URI it resolved (which need not be the one asked for:
// a link followed, a path cleaned), and tools and prompts name resources
// of their own choosing. What the caller may not read is withheld, each
// with a resource_withheld audit line:
//
//   - resources/read: contents the caller may not read are dropped; a read
//     left with no contents fails as a missing resource does;
//   - tools/call: resource_link and embedded resource items (also inside
//     tool_result items) are dropped from the content;
//   - prompts/get: messages carrying such an item are dropped;
//   - notifications/resources/updated name the URI the session subscribed
//     to, decided again at each delivery (deliverUpdates).
//
// An item whose URI cannot be read (an embedded resource of an unknown
// type) is withheld too. structuredContent is passed as it is: its schema
// is the tool's.

// allowedContents returns the resource contents of rcs that the caller id
// may read, and whether any was withheld (rcs itself when none was); in
// names the request, for the audit line of each one withheld.
func (s *Server) allowedContents(ctx context.Context, id *identity.Identity, in string, rcs []mcp.ResourceContents) ([]mcp.ResourceContents, bool) {
	policy := s.policy.Load()
	return filtered(rcs, func(rc mcp.ResourceContents) (mcp.ResourceContents, verdict) {
		uri, known := contentsURI(rc)
		if s.mayRead(ctx, policy, id, in, uri, known) {
			return rc, pass
		}
		return rc, withhold
	})
}

// allowedContent returns content without the items that name a resource
// the caller id may not read (see filterItem), and whether anything
// changed (content itself when nothing did).
func (s *Server) allowedContent(ctx context.Context, id *identity.Identity, in string, content []mcp.Content) ([]mcp.Content, bool) {
	policy := s.policy.Load()
	return filtered(content, func(c mcp.Content) (mcp.Content, verdict) {
		return s.filterItem(ctx, policy, id, in, c)
	})
}

// allowedMessages returns msgs without the messages whose content names a
// resource the caller id may not read, and whether anything changed.
func (s *Server) allowedMessages(ctx context.Context, id *identity.Identity, in string, msgs []mcp.PromptMessage) ([]mcp.PromptMessage, bool) {
	policy := s.policy.Load()
	return filtered(msgs, func(m mcp.PromptMessage) (mcp.PromptMessage, verdict) {
		var v verdict
		m.Content, v = s.filterItem(ctx, policy, id, in, m.Content)
		return m, v
	})
}

// verdict is what filtered does with one item.
type verdict uint8

const (
	pass     verdict = iota // keep the item as it is
	replace                 // keep what the filter returned instead
	withhold                // leave the item out
)

// filtered applies f to each of items and returns the result, and whether
// any item was replaced or withheld: items itself when none was, so that
// nothing is allocated or copied in the usual case.
func filtered[T any](items []T, f func(T) (T, verdict)) ([]T, bool) {
	var out []T
	for i, it := range items {
		kept, v := f(it)
		if v == pass {
			if out != nil {
				out = append(out, it)
			}
			continue
		}
		if out == nil {
			out = append(make([]T, 0, len(items)), items[:i]...)
		}
		if v == replace {
			out = append(out, kept)
		}
	}
	if out == nil {
		return items, false
	}
	return out, true
}

// filterItem decides on the resource URIs of one content item: a
// resource_link or embedded resource the caller may not read is withheld,
// a tool_result item is replaced by a copy without such items of its own
// content, and anything else passes.
func (s *Server) filterItem(ctx context.Context, policy *acl.Policy, id *identity.Identity, in string, c mcp.Content) (mcp.Content, verdict) {
	var uri string
	known := true
	switch c := c.(type) {
	case mcp.ResourceLink:
		uri = c.URI
	case *mcp.ResourceLink:
		if known = c != nil; known {
			uri = c.URI
		}
	case mcp.EmbeddedResource:
		uri, known = contentsURI(c.Resource)
	case *mcp.EmbeddedResource:
		if known = c != nil; known {
			uri, known = contentsURI(c.Resource)
		}
	case mcp.ToolResultContent:
		inner, changed := s.allowedContent(ctx, id, in, c.Content)
		if !changed {
			return c, pass
		}
		c.Content = inner
		return c, replace
	case *mcp.ToolResultContent:
		if c == nil {
			return c, pass
		}
		inner, changed := s.allowedContent(ctx, id, in, c.Content)
		if !changed {
			return c, pass
		}
		cp := *c
		cp.Content = inner
		return &cp, replace
	default:
		return c, pass
	}
	if s.mayRead(ctx, policy, id, in, uri, known) {
		return c, pass
	}
	return c, withhold
}

// mayRead decides whether the caller id may read uri, named in the answer
// to in; known is false when the item's URI could not be read (then it is
// withheld). A withheld URI is one audit event.
func (s *Server) mayRead(ctx context.Context, policy *acl.Policy, id *identity.Identity, in, uri string, known bool) bool {
	d := acl.Decision{Reason: "no URI in the item"}
	if known {
		d = policy.DecideResource(id, uri)
	}
	if d.Allow {
		return true
	}
	s.audit.Record(ctx, audit.Event{Action: audit.ResourceWithheld, Caller: audit.CallerOf(id), Kind: audit.Resource, Name: uri, In: in,
		Decision: audit.Deny, Reason: d.Reason})
	return false
}

// contentsURI returns the URI of one resource's contents; known is false
// for a type it does not know (or a nil one).
func contentsURI(rc mcp.ResourceContents) (uri string, known bool) {
	switch rc := rc.(type) {
	case mcp.TextResourceContents:
		return rc.URI, true
	case *mcp.TextResourceContents:
		if rc != nil {
			return rc.URI, true
		}
	case mcp.BlobResourceContents:
		return rc.URI, true
	case *mcp.BlobResourceContents:
		if rc != nil {
			return rc.URI, true
		}
	}
	return "", false
}
