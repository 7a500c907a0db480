package connect

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
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// Streamable HTTP headers.
const (
	headerSession  = "Mcp-Session-Id"
	headerProtocol = "MCP-Protocol-Version"
)

// Reconnection delays of the standalone GET stream.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// sessionRef is the session a message is sent in.
type sessionRef struct {
	id, protocol string
	gen          int
}

func setSession(req *http.Request, sid, protocol string) {
	if sid != "" {
		req.Header.Set(headerSession, sid)
	}
	if protocol != "" {
		req.Header.Set(headerProtocol, protocol)
	}
}

func (r *relay) session() sessionRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	return sessionRef{id: r.sessionID, protocol: r.protocol, gen: r.gen}
}

// post sends one message to the host's /mcp in session s.
func (r *relay) post(ctx context.Context, msg []byte, s sessionRef) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url.String(), bytes.NewReader(msg))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	setMessageHeaders(req, msg, s)
	return r.hc.Do(req)
}

// setMessageHeaders sets the headers a Streamable HTTP client sends with
// msg: the session and negotiated version, or, for a message of protocol
// 2026-07-28 or later (which names its version in params._meta and has no
// sessions), that version and the Mcp-Method and Mcp-Name headers that
// mirror the body.
func setMessageHeaders(req *http.Request, msg []byte, s sessionRef) {
	var body struct {
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	_ = json.Unmarshal(msg, &body)
	var params struct {
		Meta *mcp.Meta `json:"_meta"`
	}
	if len(body.Params) > 0 {
		_ = json.Unmarshal(body.Params, &params)
	}
	if v := params.Meta.ProtocolVersion(); mcp.IsModernProtocol(v) {
		req.Header.Set(headerProtocol, v)
		if body.Method != "" {
			req.Header.Set(mcp.HeaderMethod, body.Method)
			if name, ok := mcp.ExtractHeaderName(mcp.MCPMethod(body.Method), body.Params); ok {
				if enc, ok := mcp.EncodeHeaderValue(name); ok {
					req.Header.Set(mcp.HeaderName, enc)
				}
			}
		}
		return
	}
	setSession(req, s.id, s.protocol)
}

// jsonRPCAnswer returns body if it is a JSON-RPC response to id: the
// host's own error answer, which the client should see as it is (e.g. an
// unsupported protocol version it can negotiate down from).
func jsonRPCAnswer(resp *http.Response, body []byte, id json.RawMessage) []byte {
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return nil
	}
	if k, env := classify(body); k == kindResponse && sameID(env.ID, id) {
		return body
	}
	return nil
}

// readBody reads a refused response's body, bounded, and restores it for
// httpError.
func readBody(resp *http.Response) []byte {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxLine))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return b
}

// readMessages calls fn with every JSON-RPC message of resp's body, a JSON
// value or an event stream, until the body ends or fn returns false.
func readMessages(resp *http.Response, fn func([]byte) bool) error {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "text/event-stream" {
		return readEvents(resp.Body, func(event, data string) bool {
			if event != "message" {
				return true
			}
			return fn([]byte(data))
		})
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxLine))
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return err
	}
	if b[0] == '[' {
		var batch []json.RawMessage
		if jerr := json.Unmarshal(b, &batch); jerr == nil {
			for _, m := range batch {
				if !fn(m) {
					break
				}
			}
			return err
		}
	}
	fn(b)
	return err
}

// protocolOf returns the protocolVersion of an initialize result.
func protocolOf(msg []byte) string {
	var res struct {
		Result struct {
			ProtocolVersion string `json:"protocolVersion"`
		} `json:"result"`
	}
	_ = json.Unmarshal(msg, &res)
	return res.Result.ProtocolVersion
}

// httpError describes a refusal by the host for the client and the log.
func (r *relay) httpError(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	detail := strings.Join(strings.Fields(string(b)), " ")
	if len(detail) > 200 {
		detail = detail[:200] + "..."
	}
	msg := fmt.Sprintf("the host at %s answered HTTP %s", r.url.Redacted(), resp.Status)
	switch resp.StatusCode {
	case http.StatusForbidden, http.StatusUnauthorized:
		msg += " (refused: does the tailnet policy let this node reach the host, and is the host's URL right?)"
	case http.StatusNotFound:
		msg += " (is this a tsmcp host's MCP endpoint, …/mcp or …/sse?)"
	}
	if detail != "" {
		msg += ": " + detail
	}
	return msg
}

// streamableHandle forwards one client message over Streamable HTTP.
func (r *relay) streamableHandle(ctx context.Context, k kind, env envelope, msg []byte) {
	switch {
	case k == kindRequest && env.Method == "initialize":
		r.initialize(ctx, env, msg)
	case k == kindRequest:
		// Requests run concurrently: a long tool call must not hold up
		// the client's other requests or its cancellation.
		r.goTracked(func() { r.request(ctx, env.ID, msg) })
	default:
		r.send(ctx, env, msg)
	}
}

