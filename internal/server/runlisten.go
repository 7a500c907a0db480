package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"tailscale.com/client/local"
	"tailscale.com/tsnet"
)

// listenTailnet is Run's sixth phase: it serves MCP on the tailnet
// address only, on :80, on :443 with tailnet.https, and on the Service
// with tailnet.service, logging "serving MCP on the tailnet" for each. A
// failed serve is sent to serveErr. It returns the MCP servers for drain
// and leaves each on cleanup as it starts, so a listener that fails to
// open stops the ones already serving.
func (s *Server) listenTailnet(node *tsnet.Server, lc *local.Client, cleanup *cleanups, serveErr chan<- error) ([]*http.Server, error) {
	ln, err := node.Listen("tcp", ":80")
	if err != nil {
		return nil, fmt.Errorf("tailnet: listen on :80: %w", err)
	}
	servers := []*http.Server{s.serveMCP("http://"+s.tailnetIP.String()+":80", ln, cleanup, serveErr)}
	if s.cfg.Tailnet.HTTPS {
		tln, err := listenHTTPS(node)
		if err != nil {
			ln.Close()
			return nil, err
		}
		servers = append(servers, s.serveMCP("https://"+node.CertDomains()[0], tln, cleanup, serveErr))
	}
	if s.cfg.Tailnet.Service != "" {
		if s.svcLn, err = s.listenService(node, lc); err != nil {
			return nil, err
		}
		servers = append(servers, s.serveMCP("service "+s.svcLn.name+" ("+s.svcLn.fqdn+")", s.svcLn, cleanup, serveErr))
	}
	return servers, nil
}

// listenHTTPS opens the node's :443 with its tailnet certificate, for
// tailnet.https; the tailnet must offer the node one.
func listenHTTPS(node *tsnet.Server) (net.Listener, error) {
	if len(node.CertDomains()) == 0 {
		return nil, errors.New("tailnet.https: the tailnet offers this node no certificate; enable MagicDNS and HTTPS certificates in the tailnet's DNS settings")
	}
	tln, err := node.ListenTLS("tcp", ":443")
	if err != nil {
		return nil, fmt.Errorf("tailnet.https: listen on :443: %w", err)
	}
	return tln, nil
}

// serveMCP serves the tailnet handler on ln, the listener called name in
// the log, sending a failed serve to serveErr. It leaves the server on
// cleanup ("MCP listener <name>") and returns it for drain.
func (s *Server) serveMCP(name string, ln net.Listener, cleanup *cleanups, serveErr chan<- error) *http.Server {
	srv := &http.Server{
		Handler:           s.closeWhenDraining(s.tailnetHandler()),
		ReadHeaderTimeout: s.headerTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ConnContext:       markConn,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	cleanup.add("MCP listener "+name, srv.Close)
	go func() { serveErr <- serveUntilClosed(srv, ln) }()
	s.log.Info("serving MCP on the tailnet", "listener", name)
	return srv
}
