// Package playground is `tsmcp dev`: an embedded local tailnet (control,
// DERP and STUN on loopback), a tsmcp host joined to it with an example
// policy, and one loopback endpoint per demo identity, each forwarding
// through that identity's own tailnet node. It needs no Tailscale account
// and no internet.
package playground

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/devnet"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/tools"
	"github.com/tsmcp/tsmcp/internal/toolset"
)

// Options configure the playground. The zero value is usable.
type Options struct {
	// Config is the host's configuration; its tailnet section is replaced
	// to join the local tailnet. Nil means Example().
	Config *config.Config
	// Out receives the human-readable endpoint list. Nil means os.Stdout.
	Out io.Writer
	// Logger receives the host's logs. Nil means slog.Default().
	Logger *slog.Logger
	// EndpointsFile, if set, receives the endpoints as JSON (see
	// Endpoints) once everything is ready: for scripts and tests.
	EndpointsFile string
	// ListenHost is the loopback address the proxies and the health
	// listener bind. Empty means 127.0.0.1.
	ListenHost string
	// Version is reported to MCP clients. Empty means "dev".
	Version string
	// Verbose passes tsnet's own logs to Logger at debug level.
	Verbose bool
	// Port is the first of the fixed loopback ports, so that client
	// settings survive a restart: alice gets Port, bob Port+1, ci Port+2
	// and the health listener Port+3 (see PortOffsets). Zero means ports
	// chosen by the kernel, new on every start.
	Port int
	// ConfigFile is the file Config was loaded from. When set, every
	// change to it is reloaded as `tsmcp serve` does: a new acl applies at
	// once, other sections need a restart. Empty means no reload.
	ConfigFile string
	// ConnectCommand starts `tsmcp connect` on this machine, for the
	// Claude Desktop settings in the banner and on the identity pages.
	// Empty means "tsmcp" when that is on PATH, else the absolute path of
	// the running binary.
	ConnectCommand string
}

// PortOffsets are the offsets from Options.Port of each demo identity's
// endpoint, in the order of the demo identities; the health listener is
// at HealthPortOffset.
var PortOffsets = map[string]int{"alice": 0, "bob": 1, "ci": 2}

// HealthPortOffset is the health listener's offset from Options.Port.
const HealthPortOffset = 3

// Identity is one demo identity of the playground.
type Identity struct {
	// Name is the demo name (alice, bob, ci).
	Name string `json:"name"`
	// Login is the login the host sees; empty for the tagged node.
	Login string `json:"login"`
	// Tags are the node's tags; empty for users.
	Tags []string `json:"tags"`
	// MayCall lists the tools MCP lists to this identity now (the
	// identity page's decisions: local rules and tailnet grants), bridged
	// tools included once their upstream is up. Updated when the acl is
	// reloaded or the host's tools change.
	MayCall []string `json:"may_call"`
	// MayGetPrompts and MayReadResources are the prompt and resource
	// patterns the local rules give this identity (bridged names are
	// known only once the upstreams run). Nil means none.
	MayGetPrompts    []string `json:"may_get_prompts,omitempty"`
	MayReadResources []string `json:"may_read_resources,omitempty"`
	// MCP is the Streamable HTTP endpoint on loopback.
	MCP string `json:"mcp"`
	// SSE is the legacy SSE endpoint on loopback.
	SSE string `json:"sse"`
	// Page is the host's identity page, seen as this identity.
	Page string `json:"page"`
}

// Endpoints is what EndpointsFile receives.
type Endpoints struct {
	// Host is the host's tailnet IP.
	Host string `json:"host"`
	// Health is the host's health URL.
	Health string `json:"health"`
	// Identities are the demo identities.
	Identities []Identity `json:"identities"`
}

// demo describes the demo identities, in the order they join. The control
// server names users user-N@fake-control.example.net in join order, and the
// host joins first, so alice is user-2 and bob user-3.
var demo = []struct {
	name string
	tags []string
}{
	{"alice", nil},
	{"bob", nil},
	{"ci", []string{"tag:ci"}},
}

// Example returns the playground's host configuration: alice is in group
// sre and, like the tag:ci node, may call every tool (whoami and the exec
// tool server_time); bob and everyone else may call whoami only.
func Example() *config.Config {
	c := config.Default()
	c.ACL = acl.Config{
		Capability: acl.DefaultCapability,
		Groups:     map[string][]string{"sre": {devnet.Login(2)}},
		Rules: []acl.Rule{
			{Src: []string{"group:sre", "tag:ci"}, Tools: []string{"*"}},
			{Src: []string{"*"}, Tools: []string{"whoami"}},
		},
	}
	c.Tools = []config.Tool{{
		Name:        "server_time",
		Description: "The host's clock in UTC, in RFC 3339 or another date(1) format.",
		Exec:        &config.ExecTool{Command: []string{"date", "-u", "{{.format}}"}},
		Params: map[string]config.Param{"format": {
			Description: "a date(1) format starting with '+', e.g. +%H:%M",
			Pattern:     `^\+[%A-Za-z0-9:. _-]{1,40}$`,
		}},
	}}
	return c
}

