package playground

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/tsmcp/tsmcp/internal/devnet"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/server"
)

// clientEndpoints maps each demo identity's tailnet addresses to its
// loopback endpoint, so that the host's identity page shows the viewer
// the URL it came through: on the developer's machine the host's tailnet
// name does not resolve. It is the host's server.Options.Endpoint.
type clientEndpoints struct {
	mu sync.Mutex // guards the field below
	by map[netip.Addr]server.ClientEndpoint
}

// add records ep for a node's tailnet addresses.
func (c *clientEndpoints) add(addrs []netip.Addr, ep server.ClientEndpoint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.by == nil {
		c.by = map[netip.Addr]server.ClientEndpoint{}
	}
	for _, a := range addrs {
		c.by[a] = ep
	}
}

// lookup is server.Options.Endpoint: the endpoint of the node id calls
// from; a caller that is no demo identity gets none.
func (c *clientEndpoints) lookup(id *identity.Identity) (server.ClientEndpoint, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ep, ok := c.by[id.TailnetIP]
	return ep, ok
}

// connectCommand is how a stdio-only client on this machine starts
// `tsmcp connect`: "tsmcp" when that is on PATH, else the absolute path of
// the running binary (after `go run`, a build in a temporary directory,
// valid while the playground runs).
func connectCommand() string {
	if _, err := exec.LookPath("tsmcp"); err == nil {
		return "tsmcp"
	}
	exe, err := os.Executable()
	if err != nil {
		return "tsmcp"
	}
	if abs, err := filepath.Abs(exe); err == nil {
		return abs
	}
	return exe
}

// DemoPrincipal returns the principal that policy rules use for one of
// `tsmcp dev`'s demo identities (alice, bob, ci): their logins on the
// playground's tailnet, or ci's tag. ok is false for any other name.
func DemoPrincipal(name string) (principal string, ok bool) {
	for i, d := range demo {
		if d.name != name {
			continue
		}
		if len(d.tags) > 0 {
			return d.tags[0], true
		}
		return devnet.Login(i + 2), true
	}
	return "", false
}
