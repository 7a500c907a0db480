package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// maxEmptyPages bounds the pages without an item in one list, against a
// server whose cursors never end. Pages with items need no bound of
// their own: a list stops once it has more than Bounds.Items items, so an
// upstream may page its list as finely as it likes.
const maxEmptyPages = 100

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

// list is a lister's Refresh: it lists the session's tools, then its
// prompts, resources and templates, and takes them (listed).
func (u *upstream) list(ctx context.Context, sess *session) error {
	ctx, cancel := context.WithTimeout(ctx, sess.Timeout())
	defer cancel()
	if err := sess.listTools(ctx, u.p.opts.Bounds.Items); err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	u.listFeatures(ctx, sess)
	if u.modern != nil {
		u.listModern(ctx, sess)
	}
	u.listed(sess)
	return nil
}

// listTools sends tools/list itself (rather than through client.ListTools,
// which decodes into mcp.Tool and drops unknown schema keys) and keeps each
// tool's raw JSON, of the first maxItems tools only: once a page takes it
// past them, the rest are dropped and no further page is asked for.
func (s *session) listTools(ctx context.Context, maxItems int) error {
	var all []json.RawMessage
	more := false
	cursor := ""
	seen := map[string]bool{}
	for empty := 0; ; {
		req := transport.JSONRPCRequest{
			JSONRPC: mcp.JSONRPC_VERSION,
			ID:      mcp.NewRequestId(fmt.Sprintf("tsmcp-list-%d", s.listID.Add(1))),
			Method:  string(mcp.MethodToolsList),
		}
		if cursor != "" {
			req.Params = map[string]any{"cursor": cursor}
		}
		resp, err := s.Client().GetTransport().SendRequest(ctx, req)
		if err != nil {
			return err
		}
		if resp.Error != nil {
			return resp.Error.AsError()
		}
		var result struct {
			Tools      []json.RawMessage `json:"tools"`
			NextCursor string            `json:"nextCursor"`
		}
		if err := json.Unmarshal(resp.Result, &result); err != nil {
			return fmt.Errorf("decoding result: %w", err)
		}
		if len(result.Tools) == 0 {
			if empty++; empty > maxEmptyPages {
				return fmt.Errorf("more than %d pages without tools", maxEmptyPages)
			}
		}
		all = append(all, result.Tools...)
		if len(all) > maxItems {
			all, more = slices.Clone(all[:maxItems]), true
			break
		}
		if result.NextCursor == "" {
			break
		}
		if seen[result.NextCursor] {
			return errors.New("repeated cursor")
		}
		seen[result.NextCursor] = true
		cursor = result.NextCursor
	}
	s.mu.Lock()
	s.tools, s.toolsMore = all, more
	s.mu.Unlock()
	return nil
}

// watchFeatures is every supervisor's Attach: it registers the session's
// handler of the notifications about prompts and resources (list_changed
// re-lists, as for tools; resources/updated reaches the supervisor's
// subscribers), then re-establishes, on this new session, the
// subscriptions the supervisor holds. ctx is the supervisor's.
func (s *supervisor) watchFeatures(ctx context.Context, sess *session) {
	sess.Client().OnNotification(func(n mcp.JSONRPCNotification) {
		switch n.Method {
		case mcp.MethodNotificationResourcesListChanged, mcp.MethodNotificationPromptsListChanged:
			s.Poke()
		case mcp.MethodNotificationResourceUpdated:
			uri, _ := n.Params.AdditionalFields["uri"].(string)
			if uri != "" {
				s.subs.deliver(uri)
			}
		}
	})
	s.subs.resubscribe(ctx, sess, s.log)
}

// listFeatures lists the prompts, resources and resource templates of an
// upstream that advertises them (every page of each, up to Bounds.Items
// of each). A failing list is logged and counts as empty: tools keep
// being served.
func (u *upstream) listFeatures(ctx context.Context, sess *session) {
	caps := sess.Client().GetServerCapabilities()
	var (
		prompts   []mcp.Prompt
		resources []mcp.Resource
		templates []mcp.ResourceTemplate
		more      listedMore
	)
	maxItems := u.p.opts.Bounds.Items
	if caps.Prompts != nil {
		var err error
		if prompts, more.prompts, err = listPages(ctx, maxItems, func(c mcp.Cursor) ([]mcp.Prompt, mcp.Cursor, error) {
			req := mcp.ListPromptsRequest{}
			req.Params.Cursor = c
			res, err := sess.Client().ListPromptsByPage(ctx, req)
			if err != nil {
				return nil, "", err
			}
			return res.Prompts, res.NextCursor, nil
		}); err != nil {
			u.log.Warn("upstream prompts/list failed; serving no prompts from it", errAttr(err))
		}
	}
	if caps.Resources != nil {
		var err error
		if resources, more.resources, err = listPages(ctx, maxItems, func(c mcp.Cursor) ([]mcp.Resource, mcp.Cursor, error) {
			req := mcp.ListResourcesRequest{}
			req.Params.Cursor = c
			res, err := sess.Client().ListResourcesByPage(ctx, req)
			if err != nil {
				return nil, "", err
			}
			return res.Resources, res.NextCursor, nil
		}); err != nil {
			u.log.Warn("upstream resources/list failed; serving no resources from it", errAttr(err))
		}
		if templates, more.templates, err = listPages(ctx, maxItems, func(c mcp.Cursor) ([]mcp.ResourceTemplate, mcp.Cursor, error) {
			req := mcp.ListResourceTemplatesRequest{}
			req.Params.Cursor = c
			res, err := sess.Client().ListResourceTemplatesByPage(ctx, req)
			if err != nil {
				return nil, "", err
			}
			return res.ResourceTemplates, res.NextCursor, nil
		}); err != nil {
			u.log.Warn("upstream resources/templates/list failed; serving no templates from it", errAttr(err))
		}
	}
	sess.features.mu.Lock()
	sess.features.prompts, sess.features.resources, sess.features.templates = prompts, resources, templates
	sess.features.more = more
	sess.features.mu.Unlock()
}

// listPages follows a paginated list to its end: at most maxEmptyPages
// pages without items, never the same cursor twice, and only until it has
// more than maxItems items; of those it keeps the first maxItems, and
// more is set.
func listPages[T any](ctx context.Context, maxItems int, page func(mcp.Cursor) ([]T, mcp.Cursor, error)) (_ []T, more bool, _ error) {
	var all []T
	var cursor mcp.Cursor
	seen := map[mcp.Cursor]bool{}
	for empty := 0; ; {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		items, next, err := page(cursor)
		if err != nil {
			return nil, false, err
		}
		if len(items) == 0 {
			if empty++; empty > maxEmptyPages {
				return nil, false, fmt.Errorf("more than %d pages without items", maxEmptyPages)
			}
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