// Run starts the playground, reports the endpoints, and serves until ctx is
// cancelled; then it stops everything it started.
func Run(ctx context.Context, opts Options) (err error) {
	out := opts.Out
	if out == nil {
		out = os.Stdout
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	listenHost := opts.ListenHost
	if listenHost == "" {
		listenHost = "127.0.0.1"
	}
	cfg := opts.Config
	if cfg == nil {
		cfg = Example()
	}

	if opts.Port < 0 || opts.Port > 65535-HealthPortOffset {
		return fmt.Errorf("playground: port %d: want 1-%d, or 0 for ports chosen by the kernel", opts.Port, 65535-HealthPortOffset)
	}
	addr := func(offset int) string {
		if opts.Port == 0 {
			return net.JoinHostPort(listenHost, "0")
		}
		return net.JoinHostPort(listenHost, strconv.Itoa(opts.Port+offset))
	}
	// Joining takes a few seconds (more on a cold build): say so at once.
	fmt.Fprintln(out, "tsmcp dev: starting a local tailnet, the host and the demo identities alice, bob and ci ...")

	n, err := devnet.Start(devnet.Options{Tags: []string{"tag:mcp", "tag:ci"}})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, n.Close()) }()

	// The defaults, then the playground's node (a Service is not served).
	cfg.Tailnet = config.Default().Tailnet
	cfg.Tailnet.Hostname = "tsmcp"
	cfg.Tailnet.ControlURL = n.ControlURL
	cfg.Tailnet.State = "mem:"
	cfg.Tailnet.Ephemeral = true
	cfg.Tailnet.Tags = []string{"tag:mcp"}
	cfg.Tailnet.UpTimeout = time.Minute
	cfg.Tailnet.Service = ""
	cfg.Health.Addr = addr(HealthPortOffset)
	connect := opts.ConnectCommand
	if connect == "" {
		connect = connectCommand()
	}
	endpoints := &clientEndpoints{}
	ts, err := toolset.New(cfg, logger)
	if err != nil {
		return err
	}
	host, err := server.New(server.Options{Config: cfg, Logger: logger, Version: opts.Version, Verbose: opts.Verbose,
		Endpoint: endpoints.lookup, Tools: ts})
	if err != nil {
		ts.Close()
		return err
	}
	policy, err := acl.New(cfg.ACL) // valid: server.New checked it
	if err != nil {
		return err
	}
	hostCtx, stopHost := context.WithCancel(context.Background())
	defer stopHost()
	hostErr := make(chan error, 1)
	go func() { hostErr <- host.Run(hostCtx) }()
	defer func() {
		stopHost()
		err = errors.Join(err, <-hostErr)
	}()
	select {
	case <-host.Ready():
	case err := <-hostErr:
		hostErr <- nil
		return fmt.Errorf("host: %w", err)
	case <-ctx.Done():
		return nil
	}
	target := &url.URL{Scheme: "http", Host: host.TailnetIP().String()}

	eps := Endpoints{
		Host:   host.TailnetIP().String(),
		Health: "http://" + host.HealthAddr().String() + "/health",
	}
	for _, d := range demo {
		nd, err := n.NewNode(ctx, devnet.NodeOptions{Hostname: d.name, Tags: d.tags})
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, nd.Close()) }()
		st, err := nd.Up(ctx)
		if err != nil {
			return err
		}
		id := Identity{Name: d.name, Tags: slices.Clone(d.tags)}
		if id.Tags == nil {
			id.Tags = []string{}
			id.Login = st.User[st.Self.UserID].LoginName
			// The banner, the README and `check --as` (DemoPrincipal)
			// name the demo users by these logins.
			if p, _ := DemoPrincipal(d.name); id.Login != p {
				return fmt.Errorf("playground: %s joined as %s, want %s: the demo logins would be wrong", d.name, id.Login, p)
			}
		}
		p, err := newProxy(addr(PortOffsets[d.name]), target, nd.HTTPClient().Transport, logger)
		if err != nil {
			return fmt.Errorf("playground: endpoint for %s: %w (with --port, pick a base whose next %d ports are free)", d.name, err, HealthPortOffset+1)
		}
		defer func() { err = errors.Join(err, p.Close()) }()
		id.MCP, id.SSE, id.Page = p.URL()+"/mcp", p.URL()+"/sse", p.URL()+"/"
		endpoints.add(st.Self.TailscaleIPs, server.ClientEndpoint{Base: p.URL(), Name: "tsmcp-" + d.name, Connect: connect})
		eps.Identities = append(eps.Identities, id)
	}

	// What each may call, as the host decides it for MCP, bridged tools
	// of the upstreams that are up included.
	ls := &lists{out: out, file: opts.EndpointsFile, eps: eps}
	tools := host.ToolNames()
	if err := ls.fill(ctx, policy); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("playground: %w", err)
	}
	printEndpoints(out, n.ControlURL, ls.snapshot(), connect, host.UpstreamStatus())
	if err := writeEndpoints(opts.EndpointsFile, ls.snapshot()); err != nil {
		return err
	}
	// Tools that arrive later (an upstream still starting, one that
	// restarts or changes its tools) are printed when they do.
	if len(cfg.Upstreams) > 0 {
		watchCtx, stopWatch := context.WithCancel(ctx)
		watched := make(chan struct{})
		defer func() { stopWatch(); <-watched }()
		go func() {
			defer close(watched)
			ls.watchTools(watchCtx, host, tools)
		}()
	}
	if opts.ConfigFile != "" {
		watchCtx, stopWatch := context.WithCancel(ctx)
		watched := make(chan struct{})
		defer func() { stopWatch(); <-watched }()
		go func() {
			defer close(watched)
			r := &reloader{out: out, file: opts.ConfigFile, host: host, running: cfg, lists: ls}
			r.watch(watchCtx, logger)
		}()
	}

	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "\nstopping the playground")
		return nil
	case err := <-hostErr:
		hostErr <- nil
		return fmt.Errorf("host stopped: %w", err)
	}
}

