package server

import (
	"cmp"
	"encoding/base64"
	"errors"
	"slices"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Pagination of the four lists toward clients (mcp.list_page_size) and
// their cache hints in the 2026-07-28 protocol (mcp.list_ttl).
//
// Every list is sorted by its key (a tool's or prompt's name, a
// resource's URI, a template's URI template) and a cursor is the key of
// the last item of the previous page, base64-encoded: the next page
// starts at the first key after it. So a cursor stays valid across the
// merge of several providers, across the policy filter (which runs
// before paging) and across list changes between two pages (an item
// added or removed elsewhere moves no boundary); it is the scheme
// mcp-go's own listByPagination uses for tools/list and prompts/list,
// which it answers, so all four lists take the same cursors. A cursor
// that does not decode is -32602 (mcp-go answers it before the hooks
// run).

// listMethods are the list methods that are paged and carry cache hints.
// resources/read is not among them: what one read returns is the
// upstream's, which tsmcp cannot promise fresh for any time.
var listMethods = []mcp.MCPMethod{
	mcp.MethodToolsList,
	mcp.MethodPromptsList,
	mcp.MethodResourcesList,
	mcp.MethodResourcesTemplatesList,
}

// errBadCursor is a cursor that is not one tsmcp made.
var errBadCursor = errors.New("invalid cursor")

// listOptions returns mcp-go's options for paging (pageSize items a page,
// 0 = one page) and the cache hints of the lists: ttl in milliseconds,
// cacheScope private (a list is the caller's: it is policy-filtered per
// identity, so no shared cache may serve it to another).
func listOptions(pageSize int, ttlMs int64) []server.ServerOption {
	var opts []server.ServerOption
	if pageSize > 0 {
		opts = append(opts, server.WithPaginationLimit(pageSize))
	}
	for _, m := range listMethods {
		opts = append(opts, server.WithMethodCacheHints(m, ttlMs, mcp.CacheScopePrivate))
	}
	return opts
}

// encodeCursor is the cursor of a page whose last item has key.
func encodeCursor(key string) mcp.Cursor {
	return mcp.Cursor(base64.StdEncoding.EncodeToString([]byte(key)))
}

// decodeCursor returns the key a cursor names; "" for no cursor.
func decodeCursor(c mcp.Cursor) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.StdEncoding.DecodeString(string(c))
	if err != nil {
		return "", errBadCursor
	}
	return string(b), nil
}

// pageOf sorts items by key (keeping the first of equal keys: a key names
// one item), and returns the page after cursor: at most size items (every
// one when size is 0), and the cursor of the next page, "" when this page
// is the last.
func pageOf[T any](items []T, key func(T) string, cursor mcp.Cursor, size int) ([]T, mcp.Cursor, error) {
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	sorted := slices.Clone(items)
	slices.SortStableFunc(sorted, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	sorted = slices.CompactFunc(sorted, func(a, b T) bool { return key(a) == key(b) })
	start := 0
	if cursor != "" {
		start, _ = slices.BinarySearchFunc(sorted, after, func(t T, k string) int {
			if key(t) <= k {
				return -1
			}
			return 1
		})
	}
	end := len(sorted)
	if size > 0 && start+size < end {
		end = start + size
	}
	page := sorted[start:end:end]
	if page == nil {
		page = []T{}
	}
	if end < len(sorted) {
		return page, encodeCursor(key(page[len(page)-1])), nil
	}
	return page, "", nil
}
