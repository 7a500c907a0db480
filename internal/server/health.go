package server

import (
	"io"
	"net/http"
	"strings"
)

// healthHandler serves the plain-HTTP health listener: /health (liveness),
// /readyz (readiness) and a fixed 404 for everything else. MCP is never
// served here.
//
// Paths are matched exactly, not through http.ServeMux, which answers
// non-canonical paths ("//mcp", "/./readyz", "/health/..") with a redirect:
// on this unauthenticated listener anything but the two exact paths gets
// the same fixed 404.
func (s *Server) healthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			// Liveness: the process serves. It never depends on the
			// control plane, so an outage there does not get tasks
			// killed.
			plain(w, http.StatusOK, "ok\n")
		case "/readyz":
			s.serveReadyz(w)
		case "/metrics":
			if s.metrics == nil {
				plain(w, http.StatusNotFound, "404 not found\n")
				return
			}
			s.metricsHandler().ServeHTTP(w, r)
		default:
			plain(w, http.StatusNotFound, "404 not found\n")
		}
	})
}

// serveReadyz answers /readyz: 503 while starting or draining, and, with
// health.wait_for_upstreams, while an upstream has never come up;
// otherwise 200. The body lists each upstream as up or down.
func (s *Server) serveReadyz(w http.ResponseWriter) {
	switch {
	case s.draining.Load():
		plain(w, http.StatusServiceUnavailable, "draining\n")
	case !s.ready.Load():
		plain(w, http.StatusServiceUnavailable, "starting\n")
	default:
		var b strings.Builder
		if s.readiness(&b) && s.cfg.Health.WaitForUpstreams {
			plain(w, http.StatusServiceUnavailable, "waiting for upstreams\n"+b.String())
			return
		}
		plain(w, http.StatusOK, "ready\n"+b.String())
	}
}

// isReady reports whether /readyz answers 200.
func (s *Server) isReady() bool {
	if !s.ready.Load() || s.draining.Load() {
		return false
	}
	if !s.cfg.Health.WaitForUpstreams {
		return true
	}
	for _, st := range s.partStatus() {
		if !st.EverUp {
			return false
		}
	}
	return true
}

func plain(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	io.WriteString(w, body)
}
