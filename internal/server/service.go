package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"tailscale.com/client/local"
	"tailscale.com/client/tailscale/apitype"
	"tailscale.com/ipn"
	"tailscale.com/tailcfg"
	"tailscale.com/tsnet"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/svcguard"
	"github.com/tsmcp/tsmcp/internal/whois"
)

// serviceListener serves MCP for tailnet.service: the guarded loopback
// listener of tsnet's ListenService (TCP mode, PROXY protocol v2).
type serviceListener struct {
	*svcguard.Listener
	name  string // svc:<name>
	fqdn  string // <name>.<tailnet suffix>
	hosts *serviceHosts
}

// listenService advertises tailnet.service from node and listens for its
// traffic. It refuses to start where the loopback socket cannot be
// guarded (see svcguard.Listener).
func (s *Server) listenService(node *tsnet.Server, lc *local.Client) (*serviceListener, error) {
	tc := s.cfg.Tailnet
	if err := svcguard.Supported(); err != nil {
		return nil, fmt.Errorf("tailnet.service: cannot guard the Service's loopback socket: %w", err)
	}
	sl, err := node.ListenService(tc.Service, tsnet.ServiceModeTCP{
		Port:                 uint16(tc.ServicePort),
		PROXYProtocolVersion: 2,
	})
	if err != nil {
		return nil, fmt.Errorf("tailnet.service: listening as %s on port %d: %w", tc.Service, tc.ServicePort, err)
	}
	s.log.Info("advertising the Tailscale Service", "service", tc.Service, "port", tc.ServicePort,
		"fqdn", sl.FQDN, "loopback", sl.Listener.Addr().String())
	return &serviceListener{
		Listener: svcguard.New(sl, sl.Listener.Addr(), s.log),
		name:     tc.Service,
		fqdn:     sl.FQDN,
		hosts:    newServiceHosts(tc.Service, sl.FQDN, lc),
	}, nil
}

// serviceSupported refuses a tailnet.service where the loopback socket
// cannot be guarded (outside Linux, or without a readable /proc): before
// the tailnet is joined.
func serviceSupported(cfg *config.Config) error {
	if cfg.Tailnet.Service == "" {
		return nil
	}
	if err := svcguard.Supported(); err != nil {
		return fmt.Errorf("tailnet.service: cannot guard the Service's loopback socket: %w", err)
	}
	return nil
}

// withdrawService removes tailnet.service from the node's advertised
// services (prefs AdvertiseServices) while its serve configuration and
// listener stay: connections the tailnet still routes here are served,
// and control moves the Service to the other hosts. (Closing the
// ServiceListener would withdraw it too, but would also stop serving.)
func withdrawService(ctx context.Context, lc *local.Client, svc string) error {
	prefs, err := lc.GetPrefs(ctx)
	if err != nil {
		return err
	}
	if !slices.Contains(prefs.AdvertiseServices, svc) {
		return nil
	}
	rest := slices.DeleteFunc(slices.Clone(prefs.AdvertiseServices), func(x string) bool { return x == svc })
	_, err = lc.EditPrefs(ctx, &ipn.MaskedPrefs{
		AdvertiseServicesSet: true,
		Prefs:                ipn.Prefs{AdvertiseServices: rest},
	})
	return err
}

// drainService runs the Service drain on SIGTERM: /readyz turns 503, the
// advertisement is withdrawn, and requests keep being served on every
// listener for tailnet.service_drain; meanwhile every response closes its
// connection (see closeWhenDraining). Without a Service it does nothing.
func (s *Server) drainService(lc *local.Client) {
	sl := s.svcLn
	if sl == nil {
		return
	}
	s.draining.Store(true)
	s.ready.Store(false)
	wait := s.cfg.Tailnet.ServiceDrain
	s.log.Info("service drain: withdrawing the advertisement", "service", sl.name)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := withdrawService(ctx, lc, sl.name)
	cancel()
	if err != nil {
		// Closing the listener withdraws it as well, but stops serving:
		// better than staying advertised.
		s.log.Error("service drain: cannot withdraw the advertisement; closing the Service listener", "service", sl.name, "err", err)
		sl.Close()
		return
	}
	s.log.Info("service drain: advertisement withdrawn; still serving", "service", sl.name, "for", wait.String())
	if wait > 0 {
		time.Sleep(wait)
	}
	s.log.Info("service drain: over", "service", sl.name)
}

