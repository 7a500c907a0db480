// Package connect is `tsmcp connect`: a stdio MCP server that relays every
// JSON-RPC message between a local MCP client (Claude Desktop and other
// clients that start a local process) and a tsmcp host on the tailnet.
//
// It is a transparent relay, not an MCP implementation: requests,
// notifications and responses go both ways unchanged, so server-to-client
// requests (sampling, elicitation, ping), progress and cancellation work
// as the client and the host negotiated them. It speaks Streamable HTTP
// and falls back to the legacy HTTP+SSE transport. When the host restarts
// and forgets the session, the relay re-initializes on its own by
// replaying the client's initialize and notifications/initialized; a call
// that may have run is never sent twice.
package connect

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxLine bounds one JSON-RPC message read from the client.
const maxLine = 64 << 20

// Options configure Run.
type Options struct {
	// URL is the host's MCP endpoint: http://HOST/mcp for Streamable HTTP
	// (falling back to legacy SSE if the host does not offer it) or
	// http://HOST/sse for legacy SSE only. A URL without a path means
	// /mcp. Required.
	URL string
	// HTTPClient carries the requests to the host: through the machine's
	// Tailscale (a plain client) or a tsnet node. It must not have a
	// Timeout, as streams stay open. Nil means http.DefaultClient.
	HTTPClient *http.Client
	// Stdin is where the client's messages come from, one a line. Nil
	// means no messages: Run returns at once.
	Stdin io.Reader
	// Stdout receives the host's messages, one a line, and nothing else.
	// Required.
	Stdout io.Writer
	// Logger receives diagnostics (stderr). Nil means slog.Default().
	Logger *slog.Logger
}

// ParseURL checks a host URL and fills in the default path /mcp.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("host URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("host URL %q: want http:// or https://, e.g. http://tsmcp/mcp", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("host URL %q has no host name", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/mcp"
	}
	return u, nil
}

// isLegacyURL reports whether u names the legacy SSE endpoint.
func isLegacyURL(u *url.URL) bool { return strings.HasSuffix(u.Path, "/sse") }

// Run relays messages until Stdin ends or ctx is cancelled. Then it ends
// the host session and returns once every goroutine it started is done.
// A failure to reach the host is not an error of Run: it is answered to
// the client request by request and logged.
func Run(ctx context.Context, opts Options) error {
	u, err := ParseURL(opts.URL)
	if err != nil {
		return err
	}
	if opts.Stdout == nil {
		return errors.New("connect: Options.Stdout is required")
	}
	if opts.Stdin == nil {
		return nil
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	r := &relay{
		url: u,
		hc:  hc,
		log: log,
		out: &output{w: opts.Stdout, log: log},
	}
	if isLegacyURL(u) {
		r.legacy = newLegacy(r, u)
	}
	lines := make(chan []byte)
	readDone := make(chan error, 1)
	go func() { readDone <- readLines(ctx, opts.Stdin, lines) }()

	var readErr error
loop:
	for {
		select {
		case line := <-lines:
			r.handle(ctx, line)
		case readErr = <-readDone:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	cancel()
	r.close()
	if readErr != nil && !errors.Is(readErr, io.EOF) && !errors.Is(readErr, context.Canceled) {
		return fmt.Errorf("reading the client's messages: %w", readErr)
	}
	return nil
}

// readLines sends each non-empty line of in to lines until in ends or ctx
// is done. A read blocked on in returns only when in is closed; the
// process exits then anyway.
func readLines(ctx context.Context, in io.Reader, lines chan<- []byte) error {
	br := bufio.NewReaderSize(in, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > maxLine {
			return fmt.Errorf("a message is longer than %d bytes", maxLine)
		}
		if trimmed := strings.TrimSpace(string(line)); trimmed != "" {
			select {
			case lines <- []byte(trimmed):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err != nil {
			return err
		}
	}
}

// relay holds the state of one client's connection to the host.
type relay struct {
	url *url.URL
	hc  *http.Client
	log *slog.Logger
	out *output
	wg  sync.WaitGroup // goroutines serving requests and streams
	// reinitMu serializes re-initializations.
	reinitMu sync.Mutex

	// legacy is the legacy SSE transport once chosen; nil while Streamable
	// HTTP is used. Set only by handle's goroutine.
	legacy *legacy

	mu sync.Mutex // guards the fields below
	// init is the client's initialize request and initialized its
	// notifications/initialized, replayed when the session is lost.
	init, initialized []byte
	// sessionID and protocol are the Mcp-Session-Id and the negotiated
	// MCP-Protocol-Version; empty before initialize.
	sessionID, protocol string
	// gen counts (re)initializations; a request remembers the generation
	// it was sent in, so that one lost session is re-initialized once.
	gen int
	// stopListen stops the standalone GET stream; nil when none runs.
	stopListen context.CancelFunc
	closed     bool
}

// handle forwards one message from the client.
func (r *relay) handle(ctx context.Context, msg []byte) {
	k, env := classify(msg)
	if k == kindRequest && env.Method == "initialize" {
		r.mu.Lock()
		r.init = msg
		r.mu.Unlock()
	}
	if k == kindNotification && env.Method == "notifications/initialized" {
		r.mu.Lock()
		r.initialized = msg
		r.mu.Unlock()
	}
	if r.legacy != nil {
		r.legacy.handle(ctx, k, env, msg)
		return
	}
	r.streamableHandle(ctx, k, env, msg)
}

// close ends the session and waits for every goroutine.
func (r *relay) close() {
	r.mu.Lock()
	r.closed = true
	if r.stopListen != nil {
		r.stopListen()
		r.stopListen = nil
	}
	sid, proto := r.sessionID, r.protocol
	r.mu.Unlock()
	if r.legacy != nil {
		r.legacy.close()
	} else if sid != "" {
		// Tell the host the session is over, as a Streamable HTTP client
		// should; a host that is gone is no reason to wait long.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, r.url.String(), nil)
		if err == nil {
			setSession(req, sid, proto)
			if resp, err := r.hc.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		cancel()
	}
	r.wg.Wait()
}

// goTracked runs fn on a goroutine the relay waits for on close.
func (r *relay) goTracked(fn func()) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		fn()
	}()
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
