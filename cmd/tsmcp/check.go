package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/tools"
)

func newCheckCmd(g *globalFlags) *cobra.Command {
	var as string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and policy; print who may call what",
		Long: `check loads the configuration exactly as serve would (file, TSMCP_*
environment, flags), validates it, and prints which principals the local
rules allow to call which tools. It exits non-zero if anything is invalid.
Tailnet grants are not known offline and are not shown.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(config.LoadOptions{File: g.configFile, Flags: cmd.Flags()})
			if err != nil {
				return err
			}
			if err := server.CheckSupported(cfg); err != nil {
				return err
			}
			policy, err := acl.New(cfg.ACL)
			if err != nil {
				return err
			}
			names, err := toolNames(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			src := g.configFile
			if src == "" {
				src = "(no file: defaults, environment and flags)"
			}
			fmt.Fprintf(w, "configuration OK: %s\n", src)
			fmt.Fprintf(w, "tools: %s\n", strings.Join(names, ", "))
			if len(cfg.Upstreams) > 0 {
				var ups []string
				for _, u := range cfg.Upstreams {
					ups = append(ups, u.Name+"__*")
				}
				fmt.Fprintf(w, "bridged (tool names known once the upstreams run): %s\n", strings.Join(ups, ", "))
			}
			if as != "" {
				allowed, err := policy.ToolsFor(as, names)
				if err != nil {
					return fmt.Errorf("--as: %w", err)
				}
				fmt.Fprintf(w, "%s may call: %s\n", as, listOrNone(allowed))
				return nil
			}
			rows := policy.Matrix(names)
			if len(rows) == 0 {
				fmt.Fprintf(w, "no local rules: only tailnet grants under %s allow tools\n", policy.Capability())
				return nil
			}
			fmt.Fprintf(w, "local rules (tailnet grants under %s add to these):\n", policy.Capability())
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "  PRINCIPAL\tMAY CALL")
			for _, r := range rows {
				fmt.Fprintf(tw, "  %s\t%s\n", r.Src, listOrNone(r.Tools))
			}
			return tw.Flush()
		},
	}
	config.RegisterFlags(cmd.Flags())
	cmd.Flags().StringVar(&as, "as", "", "show only what this principal (login, group:x, tag:x) may call")
	return cmd
}

// toolNames lists the tools the configuration defines: the built-in ones and
// the declarative ones. Bridged upstream tools are known only at run time.
func toolNames(ctx context.Context, cfg *config.Config) ([]string, error) {
	builtin, err := tools.Collect(ctx, []tools.Provider{tools.Builtin{}})
	if err != nil {
		return nil, err
	}
	names := tools.Names(builtin)
	for _, t := range cfg.Tools {
		names = append(names, t.Name)
	}
	return names, nil
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "(nothing)"
	}
	return strings.Join(s, ", ")
}