// serviceWhoIs is the node's WhoIsForService, for the WhoIs cache: a
// caller of the Service is identified with the grants whose dst is the
// Service.
func serviceWhoIs(lc *local.Client) whois.ServiceFunc {
	return func(ctx context.Context, addr, svc string) (*apitype.WhoIsResponse, error) {
		return lc.WhoIsForService(ctx, addr, tailcfg.ServiceName(svc))
	}
}

// setServiceWhoIsLocked sets the WhoIs of the Service listener:
// WhoIsForService through the node's cache, so grants whose dst is the
// Service apply; or Options.WhoIs when a test replaced the node's. s.mu
// must be held.
func (s *Server) setServiceWhoIsLocked() {
	svc := s.cfg.Tailnet.Service
	if svc == "" {
		return
	}
	if s.whoisCache == nil {
		s.whoisSvcFn = s.whoisFn
		return
	}
	cache := s.whoisCache
	s.whoisSvcFn = func(ctx context.Context, addr string) (*apitype.WhoIsResponse, error) {
		return cache.WhoIsFor(ctx, svc, addr)
	}
}

// closeWhenDraining makes every response written once draining has begun
// close its connection, so that a client's next request opens a new one,
// which goes wherever the tailnet routes the Service by then: a kept-alive
// connection breaks once the route moves. (Idle connections are left
// alone: closing them races with a client sending on them.)
func (s *Server) closeWhenDraining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

type serviceConnKey struct{}

// markConn is the tailnet http.Servers' ConnContext: it records whether a
// connection came in through Tailscale Funnel, and whether through the
// Service listener (and which).
func markConn(ctx context.Context, c net.Conn) context.Context {
	ctx = markFunnel(ctx, c)
	if _, ok := c.(*svcguard.Conn); ok {
		ctx = context.WithValue(ctx, serviceConnKey{}, true)
	}
	return ctx
}

// viaService reports whether r came in through the Service listener.
func viaService(r *http.Request) bool {
	v, _ := r.Context().Value(serviceConnKey{}).(bool)
	return v
}

// allowsHost reports whether r's Host names the listener r came in on:
// the node's names and addresses on the node's listeners, the Service's
// names and addresses on the Service listener.
func (s *Server) allowsHost(r *http.Request) bool {
	if viaService(r) && s.svcLn != nil {
		return s.svcLn.hosts.allows(r.Context(), r.Host)
	}
	return !viaService(r) && s.hosts.allows(r.Host)
}

// serviceHosts is the set of Host values the Service listener accepts:
// the Service's MagicDNS name, its short name and its virtual IPs. The
// IPs come with the node's service-host capability, which control may
// send after the node advertised the Service; an unknown Host makes the
// set be rebuilt from the node's status, at most once per
// serviceHostsRefresh.
type serviceHosts struct {
	name, fqdn string
	lc         *local.Client

	mu      sync.Mutex // guards the fields below
	set     hostSet
	checked time.Time
}

// serviceHostsRefresh bounds how often an unknown Host rebuilds the set.
const serviceHostsRefresh = time.Second

func newServiceHosts(name, fqdn string, lc *local.Client) *serviceHosts {
	short, _, _ := strings.Cut(fqdn, ".")
	return &serviceHosts{name: name, fqdn: fqdn, lc: lc, set: newHostSet(fqdn, short)}
}

func (h *serviceHosts) allows(ctx context.Context, host string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.set.allows(host) {
		return true
	}
	if time.Since(h.checked) < serviceHostsRefresh {
		return false
	}
	h.checked = time.Now()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := h.lc.StatusWithoutPeers(ctx)
	if err != nil || st.Self == nil {
		return false
	}
	short, _, _ := strings.Cut(h.fqdn, ".")
	names := []string{h.fqdn, short}
	for _, ip := range serviceVIPs(st.Self.CapMap, h.name) {
		names = append(names, ip.String())
	}
	h.set = newHostSet(names...)
	return h.set.allows(host)
}

// serviceVIPs returns the virtual IPs of Service svc from a node's
// service-host capability.
func serviceVIPs(cm tailcfg.NodeCapMap, svc string) []netip.Addr {
	maps, err := tailcfg.UnmarshalNodeCapJSON[tailcfg.ServiceIPMappings](cm, tailcfg.NodeAttrServiceHost)
	if err != nil || len(maps) != 1 {
		return nil
	}
	return maps[0][tailcfg.ServiceName(svc)]
}
