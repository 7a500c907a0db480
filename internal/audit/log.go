package audit

import (
	"context"
	"log/slog"

	"github.com/tsmcp/tsmcp/internal/safetext"
)

// Bounds for caller-controlled text in audit lines (and, in
// internal/server, in log lines).
const (
	// MaxName bounds a name the caller chose (a tool, prompt or resource
	// name or URI, a path, a method, a request ID).
	MaxName = 128
	// MaxErr bounds an error text, which may quote the caller's input.
	MaxErr = 4096
)

// Log is the Sink that writes each event as one audit line: a slog record
// with the Action as msg and "log":"audit", at level Info (Warn for
// Limit, SessionHijack and Cancel). Its keys, in order:
//
//   - caller: user, node, tags (a list, empty for a user's node) and,
//     when identified, ip
//   - request_id (Cancel)
//   - kind (prompt and resource events; tool events have none)
//   - the name: "tool", "prompt" or "uri" after Kind (not on lists)
//   - in (ResourceWithheld)
//   - decision, then limit (Limit)
//   - reason (not on lists and limits)
//   - duration_ms (Timed actions, with microseconds)
//   - outcome (Timed actions and ResourceUpdated)
//   - err, when there is one (cut to MaxErr bytes)
//   - shown (lists), shown_prompts and shown_resources (IdentityPage)
//   - path, method, uris (Limit, when known; path for SessionHijack)
//   - cancelled_own (Cancel)
//   - credentials, when the request used any: a list of {upstream, kind,
//     name, subject, expiry} (see Credential), never a value
//
// Every caller-chosen string is cut to MaxName bytes and has its control,
// formatting and invalid characters shown as U+FFFD (safetext.Log).
type Log struct{ l *slog.Logger }

// NewLog returns the Sink that writes audit lines to l.
func NewLog(l *slog.Logger) *Log {
	return &Log{l: l.With(slog.String("log", "audit"))}
}

// Record implements Sink.
func (s *Log) Record(ctx context.Context, e Event) {
	level := slog.LevelInfo
	if e.Action.Refusal() {
		level = slog.LevelWarn
	}
	if !s.l.Enabled(ctx, level) {
		return
	}
	var buf [13]slog.Attr
	s.l.LogAttrs(ctx, level, string(e.Action), e.attrs(buf[:0])...)
}

// attrs appends the audit line's attributes of e to a (see Log).
func (e *Event) attrs(a []slog.Attr) []slog.Attr {
	a = append(a, e.Caller.attr())
	if e.Action == Cancel {
		a = append(a, slog.String("request_id", bounded(e.RequestID)))
	}
	list := e.Decision == Filter
	if e.Action != Limit {
		if e.Kind == Prompt || e.Kind == Resource {
			a = append(a, slog.String("kind", string(e.Kind)))
		}
		if !list {
			a = e.appendName(a)
		}
	}
	if e.Action == ResourceWithheld {
		a = append(a, slog.String("in", bounded(e.In)))
	}
	a = append(a, slog.String("decision", string(e.Decision)))
	if e.Action == Limit {
		a = append(a, slog.String("limit", e.Limit))
		a = e.appendName(a)
	} else if !list {
		a = append(a, slog.String("reason", e.Reason))
	}
	if e.Action.Timed() {
		a = append(a, slog.Float64("duration_ms", float64(e.Duration.Microseconds())/1000))
	}
	if e.Action.Timed() || e.Action == ResourceUpdated {
		a = append(a, slog.String("outcome", string(e.Outcome)))
	}
	if e.Err != "" {
		a = append(a, slog.String("err", safetext.Log(e.Err, MaxErr)))
	}
	if list {
		a = append(a, slog.Int("shown", e.Shown))
		if e.Action == IdentityPage {
			a = append(a, slog.Int("shown_prompts", e.ShownPrompts), slog.Int("shown_resources", e.ShownResources))
		}
	}
	if e.Path != "" {
		a = append(a, slog.String("path", bounded(e.Path)))
	}
	if e.Method != "" {
		a = append(a, slog.String("method", bounded(e.Method)))
	}
	if e.URIs != 0 {
		a = append(a, slog.Int("uris", e.URIs))
	}
	if e.Action == Cancel {
		a = append(a, slog.Int("cancelled_own", e.CancelledOwn))
	}
	if len(e.Credentials) > 0 {
		cs := make([]Credential, len(e.Credentials))
		for i, c := range e.Credentials {
			// A subject comes from the upstream's authorization server.
			c.Subject = bounded(c.Subject)
			cs[i] = c
		}
		a = append(a, slog.Any("credentials", cs))
	}
	return a
}

// appendName appends the name of e under the key its Kind gives it, when
// it has a kind.
func (e *Event) appendName(a []slog.Attr) []slog.Attr {
	var key string
	switch e.Kind {
	case Tool:
		key = "tool"
	case Prompt:
		key = "prompt"
	case Resource:
		key = "uri"
	default:
		return a
	}
	return append(a, slog.String(key, bounded(e.Name)))
}

// attr returns the caller group of an audit line. Built with
// slog.GroupAttrs, not slog.Group, whose ...any boxes each attribute: this
// runs for every audit line.
func (c Caller) attr() slog.Attr {
	if !c.Identified {
		return slog.GroupAttrs("caller", slog.String("user", ""), slog.String("node", ""), slog.Attr{Key: "tags", Value: noTags})
	}
	tags := noTags
	if c.Tags != nil {
		tags = slog.AnyValue(c.Tags)
	}
	return slog.GroupAttrs("caller",
		slog.String("user", c.User),
		slog.String("node", c.Node),
		slog.Attr{Key: "tags", Value: tags},
		slog.String("ip", c.IP.String()),
	)
}

// noTags is the tags of a user's node in audit lines: an empty list, not
// null. Shared, never modified.
var noTags = slog.AnyValue([]string{})

// bounded makes a caller-chosen string safe for an audit line (see Log).
func bounded(s string) string { return safetext.Log(s, MaxName) }