func printEndpoints(out io.Writer, controlURL string, eps Endpoints, connect string, upstreams []tools.Status) {
	fmt.Fprintf(out, "tsmcp dev: a local tailnet is running on loopback (control %s); no Tailscale account or internet needed.\n", controlURL)
	fmt.Fprintf(out, "host: tsmcp at %s on the tailnet; health %s\n\n", eps.Host, eps.Health)
	fmt.Fprintln(out, "Each endpoint below reaches the host through its own tailnet node, so the host sees that identity:")
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IDENTITY\tSEEN AS\tSTREAMABLE HTTP\tLEGACY SSE")
	var names []string
	for _, id := range eps.Identities {
		seen := id.Login
		if len(id.Tags) > 0 {
			seen = strings.Join(id.Tags, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", id.Name, seen, id.MCP, id.SSE)
		names = append(names, id.Name+" is "+seen)
	}
	tw.Flush()
	fmt.Fprintf(out, "\nIn your own --config, name them as the host sees them: %s (`tsmcp check --as alice` takes the demo names too).\n",
		strings.Join(names, ", "))
	fmt.Fprintln(out, "\nMay call (what tools/list shows each, bridged tools included):")
	for _, id := range eps.Identities {
		fmt.Fprintf(out, "  %-6s %s\n", id.Name, orNothing(id.MayCall))
	}
	for _, id := range eps.Identities {
		if len(id.MayGetPrompts)+len(id.MayReadResources) > 0 {
			fmt.Fprintf(out, "%s may also get prompts %s and read resources %s (local rules)\n", id.Name,
				orNothing(id.MayGetPrompts), orNothing(id.MayReadResources))
		}
	}
	for _, st := range upstreams {
		if !st.Up {
			fmt.Fprintf(out, "upstream %s is not up yet (%s): its tools are missing above and printed once it is up\n", st.Name, cmp.Or(st.Detail, "down"))
		}
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Identity pages (who the host sees, what each may use, settings to copy):")
	for _, id := range eps.Identities {
		fmt.Fprintf(out, "  %-6s %s\n", id.Name, id.Page)
	}
	first := eps.Identities[0]
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	fmt.Fprintf(out, `
Client settings (shown for %[1]s; use another row's URL to act as someone else):
  Claude Code:     claude mcp add --transport http tsmcp-%[1]s %[2]s
  Cursor:          ~/.cursor/mcp.json  {"mcpServers": {"tsmcp-%[1]s": {"url": "%[2]s"}}}
  VS Code:         .vscode/mcp.json    {"servers": {"tsmcp-%[1]s": {"type": "http", "url": "%[2]s"}}}
  Claude Desktop:  claude_desktop_config.json  {"mcpServers": {"tsmcp-%[1]s": {"command": %[4]s, "args": ["connect", "%[2]s"]}}}
  MCP Inspector:   npx @modelcontextprotocol/inspector  (Transport: Streamable HTTP, URL: %[2]s,
                   Connection Type: Via Proxy; the host refuses browser-direct requests, whose Origin is foreign)
  Legacy SSE:      %[3]s

Try the whoami tool as each identity. Press Ctrl-C to stop.
`, first.Name, first.MCP, first.SSE, q(connect))
}

// writeEndpoints writes eps to file as JSON, atomically; an empty file
// name writes nothing.
func writeEndpoints(file string, eps Endpoints) error {
	if file == "" {
		return nil
	}
	b, err := json.MarshalIndent(eps, "", "  ")
	if err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

// orNothing joins patterns, or says there are none.
func orNothing(s []string) string {
	if len(s) == 0 {
		return "(nothing)"
	}
	return strings.Join(s, ", ")
}
