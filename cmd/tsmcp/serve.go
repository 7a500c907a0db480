package main

import (
	"github.com/spf13/cobra"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
)

func newServeCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Join the tailnet and serve MCP tools there",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(config.LoadOptions{File: g.configFile, Flags: cmd.Flags()})
			if err != nil {
				return err
			}
			srv, err := server.New(server.Options{
				Config:  cfg,
				Logger:  g.logger(cmd.ErrOrStderr()),
				Verbose: g.verbose,
				Version: version,
			})
			if err != nil {
				return err
			}
			return srv.Run(cmd.Context())
		},
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}
