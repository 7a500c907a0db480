package server

import (
	"errors"
	"slices"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

func TestCursorCodec(t *testing.T) {
	tests := []struct {
		name    string
		cursor  mcp.Cursor
		want    string
		wantErr bool
	}{
		{name: "no cursor", cursor: "", want: ""},
		{name: "a name", cursor: encodeCursor("big__tool_042"), want: "big__tool_042"},
		{name: "a URI with every kind of character", cursor: encodeCursor("docs+file:///a b/ü?x=1&y=%2F#f"), want: "docs+file:///a b/ü?x=1&y=%2F#f"},
		{name: "not base64", cursor: "!!!", wantErr: true},
		{name: "URL alphabet is not ours", cursor: "-_-_", wantErr: true},
		{name: "truncated", cursor: encodeCursor("abcd")[:5], wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeCursor(tt.cursor)
			if tt.wantErr {
				if !errors.Is(err, errBadCursor) {
					t.Fatalf("decodeCursor(%q) = %q, %v; want errBadCursor", tt.cursor, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("decodeCursor(%q) = %q, %v; want %q", tt.cursor, got, err, tt.want)
			}
		})
	}
}

// TestPageOf pages lists and follows the cursors to the end: every item
// once, in key order, and a cursor from one list still positions right in
// a list changed in between (filtered differently, an item added or
// removed).
func TestPageOf(t *testing.T) {
	id := func(s string) string { return s }
	tests := []struct {
		name  string
		items []string
		size  int
		want  [][]string
	}{
		{name: "empty", items: nil, size: 2, want: [][]string{{}}},
		{name: "one page when size is 0", items: []string{"c", "a", "b"}, size: 0, want: [][]string{{"a", "b", "c"}}},
		{name: "exact pages", items: []string{"d", "c", "b", "a"}, size: 2, want: [][]string{{"a", "b"}, {"c", "d"}}},
		{name: "last page short", items: []string{"e", "d", "c", "b", "a"}, size: 2, want: [][]string{{"a", "b"}, {"c", "d"}, {"e"}}},
		{name: "size larger than the list", items: []string{"b", "a"}, size: 10, want: [][]string{{"a", "b"}}},
		{name: "duplicate keys kept once", items: []string{"b", "a", "b", "c"}, size: 1, want: [][]string{{"a"}, {"b"}, {"c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][]string
			var cursor mcp.Cursor
			for range 100 {
				page, next, err := pageOf(tt.items, id, cursor, tt.size)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, page)
				if next == "" {
					break
				}
				cursor = next
			}
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Fatalf("pages %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("cursor survives changes between pages", func(t *testing.T) {
		first, next, err := pageOf([]string{"a", "b", "c", "d", "e"}, id, "", 2)
		if err != nil || !slices.Equal(first, []string{"a", "b"}) {
			t.Fatalf("first page %q, %v", first, err)
		}
		// "b" itself removed, "bb" added after it, "a2" added before
		// the boundary: the next page starts right after "b".
		second, _, err := pageOf([]string{"a", "a2", "bb", "c", "d", "e"}, id, next, 2)
		if err != nil || !slices.Equal(second, []string{"bb", "c"}) {
			t.Fatalf("second page %q, %v; want [bb c]", second, err)
		}
	})
	t.Run("bad cursor", func(t *testing.T) {
		if _, _, err := pageOf([]string{"a"}, id, "%%%", 1); !errors.Is(err, errBadCursor) {
			t.Fatalf("err = %v, want errBadCursor", err)
		}
	})
}