// initialize opens the session with the client's initialize request, or
// falls back to legacy SSE if the host does not offer Streamable HTTP.
func (r *relay) initialize(ctx context.Context, env envelope, msg []byte) {
	resp, err := r.post(ctx, msg, sessionRef{})
	if err != nil {
		if ctx.Err() == nil {
			r.unreachable(env.ID, err)
		}
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		if answer := jsonRPCAnswer(resp, readBody(resp), env.ID); answer != nil {
			r.out.write(answer)
			return
		}
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed:
		// The fallback of the MCP specification's backwards
		// compatibility section: try the legacy HTTP+SSE transport.
		r.log.Info("the host does not offer Streamable HTTP here; trying legacy SSE",
			slog.String("url", r.url.Redacted()), slog.Int("status", resp.StatusCode))
		r.legacy = newLegacy(r, legacyURL(r.url))
		r.legacy.handle(ctx, kindRequest, env, msg)
		return
	default:
		m := r.httpError(resp)
		r.log.Error("initialize refused", slog.String("error", m))
		r.out.fail(env.ID, "%s", m)
		return
	}
	sid := resp.Header.Get(headerSession)
	var answered bool
	var protocol string
	err = readMessages(resp, func(m []byte) bool {
		if k, e := classify(m); k == kindResponse && sameID(e.ID, env.ID) {
			answered, protocol = true, protocolOf(m)
		}
		r.out.write(m)
		return true
	})
	if !answered {
		if ctx.Err() == nil {
			r.broken(env.ID, err)
		}
		return
	}
	r.mu.Lock()
	r.sessionID, r.protocol = sid, protocol
	r.gen++
	r.mu.Unlock()
}

// request forwards one client request and relays the host's answer. A
// request the host refused for an unknown session (it restarted, or
// expired the session) has not run: the relay re-initializes and sends it
// once more. A request whose answer was cut off may have run: it is
// answered with an error, never sent again.
func (r *relay) request(ctx context.Context, id json.RawMessage, msg []byte) {
	for attempt := 0; ; attempt++ {
		s := r.session()
		resp, err := r.post(ctx, msg, s)
		if err != nil {
			if ctx.Err() == nil {
				r.unreachable(id, err)
			}
			return
		}
		if resp.StatusCode == http.StatusNotFound && s.id != "" && attempt == 0 {
			resp.Body.Close()
			if err := r.reinit(ctx, s.gen); err != nil {
				if ctx.Err() == nil {
					r.log.Error("re-initializing failed", slog.String("error", err.Error()))
					r.out.fail(id, "the host no longer knows this session (did it restart?) and re-initializing failed: %v", err)
				}
				return
			}
			continue
		}
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
			if answer := jsonRPCAnswer(resp, readBody(resp), id); answer != nil {
				r.out.write(answer)
				return
			}
			m := r.httpError(resp)
			resp.Body.Close()
			r.log.Error("request refused", slog.String("error", m))
			r.out.fail(id, "%s", m)
			return
		}
		answered := false
		err = readMessages(resp, func(m []byte) bool {
			if k, e := classify(m); k == kindResponse && sameID(e.ID, id) {
				answered = true
			}
			r.out.write(m)
			return true
		})
		resp.Body.Close()
		if !answered && ctx.Err() == nil {
			r.broken(id, err)
		}
		return
	}
}

// unreachable answers request id when the host cannot be reached.
func (r *relay) unreachable(id json.RawMessage, err error) {
	r.log.Error("the host is unreachable", slog.String("url", r.url.Redacted()), slog.String("error", err.Error()))
	r.out.fail(id, "cannot reach the host at %s (is it running, and is this machine on its tailnet?): %v", r.url.Redacted(), err)
}

// broken answers request id when the host's answer was cut off.
func (r *relay) broken(id json.RawMessage, err error) {
	detail := "the stream ended"
	if err != nil {
		detail = err.Error()
	}
	r.log.Error("the host did not answer a request", slog.String("url", r.url.Redacted()), slog.String("error", detail))
	r.out.fail(id, "the connection to the host broke before it answered (%s; did the host restart?); the request may have run, so it is not sent again", detail)
}

