package server

import (
	"io"
	"net/http"
	"strings"
)

// healthHandler serves the plain-HTTP health listener: /health (liveness),
// /readyz (readiness) and a fixed 404 for everything else. MCP is never
// served here.
func (s *Server) healthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		// Liveness: the process serves. It never depends on the control
		// plane, so an outage there does not get tasks killed.
		plain(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case s.draining.Load():
			plain(w, http.StatusServiceUnavailable, "draining\n")
		case !s.ready.Load():
			plain(w, http.StatusServiceUnavailable, "starting\n")
		default:
			var b strings.Builder
			b.WriteString("ready\n")
			s.readiness(&b)
			plain(w, http.StatusOK, b.String())
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		plain(w, http.StatusNotFound, "404 not found\n")
	})
	return mux
}

func plain(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	io.WriteString(w, body)
}
