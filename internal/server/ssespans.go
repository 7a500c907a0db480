package server

import (
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
)

// sseWaits holds the spans of the requests posted on one legacy SSE
// session whose answers have not reached the stream yet: on that transport
// a POST /message is answered 202 at once and the answer travels later on
// the GET /sse stream, so a request's span ends when the stream writes the
// answer with its id (or when the stream ends). Empty while tracing is
// off; answered then costs one atomic load.
type sseWaits struct {
	n  atomic.Int32 // len(byID), read without the lock
	mu sync.Mutex   // guards the field below
	// byID holds, per normalized request id, the spans waiting in the
	// order their requests were posted (a client may reuse an id).
	byID map[string][]*reqSpan
}

// stream returns the open stream of SSE session sid, or nil.
func (tr *sseTracker) stream(sid string) *sseStream {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.streams[sid]
}

// awaitAnswer makes rs end when the answer to request id is written on
// the stream of session sid. It returns nil when the session has no open
// stream (the transport then refuses the POST); otherwise a func that
// takes rs back, for a POST the transport did not accept.
func (tr *sseTracker) awaitAnswer(sid string, id json.RawMessage, rs *reqSpan) (forget func()) {
	st := tr.stream(sid)
	if st == nil {
		return nil
	}
	key := rpcIDKey(id)
	w := &st.waits
	w.mu.Lock()
	if w.byID == nil {
		w.byID = map[string][]*reqSpan{}
	}
	w.byID[key] = append(w.byID[key], rs)
	w.n.Store(int32(len(w.byID)))
	w.mu.Unlock()
	return func() { w.take(key, rs) }
}

// answered ends the span waiting for the answer with this id, if any.
func (w *sseWaits) answered(id json.RawMessage) {
	if w.n.Load() == 0 || len(id) == 0 {
		return
	}
	if rs := w.take(rpcIDKey(id), nil); rs != nil {
		rs.end(0)
	}
}

// take removes rs (nil: the oldest span) waiting under key and returns it.
func (w *sseWaits) take(key string, rs *reqSpan) *reqSpan {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.byID[key]
	i := 0
	if rs != nil {
		for i = 0; i < len(list) && list[i] != rs; i++ {
		}
	}
	if i >= len(list) {
		return nil
	}
	got := list[i]
	list = append(list[:i:i], list[i+1:]...)
	if len(list) == 0 {
		delete(w.byID, key)
	} else {
		w.byID[key] = list
	}
	w.n.Store(int32(len(w.byID)))
	return got
}

// abandon ends the spans still waiting when the stream ends: their
// answers will never be written.
func (w *sseWaits) abandon() {
	if w.n.Load() == 0 {
		return
	}
	w.mu.Lock()
	byID := w.byID
	w.byID = nil
	w.n.Store(0)
	w.mu.Unlock()
	for _, list := range byID {
		for _, rs := range list {
			rs.markOutcome("cancelled")
			rs.end(0)
		}
	}
}

// rpcIDKey normalizes a JSON-RPC id so that a request's id and its answer's
// match: mcp-go decodes a numeric id into a float64 and writes it back
// from that. A string is kept apart from a number with the same digits.
func rpcIDKey(id json.RawMessage) string {
	var s string
	if json.Unmarshal(id, &s) == nil {
		return "s:" + s
	}
	var f float64
	if json.Unmarshal(id, &f) == nil {
		return "n:" + strconv.FormatFloat(f, 'g', -1, 64)
	}
	return "r:" + string(id)
}
