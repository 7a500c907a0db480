package conn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"

	"github.com/tsmcp/tsmcp/internal/tracing"
)

// noResponseTimeout is the SSE transport's response timeout: in effect
// none (mcp-go's default would cut every call at 60 s).
const noResponseTimeout = 100 * 365 * 24 * time.Hour

// Tap picks, for a request to a remote upstream, who takes the events of
// its response stream: it returns nil (none taken) or a func that is
// given each event's data and reports whether it took the event (see
// TapEvents). It is asked about every POST whose response is an event
// stream.
type Tap func(ctx context.Context) func(data []byte) bool

// Remote dials one url upstream. It remembers when the server turned out
// to be SSE-only, so reconnections go straight to SSE.
type Remote struct {
	url     string
	hc      *http.Client
	base    http.RoundTripper // the keep-alive pool, shared with As
	rt      http.RoundTripper // what hc sends through below streamTap: base, or As's wrap(base)
	tap     Tap
	log     *slog.Logger
	timeout time.Duration
	sseOnly atomic.Bool
}

// NewRemote returns the dialer of the upstream at url; timeout bounds the
// handshake (and the sessions' setup requests), tap (nil: none) takes
// events off the response streams.
func NewRemote(url string, log *slog.Logger, timeout time.Duration, tap Tap) *Remote {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &Remote{
		url:     url,
		hc:      newRemoteClient(tr, tap),
		base:    tr,
		rt:      tr,
		tap:     tap,
		log:     log,
		timeout: timeout,
	}
}

// newRemoteClient is the HTTP client of sessions sending through rt.
// No Client.Timeout: it would cut the long-lived streams.
// tracing.Transport adds the call's traceparent; streamTap hands the
// events of a request's own stream to tap (see streamtap.go).
func newRemoteClient(rt http.RoundTripper, tap Tap) *http.Client {
	return &http.Client{Transport: streamTap{next: tracing.Transport(rt), tap: tap}}
}

// As returns a dialer of the same upstream whose requests go through
// wrap(base), base being r's connection pool: for sessions that carry one
// caller's credentials (wrap adds them to each request). It starts with
// what r learned (SSE only), and learns on its own.
func (r *Remote) As(wrap func(base http.RoundTripper) http.RoundTripper) *Remote {
	rt := wrap(r.base)
	a := &Remote{url: r.url, hc: newRemoteClient(rt, r.tap), base: r.base, rt: rt, tap: r.tap, log: r.log, timeout: r.timeout}
	a.sseOnly.Store(r.sseOnly.Load())
	return a
}

// URL is the upstream's URL.
func (r *Remote) URL() string { return r.url }

// CloseIdle closes the idle keep-alive connections to the upstream.
func (r *Remote) CloseIdle() { r.hc.CloseIdleConnections() }

// Dial opens a session with headers: Streamable HTTP first, then legacy
// SSE if the server refuses the initialize POST with a 4xx.
func (r *Remote) Dial(ctx context.Context, headers map[string]string, hooks Hooks) (*Session, error) {
	if !r.sseOnly.Load() {
		s, err := r.dialStreamable(ctx, headers, hooks)
		if !errors.Is(err, transport.ErrLegacySSEServer) {
			return s, err
		}
		r.log.Info("upstream refused Streamable HTTP, using legacy SSE")
		r.sseOnly.Store(true)
	}
	return r.dialSSE(ctx, headers, hooks)
}

func (r *Remote) dialStreamable(ctx context.Context, headers map[string]string, hooks Hooks) (*Session, error) {
	tr, err := transport.NewStreamableHTTP(r.url,
		transport.WithHTTPBasicClient(r.hc),
		transport.WithHTTPHeaders(headers),
		transport.WithHTTPLogger(r.log),
		// The standalone GET stream carries notifications/tools/list_changed.
		//lint:ignore SA1019 the client is pinned to 2025-11-25, where this stream exists
		transport.WithContinuousListening(),
	)
	if err != nil {
		return nil, err
	}
	return r.finish(ctx, NewSession("streamable-http", r.timeout), tr, hooks)
}

func (r *Remote) dialSSE(ctx context.Context, headers map[string]string, hooks Hooks) (*Session, error) {
	tr, err := transport.NewSSE(r.url,
		transport.WithHTTPClient(r.hc),
		transport.WithHeaders(headers),
		transport.WithSSELogger(r.log),
		transport.WithEndpointTimeout(r.timeout),
		// Calls carry their own deadline (renewed by progress, or none
		// at all): the transport must not add one.
		transport.WithResponseTimeout(noResponseTimeout),
	)
	if err != nil {
		return nil, err
	}
	s := NewSession("sse", r.timeout)
	tr.SetConnectionLostHandler(func(err error) { s.Fail(fmt.Sprintf("SSE stream lost: %v", err)) })
	return r.finish(ctx, s, tr, hooks)
}

// finish starts tr (on a context that lives as long as the session),
// attaches the hooks and initializes the session.
func (r *Remote) finish(ctx context.Context, s *Session, tr transport.Interface, hooks Hooks) (*Session, error) {
	sctx, cancel := context.WithCancel(ctx)
	c := newClient(tr, hooks.Capabilities)
	s.client = c
	s.stop = func() {
		cancel()
		_ = c.Close()
	}
	if err := c.Start(sctx); err != nil {
		s.Close()
		return nil, err
	}
	s.attach(hooks, tr, r.log)
	ictx, icancel := context.WithTimeout(sctx, r.timeout)
	defer icancel()
	if err := s.initialize(ictx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}
