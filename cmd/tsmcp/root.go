package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

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

// auditLogger returns the logger for audit lines (log.audit): logger
// itself for "stderr" or "", a logger in the same format on stdout, or on
// the named file, opened for appending (created 0600). The returned func
// closes the file.
func (g *globalFlags) auditLogger(dest string, stdout io.Writer, logger *slog.Logger) (*slog.Logger, func() error, error) {
	switch dest {
	case "", "stderr":
		return logger, func() error { return nil }, nil
	case "stdout":
		return g.logger(stdout), func() error { return nil }, nil
	}
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("log.audit: %w", err)
	}
	return g.logger(f), f.Close, nil
}

// errLogged is an error the command has already logged; main exits 1
// without printing it again (which would put a non-JSON line on stderr).
type errLogged struct{ error }

func (e errLogged) Unwrap() error { return e.error }
