package server

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/identity"
)

// retryAfter is the Retry-After (seconds) sent with every limit refusal.
const retryAfter = 1

// counter counts what callers hold of one resource, per identity and in
// total, against two caps.
type counter struct {
	name       string // the resource, e.g. "sessions"; keys are mcp.limits.<name>_…
	per, total int64  // immutable

	mu    sync.Mutex // guards the fields below
	byKey map[string]int64
	sum   int64
}

func newCounter(name string, per, total int64) *counter {
	return &counter{name: name, per: per, total: total, byKey: map[string]int64{}}
}

// refusal says which limit refused a request.
type refusal struct {
	key    string // the config key, e.g. mcp.limits.sessions_per_identity
	status int    // 429 for a per-identity limit, 503 for a total one
}

// acquire takes n units for key, or none and a refusal when either cap
// would be passed.
func (c *counter) acquire(key string, n int64) *refusal {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey[key]+n > c.per {
		return &refusal{key: "mcp.limits." + c.name + "_per_identity", status: http.StatusTooManyRequests}
	}
	if c.sum+n > c.total {
		return &refusal{key: "mcp.limits." + c.name + "_total", status: http.StatusServiceUnavailable}
	}
	c.byKey[key] += n
	c.sum += n
	return nil
}

// release returns n units taken by acquire for key.
func (c *counter) release(key string, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	left := c.byKey[key] - n
	if left <= 0 {
		delete(c.byKey, key)
	} else {
		c.byKey[key] = left
	}
	c.sum -= n
}

// held returns what key holds, and what all callers hold.
func (c *counter) held(key string) (mine, all int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byKey[key], c.sum
}

// limits are the host's counters, built from mcp.limits.
type limits struct {
	sessions *counter // Streamable HTTP sessions
	streams  *counter // GET /sse, GET /mcp and subscriptions/listen streams
	calls    *counter // requests that go to a provider, until answered (see answerHold)
	answers  *counter // answer bytes produced and not yet written (see answerHold)
	subs     *counter // resource subscriptions (per identity only; see subscriptionlimits.go)
	body     *counter // request-body bytes in memory
	pages    *counter // identity page views in progress

	cfg config.Limits // immutable
}

func newLimits(l config.Limits) *limits {
	return &limits{
		sessions: newCounter("sessions", int64(l.SessionsPerIdentity), int64(l.SessionsTotal)),
		streams:  newCounter("streams", int64(l.StreamsPerIdentity), int64(l.StreamsTotal)),
		calls:    newCounter("calls", int64(l.CallsPerIdentity), int64(l.CallsTotal)),
		answers:  newCounter("answer_bytes", int64(l.AnswerBytesPerIdentity), int64(l.AnswerBytesTotal)),
		subs:     newCounter("subscriptions", int64(l.SubscriptionsPerIdentity), math.MaxInt64),
		body:     newCounter("body_bytes", int64(l.BodyBytesPerIdentity), int64(l.BodyBytesTotal)),
		pages:    newCounter("pages", int64(l.PagesPerIdentity), int64(l.PagesTotal)),
		cfg:      l,
	}
}

// refuse answers a request refused by a limit: 429 or 503 with
// Retry-After, and a "limit" audit event naming the limit.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, ref *refusal) {
	s.auditLimit(r.Context(), ref, audit.Event{Path: r.URL.Path, Method: r.Method})
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	writeError(w, ref.status)
}

// auditLimit records the audit event of a refusal by a limit: e says
// what was refused (a request's Path and Method, or the Kind and Name of
// a request whose answer a limit refused); the rest is filled in here.
func (s *Server) auditLimit(ctx context.Context, ref *refusal, e audit.Event) {
	id, _ := identity.FromContext(ctx)
	e.Action, e.Caller, e.Decision, e.Limit = audit.Limit, audit.CallerOf(id), audit.Deny, ref.key
	s.audit.Record(ctx, e)
}
