package server

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// TestSSEKeepaliveOneLoop drives the tracker's shared keep-alive with
// streams served through wrapStream: every open stream gets pings numbered
// from 1, as mcp-go numbers them, the first one an interval after the
// stream opened; the one goroutine stops when the last
// stream ends and starts again with the next; interval 0 sends nothing.
func TestSSEKeepaliveOneLoop(t *testing.T) {
	type sent struct {
		sid string
		id  any
		at  time.Time
	}
	pings := make(chan sent, 100)
	send := func(sid string, ev any) error {
		req, ok := ev.(mcp.JSONRPCRequest)
		if !ok || req.Method != string(mcp.MethodPing) || req.JSONRPC != "2.0" {
			t.Errorf("keep-alive event %#v, want a JSON-RPC ping", ev)
		}
		select {
		case pings <- sent{sid, req.ID.Value(), time.Now()}:
		default: // never blocks the loop; a test reading pings drains them
		}
		return nil
	}
	// open serves one stream with sid until the returned func is called.
	open := func(tr *sseTracker, sid string) (end func()) {
		release := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		registered := make(chan struct{})
		h := tr.wrapStream(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tr.register(r.Context(), sid)
			close(registered)
			<-release
		}))
		go func() {
			defer wg.Done()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/sse", nil))
		}()
		<-registered
		return func() { close(release); wg.Wait() }
	}
	running := func(tr *sseTracker) bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.ka.running
	}
	waitStopped := func(t *testing.T, tr *sseTracker) {
		deadline := time.Now().Add(10 * time.Second)
		for running(tr) {
			if time.Now().After(deadline) {
				t.Fatal("the keep-alive goroutine still runs with no stream open")
			}
			time.Sleep(time.Millisecond)
		}
	}

	t.Run("pings every stream", func(t *testing.T) {
		tr := newSSETracker()
		tr.setKeepalive(5*time.Millisecond, send)
		if running(tr) {
			t.Fatal("keep-alive runs with no stream open")
		}
		endA, endB := open(tr, "a"), open(tr, "b")
		next := map[string]int64{"a": 1, "b": 1}
		for next["a"] < 4 || next["b"] < 4 {
			p := <-pings
			if p.id != next[p.sid] {
				t.Fatalf("stream %s: ping id %v, want %d", p.sid, p.id, next[p.sid])
			}
			next[p.sid]++
		}
		endA()
		endB()
		waitStopped(t, tr)
		for len(pings) > 0 {
			<-pings
		}
		// The next stream starts it again, numbering its own pings,
		// the first one interval after the stream opened (its own phase,
		// as with a ticker per stream).
		before := time.Now()
		endC := open(tr, "c")
		if p := <-pings; p.sid != "c" || p.id != int64(1) || p.at.Sub(before) < 5*time.Millisecond {
			t.Fatalf("first ping %+v %v after opening, want stream c id 1 after at least the interval", p, p.at.Sub(before))
		}
		endC()
		waitStopped(t, tr)
	})
	t.Run("off", func(t *testing.T) {
		tr := newSSETracker()
		tr.setKeepalive(0, send)
		end := open(tr, "d")
		defer end()
		if running(tr) {
			t.Fatal("keep-alive runs with interval 0")
		}
	})
}
