package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
)

// globalFlags are the flags every command accepts.
type globalFlags struct {
	configFile string
	verbose    bool
	logFormat  string
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "tsmcp",
		Short:         "MCP tools on your tailnet, authorized by Tailscale identity",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if g.logFormat != "json" && g.logFormat != "text" {
				return fmt.Errorf("--log-format: %q is not json or text", g.logFormat)
			}
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVarP(&g.configFile, "config", "c", "", "configuration file (YAML, JSON or TOML)")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "log debug detail, including tsnet's own logs")
	pf.StringVar(&g.logFormat, "log-format", "json", "log format: json or text")
	root.AddCommand(
		newServeCmd(g),
		newCheckCmd(g),
		newHealthCmd(),
		newDevCmd(g),
		newConnectCmd(g),
		newVersionCmd(),
	)
	return root
}

// logger builds the process logger on stderr.
func (g *globalFlags) logger(w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if g.verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if g.logFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
