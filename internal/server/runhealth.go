package server

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// startHealth is Run's first phase: it binds health.addr and serves
// /health and /readyz there before anything else, since liveness must not
// depend on the control plane. It sets HealthAddr, closes Started and logs
// "health listener up". A failed serve is sent to serveErr. It leaves the
// health listener on cleanup.
func (s *Server) startHealth(cleanup *cleanups, serveErr chan<- error) error {
	healthLn, err := net.Listen("tcp", s.cfg.Health.Addr)
	if err != nil {
		return fmt.Errorf("health.addr: listen on %s: %w", s.cfg.Health.Addr, err)
	}
	healthSrv := &http.Server{
		Handler:           s.healthHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	// "OPTIONS *" gets the fixed 404 too, not net/http's empty 200.
	healthSrv.DisableGeneralOptionsHandler = true
	go func() { serveErr <- serveUntilClosed(healthSrv, healthLn) }()
	cleanup.add("health listener", func() error { return healthSrv.Close() })
	s.healthAddr = healthLn.Addr()
	close(s.started)
	s.log.Info("health listener up", "addr", s.healthAddr.String())
	return nil
}
