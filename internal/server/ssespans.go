package server

import (
	"encoding/json"
	"strconv"
)

// sseWaits holds the spans of the requests posted on one legacy SSE
// session whose answers have not reached the stream yet: a request's span
// ends when the stream writes the answer with its id (or when the stream
// ends). Empty while tracing is off.
type sseWaits struct{ idQueue[*reqSpan] }

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
	return st.waits.await(id, rs)
}

// answered ends the span waiting for the answer with this id, if any.
func (w *sseWaits) answered(id json.RawMessage) {
	if rs, ok := w.takeAnswered(id); ok {
		rs.end(0)
	}
}

// abandon ends the spans still waiting when the stream ends: their
// answers will never be written.
func (w *sseWaits) abandon() {
	for _, rs := range w.close() {
		rs.markOutcome("cancelled")
		rs.end(0)
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
