package upstream

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
)

// featureLists are the prompts, resources and resource templates one
// session listed, as the upstream names them.
type featureLists struct {
	mu        sync.Mutex // guards the fields below
	prompts   []mcp.Prompt
	resources []mcp.Resource
	templates []mcp.ResourceTemplate
	more      listedMore
}

// listedMore says which lists had more than Bounds.Items items (the rest
// were dropped).
type listedMore struct{ prompts, resources, templates bool }

func (f *featureLists) get() ([]mcp.Prompt, []mcp.Resource, []mcp.ResourceTemplate, listedMore) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.prompts, f.resources, f.templates, f.more
}

// watchFeatures registers the session's handler of the notifications about
// prompts and resources: list_changed re-lists (as for tools), and
// resources/updated reaches the supervisor's subscribers. It then
// re-establishes, on this new session, the subscriptions the supervisor
// holds.
func (s *supervisor) watchFeatures(sess *session) {
	if sess.client == nil {
		return // a test's stand-in session
	}
	sess.client.OnNotification(func(n mcp.JSONRPCNotification) {
		switch n.Method {
		case mcp.MethodNotificationResourcesListChanged, mcp.MethodNotificationPromptsListChanged:
			s.listChanged()
		case mcp.MethodNotificationResourceUpdated:
			uri, _ := n.Params.AdditionalFields["uri"].(string)
			if uri != "" {
				s.subs.deliver(uri)
			}
		}
	})
	s.subs.resubscribe(s.ctx, sess, s.log)
}

// listFeatures lists the prompts, resources and resource templates of an
// upstream that advertises them (every page of each, up to Bounds.Items
// of each). A failing list is logged and counts as empty: tools keep
// being served.
func (s *supervisor) listFeatures(ctx context.Context, sess *session) {
	caps := sess.client.GetServerCapabilities()
	var (
		prompts   []mcp.Prompt
		resources []mcp.Resource
		templates []mcp.ResourceTemplate
		more      listedMore
	)
	maxItems := s.opts.Bounds.Items
	if caps.Prompts != nil {
		var err error
		if prompts, more.prompts, err = listPages(ctx, maxItems, func(c mcp.Cursor) ([]mcp.Prompt, mcp.Cursor, error) {
			req := mcp.ListPromptsRequest{}
			req.Params.Cursor = c
			res, err := sess.client.ListPromptsByPage(ctx, req)
			if err != nil {
				return nil, "", err
			}
			return res.Prompts, res.NextCursor, nil
		}); err != nil {
			s.log.Warn("upstream prompts/list failed; serving no prompts from it", errAttr(err))
		}
	}
	if caps.Resources != nil {
		var err error
		if resources, more.resources, err = listPages(ctx, maxItems, func(c mcp.Cursor) ([]mcp.Resource, mcp.Cursor, error) {
			req := mcp.ListResourcesRequest{}
			req.Params.Cursor = c
			res, err := sess.client.ListResourcesByPage(ctx, req)
			if err != nil {
				return nil, "", err
			}
			return res.Resources, res.NextCursor, nil
		}); err != nil {
			s.log.Warn("upstream resources/list failed; serving no resources from it", errAttr(err))
		}
		if templates, more.templates, err = listPages(ctx, maxItems, func(c mcp.Cursor) ([]mcp.ResourceTemplate, mcp.Cursor, error) {
			req := mcp.ListResourceTemplatesRequest{}
			req.Params.Cursor = c
			res, err := sess.client.ListResourceTemplatesByPage(ctx, req)
			if err != nil {
				return nil, "", err
			}
			return res.ResourceTemplates, res.NextCursor, nil
		}); err != nil {
			s.log.Warn("upstream resources/templates/list failed; serving no templates from it", errAttr(err))
		}
	}
	sess.features.mu.Lock()
	sess.features.prompts, sess.features.resources, sess.features.templates = prompts, resources, templates
	sess.features.more = more
	sess.features.mu.Unlock()
}

// listPages follows a paginated list to its end: at most maxListPages
// pages, never the same cursor twice, and only until it has more than
// maxItems items; of those it keeps the first maxItems, and more is set.
func listPages[T any](ctx context.Context, maxItems int, page func(mcp.Cursor) ([]T, mcp.Cursor, error)) (_ []T, more bool, _ error) {
	var all []T
	var cursor mcp.Cursor
	seen := map[mcp.Cursor]bool{}
	for n := 0; ; n++ {
		if n == maxListPages {
			return nil, false, errors.New("too many pages")
		}
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		items, next, err := page(cursor)
		if err != nil {
			return nil, false, err
		}
		all = append(all, items...)
		if len(all) > maxItems {
			return slices.Clone(all[:maxItems]), true, nil
		}
		if next == "" {
			return all, false, nil
		}
		if seen[next] {
			return nil, false, errors.New("repeated cursor")
		}
		seen[next] = true
		cursor = next
	}
}
