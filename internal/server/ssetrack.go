package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/tsmcp/tsmcp/internal/jsonrpc"
)

// sseTracker counts, per legacy SSE session, the requests whose responses
// have not yet been written to the session's stream. On the SSE transport
// a POST /message is answered 202 at once and the response travels later
// on the GET /sse stream, so closing streams when tool handlers return
// could cut responses still queued. Shutdown waits for idle() first.
type sseTracker struct {
	mu      sync.Mutex // guards the fields below
	streams map[string]*sseStream
	ka      sseKeepalive // see ssekeepalive.go
}

// sseStream is one open GET /sse stream.
type sseStream struct {
	sid     string    // set by the session ID generator
	pending int       // guarded by sseTracker.mu
	opened  time.Time // when the stream was registered
	// Keep-alive (ssekeepalive.go), guarded by sseTracker.mu: the pings
	// sent, and when the next is due (zero: interval after opened).
	pings    int64
	nextPing time.Time
	gone     chan struct{} // closed when the stream has ended
	waits    sseWaits      // spans awaiting their answers; see ssespans.go
	// holds are the answerHolds of the requests whose answers have not
	// been written yet: released as they are (or when the stream ends).
	holds idQueue[*answerHold]
}

type sseStreamKey struct{}

func newSSETracker() *sseTracker {
	return &sseTracker{streams: map[string]*sseStream{}}
}

// register binds the stream carried in ctx (see wrapStream) to sid.
func (tr *sseTracker) register(ctx context.Context, sid string) {
	st, ok := ctx.Value(sseStreamKey{}).(*sseStream)
	if !ok {
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	st.sid = sid
	st.opened = time.Now()
	tr.streams[sid] = st
	tr.startKeepaliveLocked()
}

// wrapStream serves a GET /sse request, watching the responses it writes.
func (tr *sseTracker) wrapStream(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &sseStream{gone: make(chan struct{})}
		defer close(st.gone)
		defer st.waits.abandon()
		defer func() {
			for _, h := range st.holds.close() {
				h.release() // never to be written
			}
		}()
		defer func() {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			if st.sid != "" {
				delete(tr.streams, st.sid) // its pending responses are moot
				tr.streamEndedLocked()
			}
		}()
		ctx := context.WithValue(r.Context(), sseStreamKey{}, st)
		next.ServeHTTP(&sseWriter{ResponseWriter: w, tr: tr, st: st}, r.WithContext(ctx))
	})
}

// wrapMessage counts the requests posted to /message before handing them
// on, from the body limitBody buffered. A POST that would leave more than
// queue answers waiting on its stream is passed to full instead (the
// stream's client is not reading them). The stream travels in the
// request's context to the calls it starts (see sseStreamOf).
func (tr *sseTracker) wrapMessage(queue int, full http.HandlerFunc, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := peekRPC(r).Requests()
		tr.mu.Lock()
		st := tr.streams[r.URL.Query().Get("sessionId")]
		if st != nil && n > 0 && st.pending+n > queue {
			tr.mu.Unlock()
			full(w, r)
			return
		}
		if st != nil {
			st.pending += n
		}
		tr.mu.Unlock()
		if st != nil {
			r = r.WithContext(context.WithValue(r.Context(), sseCallStreamKey{}, st))
		}
		next.ServeHTTP(w, r)
	})
}

type sseCallStreamKey struct{}

// holdUntilAnswered makes h go with the answer to request id: released
// once that answer is written on the stream of session sid, or the
// stream ends. It returns nil when the session has no open stream (the
// POST keeps h); otherwise a func that takes h back, for a POST the
// transport did not accept.
func (tr *sseTracker) holdUntilAnswered(sid string, id json.RawMessage, h *answerHold) (forget func()) {
	st := tr.stream(sid)
	if st == nil {
		return nil
	}
	return st.holds.await(id, h)
}

// sseStreamOf returns the legacy SSE stream that will carry the answer of
// the call running in ctx, or nil on other transports.
func sseStreamOf(ctx context.Context) *sseStream {
	st, _ := ctx.Value(sseCallStreamKey{}).(*sseStream)
	return st
}

// idle reports whether every posted request has been answered on its
// stream.
func (tr *sseTracker) idle() bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, st := range tr.streams {
		if st.pending > 0 {
			return false
		}
	}
	return true
}

// open returns the number of open SSE streams.
func (tr *sseTracker) open() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.streams)
}

// answered records n responses written on st.
func (tr *sseTracker) answered(st *sseStream, n int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	st.pending = max(0, st.pending-n)
}

// sseWriter watches the events written to one SSE stream for responses.
type sseWriter struct {
	http.ResponseWriter
	tr *sseTracker
	st *sseStream
}

var dataPrefix = []byte("data:")

func (w *sseWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	if err == nil {
		// mcp-go writes one whole event per Write.
		if i := bytes.Index(b, dataPrefix); i >= 0 {
			answered := 0
			for _, m := range jsonrpc.DecodeMessages(b[i+len(dataPrefix):]) {
				if m.IsResponse() {
					answered++
					w.st.waits.answered(m.ID)
					if h, ok := w.st.holds.takeAnswered(m.ID); ok {
						h.release()
					}
				}
			}
			if answered > 0 {
				w.tr.answered(w.st, answered)
			}
		}
	}
	return n, err
}

// Flush implements http.Flusher, which the SSE transport requires.
func (w *sseWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *sseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
