package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"tailscale.com/tsnet"

	"github.com/tsmcp/tsmcp/internal/tsnetx"
)

// NodeOptions describe the tailnet node `tsmcp connect --tsnet` joins as.
type NodeOptions struct {
	// Hostname is the node's name on the tailnet. Required.
	Hostname string
	// Dir is the node's state directory, created if missing. Required.
	Dir string
	// ControlURL is the coordination server (e.g. Headscale). Empty
	// means Tailscale's.
	ControlURL string
	// Ephemeral makes the node leave the tailnet when it goes offline.
	Ephemeral bool
	// Stderr receives the interactive login URL, if one is needed, and
	// with Verbose tsnet's logs. Nil means os.Stderr.
	Stderr io.Writer
	// Verbose passes tsnet's own logs to Stderr.
	Verbose bool
}

// DefaultDir is the state directory of a --tsnet node named hostname:
// <user config dir>/tsmcp/connect-<hostname>.
func DefaultDir(hostname string) (string, error) {
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no user config directory for the node's state (set --state-dir): %w", err)
	}
	return filepath.Join(base, "tsmcp", "connect-"+hostname), nil
}

// authURLPrefix starts tsnet's log line that carries the login URL.
const authURLPrefix = "To start this tsnet server, restart with TS_AUTHKEY set, or go to: "

// StartNode joins the tailnet and waits until the node runs. The auth key
// comes from TS_AUTHKEY (or an OAuth client secret from TS_CLIENT_SECRET),
// read by tsnet; without one, and without saved state, the login URL is
// printed on Stderr and StartNode waits for the login. Close the node
// when done.
func StartNode(ctx context.Context, opts NodeOptions) (*tsnet.Server, error) {
	if opts.Hostname == "" || opts.Dir == "" {
		return nil, errors.New("connect: NodeOptions.Hostname and Dir are required")
	}
	stderr := opts.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("node state directory: %w", err)
	}
	var mu sync.Mutex // guards lastURL
	lastURL := ""
	logf := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		if opts.Verbose {
			fmt.Fprintln(stderr, strings.TrimRight(line, "\n"))
			return
		}
		if u, ok := strings.CutPrefix(line, authURLPrefix); ok {
			mu.Lock()
			defer mu.Unlock()
			if u != lastURL {
				lastURL = u
				fmt.Fprintf(stderr, "tsmcp connect: to join the tailnet as %q, open %s (or set TS_AUTHKEY)\n", opts.Hostname, strings.TrimSpace(u))
			}
		}
	}
	s := &tsnet.Server{
		Dir:        opts.Dir,
		Hostname:   opts.Hostname,
		ControlURL: opts.ControlURL,
		Ephemeral:  opts.Ephemeral,
		Logf:       logf,
		UserLogf:   logf,
	}
	if _, err := s.Up(ctx); err != nil {
		s.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("joining the tailnet as %s: %w", opts.Hostname, ctx.Err())
		}
		return nil, fmt.Errorf("joining the tailnet as %s: %w", opts.Hostname, err)
	}
	return s, nil
}

// NodeHTTPClient returns an HTTP client that dials through s, and only to
// s's tailnet peers (tsnetx.DialPeer): a host the node has not heard of
// is waited for, never dialed on the machine's own network, where anything
// may answer at a tailnet address and would read the caller's messages.
// It gives up on a connection after dialTimeout (a host that is down does
// not answer on the tailnet at all). It has no overall timeout: streams
// stay open. Connections are not reused.
func NodeHTTPClient(s *tsnet.Server, dialTimeout time.Duration) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, dialTimeout)
			defer cancel()
			return tsnetx.DialPeer(ctx, s, network, addr)
		},
		// A connection kept for reuse can be dead without a sign: a host
		// that stopped is silent on the tailnet. A fresh connection per
		// message is cheap inside WireGuard and fails within dialTimeout.
		DisableKeepAlives: true,
	}}
}

// PlainHTTPClient returns an HTTP client that dials with the operating
// system's network: through the machine's own Tailscale, which routes
// tailnet addresses and resolves MagicDNS names.
func PlainHTTPClient(dialTimeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:             nil, // a tailnet host is never behind the user's HTTP proxy
		DialContext:       d.DialContext,
		DisableKeepAlives: true, // as in NodeHTTPClient
	}}
}
