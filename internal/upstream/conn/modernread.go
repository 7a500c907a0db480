package conn

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The readers of the messages on a 2026-07-28 response (see Modern.Do):
// each next returns one message, bounded before it is buffered whole, or
// io.EOF when the body ends between messages.

// bufSize is the read buffer of a response body; an SSE field name always
// fits in it.
const bufSize = 64 << 10

// valueReader reads JSON objects one after another (separated by
// whitespace, newlines typically) from an application/json body, each at
// most max bytes; it finds where one ends by tracking nesting and strings,
// so an over-long one is refused before it is all read.
type valueReader struct {
	br  *bufio.Reader
	max int
	buf []byte
}

func newValueReader(r io.Reader, max int) *valueReader {
	return &valueReader{br: bufio.NewReaderSize(r, bufSize), max: max}
}

// next returns the next object, or io.EOF when the body ends between
// objects.
func (v *valueReader) next() (json.RawMessage, error) {
	c, err := v.skipSpace()
	if err != nil {
		return nil, err
	}
	if c != '{' {
		return nil, fmt.Errorf("the upstream's JSON body holds something else than a JSON-RPC message (starting with %q)", c)
	}
	v.buf = []byte{c}
	depth, inString, escaped := 1, false, false
	for depth > 0 {
		c, err := v.br.ReadByte()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the response ended inside a message")
		}
		if err != nil {
			return nil, err
		}
		if len(v.buf) >= v.max {
			return nil, fmt.Errorf("a message from the upstream is longer than %d bytes", v.max)
		}
		v.buf = append(v.buf, c)
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		}
	}
	out := v.buf
	v.buf = nil
	return out, nil
}

// skipSpace returns the first byte that is not JSON whitespace.
func (v *valueReader) skipSpace() (byte, error) {
	for {
		c, err := v.br.ReadByte()
		if err != nil {
			return 0, err
		}
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c, nil
		}
	}
}

// eventReader reads the data of SSE events from a text/event-stream body:
// the data lines of one event joined with "\n", at most max bytes. Other
// fields and comments are skipped as they stream by. Lines end in "\n" or
// "\r\n".
type eventReader struct {
	br   *bufio.Reader
	max  int
	data []byte
	has  bool // the event has a data line
}

func newEventReader(r io.Reader, max int) *eventReader {
	return &eventReader{br: bufio.NewReaderSize(r, bufSize), max: max}
}

// next returns the data of the next event that has some, or io.EOF when
// the stream ends (an event the stream ends in, without its blank line,
// counts).
func (e *eventReader) next() (json.RawMessage, error) {
	for {
		blank, err := e.line()
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if (blank || err != nil) && e.has {
			out := e.data
			e.data, e.has = nil, false
			return out, nil
		}
		if err != nil {
			return nil, io.EOF
		}
	}
}

// line reads one line. A data line's value is appended to e.data (after
// a "\n" when the event has data already); another line is skipped, and
// blank reports whether it was empty (the end of an event). err is io.EOF
// when the stream ended (the line, if any, is complete then).
func (e *eventReader) line() (blank bool, err error) {
	chunk, err := e.br.ReadSlice('\n')
	if !bytes.HasPrefix(chunk, []byte("data:")) && string(bytes.TrimRight(chunk, "\r\n")) != "data" {
		blank = len(bytes.TrimRight(chunk, "\r\n")) == 0
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = e.br.ReadSlice('\n')
		}
		return blank, err
	}
	if e.has {
		e.data = append(e.data, '\n')
	}
	e.has = true
	start := len(e.data)
	v := bytes.TrimPrefix(chunk, []byte("data"))
	v = bytes.TrimPrefix(v, []byte(":"))
	v = bytes.TrimPrefix(v, []byte(" "))
	for {
		if len(e.data)+len(v) > e.max+2 { // +2: the line end, trimmed below
			return false, fmt.Errorf("a message from the upstream is longer than %d bytes", e.max)
		}
		e.data = append(e.data, v...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			break
		}
		v, err = e.br.ReadSlice('\n')
	}
	e.data = trimLineEnd(e.data, start)
	if len(e.data) > e.max {
		return false, fmt.Errorf("a message from the upstream is longer than %d bytes", e.max)
	}
	return false, err
}

// trimLineEnd removes the "\n" or "\r\n" ending b, not looking before
// start.
func trimLineEnd(b []byte, start int) []byte {
	if len(b) > start && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	if len(b) > start && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}
