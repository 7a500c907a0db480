package playground

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// proxy is a loopback endpoint that forwards to the host through one demo
// identity's tsnet node, so any MCP client on this machine can act as that
// identity. It is client-side: the host still serves MCP only on its
// tailnet address and identifies the proxy's node with WhoIs.
type proxy struct {
	srv *http.Server
	ln  net.Listener
}

// newProxy listens on addr (a loopback host:port) and forwards every
// request to target using rt, the identity's tailnet transport.
func newProxy(addr string, target *url.URL, rt http.RoundTripper, log *slog.Logger) (*proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
			// Hop-by-hop and forwarding headers carry nothing the host
			// trusts; the host identifies the caller by WhoIs only.
			r.Out.Header.Del("X-Forwarded-For")
			// A page this endpoint serves (the identity page) is
			// same-origin with it: its Origin names the endpoint, so
			// it is passed on as the host's own origin. Any other
			// Origin is passed on as it is, and the host refuses it.
			if o := r.In.Header.Get("Origin"); o != "" && sameOrigin(o, r.In.Host) {
				r.Out.Header.Set("Origin", "http://"+target.Host)
			}
		},
		Transport:     rt,
		FlushInterval: -1, // stream SSE at once
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// DNS-rebinding protection: a web page must not reach this
		// loopback endpoint under a name of its own.
		if !loopbackHost(r.Host) {
			http.Error(w, "forbidden: Host must be a loopback address", http.StatusForbidden)
			return
		}
		rp.ServeHTTP(w, r)
	})
	p := &proxy{ln: ln, srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := p.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("dev proxy stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return p, nil
}

// URL returns the proxy's base URL.
func (p *proxy) URL() string { return "http://" + p.ln.Addr().String() }

// Close stops the proxy and cuts open streams.
func (p *proxy) Close() error { return p.srv.Close() }

func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameOrigin reports whether origin is http://host, host being the
// request's (loopback) Host: the endpoint's own origin.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Scheme == "http" && u.Host != "" && strings.EqualFold(u.Host, host) &&
		u.Path == "" && u.User == nil
}
