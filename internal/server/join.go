package server

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"tailscale.com/ipn"
	"tailscale.com/tsnet"
)

// joinDiag watches a node while it joins the tailnet, so that a failure
// says why: the last real cause from tsnet's own log (control
// unreachable, TLS, a refused or expired auth key, approval needed, tags
// not permitted) and whether a login URL was issued. It also logs the
// join's progress (state changes, the login URL) at info level.
type joinDiag struct {
	mu       sync.Mutex // guards the fields below
	lines    []string   // tsnet's last log lines, at most joinLogLines
	cause    string     // the last line that names a cause
	loginURL string     // the login URL control issued, if any
	state    string     // the last backend state seen
	warned   string     // the last backend error passed to warn
	joined   bool       // the join is over: nothing more is warned

	// warn, if set, is told each new error the backend reports while
	// joining (control unreachable, a refused auth key) as it happens,
	// not only when tailnet.up_timeout ends; called without mu held.
	warn func(cause string)
}

// backendErrorPrefix starts the line tsnet's backend logs for each error
// of its control client (it retries them quietly).
const backendErrorPrefix = "Received error: "

// joinLogLines bounds the tsnet log lines joinDiag keeps.
const joinLogLines = 200

// causeRE matches tsnet log lines that name why joining fails. tsnet
// retries these quietly (at its own log level) until tailnet.up_timeout.
var causeRE = regexp.MustCompile(`(?i)connection refused|no such host|i/o timeout|network is unreachable|` +
	`tls:|x509:|certificate|invalid key|authkey|auth key|expired|not authorized|unauthorized|` +
	`requested tags|tags? .*(invalid|not permitted|not allowed)|needs? (machine )?approval|machine authorization|` +
	`fetch control key|register request|backend error`)

// logf records one tsnet log line.
func (d *joinDiag) logf(line string) {
	d.mu.Lock()
	if len(d.lines) == joinLogLines {
		d.lines = d.lines[1:]
	}
	d.lines = append(d.lines, line)
	if causeRE.MatchString(line) {
		d.cause = strings.TrimSpace(line)
	}
	d.mu.Unlock()
	if cause, ok := strings.CutPrefix(line, backendErrorPrefix); ok {
		d.report(strings.TrimSpace(cause))
	}
}

// report passes a backend error to warn, once per distinct error, while
// the node joins.
func (d *joinDiag) report(cause string) {
	d.mu.Lock()
	news := !d.joined && cause != d.warned
	if news {
		d.warned = cause
	}
	warn := d.warn
	d.mu.Unlock()
	if news && warn != nil {
		warn(cause)
	}
}

// finish ends the join: later backend errors are not warned as join
// errors.
func (d *joinDiag) finish() {
	d.mu.Lock()
	d.joined = true
	d.mu.Unlock()
}

// watch logs the node's state changes and its login URL at info level
// until ctx ends. It returns when ctx ends or the bus watch fails.
func (d *joinDiag) watch(ctx context.Context, s *Server, node *tsnet.Server) {
	lc, err := node.LocalClient()
	if err != nil {
		return
	}
	w, err := lc.WatchIPNBus(ctx, ipn.NotifyInitialState)
	if err != nil {
		return
	}
	defer w.Close()
	for {
		n, err := w.Next()
		if err != nil {
			return
		}
		if n.State != nil {
			st := n.State.String()
			d.mu.Lock()
			changed := st != d.state
			d.state = st
			d.mu.Unlock()
			if changed {
				s.log.Info("joining the tailnet: state "+st, "state", st)
			}
		}
		if n.BrowseToURL != nil && *n.BrowseToURL != "" {
			d.mu.Lock()
			d.loginURL = *n.BrowseToURL
			d.mu.Unlock()
		}
		if n.ErrMessage != nil {
			d.mu.Lock()
			d.cause = *n.ErrMessage
			d.mu.Unlock()
			d.report(*n.ErrMessage)
		}
	}
}

// explain returns what to add to a join error: the last cause seen and
// the hint that fits it.
func (d *joinDiag) explain(authKeySet bool) string {
	d.mu.Lock()
	cause, url, state := d.cause, d.loginURL, d.state
	d.mu.Unlock()
	var b strings.Builder
	if cause != "" {
		fmt.Fprintf(&b, "last error: %s", cause)
	} else if state != "" {
		fmt.Fprintf(&b, "the node stayed in state %s", state)
	}
	if b.Len() > 0 {
		b.WriteString("; ")
	}
	switch {
	case url != "":
		fmt.Fprintf(&b, "open the login URL %s to add the node, or set tailnet.auth_key (TS_AUTHKEY)", url)
	case !authKeySet && cause == "":
		b.WriteString("no auth key is set: set tailnet.auth_key or TS_AUTHKEY")
	default:
		b.WriteString("check tailnet.control_url and tailnet.auth_key (TS_AUTHKEY)")
	}
	return b.String()
}
