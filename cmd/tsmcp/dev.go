package main

import (
	"github.com/spf13/cobra"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/playground"
)

func newDevCmd(g *globalFlags) *cobra.Command {
	var endpointsFile string
	var port int
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a self-contained playground: a local tailnet, the host, and a loopback endpoint per demo identity",
		Long: `dev starts an embedded tailnet (control server, DERP and STUN on loopback),
joins a tsmcp host to it, and opens one loopback endpoint per demo identity
(alice, bob and a tag:ci node). Each endpoint forwards through that
identity's own tailnet node, so an MCP client pointed at it is seen by the
host as that identity. No Tailscale account or internet is needed.

With --port BASE the endpoints keep their addresses across restarts:
alice on BASE, bob on BASE+1, ci on BASE+2 and the health listener on
BASE+3 (all on 127.0.0.1). Without it the ports change on every start.

With --config, the host uses that file's acl, tools and upstreams; its
tailnet and health sections are replaced to fit the playground. Name the
demo identities there as the host sees them: alice is
user-2@fake-control.example.net, bob is user-3@fake-control.example.net,
ci is tag:ci (tsmcp check --as alice takes the demo names too). The file
is watched as serve does: a changed acl applies at once, other sections
need a restart.

The banner lists what each identity may call as MCP lists it, bridged
tools included; an upstream still starting is named, and the lists are
printed again when it comes up. Each identity's page (/ through its
endpoint) gives client settings for that endpoint.`,
		Example: `  tsmcp dev
  tsmcp dev --port 7000
  tsmcp dev --port 7000 --config tsmcp.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := playground.Options{
				Out:           cmd.OutOrStdout(),
				Logger:        g.logger(cmd.ErrOrStderr()),
				EndpointsFile: endpointsFile,
				Version:       version,
				Verbose:       g.verbose,
				Port:          port,
			}
			if g.configFile != "" {
				opts.ConfigFile = g.configFile
				cfg, err := config.Load(config.LoadOptions{File: g.configFile})
				if err != nil {
					return err
				}
				opts.Config = cfg
			}
			warnRuntime(cmd.ErrOrStderr(), opts.Config)
			return playground.Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntVar(&port, "port", 0, "first of four fixed loopback ports: alice BASE, bob BASE+1, ci BASE+2, health BASE+3 (default: ports chosen by the kernel)")
	cmd.Flags().StringVar(&endpointsFile, "endpoints-file", "", "also write the endpoints as JSON to this file once ready")
	return cmd
}
