package upstream

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

// TestListPages follows upstreams' cursors: a list paged finely is read
// whole however many pages it takes; a server whose cursors never end is
// stopped (by the item bound, by repeating a cursor, or after
// maxEmptyPages pages without items).
func TestListPages(t *testing.T) {
	// pager serves n items, per at a time; endless keeps sending new
	// cursors after them (empty pages); repeat sends "c" forever.
	pager := func(n, per int, endless, repeat bool) func(mcp.Cursor) ([]int, mcp.Cursor, error) {
		return func(c mcp.Cursor) ([]int, mcp.Cursor, error) {
			if repeat {
				return []int{1}, "c", nil
			}
			start := 0
			if c != "" {
				start, _ = strconv.Atoi(strings.TrimPrefix(string(c), "at"))
			}
			var items []int
			for i := start; i < min(start+per, n); i++ {
				items = append(items, i)
			}
			next := start + per
			if next >= n && !endless {
				return items, "", nil
			}
			return items, mcp.Cursor(fmt.Sprintf("at%d", next)), nil
		}
	}
	tests := []struct {
		name     string
		page     func(mcp.Cursor) ([]int, mcp.Cursor, error)
		maxItems int
		want     int
		wantMore bool
		wantErr  string
	}{
		{name: "one item a page, 1000 pages", page: pager(1000, 1, false, false), maxItems: 10000, want: 1000},
		{name: "seven a page", page: pager(1000, 7, false, false), maxItems: 10000, want: 1000},
		{name: "more than the bound", page: pager(1000, 7, false, false), maxItems: 500, want: 500, wantMore: true},
		{name: "endless cursors with items stop at the bound", page: pager(1<<30, 1, false, false), maxItems: 300, want: 300, wantMore: true},
		{name: "endless empty pages", page: pager(5, 5, true, false), maxItems: 10000, wantErr: "pages without items"},
		{name: "a repeated cursor", page: pager(0, 0, false, true), maxItems: 10000, wantErr: "repeated cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, more, err := listPages(context.Background(), tt.maxItems, tt.page)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != tt.want || more != tt.wantMore {
				t.Fatalf("got %d items, more %v, err %v; want %d, more %v", len(got), more, err, tt.want, tt.wantMore)
			}
			for i, v := range got {
				if v != i {
					t.Fatalf("item %d is %d: out of order or repeated", i, v)
				}
			}
		})
	}
}
