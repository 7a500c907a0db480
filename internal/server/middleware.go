package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// Default timeouts for slow clients on the tailnet listener. There is no
// server-wide ReadTimeout: it would also cut long-lived SSE streams.
const (
	defaultHeaderTimeout = 10 * time.Second
	defaultBodyTimeout   = 30 * time.Second
)

// writeError sends a generic error to the client. Details go to the log,
// never to the client.
func writeError(w http.ResponseWriter, code int) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	io.WriteString(w, http.StatusText(code)+"\n")
}

// foreignOriginReason is the answer to a request from a web page of
// another origin: why it is refused and what to do instead. It says
// nothing about the host or the caller.
const foreignOriginReason = "Forbidden: this request comes from a web page (its Origin header names another site), " +
	"and tsmcp refuses those so that no page you visit can call tools as you. " +
	"Use a client that is not a web page; a browser-based client must go through its own proxy: " +
	"in the MCP Inspector, choose Connection Type \"Via Proxy\"."

// writeForbidden sends 403 with a fixed explanation of a refusal that
// the client can act on (it must reveal nothing the client did not send).
func writeForbidden(w http.ResponseWriter, reason string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusForbidden)
	io.WriteString(w, reason+"\n")
}

// identify resolves the caller with WhoIs and puts the Identity in the
// request context. Any failure is a 403 and a log line: fail closed.
func (s *Server) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isFunnel(r) {
			s.warns.Warn("refused Funnel connection", "remote", r.RemoteAddr, "path", bounded(r.URL.Path))
			writeError(w, http.StatusForbidden)
			return
		}
		id, err := s.whois(r)
		if err != nil {
			s.metrics.WhoIsFailed()
			s.log.Warn("refused unidentified caller", "remote", r.RemoteAddr, "path", bounded(r.URL.Path), "err", err)
			writeError(w, http.StatusForbidden)
			return
		}
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			s.log.Debug("request", "method", bounded(r.Method), "path", bounded(r.URL.Path), "caller", id.String(),
				"protocol_version", bounded(r.Header.Get("Mcp-Protocol-Version")))
		}
		next.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), id)))
	})
}

// checkHost refuses requests whose Host is not one of this node's own
// names or addresses, and browser requests whose Origin is not the Host.
// Checking the Host defeats DNS rebinding: a web page that rebinds its own
// name to the node's tailnet IP would otherwise be same-origin with itself
// and could call tools as the person browsing (whose machine WhoIs names).
// Requests without an Origin header (every non-browser MCP client) pass the
// Origin check.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.allowsHost(r) {
			s.warns.Warn("refused foreign Host", "host", bounded(r.Host), "remote", r.RemoteAddr)
			writeError(w, http.StatusForbidden)
			return
		}
		origin := r.Header.Get("Origin")
		if origin != "" && !sameOrigin(origin, r.Host) {
			s.warns.Warn("refused foreign Origin", "origin", bounded(origin), "host", bounded(r.Host), "remote", r.RemoteAddr)
			writeForbidden(w, foreignOriginReason)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin reports whether origin (scheme://host[:port]) names host.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(u.Host, host)
}

// hostSet is the set of names and addresses a request's Host may carry:
// the node's short name, its MagicDNS name, its certificate names and its
// tailnet IPs. Immutable once built.
type hostSet map[string]bool

// newHostSet builds a hostSet; empty names are skipped.
func newHostSet(names ...string) hostSet {
	hs := hostSet{}
	for _, n := range names {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if n != "" {
			hs[n] = true
		}
	}
	return hs
}

// allows reports whether hostport (a Host header: name, IP or [IPv6], with
// an optional port) is in the set.
func (hs hostSet) allows(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	return hs[strings.ToLower(host)]
}

// limitBody refuses bodies over max with 413: at once when Content-Length
// says so, before reading a byte; otherwise as soon as the limit is crossed.
// Bodies are read within the body-bytes budgets (see readBudgeted); one
// over budget gets 429 or 503 before it is buffered.
// The body is read under a deadline so a slow client cannot hold a handler.
func (s *Server) limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			s.warns.Warn("refused oversized body", "remote", r.RemoteAddr, "content_length", r.ContentLength, "max", max)
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusRequestEntityTooLarge)
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(s.bodyTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			s.log.Error("setting body read deadline", "err", err)
		}
		body, release, err := s.readBudgeted(w, r, max)
		defer release()
		var tooBig *http.MaxBytesError
		var overBudget *budgetError
		switch {
		case errors.As(err, &overBudget):
			w.Header().Set("Connection", "close")
			s.refuse(w, r, overBudget.ref)
			return
		case errors.As(err, &tooBig):
			s.warns.Warn("refused oversized body", "remote", r.RemoteAddr, "max", max)
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusRequestEntityTooLarge)
			return
		case err != nil:
			// Typically the deadline: a client trickling its body. The
			// connection is not reused; its deadline stays expired.
			s.log.Warn("reading request body", "remote", r.RemoteAddr, "err", err)
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusBadRequest)
			return
		}
		if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
			s.log.Error("clearing body read deadline", "err", err)
		}
		r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, &requestBody{body: body}))
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

type bodyKey struct{}

// bufferedBody returns the request body limitBody read into memory, so that
// later middleware can inspect it without reading it again. It is nil for a
// request without a body. (Most layers want peekRPC's decoded fields.)
func bufferedBody(r *http.Request) []byte {
	rb, _ := r.Context().Value(bodyKey{}).(*requestBody)
	if rb == nil {
		return nil
	}
	return rb.body
}

// checkSession refuses a session ID presented by anyone but the identity
// it was minted for: 404, as for an unknown session, and an audit line
// (see admitSession, which also adopts a session minted by another
// replica sharing mcp.session_key). Both places an ID can travel are
// checked, whatever the path: the Mcp-Session-Id header (Streamable HTTP)
// and the sessionId query parameter (legacy SSE), every value of each.
func (s *Server) checkSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := identity.FromContext(r.Context())
		for _, sid := range r.Header.Values("Mcp-Session-Id") {
			if !s.admitSession(w, r, caller, sid, false) {
				return
			}
		}
		for _, sid := range r.URL.Query()["sessionId"] {
			if !s.admitSession(w, r, caller, sid, true) {
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// noCORS drops any Access-Control-* header a handler sets: tsmcp answers
// no cross-origin browser requests. (mcp-go's SSE transport sets
// Access-Control-Allow-Origin: * by default.)
func noCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&corsStripper{ResponseWriter: w}, r)
	})
}

type corsStripper struct {
	http.ResponseWriter
	wroteHeader bool
}

func (c *corsStripper) strip() {
	if c.wroteHeader {
		return
	}
	c.wroteHeader = true
	h := c.ResponseWriter.Header()
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			delete(h, k)
		}
	}
}

func (c *corsStripper) WriteHeader(code int) {
	c.strip()
	c.ResponseWriter.WriteHeader(code)
}

func (c *corsStripper) Write(b []byte) (int, error) {
	c.strip()
	return c.ResponseWriter.Write(b)
}

// Flush implements http.Flusher, which the SSE transports require.
func (c *corsStripper) Flush() {
	c.strip()
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (c *corsStripper) Unwrap() http.ResponseWriter { return c.ResponseWriter }
