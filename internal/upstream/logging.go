package upstream

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
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
	if s := u.lister.live(); s != nil && !u.perIdentity {
		out = append(out, s)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, ch := range u.children {
		if s := ch.sup.live(); s != nil {
			out = append(out, s)
		}
	}
	return out
}

// live returns the supervisor's current session, nil while it has none.
func (s *supervisor) live() *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateUp {
		return nil
	}
	return s.cur
}

// dial starts a child or opens a session for caller (nil: shared or
// discovery, without caller variables), and sends it the log level asked
// for.
func (u *upstream) dial(ctx context.Context, caller *callerInfo, onListChanged func()) (*session, error) {
	s, err := u.connect(ctx, caller, onListChanged)
	if err != nil {
		return nil, err
	}
	s.perIdentity.Store(caller != nil)
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
	return level, level != "" && !closed && s.client.GetServerCapabilities().Logging != nil
}

// sendLogLevel sends logging/setLevel to s.
func (u *upstream) sendLogLevel(s *session, level mcp.LoggingLevel) {
	ctx, cancel := context.WithTimeout(s.ctx, u.setupTimeout)
	defer cancel()
	req := mcp.SetLevelRequest{}
	req.Params.Level = level
	if err := s.client.SetLevel(ctx, req); err != nil && s.ctx.Err() == nil {
		u.log.Warn("upstream refused logging/setLevel", "level", level, "err", err)
	}
}

// logMessage routes one notifications/message of the upstream.
func (s *session) logMessage(params map[string]any, lim *logLimiter) {
	level, _ := params["level"].(string)
	logger, _ := params["logger"].(string)
	data := params["data"]
	flights := s.messageFlights()
	if len(flights) == 0 {
		b, _ := json.Marshal(data)
		if len(b) > maxStderrLine {
			b = b[:maxStderrLine]
		}
		if lim.allow(len(b)) {
			lim.log.Log(context.Background(), slogLevel(mcp.LoggingLevel(level)), "upstream log message",
				"level", level, "logger", logger, "data", string(b))
		}
		return
	}
	n := mcp.NewLoggingMessageNotification(mcp.LoggingLevel(level), logger, data)
	for _, f := range flights {
		f.log(n)
	}
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
