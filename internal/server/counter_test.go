package server

import (
	"net/http"
	"testing"
)

// TestCounter: a counter refuses per identity with 429 and in total with
// 503, naming the limit, and takes nothing when it refuses.
func TestCounter(t *testing.T) {
	c := newCounter("calls", 2, 3)
	steps := []struct {
		name    string
		key     string
		n       int64
		release bool
		want    string // the refused limit; "" for granted
		status  int
	}{
		{name: "alice 1", key: "a", n: 1},
		{name: "alice 2", key: "a", n: 1},
		{name: "alice past her limit", key: "a", n: 1, want: "mcp.limits.calls_per_identity", status: http.StatusTooManyRequests},
		{name: "bob while alice is refused", key: "b", n: 1},
		{name: "bob past the total", key: "b", n: 1, want: "mcp.limits.calls_total", status: http.StatusServiceUnavailable},
		{name: "alice gives one back", key: "a", n: 1, release: true},
		{name: "bob again", key: "b", n: 1},
		{name: "a request bigger than the limit", key: "c", n: 3, want: "mcp.limits.calls_per_identity", status: http.StatusTooManyRequests},
	}
	for _, s := range steps {
		if s.release {
			c.release(s.key, s.n)
			continue
		}
		ref := c.acquire(s.key, s.n)
		switch {
		case s.want == "" && ref != nil:
			t.Fatalf("%s: refused by %s", s.name, ref.key)
		case s.want != "" && (ref == nil || ref.key != s.want || ref.status != s.status):
			t.Fatalf("%s: got %+v, want %s with %d", s.name, ref, s.want, s.status)
		}
	}
	if mine, all := c.held("a"); mine != 1 || all != 3 {
		t.Fatalf("held: alice %d, all %d; want 1, 3", mine, all)
	}
	c.release("a", 1)
	c.release("b", 2)
	if _, all := c.held("a"); all != 0 || len(c.byKey) != 0 {
		t.Fatalf("after releasing everything: total %d, keys %v", all, c.byKey)
	}
}
