package server

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sync"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
)

// Large tool answers are written without a copy of their own size.
//
// mcp-go encodes a whole response with encoding/json before writing it,
// and encoding/json keeps the buffers it grew in a sync.Pool
// (golang/go#27735): after a 21 MB answer, two pooled buffers of 21 MB
// stay reachable, recirculated by every later JSON encoding in the process
// (tsnet's included), whether the answer reached its client or not. Six
// such answers to a client that stopped reading kept ~150 MB after the
// write deadline and several GCs.
//
// So on Streamable HTTP a large string in a tools/call or resources/read
// answer (a text, base64 data) is not handed to mcp-go:
// answerSplice.stash puts a short random token in its place, and
// spliceWriter, between mcp-go and the connection, writes the text where
// the token appears in mcp-go's output, JSON-escaped piece by piece
// (exactly as encoding/json escapes it) straight to the connection. What
// an answer costs while written is then its text (held by the result)
// plus one piece, and nothing of it outlives the request.

// spliceMin is the smallest text that is spliced; smaller ones are
// encoded by mcp-go as usual.
const spliceMin = 64 << 10

// splicePiece is how much of a spliced text is escaped and written at a
// time.
const splicePiece = 32 << 10

// answerSplice holds the texts taken out of one POST's results until its
// response is written.
type answerSplice struct {
	mu    sync.Mutex        // guards the field below
	texts map[string]string // token → text
}

type answerSpliceKey struct{}

// stash returns res with every string of spliceMin bytes or more in its
// contents (texts, base64 data, embedded resources' text or blob)
// replaced by a token that spliceWriter replaces back; res itself is not
// changed (it may be shared). A nil splice returns res.
func (sp *answerSplice) stash(res *mcp.CallToolResult) *mcp.CallToolResult {
	if sp == nil || res == nil {
		return res
	}
	var out []mcp.Content
	for i, c := range res.Content {
		c, ok := sp.stashContent(c)
		if !ok {
			continue
		}
		if out == nil {
			out = append([]mcp.Content(nil), res.Content...)
		}
		out[i] = c
	}
	if out == nil {
		return res
	}
	cp := *res
	cp.Content = out
	return &cp
}

// stashContents is stash for the contents of a resources/read answer.
func (sp *answerSplice) stashContents(contents []mcp.ResourceContents) []mcp.ResourceContents {
	if sp == nil {
		return contents
	}
	var out []mcp.ResourceContents
	for i, rc := range contents {
		rc, ok := sp.stashResource(rc)
		if !ok {
			continue
		}
		if out == nil {
			out = append([]mcp.ResourceContents(nil), contents...)
		}
		out[i] = rc
	}
	if out == nil {
		return contents
	}
	return out
}

// stashContent returns c with its large string stashed (copied, never
// changed in place); ok is false when it has none. A pointer is handled as
// the value it points to.
func (sp *answerSplice) stashContent(c mcp.Content) (mcp.Content, bool) {
	switch c := c.(type) {
	case mcp.TextContent:
		return c, sp.put(&c.Text)
	case mcp.ImageContent:
		return c, sp.put(&c.Data)
	case mcp.AudioContent:
		return c, sp.put(&c.Data)
	case mcp.EmbeddedResource:
		rc, ok := sp.stashResource(c.Resource)
		c.Resource = rc
		return c, ok
	case *mcp.TextContent:
		if c != nil {
			return sp.stashContent(*c)
		}
	case *mcp.ImageContent:
		if c != nil {
			return sp.stashContent(*c)
		}
	case *mcp.AudioContent:
		if c != nil {
			return sp.stashContent(*c)
		}
	case *mcp.EmbeddedResource:
		if c != nil {
			return sp.stashContent(*c)
		}
	}
	return c, false
}

// stashResource is stashContent for resource contents.
func (sp *answerSplice) stashResource(rc mcp.ResourceContents) (mcp.ResourceContents, bool) {
	switch rc := rc.(type) {
	case mcp.TextResourceContents:
		return rc, sp.put(&rc.Text)
	case mcp.BlobResourceContents:
		return rc, sp.put(&rc.Blob)
	case *mcp.TextResourceContents:
		if rc != nil {
			return sp.stashResource(*rc)
		}
	case *mcp.BlobResourceContents:
		if rc != nil {
			return sp.stashResource(*rc)
		}
	}
	return rc, false
}

// put stashes *s under a new token and puts the token in its place when
// it has spliceMin bytes or more; it reports whether it did.
func (sp *answerSplice) put(s *string) bool {
	if len(*s) < spliceMin {
		return false
	}
	token := newSpliceToken()
	sp.mu.Lock()
	if sp.texts == nil {
		sp.texts = map[string]string{}
	}
	sp.texts[token] = *s
	sp.mu.Unlock()
	*s = token
	return true
}

// take removes and returns the text of token.
func (sp *answerSplice) take(token string) (string, bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	text, ok := sp.texts[token]
	delete(sp.texts, token)
	return text, ok
}

// pending reports whether any text waits to be written.
func (sp *answerSplice) pending() bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return len(sp.texts) > 0
}

// spliceTokenPrefix starts every token; the rest is 32 hex digits. Tokens
// need no escaping in JSON, so they appear in mcp-go's output as they are.
const spliceTokenPrefix = "tsmcp-splice-"

// spliceTokenLen is the length of a token.
const spliceTokenLen = len(spliceTokenPrefix) + 32

func newSpliceToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return spliceTokenPrefix + hex.EncodeToString(b)
}

// spliceWriter writes a response, putting each stashed text back where its
// token appears. mcp-go writes a response (JSON, or one SSE event) in one
// Write, so a token is never split across writes.
type spliceWriter struct {
	http.ResponseWriter
	sp *answerSplice
}

func (w *spliceWriter) Write(p []byte) (int, error) {
	if !w.sp.pending() {
		return w.ResponseWriter.Write(p)
	}
	written := 0
	for {
		i := bytes.Index(p[written:], []byte(spliceTokenPrefix))
		if i < 0 || written+i+spliceTokenLen > len(p) {
			n, err := w.ResponseWriter.Write(p[written:])
			return written + n, err
		}
		i += written
		text, ok := w.sp.take(string(p[i : i+spliceTokenLen]))
		if !ok {
			// Not one of ours (a tool's own text may say anything).
			n, err := w.ResponseWriter.Write(p[written : i+len(spliceTokenPrefix)])
			written += n
			if err != nil {
				return written, err
			}
			continue
		}
		if n, err := w.ResponseWriter.Write(p[written:i]); err != nil {
			return written + n, err
		}
		if err := writeEscaped(w.ResponseWriter, text); err != nil {
			return i, err
		}
		written = i + spliceTokenLen
	}
}

// writeEscaped writes the JSON string content of text (without quotes) to
// w in pieces, escaped exactly as encoding/json escapes the whole string:
// escaping works rune by rune, so pieces cut at rune boundaries escape to
// the same bytes.
func writeEscaped(w http.ResponseWriter, text string) error {
	for len(text) > 0 {
		n := min(splicePiece, len(text))
		for n < len(text) && !utf8.RuneStart(text[n]) {
			n++
		}
		b, err := json.Marshal(text[:n])
		if err != nil {
			return err
		}
		if _, err := w.Write(b[1 : len(b)-1]); err != nil {
			return err
		}
		text = text[n:]
	}
	return nil
}

// Flush implements http.Flusher, which the SSE transports require.
func (w *spliceWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *spliceWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
