package server_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"
)

// relayThrough returns a proxy that sends every request through c's
// tailnet node, so that a client outside the tailnet (Node.js, Chromium)
// reaches the host as c. With a target (the host's tailnet URL, e.g.
// "http://100.64.0.1") it is a reverse proxy: requests go to target's
// scheme and host, with Host rewritten to target's. With target "" it is
// a forward HTTP proxy (for Chromium's --proxy-server): each request goes
// to the absolute URL it names. The headers named in drop (e.g. Origin)
// are removed from what is sent; hop-by-hop and X-Forwarded-* headers
// are never sent. Responses stream as they come (SSE), and a failure to
// reach the target is a 502 whose body is the error. Its connections are
// closed when the test ends.
func relayThrough(t *testing.T, c caller, target string, drop ...string) http.Handler {
	t.Helper()
	var to *url.URL
	if target != "" {
		var err error
		if to, err = url.Parse(target); err != nil {
			t.Fatal(err)
		}
	}
	tr := c.httpClient().Transport.(*http.Transport)
	t.Cleanup(tr.CloseIdleConnections)
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			if to != nil {
				r.SetURL(to)
			}
			for _, h := range drop {
				r.Out.Header.Del(h)
			}
		},
		Transport:     tr,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, err.Error(), http.StatusBadGateway)
		},
	}
}

// serveLoopback serves h on 127.0.0.1 on a free port until the test ends
// (in-flight requests get 5s to finish) and returns its host:port.
func serveLoopback(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("loopback server: %v", err)
		}
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("loopback server: %v", err)
		}
	})
	return ln.Addr().String()
}
