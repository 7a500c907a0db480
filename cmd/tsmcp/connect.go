package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tsmcp/tsmcp/internal/connect"
)

// connectFlags are the flags of `tsmcp connect`.
type connectFlags struct {
	tsnet       bool
	hostname    string
	stateDir    string
	controlURL  string
	ephemeral   bool
	dialTimeout time.Duration
}

func newConnectCmd(g *globalFlags) *cobra.Command {
	f := &connectFlags{}
	cmd := &cobra.Command{
		Use:   "connect URL",
		Short: "Run a local stdio MCP server that relays to a tsmcp host (for Claude Desktop and other stdio-only clients)",
		Long: `connect is a stdio MCP server for clients that only start local servers
(Claude Desktop, claude.ai connectors through Desktop, Cowork): it relays
every JSON-RPC message between stdin/stdout and the tsmcp host at URL
(http://HOST/mcp, Streamable HTTP with fallback to legacy SSE; or
http://HOST/sse for legacy SSE only). Requests, notifications,
server-to-client requests (sampling, elicitation), progress and
cancellation go through unchanged. Nothing but JSON-RPC is written to
stdout; diagnostics go to stderr.

By default it reaches the host through this machine's Tailscale. With
--tsnet it joins the tailnet as a node of its own (for containers and CI):
the auth key comes from TS_AUTHKEY (or an OAuth client secret from
TS_CLIENT_SECRET); without one, a login URL is printed on stderr. The
node's state is kept in <user config dir>/tsmcp/connect-<hostname>.

When the host restarts and forgets the session, connect re-initializes
on its own; a call that was cut off is answered with an error, never sent
twice.`,
		Example: `  # Claude Desktop (claude_desktop_config.json):
  #   {"mcpServers": {"tsmcp": {"command": "tsmcp", "args": ["connect", "http://tsmcp/mcp"]}}}
  tsmcp connect http://tsmcp/mcp

  # In a container or CI job, as a node of its own:
  TS_AUTHKEY=tskey-auth-... tsmcp connect --tsnet --ephemeral http://tsmcp/mcp

  # Against a Headscale server:
  tsmcp connect --tsnet --control-url https://headscale.example.com http://tsmcp/mcp`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConnect(cmd, g, f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.tsnet, "tsnet", false, "join the tailnet as a node of its own instead of using this machine's Tailscale")
	fl.StringVar(&f.hostname, "hostname", "", "the --tsnet node's name on the tailnet (default tsmcp-connect-<this machine's hostname>)")
	fl.StringVar(&f.stateDir, "state-dir", "", "the --tsnet node's state directory (default <user config dir>/tsmcp/connect-<hostname>)")
	fl.StringVar(&f.controlURL, "control-url", "", "the --tsnet node's coordination server, e.g. a Headscale URL (default Tailscale's)")
	fl.BoolVar(&f.ephemeral, "ephemeral", false, "the --tsnet node leaves the tailnet when it goes offline")
	fl.DurationVar(&f.dialTimeout, "dial-timeout", 15*time.Second, "give up connecting to the host after this long")
	return cmd
}

func runConnect(cmd *cobra.Command, g *globalFlags, f *connectFlags, rawURL string) error {
	if _, err := connect.ParseURL(rawURL); err != nil {
		return err
	}
	if !f.tsnet && (f.hostname != "" || f.stateDir != "" || f.controlURL != "" || f.ephemeral) {
		return errors.New("--hostname, --state-dir, --control-url and --ephemeral need --tsnet")
	}
	if f.dialTimeout <= 0 {
		return fmt.Errorf("--dial-timeout: %v is not positive", f.dialTimeout)
	}
	stderr := cmd.ErrOrStderr()
	logger := g.logger(stderr)
	ctx := cmd.Context()
	hc := connect.PlainHTTPClient(f.dialTimeout)
	if f.tsnet {
		hostname := f.hostname
		if hostname == "" {
			h, err := os.Hostname()
			if err != nil || h == "" {
				h = "host"
			}
			h, _, _ = strings.Cut(h, ".")
			hostname = "tsmcp-connect-" + h
		}
		dir := f.stateDir
		if dir == "" {
			var err error
			if dir, err = connect.DefaultDir(hostname); err != nil {
				return err
			}
		}
		node, err := connect.StartNode(ctx, connect.NodeOptions{
			Hostname:   hostname,
			Dir:        dir,
			ControlURL: f.controlURL,
			Ephemeral:  f.ephemeral,
			Stderr:     stderr,
			Verbose:    g.verbose,
		})
		if err != nil {
			return err
		}
		defer node.Close()
		hc = connect.NodeHTTPClient(node, f.dialTimeout)
		logger.Info("joined the tailnet", "hostname", hostname, "state", dir)
	}
	defer hc.CloseIdleConnections()
	return connect.Run(ctx, connect.Options{
		URL:        rawURL,
		HTTPClient: hc,
		Stdin:      cmd.InOrStdin(),
		Stdout:     cmd.OutOrStdout(),
		Logger:     logger,
	})
}
