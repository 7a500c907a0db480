package server

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/tsmcp/tsmcp/internal/audit"
)

// upstreamMethods are the requests that go to a provider (a bridged
// upstream, or a tool's handler): each holds one unit of
// mcp.limits.calls_* from its arrival until its answer is written.
var upstreamMethods = map[string]bool{
	string(mcp.MethodToolsCall):          true,
	string(mcp.MethodResourcesRead):      true,
	string(mcp.MethodPromptsGet):         true,
	string(mcp.MethodCompletionComplete): true,
	string(mcp.MethodResourcesSubscribe): true,
	// The task methods (tasks.go); tasks/result waits for its task.
	string(mcp.MethodTasksGet):    true,
	string(mcp.MethodTasksResult): true,
	string(mcp.MethodTasksCancel): true,
	string(mcp.MethodTasksList):   true,
}

// errAnswerTooLarge is what a client sees for an answer that would pass
// the answer bytes its identity (or the host) may hold
// (mcp.limits.answer_bytes_*).
var errAnswerTooLarge = errors.New("answer too large to hold now (too many answers not yet read); retry later")

// answerRefused is the audit detail of a request whose answer
// errAnswerTooLarge replaced.
const answerRefused = "answer over mcp.limits.answer_bytes_*"

// answerHold is what one request that goes to a provider holds while it
// runs and until its answer is written (or the write fails): its units of
// mcp.limits.calls_*, taken when it arrives (limitRequests), and the
// bytes of its answer (mcp.limits.answer_bytes_*), reserved when the
// result is produced (holdAnswer). On Streamable HTTP the answer is
// written before the POST returns; on the legacy SSE transport the hold
// goes with the answer to the session's stream (sseHolds).
type answerHold struct {
	lim   *limits
	key   string
	calls int64

	mu       sync.Mutex // guards the fields below
	bytes    int64
	released bool
}

type answerHoldKey struct{}

// holdCalls takes n units of mcp.limits.calls_* for key, or returns the
// refusal.
func (l *limits) holdCalls(key string, n int64) (*answerHold, *refusal) {
	if ref := l.calls.acquire(key, n); ref != nil {
		return nil, ref
	}
	return &answerHold{lim: l, key: key, calls: n}, nil
}

// reserve adds n answer bytes to the hold, or returns the refusal. A hold
// already released takes nothing (its answer can no longer be written).
func (h *answerHold) reserve(n int64) *refusal {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return nil
	}
	if ref := h.lim.answers.acquire(h.key, n); ref != nil {
		return ref
	}
	h.bytes += n
	return nil
}

// release gives back everything the hold has; later calls do nothing.
func (h *answerHold) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return
	}
	h.released = true
	h.lim.calls.release(h.key, h.calls)
	if h.bytes > 0 {
		h.lim.answers.release(h.key, h.bytes)
	}
}

// holdAnswer reserves size answer bytes for the result of the request
// running in ctx (what it answers: the Kind and Name of an audit event),
// or audits the refusal and returns
// errAnswerTooLarge: the result is then dropped and the client gets that
// error instead. A request that holds nothing (it did not go through
// limitRequests) reserves nothing.
func (s *Server) holdAnswer(ctx context.Context, size int64, what audit.Event) error {
	h, _ := ctx.Value(answerHoldKey{}).(*answerHold)
	if h == nil {
		return nil
	}
	if ref := h.reserve(size); ref != nil {
		s.auditLimit(ctx, ref, what)
		return errAnswerTooLarge
	}
	return nil
}

// The sizes of answers: the lengths of the strings their contents carry
// (text, base64 data, URIs), which are what makes an answer large;
// anything else is measured as JSON.

func toolResultSize(res *mcp.CallToolResult) int64 {
	if res == nil {
		return 0
	}
	n := contentSize(res.Content)
	switch {
	case len(res.RawStructuredContent) > 0:
		n += int64(len(res.RawStructuredContent))
	case res.StructuredContent != nil:
		n += jsonSize(res.StructuredContent)
	}
	return n
}

func contentSize(cs []mcp.Content) int64 {
	var n int64
	for _, c := range cs {
		switch c := c.(type) {
		case mcp.TextContent:
			n += int64(len(c.Text))
		case *mcp.TextContent:
			n += int64(len(c.Text))
		case mcp.ImageContent:
			n += int64(len(c.Data) + len(c.MIMEType))
		case *mcp.ImageContent:
			n += int64(len(c.Data) + len(c.MIMEType))
		case mcp.AudioContent:
			n += int64(len(c.Data) + len(c.MIMEType))
		case *mcp.AudioContent:
			n += int64(len(c.Data) + len(c.MIMEType))
		case mcp.EmbeddedResource:
			n += resourceContentsSize(c.Resource)
		case *mcp.EmbeddedResource:
			n += resourceContentsSize(c.Resource)
		default:
			n += jsonSize(c)
		}
	}
	return n
}

func resourceContentsSize(rc mcp.ResourceContents) int64 {
	switch rc := rc.(type) {
	case mcp.TextResourceContents:
		return int64(len(rc.URI) + len(rc.MIMEType) + len(rc.Text))
	case *mcp.TextResourceContents:
		return int64(len(rc.URI) + len(rc.MIMEType) + len(rc.Text))
	case mcp.BlobResourceContents:
		return int64(len(rc.URI) + len(rc.MIMEType) + len(rc.Blob))
	case *mcp.BlobResourceContents:
		return int64(len(rc.URI) + len(rc.MIMEType) + len(rc.Blob))
	default:
		return jsonSize(rc)
	}
}

func contentsSize(rcs []mcp.ResourceContents) int64 {
	var n int64
	for _, rc := range rcs {
		n += resourceContentsSize(rc)
	}
	return n
}

func promptResultSize(res *mcp.GetPromptResult) int64 {
	if res == nil {
		return 0
	}
	n := int64(len(res.Description))
	for _, m := range res.Messages {
		n += contentSize([]mcp.Content{m.Content})
	}
	return n
}

func completionSize(c *mcp.Completion) int64 {
	if c == nil {
		return 0
	}
	var n int64
	for _, v := range c.Values {
		n += int64(len(v))
	}
	return n
}

// jsonSize is the length of v as JSON (0 if it does not encode).
func jsonSize(v any) int64 {
	b, _ := json.Marshal(v)
	return int64(len(b))
}
