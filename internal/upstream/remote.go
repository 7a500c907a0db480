package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/tracing"
)

// Identity headers sent to per-identity url upstreams (never to shared
// ones). They are set by tsmcp from the tailnet's WhoIs answer and override
// configured headers of the same name.
const (
	headerCallerLogin = "X-Tsmcp-Caller-Login"
	headerCallerNode  = "X-Tsmcp-Caller-Node"
	headerCallerTags  = "X-Tsmcp-Caller-Tags"
)

// resolveHeaders evaluates the {{env "NAME"}} templates of an upstream's
// headers once, at New. Errors name the header and the variable, never a
// value. Names are stored in canonical form (http.CanonicalHeaderKey), so
// that the caller headers set per identity replace configured headers of the
// same name whatever their case.
func resolveHeaders(i int, hs map[string]string, lookup func(string) (string, bool)) (map[string]string, error) {
	if len(hs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(hs))
	for _, name := range slices.Sorted(maps.Keys(hs)) {
		var missing string
		funcs := template.FuncMap{"env": func(v string) (string, error) {
			val, ok := lookup(v)
			if !ok {
				missing = v
				return "", fmt.Errorf("environment variable %q is not set", v)
			}
			return val, nil
		}}
		t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(hs[name])
		if err != nil {
			return nil, keyError(i, "headers."+name, "invalid template (want e.g. 'Bearer {{env \"TOKEN\"}}')")
		}
		var b strings.Builder
		if err := t.Execute(&b, nil); err != nil {
			if missing != "" {
				return nil, keyError(i, "headers."+name, "environment variable %q is not set", missing)
			}
			return nil, keyError(i, "headers."+name, "template failed (only {{env \"NAME\"}} is available)")
		}
		if strings.ContainsAny(b.String(), "\r\n\x00") {
			return nil, keyError(i, "headers."+name, "value contains a line break or NUL")
		}
		out[http.CanonicalHeaderKey(name)] = b.String()
	}
	return out, nil
}

// noResponseTimeout is the SSE transport's response timeout: in effect
// none (mcp-go's default would cut every call at 60 s).
const noResponseTimeout = 100 * 365 * 24 * time.Hour

// remote dials one url upstream. It remembers when the server turned out to
// be SSE-only, so reconnections go straight to SSE.
type remote struct {
	url     string
	hc      *http.Client
	log     *slog.Logger
	timeout time.Duration
	sseOnly atomic.Bool
}

func newRemote(url string, log *slog.Logger, timeout time.Duration) *remote {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &remote{
		url: url,
		// No Client.Timeout: it would cut the long-lived streams.
		// tracing.Transport adds the call's traceparent (see trace.go);
		// callStreamTap routes the log messages on a call's own stream
		// (see streamtap.go).
		hc:      &http.Client{Transport: callStreamTap{tracing.Transport(tr)}},
		log:     log,
		timeout: timeout,
	}
}

func (r *remote) closeIdle() { r.hc.CloseIdleConnections() }

// dial opens a session with headers: Streamable HTTP first, then legacy
// SSE if the server refuses the initialize POST with a 4xx.
func (r *remote) dial(ctx context.Context, headers map[string]string, onListChanged func()) (*session, error) {
	if !r.sseOnly.Load() {
		s, err := r.dialStreamable(ctx, headers, onListChanged)
		if !errors.Is(err, transport.ErrLegacySSEServer) {
			return s, err
		}
		r.log.Info("upstream refused Streamable HTTP, using legacy SSE")
		r.sseOnly.Store(true)
	}
	return r.dialSSE(ctx, headers, onListChanged)
}

func (r *remote) dialStreamable(ctx context.Context, headers map[string]string, onListChanged func()) (*session, error) {
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
	return r.finish(ctx, newSession("streamable-http", r.timeout), tr, onListChanged)
}

func (r *remote) dialSSE(ctx context.Context, headers map[string]string, onListChanged func()) (*session, error) {
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
	s := newSession("sse", r.timeout)
	tr.SetConnectionLostHandler(func(err error) { s.fail(fmt.Sprintf("SSE stream lost: %v", err)) })
	return r.finish(ctx, s, tr, onListChanged)
}

// finish starts tr (on a context that lives as long as the session),
// initializes the session and wires list_changed.
func (r *remote) finish(ctx context.Context, s *session, tr transport.Interface, onListChanged func()) (*session, error) {
	sctx, cancel := context.WithCancel(ctx)
	c := newClient(tr)
	s.client = c
	s.stop = func() {
		cancel()
		_ = c.Close()
	}
	if err := c.Start(sctx); err != nil {
		s.close()
		return nil, err
	}
	s.onListChanged(onListChanged)
	s.routeCalls(tr, r.log)
	ictx, icancel := context.WithTimeout(sctx, r.timeout)
	defer icancel()
	if err := s.initialize(ictx); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// Check reports, without starting anything, the configuration problems New
// would report: header templates that do not parse or name an unset
// environment variable. lookupEnv nil means os.LookupEnv. The host calls it
// before joining the tailnet, so such mistakes stop tsmcp before it starts.
func Check(cfg []config.Upstream, lookupEnv func(string) (string, bool)) error {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	var errs []error
	for i, c := range cfg {
		if _, err := resolveHeaders(i, c.Headers, lookupEnv); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
