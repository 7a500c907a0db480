package declared

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

func TestGuardCheck(t *testing.T) {
	g, err := newGuard(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, addr string
		what       string // "" = allowed
	}{
		{"loopback", "127.0.0.1", "loopback"},
		{"loopback range", "127.255.0.1", "loopback"},
		{"this network", "0.0.0.0", "unspecified"},
		{"this network range", "0.1.2.3", "unspecified"},
		{"IPv6 loopback", "::1", "loopback"},
		{"IPv6 unspecified", "::", "unspecified"},
		{"mapped loopback", "::ffff:127.0.0.1", "loopback"},
		{"mapped metadata", "::ffff:169.254.169.254", "cloud metadata"},
		{"IPv4-compatible loopback", "::127.0.0.1", "IPv4-compatible"},
		{"metadata", "169.254.169.254", "cloud metadata"},
		{"link-local", "169.254.10.10", "link-local"},
		{"IPv6 link-local", "fe80::1", "link-local"},
		{"IPv6 link-local with zone", "fe80::1%eth0", "link-local"},
		{"AWS IPv6 metadata", "fd00:ec2::254", "cloud metadata"},
		{"Alibaba metadata", "100.100.100.200", "cloud metadata"},
		{"CGNAT", "100.64.0.1", "tailnet (CGNAT)"},
		{"CGNAT top", "100.127.255.255", "tailnet (CGNAT)"},
		{"Tailscale IPv6", "fd7a:115c:a1e0:ab12::1", "tailnet (Tailscale IPv6)"},
		{"multicast", "239.1.2.3", "multicast"},
		{"IPv6 multicast", "ff02::1", "multicast"},
		{"broadcast", "255.255.255.255", "reserved"},
		{"NAT64 of metadata", "64:ff9b::a9fe:a9fe", "cloud metadata"},
		{"NAT64 local-use of loopback", "64:ff9b:1::7f00:1", "loopback"},
		{"6to4 of loopback", "2002:7f00:1::1", "loopback"},
		{"RFC 1918 10/8", "10.1.2.3", ""},
		{"RFC 1918 172.16/12", "172.16.0.1", ""},
		{"RFC 1918 192.168/16", "192.168.1.1", ""},
		{"just below CGNAT", "100.63.255.255", ""},
		{"just above CGNAT", "100.128.0.0", ""},
		{"public", "8.8.8.8", ""},
		{"ULA", "fd12:3456::1", ""},
		{"public IPv6", "2001:db8::1", ""},
		{"NAT64 of public", "64:ff9b::808:808", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := g.check("h", netip.MustParseAddr(tt.addr))
			var be *blockedError
			switch {
			case tt.what == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.what != "" && !errors.As(err, &be):
				t.Errorf("allowed, want refused as %s", tt.what)
			case tt.what != "" && be.what != tt.what:
				t.Errorf("refused as %q, want %q", be.what, tt.what)
			}
		})
	}
}

func TestGuardAllowHosts(t *testing.T) {
	g, err := newGuard([]string{"127.0.0.1", "169.254.0.0/16", "::ffff:100.64.0.0/106", "fd7a:115c:a1e0::5"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr    string
		allowed bool
	}{
		{"127.0.0.1", true},
		{"::ffff:127.0.0.1", true},
		{"127.0.0.2", false},
		{"169.254.169.254", true},
		{"100.64.0.1", true},
		{"100.100.100.200", true}, // inside the allowed 100.64.0.0/10
		{"fd7a:115c:a1e0::5", true},
		{"fd7a:115c:a1e0::6", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if err := g.check("h", netip.MustParseAddr(tt.addr)); (err == nil) != tt.allowed {
				t.Errorf("check = %v, want allowed=%v", err, tt.allowed)
			}
		})
	}
}

// TestGuardDial: a refused name is never dialled
// and the resolver's answer is checked as a whole.
func TestGuardDial(t *testing.T) {
	g, err := newGuard([]string{"allowed.test"}, resolver(testNames))
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"mixed.test:80", "meta.test:80", "[::ffff:169.254.169.254]:80"} {
		t.Run(addr, func(t *testing.T) {
			_, err := g.DialContext(context.Background(), "tcp", addr)
			var be *blockedError
			if !errors.As(err, &be) {
				t.Fatalf("err = %v, want a refusal", err)
			}
		})
	}
}
