package conn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/safetext"
	"github.com/tsmcp/tsmcp/internal/tracing"
)

// ModernVersion is the stateless protocol version this client speaks.
const ModernVersion = "2026-07-28"

// DefaultMaxMessage is the bound on one JSON-RPC message a Modern reads
// when it was given none.
const DefaultMaxMessage = 64 << 20

// maxUpstreamText bounds the upstream text (a status page, an error
// message) quoted in an error Do returns.
const maxUpstreamText = 200

// Modern sends 2026-07-28 requests to one Streamable HTTP upstream. In
// that version every request stands alone (SEP-2575): no initialize, no
// session ID, no standalone stream; each POST's response carries the
// request's notifications and its answer. A Modern is safe for concurrent
// use.
type Modern struct {
	url        string
	hc         *http.Client
	headers    map[string]string
	maxMessage int
	log        *slog.Logger
	ids        atomic.Uint64
}

// Modern returns the 2026-07-28 client of r's upstream (same URL, same
// keep-alive pool r.base, wrapped in tracing.Transport like
// newRemoteClient does, but WITHOUT streamTap; a Remote made by As sends
// through its wrap, so its callers' credentials go along). headers are
// sent with every request (the upstream's configured headers; may be nil):
// they come first, and never replace the headers Do sets itself
// (Content-Type, Accept, MCP-Protocol-Version), nor any Mcp-* header,
// which are the protocol's (Mcp-Method and Mcp-Name are set from the
// request; a configured Mcp-Session-Id or other Mcp-* header is dropped).
// maxMessage bounds the bytes of one JSON-RPC message read from a response
// (larger: an error naming the limit); zero or less means
// DefaultMaxMessage.
func (r *Remote) Modern(headers map[string]string, maxMessage int) *Modern {
	if maxMessage <= 0 {
		maxMessage = DefaultMaxMessage
	}
	h := make(map[string]string, len(headers))
	for k, v := range headers {
		if reservedHeader(k) {
			continue
		}
		h[k] = v
	}
	return &Modern{
		url:        r.url,
		hc:         &http.Client{Transport: tracing.Transport(r.rt)},
		headers:    h,
		maxMessage: maxMessage,
		log:        r.log,
	}
}

// reservedHeader reports whether the header name k is one Do sets (or
// must never send) and configured headers may not supply.
func reservedHeader(k string) bool {
	k = http.CanonicalHeaderKey(k)
	return k == "Content-Type" || k == "Accept" || strings.HasPrefix(k, "Mcp-")
}

// RPCError is a JSON-RPC error the upstream answered, with the HTTP status
// it came with. Message and Data are the upstream's, as it sent them (at
// most the Modern's maxMessage bytes in all); Error shows a bounded,
// sanitized Message.
type RPCError struct {
	// Status is the HTTP status of the response that carried the error
	// (200 for an error on a stream or in a 200 JSON body).
	Status int
	// Code is the JSON-RPC error code.
	Code int
	// Message is the JSON-RPC error message.
	Message string
	// Data is the error's data member; nil when there was none.
	Data json.RawMessage
}

// Error names the code, the status and (bounded, sanitized) the message.
func (e *RPCError) Error() string {
	return fmt.Sprintf("upstream JSON-RPC error %d (HTTP %d): %s", e.Code, e.Status, safetext.Show(e.Message, maxUpstreamText))
}

