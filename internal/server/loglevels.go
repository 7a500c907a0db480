package server

import (
	"context"
	"slices"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/tools"
)

// LogLevelSetter is a provider that forwards log messages of its own
// servers (the bridged upstreams) and can be told how verbose to make them.
type LogLevelSetter interface {
	// SetLogLevel asks the provider's servers to send log messages of
	// level and above.
	SetLogLevel(level mcp.LoggingLevel)
}

// levelOrder lists the MCP log levels, most verbose first.
var levelOrder = []mcp.LoggingLevel{
	mcp.LoggingLevelDebug, mcp.LoggingLevelInfo, mcp.LoggingLevelNotice, mcp.LoggingLevelWarning,
	mcp.LoggingLevelError, mcp.LoggingLevelCritical, mcp.LoggingLevelAlert, mcp.LoggingLevelEmergency,
}

// logLevels tracks the level each caller session asked for with
// logging/setLevel. Bridged upstreams serve many sessions at once, so they
// are asked for the most verbose level any live session wants; each
// session gets only what its own level lets through (mcp-go filters at
// delivery).
type logLevels struct {
	providers []tools.Provider

	mu        sync.Mutex // guards the fields below
	bySession map[string]mcp.LoggingLevel
	applied   mcp.LoggingLevel
}

func newLogLevels(ps []tools.Provider) *logLevels {
	return &logLevels{providers: ps, bySession: map[string]mcp.LoggingLevel{}}
}

// set is the AfterSetLevel hook.
func (l *logLevels) set(ctx context.Context, _ any, req *mcp.SetLevelRequest, _ *mcp.EmptyResult) {
	cs := server.ClientSessionFromContext(ctx)
	if cs == nil || cs.SessionID() == "" || !slices.Contains(levelOrder, req.Params.Level) {
		return
	}
	l.mu.Lock()
	l.bySession[cs.SessionID()] = req.Params.Level
	l.mu.Unlock()
	l.apply()
}

// forget drops a session that ended.
func (l *logLevels) forget(id string) {
	l.mu.Lock()
	_, ok := l.bySession[id]
	delete(l.bySession, id)
	l.mu.Unlock()
	if ok {
		l.apply()
	}
}

// apply tells the providers the most verbose level asked for, when it
// changed. With no session left that asked, the last level stays: MCP has
// no way to withdraw one.
func (l *logLevels) apply() {
	l.mu.Lock()
	want := mcp.LoggingLevel("")
	for _, lv := range l.bySession {
		if want == "" || slices.Index(levelOrder, lv) < slices.Index(levelOrder, want) {
			want = lv
		}
	}
	if want == "" || want == l.applied {
		l.mu.Unlock()
		return
	}
	l.applied = want
	// Under l.mu, so that providers see the levels in order; SetLogLevel
	// does not block.
	defer l.mu.Unlock()
	for _, p := range l.providers {
		if s, ok := p.(LogLevelSetter); ok {
			s.SetLogLevel(want)
		}
	}
}
