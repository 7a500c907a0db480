package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/safetext"
	"github.com/tsmcp/tsmcp/internal/upstream/conn"
)

// URL-mode elicitation (mode "url"): an upstream asks the caller to open a
// URL (to sign in, to pay, to consent) rather than to fill in a form. The
// request goes to the caller like a form-mode one (s2c.go), only to a
// caller session that declared URL mode; when the flow ends, the upstream
// sends notifications/elicitation/complete with the request's
// elicitationId, which goes to the session that got that request and to
// no other: each upstream session remembers, for each URL-mode request it
// forwarded, the caller session and MCP server it went to (urlElicits).
// A tools/call the upstream refuses with URLElicitationRequiredError
// (-32042) reaches a caller on a session as that same error, and a
// stateless caller as a tool error naming the URLs (urlRequiredResult).

const (
	// maxURLElicits bounds the URL-mode requests one upstream session
	// remembers awaiting their completion; past it the oldest is
	// forgotten (its completion then goes to the log).
	maxURLElicits = 1024
	// urlElicitTTL is how long a URL-mode request is remembered.
	urlElicitTTL = time.Hour
	// maxElicitationIDBytes bounds an elicitationId.
	maxElicitationIDBytes = 256
)

// urlElicits are the URL-mode elicitations one upstream session forwarded
// whose completion has not come.
type urlElicits struct {
	mu      sync.Mutex // guards the fields below
	pending map[string]urlElicit
	order   []string // ids, oldest first
}

// urlElicit is where one URL-mode elicitation went.
type urlElicit struct {
	srv     *server.MCPServer
	session string // the caller's MCP session ID
	expires time.Time
}

// record remembers that the URL-mode elicitation params goes to the
// caller in ctx (before it is forwarded: its completion may come as soon
// as the caller answers). Form-mode requests are not remembered.
func (e *urlElicits) record(params json.RawMessage, ctx context.Context) {
	if id, ok := urlElicitationID(params); ok {
		e.recordID(id, ctx)
	}
}

// urlElicitationID returns the elicitationId of URL-mode elicitation
// params; ok is false for form mode, undecodable params, and an ID that
// is empty or too long to remember.
func urlElicitationID(params json.RawMessage) (string, bool) {
	var p mcp.ElicitationParams
	if json.Unmarshal(params, &p) != nil || p.Mode != mcp.ElicitationModeURL || p.ElicitationID == "" || len(p.ElicitationID) > maxElicitationIDBytes {
		return "", false
	}
	return p.ElicitationID, true
}

// recordID remembers that the URL-mode elicitation id goes to the caller
// in ctx: one forwarded as a request, or named by a
// URLElicitationRequiredError. Callers without a session (stateless:
// there is no stream to notify them on) are not remembered.
func (e *urlElicits) recordID(id string, ctx context.Context) {
	srv, cs := server.ServerFromContext(ctx), server.ClientSessionFromContext(ctx)
	if id == "" || len(id) > maxElicitationIDBytes || srv == nil || cs == nil || cs.SessionID() == "" {
		return
	}
	e.put(id, urlElicit{srv: srv, session: cs.SessionID()}, time.Now())
}

// put remembers el (its expiry set from now) under id, within
// maxURLElicits.
func (e *urlElicits) put(id string, el urlElicit, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pending == nil {
		e.pending = map[string]urlElicit{}
	}
	e.pruneLocked(now)
	if _, dup := e.pending[id]; !dup {
		e.order = append(e.order, id)
	}
	el.expires = now.Add(urlElicitTTL)
	e.pending[id] = el
	for len(e.order) > maxURLElicits {
		delete(e.pending, e.order[0])
		e.order = e.order[1:]
	}
}

// pruneLocked forgets expired entries. e.mu is held.
func (e *urlElicits) pruneLocked(now time.Time) {
	for len(e.order) > 0 {
		id := e.order[0]
		if el, ok := e.pending[id]; ok && now.Before(el.expires) {
			return
		}
		delete(e.pending, id)
		e.order = e.order[1:]
	}
}

// take returns and forgets where the elicitation id went.
func (e *urlElicits) take(id string) (urlElicit, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pruneLocked(time.Now())
	el, ok := e.pending[id]
	if ok {
		delete(e.pending, id)
		i := 0
		for i < len(e.order) && e.order[i] != id {
			i++
		}
		if i < len(e.order) {
			e.order = append(e.order[:i], e.order[i+1:]...)
		}
	}
	return el, ok
}

// complete delivers the upstream's notifications/elicitation/complete to
// the caller session its elicitation went to; one for an elicitation this
// session did not forward goes to the log only.
func (e *urlElicits) complete(fields map[string]any, log *conn.LogLimiter) {
	id, _ := fields["elicitationId"].(string)
	el, ok := e.take(id)
	if !ok {
		if log.Allow(0) {
			log.Logger().Info("upstream elicitation completion dropped: no URL-mode elicitation of that id went to a caller", "elicitation_id", safetext.Log(id, 128))
		}
		return
	}
	err := el.srv.SendNotificationToSpecificClient(el.session, string(mcp.MethodNotificationElicitationComplete), map[string]any{"elicitationId": id})
	if err != nil && log.Allow(0) {
		log.Logger().Info("upstream elicitation completion not delivered", "err", err.Error())
	}
}

// urlRequired returns, when the upstream refused a call with
// URLElicitationRequiredError, that error with its elicitations bounded
// (at most Bounds.Items, each URL within Bounds.URIBytes, each message
// within Bounds.DescriptionBytes), and ok.
func (u *upstream) urlRequired(err error) (mcp.URLElicitationRequiredError, bool) {
	var ur mcp.URLElicitationRequiredError
	if !errors.As(err, &ur) {
		return ur, false
	}
	b := u.p.opts.Bounds
	var kept []mcp.ElicitationParams
	for _, p := range ur.Elicitations {
		if len(kept) == b.Items || p.Mode != mcp.ElicitationModeURL || len(p.URL) > b.URIBytes || len(p.ElicitationID) > maxElicitationIDBytes {
			continue
		}
		p.Message = safetext.Cut(p.Message, b.DescriptionBytes)
		kept = append(kept, p)
	}
	return mcp.URLElicitationRequiredError{Elicitations: kept}, true
}

// urlRequiredResult is the tool error for a caller that cannot get
// URLElicitationRequiredError as such (the stateless protocol): the
// messages and URLs the upstream asks the user to open.
func (u *upstream) urlRequiredResult(ur mcp.URLElicitationRequiredError) *mcp.CallToolResult {
	var b strings.Builder
	b.WriteString("upstream " + u.name + " needs you to open a URL first, then call again:")
	for _, p := range ur.Elicitations {
		b.WriteString("\n- ")
		if p.Message != "" {
			b.WriteString(p.Message + ": ")
		}
		b.WriteString(p.URL)
	}
	return mcp.NewToolResultError(b.String())
}