// modernRequest is the body of a POST.
type modernRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      string          `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// message is one JSON-RPC message read from a response: a notification
// (Method, no ID), a request (Method and ID) or a response (Result or
// Error).
type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
}

// Do sends one request: method with params (a JSON object the caller built,
// its `_meta` included; nil means no params). It returns the result of the
// upstream's response to it, or *RPCError for a JSON-RPC error answer
// (whatever the HTTP status: 200, 400, 404...). Every notification on the
// response before the answer is handed to notify (in order, synchronously;
// notify may be nil). A JSON-RPC *request* from the server on the response
// (forbidden in 2026-07-28) is skipped, and counted/logged at Warn once per
// response. Other failures (transport, HTTP status without a JSON-RPC
// body, undecodable body, a message over maxMessage, a stream ending
// without the answer) are plain errors that say what happened; when ctx
// ends first, the error wraps ctx.Err().
//
// Three response forms are read: application/json with one message;
// text/event-stream, one message per event (the event's data lines
// joined with "\n"; other fields and comments ignored); application/json
// with several messages one after another (notifications, then the
// answer). Reading stops at the answer, and the body is closed.
func (m *Modern) Do(ctx context.Context, method string, params json.RawMessage, notify func(method string, params json.RawMessage)) (json.RawMessage, error) {
	res, err := m.do(ctx, method, params, notify)
	if err != nil {
		var re *RPCError
		if errors.As(err, &re) {
			return nil, err
		}
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("%s to upstream: %w", safetext.Show(method, 64), err)
	}
	return res, nil
}

func (m *Modern) do(ctx context.Context, method string, params json.RawMessage, notify func(string, json.RawMessage)) (json.RawMessage, error) {
	id := "tsmcp-m-" + strconv.FormatUint(m.ids.Add(1), 10)
	body, err := json.Marshal(modernRequest{JSONRPC: "2.0", ID: id, Method: method, Params: params})
	if err != nil {
		return nil, fmt.Errorf("encoding the request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range m.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set(mcp.HeaderProtocolVersion, ModernVersion)
	for k, v := range mcp.StandardHeaders(ModernVersion, mcp.MCPMethod(method), params) {
		req.Header.Set(k, v)
	}
	resp, err := m.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()

	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var next func() (json.RawMessage, error)
	switch ct {
	case "text/event-stream":
		next = newEventReader(resp.Body, m.maxMessage).next
	case "application/json":
		next = newValueReader(resp.Body, m.maxMessage).next
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, m.statusError(resp, next, id)
	}
	if next == nil {
		return nil, fmt.Errorf("upstream answered HTTP %d with content type %q, not JSON nor an event stream",
			resp.StatusCode, safetext.Show(resp.Header.Get("Content-Type"), 64))
	}
	return m.read(next, id, resp.StatusCode, notify)
}

// read reads messages with next until the answer to the request id.
func (m *Modern) read(next func() (json.RawMessage, error), id string, status int, notify func(string, json.RawMessage)) (json.RawMessage, error) {
	skipped, first := 0, ""
	defer func() {
		if skipped > 0 {
			m.log.Warn("upstream sent requests on a 2026-07-28 response, skipped", "count", skipped, "first", safetext.Log(first, 128))
		}
	}()
	for {
		raw, err := next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the response ended without the answer")
		}
		if err != nil {
			return nil, err
		}
		var msg message
		if err := decode(raw, &msg); err != nil {
			return nil, err
		}
		switch {
		case msg.Method != "" && msg.ID == nil:
			if notify != nil {
				notify(msg.Method, msg.Params)
			}
		case msg.Method != "":
			if skipped == 0 {
				first = msg.Method
			}
			skipped++
		default:
			return answer(&msg, id, status)
		}
	}
}

// statusError is the error of a non-2xx response: the JSON-RPC error it
// carries, or an error naming the status and quoting a little of the
// body.
func (m *Modern) statusError(resp *http.Response, next func() (json.RawMessage, error), id string) error {
	if next == nil {
		// Not JSON: maybe a status page. Quote its start.
		head, _ := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamText))
		return fmt.Errorf("upstream answered HTTP %d: %s", resp.StatusCode, safetext.Show(strings.TrimSpace(string(head)), maxUpstreamText))
	}
	raw, err := next()
	if err != nil {
		return fmt.Errorf("upstream answered HTTP %d without a readable JSON-RPC message: %w", resp.StatusCode, err)
	}
	var msg message
	if err := decode(raw, &msg); err != nil || msg.Error == nil {
		return fmt.Errorf("upstream answered HTTP %d: %s", resp.StatusCode, safetext.Show(string(raw), maxUpstreamText))
	}
	_, err = answer(&msg, id, resp.StatusCode)
	return err
}

// decode unmarshals one JSON-RPC 2.0 message.
func decode(raw json.RawMessage, msg *message) error {
	if err := json.Unmarshal(raw, msg); err != nil {
		return fmt.Errorf("undecodable message from the upstream: %w", err)
	}
	if msg.JSONRPC != "2.0" {
		return fmt.Errorf("a message from the upstream is not JSON-RPC 2.0 (jsonrpc %q)", safetext.Show(msg.JSONRPC, 16))
	}
	return nil
}

// answer returns the outcome of msg, a response, when it answers the
// request id. An error may carry a null id (the server could not read
// ours); a result must carry ours.
func answer(msg *message, id string, status int) (json.RawMessage, error) {
	var got string
	idNull := msg.ID == nil || string(msg.ID) == "null"
	if !idNull && (json.Unmarshal(msg.ID, &got) != nil || got != id) {
		return nil, fmt.Errorf("the upstream answered another request (id %s, want %q)", safetext.Show(string(msg.ID), 64), id)
	}
	if msg.Error != nil {
		return nil, &RPCError{Status: status, Code: msg.Error.Code, Message: msg.Error.Message, Data: msg.Error.Data}
	}
	if idNull {
		return nil, errors.New("the upstream answered without the request's id")
	}
	if msg.Result == nil {
		return nil, errors.New("the upstream's answer has neither result nor error")
	}
	return msg.Result, nil
}
