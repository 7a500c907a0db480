package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/upstream/conn"
)

// Logging: an upstream's notifications/message goes to the caller sessions
// it is exactly attributed to (see attribution.go), each filtered by that
// session's own level; what cannot be attributed goes to tsmcp's log,
// bounded like stderr lines. The upstreams are asked (logging/setLevel) for the
// most verbose level any caller session asked for, see SetLogLevel.

// SetLogLevel asks every upstream session, now and as they start, to send
// log messages of level and above. It does not block: the requests go out
// in the background. Upstreams that do not declare logging are not asked.
func (p *Provider) SetLogLevel(level mcp.LoggingLevel) {
	p.mu.Lock()
	p.logLevel = level
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return
	}
	for _, u := range p.ups {
		for _, s := range u.liveSessions() {
			u.applyLogLevel(s)
		}
	}
}

// liveSessions returns the upstream's sessions that serve calls now.
func (u *upstream) liveSessions() []*session {
	var out []*session
	if s := u.lister.Live(); s != nil && !u.perIdentity {
		out = append(out, s)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, ch := range u.children {
		if s := ch.sup.Live(); s != nil {
			out = append(out, s)
		}
	}
	return out
}

// dial starts a child or opens a session of sup for caller (nil: shared or
// discovery, without caller variables), wired to route what the upstream
// sends (sup.Poke on list_changed), and sends it the log level asked for.
func (u *upstream) dial(ctx context.Context, caller *callerInfo, sup *supervisor) (*session, error) {
	return u.dialAs(ctx, caller, "", sup)
}

// dialAs is dial sending as the identity of credential key authKey (an
// upstream with auth; "" otherwise).
func (u *upstream) dialAs(ctx context.Context, caller *callerInfo, authKey string, sup *supervisor) (*session, error) {
	s := &session{perIdentity: caller != nil, roots: sup.roots}
	c, lane, err := u.connect(ctx, caller, authKey, s.hooks(sup.Poke))
	if err != nil {
		return nil, err
	}
	s.Session, s.modern = c, lane
	// Before the session serves a call, so that the call's first log
	// messages pass the upstream's filter.
	u.setLogLevel(s)
	return s, nil
}

// applyLogLevel sends the provider's log level (if any was asked for) to
// session s, in the background.
func (u *upstream) applyLogLevel(s *session) {
	if level, ok := u.logLevelFor(s); ok {
		u.p.goFunc(func() { u.sendLogLevel(s, level) })
	}
}

// setLogLevel is applyLogLevel, waiting for the upstream's answer.
func (u *upstream) setLogLevel(s *session) {
	if level, ok := u.logLevelFor(s); ok {
		u.sendLogLevel(s, level)
	}
}

// logLevelFor returns the log level to send to s; ok is false when none
// was asked for, the provider is closed or s does not declare logging.
func (u *upstream) logLevelFor(s *session) (level mcp.LoggingLevel, ok bool) {
	u.p.mu.Lock()
	level, closed := u.p.logLevel, u.p.closed
	u.p.mu.Unlock()
	return level, level != "" && !closed && s.Client().GetServerCapabilities().Logging != nil
}

// sendLogLevel sends logging/setLevel to s.
func (u *upstream) sendLogLevel(s *session, level mcp.LoggingLevel) {
	ctx, cancel := context.WithTimeout(s.Context(), u.setupTimeout)
	defer cancel()
	req := mcp.SetLevelRequest{}
	req.Params.Level = level
	if err := s.Client().SetLevel(ctx, req); err != nil && s.Context().Err() == nil {
		u.log.Warn("upstream refused logging/setLevel", "level", level, "err", err)
	}
}

// logMessage routes one notifications/message of the upstream.
func (s *session) logMessage(params map[string]any, lim *conn.LogLimiter) {
	level, _ := params["level"].(string)
	logger, _ := params["logger"].(string)
	data := params["data"]
	flights := s.messageFlights()
	if len(flights) == 0 {
		b, _ := json.Marshal(data)
		if len(b) > conn.MaxStderrLine {
			b = b[:conn.MaxStderrLine]
		}
		if lim.Allow(len(b)) {
			lim.Logger().Log(context.Background(), slogLevel(mcp.LoggingLevel(level)), "upstream log message",
				"level", level, "logger", logger, "data", string(b))
		}
		return
	}
	n := mcp.NewLoggingMessageNotification(mcp.LoggingLevel(level), logger, data)
	for _, f := range flights {
		f.log(n)
	}
}

// takeEvent is the stream tap of a remote upstream's call (see
// conn.Remote's Tap): over Streamable HTTP an upstream sends the log
// messages of a call on the call's own response stream, which attributes
// them exactly, and mcp-go's client hands notifications to one handler
// without the stream they came on. It delivers an SSE event's data to f's
// caller if it is a log message, and reports whether it did. A log message
// longer than conn.MaxTapEvent is left to the client's handler, which logs
// it (see logMessage) instead of sending it to anyone.
func (f *flight) takeEvent(data []byte) bool {
	if !bytes.Contains(data, []byte(mcp.MethodNotificationMessage)) {
		return false
	}
	var n struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Level  mcp.LoggingLevel `json:"level"`
			Logger string           `json:"logger"`
			Data   any              `json:"data"`
		} `json:"params"`
	}
	if err := json.Unmarshal(data, &n); err != nil || n.ID != nil || n.Method != string(mcp.MethodNotificationMessage) {
		return false
	}
	f.log(mcp.NewLoggingMessageNotification(n.Params.Level, n.Params.Logger, n.Params.Data))
	return true
}

// callStream is the Tap of remote upstreams: the events of a tools/call
// POST's response stream (whose request context carries the call's
// flight) go to takeEvent.
func callStream(ctx context.Context) func([]byte) bool {
	if f := flightFromContext(ctx); f != nil {
		return f.takeEvent
	}
	return nil
}

// log sends an upstream's log message to the caller's session, filtered by
// its level.
func (f *flight) log(n mcp.LoggingMessageNotification) {
	ctx := f.caller()
	if srv := server.ServerFromContext(ctx); srv != nil && ctx.Err() == nil {
		_ = srv.SendLogMessageToClient(ctx, n)
	}
}

// slogLevel maps an MCP log level to tsmcp's log levels.
func slogLevel(l mcp.LoggingLevel) slog.Level {
	switch {
	case l == mcp.LoggingLevelDebug:
		return slog.LevelDebug
	case l == mcp.LoggingLevelInfo || l == mcp.LoggingLevelNotice:
		return slog.LevelInfo
	case l == mcp.LoggingLevelWarning:
		return slog.LevelWarn
	}
	return slog.LevelError
}