// send forwards a notification, a response to a server request, or
// anything else that gets no answer of its own.
func (r *relay) send(ctx context.Context, env envelope, msg []byte) {
	s := r.session()
	resp, err := r.post(ctx, msg, s)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("could not forward a message to the host", slog.String("method", env.Method), slog.String("error", err.Error()))
		}
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && s.id != "" {
		// The session is gone; a notification or answer for it is moot.
		r.log.Warn("the host no longer knows this session; dropped a message for it", slog.String("method", env.Method))
		r.goTracked(func() {
			if err := r.reinit(ctx, s.gen); err != nil && ctx.Err() == nil {
				r.log.Error("re-initializing failed", slog.String("error", err.Error()))
			}
		})
		return
	}
	if resp.StatusCode >= 300 {
		r.log.Warn("the host refused a message", slog.String("method", env.Method), slog.String("error", r.httpError(resp)))
		return
	}
	_ = readMessages(resp, func(m []byte) bool { r.out.write(m); return true })
	if env.Method == "notifications/initialized" {
		r.startListen(ctx)
	}
}

// reinit opens a new session by replaying the client's initialize and
// notifications/initialized, unless the session of generation gen was
// already replaced. Their answers are not passed to the client, which
// initialized once already.
func (r *relay) reinit(ctx context.Context, gen int) error {
	r.reinitMu.Lock()
	defer r.reinitMu.Unlock()
	r.mu.Lock()
	if r.gen != gen || r.closed {
		r.mu.Unlock()
		return nil
	}
	init, initialized := r.init, r.initialized
	if r.stopListen != nil {
		r.stopListen()
		r.stopListen = nil
	}
	r.mu.Unlock()
	if init == nil {
		return errors.New("the client never sent initialize")
	}
	r.log.Warn("the host no longer knows this session (did it restart?); re-initializing with the client's initialize", slog.String("url", r.url.Redacted()))
	_, initEnv := classify(init)
	resp, err := r.post(ctx, init, sessionRef{})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(r.httpError(resp))
	}
	var result []byte
	rerr := readMessages(resp, func(m []byte) bool {
		if k, e := classify(m); k == kindResponse && sameID(e.ID, initEnv.ID) {
			result = m
			return false
		}
		return true
	})
	if result == nil {
		return fmt.Errorf("the host did not answer initialize: %v", rerr)
	}
	if protocolOf(result) == "" {
		return fmt.Errorf("the host refused initialize: %s", bytes.TrimSpace(result))
	}
	r.mu.Lock()
	r.sessionID, r.protocol = resp.Header.Get(headerSession), protocolOf(result)
	r.gen++
	s := sessionRef{id: r.sessionID, protocol: r.protocol, gen: r.gen}
	r.mu.Unlock()
	if initialized != nil {
		resp, err := r.post(ctx, initialized, s)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			return fmt.Errorf("the host refused notifications/initialized: HTTP %s", resp.Status)
		}
		r.startListen(ctx)
	}
	r.log.Info("re-initialized with the host", slog.String("url", r.url.Redacted()))
	return nil
}

// startListen opens the standalone GET stream for server-initiated
// messages of the current session, unless one runs.
func (r *relay) startListen(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.sessionID == "" || r.stopListen != nil {
		return
	}
	lctx, stop := context.WithCancel(ctx)
	r.stopListen = stop
	s := sessionRef{id: r.sessionID, protocol: r.protocol, gen: r.gen}
	r.goTracked(func() { r.listen(ctx, lctx, s) })
}

// listen keeps the GET stream of session s open, reconnecting with
// backoff, until lctx is done. A host that no longer knows s (404) is
// re-initialized in the relay's ctx.
func (r *relay) listen(ctx, lctx context.Context, s sessionRef) {
	backoff := minBackoff
	for {
		req, err := http.NewRequestWithContext(lctx, http.MethodGet, r.url.String(), nil)
		if err != nil {
			r.log.Error("standalone stream", slog.String("error", err.Error()))
			return
		}
		req.Header.Set("Accept", "text/event-stream")
		setSession(req, s.id, s.protocol)
		resp, err := r.hc.Do(req)
		switch {
		case err != nil:
			if lctx.Err() != nil {
				return
			}
			r.log.Warn("the host's event stream is down; retrying", slog.String("error", err.Error()), slog.Duration("in", backoff))
		case resp.StatusCode == http.StatusMethodNotAllowed:
			resp.Body.Close()
			r.log.Debug("the host offers no standalone event stream")
			return
		case resp.StatusCode == http.StatusNotFound:
			resp.Body.Close()
			r.goTracked(func() {
				if err := r.reinit(ctx, s.gen); err != nil && ctx.Err() == nil {
					r.log.Error("re-initializing failed; the next request tries again", slog.String("error", err.Error()))
				}
			})
			return
		case resp.StatusCode != http.StatusOK:
			r.log.Warn("the host refused the event stream; retrying", slog.String("error", r.httpError(resp)), slog.Duration("in", backoff))
			resp.Body.Close()
		default:
			backoff = minBackoff
			_ = readMessages(resp, func(m []byte) bool { r.out.write(m); return true })
			resp.Body.Close()
		}
		if !sleep(lctx, backoff) {
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}
