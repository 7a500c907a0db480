package conn

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"net/http"
)

// Over Streamable HTTP, an upstream sends what concerns a request (the log
// messages of a call, say) on the request's own response stream, which
// attributes it exactly. mcp-go's client hands notifications to one
// handler without the stream they came on, so streamTap offers the events
// of each POST's response stream to the Remote's Tap first (which decides
// by the request's context); what the tap takes is removed from the
// stream. Everything else passes through unchanged.

// MaxTapEvent bounds the bytes of one SSE event the tap holds to look at
// it. A longer event (a large result) passes through as it arrives, to
// the client's own handlers.
const MaxTapEvent = 64 << 10

// streamTap is the http.RoundTripper of remote upstreams' clients.
type streamTap struct {
	next http.RoundTripper
	tap  Tap
}

func (t streamTap) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost || t.tap == nil {
		return resp, err
	}
	take := t.tap(req.Context())
	if take == nil {
		return resp, nil
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "text/event-stream" {
		return resp, nil
	}
	resp.Body = TapEvents(resp.Body, take)
	return resp, nil
}

// CloseIdleConnections closes the idle connections of the transport below
// (http.Client.CloseIdleConnections reaches them only through this).
func (t streamTap) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// TapEvents returns body, an SSE stream, with every complete event's data
// offered to take first: an event take accepts is replaced by its id
// lines alone (an event without data, which records the id for
// resumption and is not dispatched), so that a resumed stream does not
// deliver it twice. Events longer than MaxTapEvent, and events of a type
// other than "message", pass through untaken.
func TapEvents(body io.ReadCloser, take func(data []byte) bool) io.ReadCloser {
	return newTapBody(body, take)
}

// tapBody reads an SSE stream line by line and hands each complete event's
// data to take; an event take accepts is replaced by its id lines alone
// (an event without data, which records the id for resumption and is not
// dispatched), so that a resumed stream does not deliver it twice.
type tapBody struct {
	body io.ReadCloser
	br   *bufio.Reader
	take func(data []byte) bool

	buf     []byte // out's storage, reused once out is drained
	out     []byte // bytes ready for Read
	ev      []byte // the lines of the event being collected
	data    []byte // its data field
	ids     []byte // its id lines
	pass    bool   // the event is longer than MaxTapEvent: pass it on
	midLine bool   // the last read ended inside a line
	err     error  // the body's error, returned once out is drained
}

func newTapBody(body io.ReadCloser, take func([]byte) bool) *tapBody {
	return &tapBody{body: body, br: bufio.NewReaderSize(body, 16<<10), take: take}
}

func (t *tapBody) Read(p []byte) (int, error) {
	for len(t.out) == 0 {
		if t.err != nil {
			return 0, t.err
		}
		t.out = t.buf[:0]
		t.step()
		if cap(t.out) > cap(t.buf) {
			t.buf = t.out[:0]
		}
	}
	n := copy(p, t.out)
	t.out = t.out[n:]
	return n, nil
}

func (t *tapBody) Close() error { return t.body.Close() }

// step reads one line (or the part of a long line that fits the buffer)
// and moves what it can decide on to out.
func (t *tapBody) step() {
	line, err := t.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		t.passOn(line)
		t.midLine = true
		return
	case err != nil:
		// The end: an unfinished event is passed on as it is.
		t.out = append(append(t.out, t.ev...), line...)
		t.reset()
		t.err = err
		return
	}
	whole := !t.midLine
	t.midLine = false
	blank := whole && (len(line) == 1 || (len(line) == 2 && line[0] == '\r'))
	if t.pass {
		t.out = append(t.out, line...)
		if blank {
			t.pass = false
		}
		return
	}
	if blank {
		if len(t.data) > 0 && t.take(t.data) {
			if len(t.ids) > 0 {
				t.out = append(append(t.out, t.ids...), '\n')
			}
		} else {
			t.out = append(append(t.out, t.ev...), line...)
		}
		t.reset()
		return
	}
	if len(t.ev)+len(line) > MaxTapEvent {
		t.passOn(line)
		return
	}
	t.ev = append(t.ev, line...)
	content := bytes.TrimRight(line, "\r\n")
	switch {
	case bytes.HasPrefix(content, []byte("data:")):
		v := bytes.TrimPrefix(content[len("data:"):], []byte(" "))
		if len(t.data) > 0 {
			t.data = append(t.data, '\n')
		}
		t.data = append(t.data, v...)
	case bytes.HasPrefix(content, []byte("id:")):
		t.ids = append(t.ids, line...)
	case bytes.HasPrefix(content, []byte("event:")):
		if ev := bytes.TrimSpace(content[len("event:"):]); len(ev) > 0 && !bytes.Equal(ev, []byte("message")) {
			// Not a JSON-RPC message: never taken.
			t.passOn(nil)
		}
	}
}

// passOn gives up on the current event: what was collected and line go to
// out, and the rest of the event passes through.
func (t *tapBody) passOn(line []byte) {
	t.out = append(append(t.out, t.ev...), line...)
	t.reset()
	t.pass = true
}

func (t *tapBody) reset() {
	t.ev, t.data, t.ids = t.ev[:0], t.data[:0], t.ids[:0]
}
