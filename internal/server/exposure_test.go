package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tailscale.com/client/tailscale/apitype"
	"tailscale.com/tailcfg"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
)

// listeningSockets returns the addresses of every TCP socket this process
// is listening on, read from /proc: the health listener, the in-process
// control server and DERP, tsnet's peerapi listeners, and anything else.
func listeningSockets(t *testing.T) []string {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("this test needs Linux /proc: %v", err)
	}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	var addrs []string
	for _, file := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue // no IPv6
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// local_address rem_address st ... inode is field 9.
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
				continue
			}
			addrs = append(addrs, decodeProcAddr(t, fields[1]))
		}
		f.Close()
	}
	return addrs
}

// decodeProcAddr turns /proc/net/tcp's "0100007F:1F90" into
// "127.0.0.1:8080"; an unspecified address stays 0.0.0.0 or [::].
func decodeProcAddr(t *testing.T, s string) string {
	hexIP, hexPort, _ := strings.Cut(s, ":")
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		t.Fatalf("bad /proc address %q", s)
	}
	var ip net.IP
	for i := 0; i+8 <= len(hexIP); i += 8 {
		w, _ := strconv.ParseUint(hexIP[i:i+8], 16, 32)
		// Each 32-bit word is in host (little-endian) order.
		ip = append(ip, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
}

// TestNoMCPOutsideTailnet probes every TCP listener of the process, and
// ports 80 and 443 on every address of the machine, with an MCP initialize
// on /mcp and a GET /sse: none may answer as MCP. The host probed for has
// a WhoIs that accepts anyone, so that MCP bound to the wrong listener
// would answer rather than be refused for want of an identity; the same
// probe through the tailnet must succeed, so the probe is shown to work.
func TestNoMCPOutsideTailnet(t *testing.T) {
	tn := startTailnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	host, err := startHost(ctx, tn.net, "permissive", &logBuffer{}, func(_ *config.Config, o *server.Options) {
		o.WhoIs = func(context.Context, string) (*apitype.WhoIsResponse, error) {
			return &apitype.WhoIsResponse{
				Node:        &tailcfg.Node{Name: "anyone.", StableID: "anyone"},
				UserProfile: &tailcfg.UserProfile{LoginName: "anyone@example.com"},
			}, nil
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()

	if resp := postMCP(t, tn.callers()[0].httpClient(), "http://"+host.TailnetIP().String()+"/mcp", strings.NewReader(initializeBody), nil); !isMCPAnswer(resp) {
		t.Fatal("the probe does not recognise MCP on the tailnet address; the test would prove nothing")
	}

	// Every address of the machine (loopback included): sockets bound to
	// an unspecified address are probed on each, and ports 80 and 443 too.
	var machineIPs []net.IP
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range ifAddrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() {
			machineIPs = append(machineIPs, ipn.IP)
		}
	}
	var targets []string
	sockets := listeningSockets(t)
	if len(sockets) == 0 {
		t.Fatal("found no listening sockets; the health listener at least should be there")
	}
	for _, sock := range append(sockets, "0.0.0.0:80", "0.0.0.0:443") {
		h, port, _ := net.SplitHostPort(sock)
		if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
			for _, mip := range machineIPs {
				if (ip.To4() != nil) == (mip.To4() != nil) {
					targets = append(targets, net.JoinHostPort(mip.String(), port))
				}
			}
			continue
		}
		targets = append(targets, sock)
	}
	// The probes carry the host's own name as Host, as an attacker on
	// those networks could, so the Host check does not mask a mistake.
	hostName := host.TailnetIP().String()
	hc := &http.Client{Timeout: 3 * time.Second}
	for _, addr := range targets {
		t.Run(addr, func(t *testing.T) {
			for _, scheme := range []string{"http", "https"} {
				base := fmt.Sprintf("%s://%s", scheme, addr)
				req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(initializeBody))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Host = hostName
				if resp, err := hc.Do(req); err == nil {
					mcp := isMCPAnswer(resp)
					resp.Body.Close()
					if mcp {
						t.Fatalf("MCP answered on %s/mcp", base)
					}
				}
				sreq, _ := http.NewRequest(http.MethodGet, base+"/sse", nil)
				sreq.Host = hostName
				if resp, err := hc.Do(sreq); err == nil {
					ct := resp.Header.Get("Content-Type")
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK && strings.HasPrefix(ct, "text/event-stream") {
						t.Fatalf("an SSE stream opened on %s/sse", base)
					}
				}
			}
		})
	}
}
