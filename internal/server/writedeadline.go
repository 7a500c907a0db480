package server

import (
	"errors"
	"net/http"
	"sync"
	"time"
)

// deadlineWriter puts a write deadline on every write and flush of one
// response, renewed each time: a client that stops reading has its stream
// or response closed after the timeout instead of holding the handler, the
// connection and whatever is queued for it. A failed write cancels the
// request (stalled), which ends the transports' stream loops; net/http then
// closes the connection.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	stalled func(error) // called once, on the first failed write

	once sync.Once
}

func newDeadlineWriter(w http.ResponseWriter, timeout time.Duration, stalled func(error)) *deadlineWriter {
	return &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: timeout, stalled: stalled}
}

// arm sets the deadline of the next write.
func (w *deadlineWriter) arm() {
	// ErrNotSupported: a writer without a connection (never the case on
	// the tailnet listener); the write then simply has no deadline.
	if err := w.rc.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		w.fail(err)
	}
}

func (w *deadlineWriter) fail(err error) {
	w.once.Do(func() { w.stalled(err) })
}

func (w *deadlineWriter) WriteHeader(code int) {
	w.arm()
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(b []byte) (int, error) {
	w.arm()
	n, err := w.ResponseWriter.Write(b)
	if err != nil {
		w.fail(err)
	}
	return n, err
}

// Flush implements http.Flusher, which the SSE transports require.
func (w *deadlineWriter) Flush() {
	w.arm()
	if err := w.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		w.fail(err)
	}
}

// finish arms the deadline once more after the handler has returned, for
// the bytes net/http still flushes then. (Every request re-arms it before
// its first write, so a kept-alive connection is not cut by a stale one.)
func (w *deadlineWriter) finish() { w.arm() }

// Unwrap lets http.ResponseController reach the connection.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
