package main

import (
	"context"
	"log"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/toolset"
	"github.com/tsmcp/tsmcp/internal/tsnetx"
)

func newServeCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Join the tailnet and serve MCP tools there",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Everything serve writes to stderr is one log line in the
			// chosen format, the standard library's log and a failure
			// to start included.
			logger := g.logger(cmd.ErrOrStderr())
			slog.SetDefault(logger)
			// The standard log's lines (tailscale.com helpers write
			// there) wait until the node has joined, or the join
			// failed and its cause was logged; --verbose shows them
			// as they come.
			gate := tsnetx.NewLogGate(func(line string) { logger.Info(line) }, stdLogHeld)
			if !g.verbose {
				log.SetOutput(gate)
				defer gate.Open()
			}
			fail := func(err error) error {
				logger.Error("tsmcp stopped", "err", err.Error())
				return errLogged{err}
			}
			loadOpts := config.LoadOptions{File: g.configFile, Flags: cmd.Flags()}
			cfg, err := config.Load(loadOpts)
			if err != nil {
				return fail(err)
			}
			if err := checkRuntime(cfg, os.LookupEnv); err != nil {
				return fail(err)
			}
			stopTracing, err := startTracing(cmd.Context(), logger) // OTEL_*; tracing.go
			if err != nil {
				return fail(err)
			}
			defer stopTracing()
			audit, closeAudit, err := g.auditLogger(cfg.Log.Audit, cmd.OutOrStdout(), logger)
			if err != nil {
				return fail(err)
			}
			defer closeAudit()
			// The configured tools, checked now (before the tailnet is
			// joined); the host starts them once joined.
			ts, err := toolset.New(cfg, logger)
			if err != nil {
				return fail(err)
			}
			srv, err := server.New(server.Options{
				Config:      cfg,
				Logger:      logger,
				AuditLogger: audit,
				Verbose:     g.verbose,
				Version:     version,
				Tools:       ts,
			})
			if err != nil {
				ts.Close()
				return fail(err)
			}
			ctx, stop := context.WithCancel(cmd.Context())
			defer stop()
			if loadOpts.File != "" {
				watched := make(chan struct{})
				defer func() { stop(); <-watched }()
				go func() {
					defer close(watched)
					watchConfig(ctx, loadOpts, srv, logger)
				}()
			}
			go func() {
				select {
				case <-srv.Ready():
					gate.Open()
				case <-ctx.Done():
				}
			}()
			err = srv.Run(ctx)
			gate.Open()
			if err != nil {
				return fail(err)
			}
			return nil
		},
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}

// stdLogHeld bounds the standard log's lines held while joining.
const stdLogHeld = 200

// watchConfig applies every valid change of the config file to srv (the
// access policy is swapped; see server.Reload) and logs, without applying,
// every invalid one. A file that cannot be watched is logged and the host
// keeps running with the policy it has.
func watchConfig(ctx context.Context, opts config.LoadOptions, srv *server.Server, logger *slog.Logger) {
	err := config.Watch(ctx, config.WatchOptions{
		Load: opts,
		OnReload: func(cfg *config.Config, err error) {
			if err == nil {
				err = srv.Reload(cfg)
			}
			if err != nil {
				logger.Error("config change refused; keeping the current policy",
					slog.String("file", opts.File), slog.String("error", err.Error()))
			}
		},
	})
	if err != nil {
		logger.Warn("config file not watched; policy changes need a restart",
			slog.String("file", opts.File), slog.String("error", err.Error()))
	}
}
