package upstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Call routing: what an upstream sends about a call in flight (progress,
// log messages, elicitation and sampling requests) goes back to the caller
// session that made the call, and to no other.
//
// Every forwarded call is a flight on its upstream session. Progress is
// routed exactly: each flight sends the upstream a progressToken of its own
// (unique in the process, so calls of different callers on one shared child
// never collide) and the token is mapped back to the caller's. Other
// messages are attributed exactly or not at all; see attribution.go.

// errCallTimeout is the cause of a call's context when the upstream's
// timeout passed without news from the upstream.
var errCallTimeout = errors.New("upstream call timed out")

// upTokens numbers the progress tokens sent upstream.
var upTokens atomic.Int64

// flight is one forwarded call in flight on an upstream session.
type flight struct {
	// asks takes the upstream's requests for a caller on the stateless
	// protocol (see callStateless); nil for callers on a session.
	asks chan *inputAsk

	// ended is closed when the call ends.
	ended <-chan struct{}
	// ref holds the caller's handler context: it carries mcp-go's server
	// and the caller's client session, to send to. A stateless call gets
	// the context of each of its round trips in turn.
	ref *callerRef
	// session identifies the caller's MCP session (see sessionKey).
	session any
	// token is the caller's progressToken; nil when the caller sent none,
	// and progress is then not forwarded (it still renews the deadline).
	token mcp.ProgressToken
	// upToken is the progressToken sent upstream for this call.
	upToken string
	// clock is the call's deadline; nil when the upstream has no timeout.
	clock *deadline
	// inputWait bounds the wait for the caller's answer to one of the
	// upstream's requests (Options.InputWait).
	inputWait time.Duration
}

// callerRef is the context of the caller's current request.
type callerRef struct {
	mu  sync.Mutex // guards the field below
	ctx context.Context
}

func (r *callerRef) get() context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ctx
}

// set makes ctx (a stateless call's new round trip) the context to send
// to the caller with.
func (r *callerRef) set(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ctx = ctx
}

// caller returns the context to send to the caller with.
func (f *flight) caller() context.Context { return f.ref.get() }

// flightKey is the context key of the flight a request to the upstream
// belongs to. Streamable HTTP hands the context of the call to what arrives
// on the call's own response stream, which attributes it exactly.
type flightKey struct{}

// flightFromContext returns the flight ctx was derived from, if any.
func flightFromContext(ctx context.Context) *flight {
	f, _ := ctx.Value(flightKey{}).(*flight)
	return f
}

// sessionKey identifies the caller's MCP session of a handler context: its
// session ID, or (for the stateless protocol, whose requests have none) the
// request's own ephemeral session; a context without a session (a direct
// call, as in tests) is a session of its own.
func sessionKey(ctx context.Context) any {
	cs := server.ClientSessionFromContext(ctx)
	if cs == nil {
		return new(int)
	}
	if id := cs.SessionID(); id != "" {
		return fmt.Sprintf("%T/%s", cs, id)
	}
	return cs
}

// newFlight describes a call from the caller of ref, with the caller's
// progress token (nil: none) and the call's deadline (nil: none).
func newFlight(ref *callerRef, token mcp.ProgressToken, clock *deadline) *flight {
	return &flight{
		ref:     ref,
		session: sessionKey(ref.get()),
		token:   token,
		upToken: fmt.Sprintf("tsmcp-%d", upTokens.Add(1)),
		clock:   clock,
	}
}

// notify sends a notification to the caller's session; over the stateless
// protocol it goes to the call's own response stream. It never blocks: when
// the session's queue is full the notification is dropped.
func (f *flight) notify(method string, params map[string]any) {
	ctx := f.caller()
	srv := server.ServerFromContext(ctx)
	if srv == nil || ctx.Err() != nil {
		return
	}
	_ = srv.SendNotificationToClient(ctx, method, params)
}

// progress handles an upstream progress notification for f: it renews the
// call's deadline and forwards the notification under the caller's token.
func (f *flight) progress(params map[string]any) {
	if f.clock != nil {
		f.clock.renew()
	}
	if f.token == nil {
		return
	}
	out := make(map[string]any, len(params))
	for k, v := range params {
		out[k] = v
	}
	out["progressToken"] = f.token
	f.notify(string(mcp.MethodNotificationProgress), out)
}

// router tracks the flights of one upstream session.
type router struct {
	mu      sync.Mutex // guards the fields below
	flights map[*flight]struct{}
	byToken map[string]*flight
}

// add registers f until the returned func is called.
func (r *router) add(f *flight) (remove func()) {
	r.mu.Lock()
	if r.flights == nil {
		r.flights = map[*flight]struct{}{}
		r.byToken = map[string]*flight{}
	}
	r.flights[f] = struct{}{}
	r.byToken[f.upToken] = f
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.flights, f)
		delete(r.byToken, f.upToken)
		r.mu.Unlock()
	}
}

// byProgressToken returns the flight that sent token upstream, if it is
// still in flight.
func (r *router) byProgressToken(token any) *flight {
	s, ok := token.(string)
	if !ok {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byToken[s]
}

// sessions returns one flight per caller session with calls in flight.
func (r *router) sessions() []*flight {
	r.mu.Lock()
	defer r.mu.Unlock()
	bySession := map[any]*flight{}
	var out []*flight
	for f := range r.flights {
		if _, ok := bySession[f.session]; !ok {
			bySession[f.session] = f
			out = append(out, f)
		}
	}
	return out
}

// deadline ends a call when its upstream has been silent for d: renew
// restarts the clock; hold stops it until released (while the caller
// answers a request of the upstream).
type deadline struct {
	d time.Duration

	mu    sync.Mutex // guards the fields below
	timer *time.Timer
	holds int
}

// newDeadline calls fire once d passes without renew or hold.
func newDeadline(d time.Duration, fire func()) *deadline {
	return &deadline{d: d, timer: time.AfterFunc(d, fire)}
}

func (dl *deadline) renew() {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	if dl.holds == 0 {
		dl.timer.Reset(dl.d)
	}
}

// hold stops the clock until release is called; holds nest.
func (dl *deadline) hold() (release func()) {
	dl.mu.Lock()
	dl.holds++
	dl.timer.Stop()
	dl.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			dl.mu.Lock()
			defer dl.mu.Unlock()
			dl.holds--
			if dl.holds == 0 {
				dl.timer.Reset(dl.d)
			}
		})
	}
}

func (dl *deadline) stop() {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	dl.timer.Stop()
	dl.holds = -1 << 30 // never re-armed
}
