package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/playground"
	"github.com/tsmcp/tsmcp/internal/safetext"
	"github.com/tsmcp/tsmcp/internal/tools"
	"github.com/tsmcp/tsmcp/internal/toolset"
	"github.com/tsmcp/tsmcp/internal/upstream"
)

// probeWait bounds how long `check --probe` waits for the upstreams to
// start and list what they offer.
const probeWait = 60 * time.Second

func newCheckCmd(g *globalFlags) *cobra.Command {
	var as string
	var probe bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and policy; print who may use what",
		Long: `check loads the configuration exactly as serve would (file, TSMCP_*
environment, flags), validates it, and prints which principals the local
rules allow to use which tools, prompts and resources. It exits non-zero
if anything is invalid; a rule pattern that matches nothing known is a
warning. A program that an exec tool or a stdio upstream starts and that
is not on PATH, or a package upstream whose package is not baked into this
image, is an error (serve refuses to start for the same reasons). Tailnet grants are not known offline and are not shown.

Bridged upstreams' names are known only once they run: without --probe,
check shows which bridged prefixes (<upstream>__ for tools and prompts,
<upstream>+ for resources; any name for an upstream with prefix: false)
each rule opens; with --probe it starts the upstreams, lists their tools,
and stops them, and a name an unprefixed upstream lists that another
already serves is an error (serve would drop it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(config.LoadOptions{File: g.configFile, Flags: cmd.Flags()})
			if err != nil {
				return err
			}
			if err := toolset.Check(cfg); err != nil {
				return err
			}
			if err := checkRuntime(cfg, os.LookupEnv); err != nil {
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
			k := known{tools: names}
			if probe && len(cfg.Upstreams) > 0 {
				k.probed = true
				probed, err := probeUpstreams(cmd.Context(), cfg, names, w)
				if err != nil {
					return err
				}
				k.tools = append(k.tools, probed.tools...)
				k.prompts, k.resources = probed.prompts, probed.resources
			}
			var namesShown, urisShown []string
			for _, u := range cfg.Upstreams {
				if k.probed {
					break
				}
				// An unprefixed upstream's names can be anything: its
				// prefix is empty.
				name, uri := u.Name+"__", u.Name+"+"
				nameShown, uriShown := name+"*", uri+"*"
				if !u.Prefixed() {
					name, uri = "", ""
					nameShown = "* (" + u.Name + ": prefix false)"
					uriShown = nameShown
				}
				k.toolPrefixes = append(k.toolPrefixes, name)
				k.promptPrefixes = append(k.promptPrefixes, name)
				k.resourcePrefixes = append(k.resourcePrefixes, uri)
				namesShown, urisShown = append(namesShown, nameShown), append(urisShown, uriShown)
			}
			fmt.Fprintf(w, "tools: %s\n", strings.Join(k.tools, ", "))
			if len(cfg.Upstreams) > 0 && !k.probed {
				fmt.Fprintf(w, "bridged (tool names known once the upstreams run; --probe starts them): %s\n", strings.Join(namesShown, ", "))
				fmt.Fprintf(w, "bridged prompts: %s; bridged resources: %s\n", strings.Join(namesShown, ", "), strings.Join(urisShown, ", "))
			}
			if k.probed {
				fmt.Fprintf(w, "prompts: %s\n", listOrNone(k.prompts))
				fmt.Fprintf(w, "resources and templates: %s\n", listOrNone(k.resources))
			}
			for _, warn := range k.unmatched(policy) {
				fmt.Fprintf(w, "warning: %s\n", warn)
			}
			if as != "" {
				return printFor(w, policy, as, k)
			}
			return printMatrix(w, policy, k)
		},
	}
	config.RegisterFlags(cmd.Flags())
	cmd.Flags().StringVar(&as, "as", "", "show only what this principal (login, group:x, tag:x, or tsmcp dev's alice, bob or ci) may use")
	cmd.Flags().BoolVar(&probe, "probe", false, "start the upstreams to list their tools, prompts and resources, then stop them")
	return cmd
}

// known is what check knows exists: tool names (bridged ones too after a
// probe) and the prefixes of names that upstreams add at run time.
type known struct {
	tools []string
	// prompts and resources (URIs and URI templates) are known only
	// after a probe.
	prompts, resources []string
	probed             bool
	toolPrefixes       []string // "<upstream>__" while the upstreams' tools are unknown
	promptPrefixes     []string // "<upstream>__"
	resourcePrefixes   []string // "<upstream>+"
}

// unmatched returns the warnings for rule patterns that match nothing
// known, of every kind.
func (k known) unmatched(p *acl.Policy) []string {
	out := p.Unmatched(acl.KindTool, k.tools, k.toolPrefixes)
	out = append(out, p.Unmatched(acl.KindPrompt, k.prompts, k.promptPrefixes)...)
	return append(out, p.Unmatched(acl.KindResource, k.resources, k.resourcePrefixes)...)
}

// forPrincipal returns, for one principal, the known tools it may call,
// the bridged tool patterns that open tools not yet known, and its prompt
// and resource patterns.
func (k known) forPrincipal(p *acl.Policy, principal string) (callable, bridged, prompts, resources []string, err error) {
	if callable, err = p.ToolsFor(principal, k.tools); err != nil {
		return
	}
	toolPats, _ := p.PatternsFor(principal, acl.KindTool)
	bridged = reaching(toolPats, k.toolPrefixes)
	if k.probed {
		prompts, _ = p.NamesFor(principal, acl.KindPrompt, k.prompts)
		resources, _ = p.NamesFor(principal, acl.KindResource, k.resources)
		return
	}
	prompts, _ = p.PatternsFor(principal, acl.KindPrompt)
	prompts = reaching(prompts, k.promptPrefixes)
	resources, _ = p.PatternsFor(principal, acl.KindResource)
	resources = reaching(resources, k.resourcePrefixes)
	return
}

// reaching returns, for each pattern that can match a name under one of
// prefixes, what it opens: "<prefix>*" for a bare "*", else the pattern.
func reaching(pats, prefixes []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, pre := range prefixes {
		for _, pat := range pats {
			if !acl.CanMatchPrefix(pat, pre) {
				continue
			}
			show := pat
			if pat == "*" {
				show = pre + "*"
			}
			if !seen[show] {
				seen[show] = true
				out = append(out, show)
			}
		}
	}
	return out
}

func printFor(w io.Writer, p *acl.Policy, as string, k known) error {
	principal := as
	if demo, ok := playground.DemoPrincipal(as); ok {
		// tsmcp dev's demo names stand for the principals the host
		// sees them as.
		principal = demo
		as = fmt.Sprintf("%s (%s in tsmcp dev)", as, demo)
	}
	callable, bridged, prompts, resources, err := k.forPrincipal(p, principal)
	if err != nil {
		return fmt.Errorf("--as: %w", err)
	}
	line := listOrNone(callable)
	if len(bridged) > 0 {
		line += "; bridged: " + strings.Join(bridged, ", ")
	}
	fmt.Fprintf(w, "%s may call: %s\n", as, line)
	fmt.Fprintf(w, "%s may get prompts: %s\n", as, listOrNone(prompts))
	fmt.Fprintf(w, "%s may read resources: %s\n", as, listOrNone(resources))
	return nil
}

func printMatrix(w io.Writer, p *acl.Policy, k known) error {
	rows := p.Matrix(k.tools)
	if len(rows) == 0 {
		fmt.Fprintf(w, "no local rules: only tailnet grants under %s allow anything\n", p.Capability())
		return nil
	}
	fmt.Fprintf(w, "local rules (tailnet grants under %s add to these):\n", p.Capability())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PRINCIPAL\tMAY CALL\tPROMPTS\tRESOURCES")
	for _, r := range rows {
		callable, bridged, prompts, resources, err := k.forPrincipal(p, r.Src)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", r.Src, listOrNone(append(callable, bridged...)), listOrNone(prompts), listOrNone(resources))
	}
	return tw.Flush()
}

// probed is what a probe found the upstreams offer.
type probed struct {
	tools, prompts []string
	// resources holds resource URIs and resource URI templates, as
	// served.
	resources []string
}

// probeUpstreams starts every upstream, waits (at most probeWait) for
// their first listings, reports each upstream's state on w and returns
// what they offer. own are the host's other tools (built-in and
// declared). A name an unprefixed upstream lists that another already
// serves is an error, each one named. It stops every upstream before
// returning.
func probeUpstreams(ctx context.Context, cfg *config.Config, own []string, w io.Writer) (probed, error) {
	p, err := upstream.New(cfg.Upstreams, upstream.Options{
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		StartWait:     probeWait,
		Bounds:        upstream.BoundsFrom(cfg.MCP.Limits),
		ReservedTools: own,
	})
	if err != nil {
		return probed{}, err
	}
	defer p.Close()
	ts, err := p.Tools(ctx)
	if err != nil {
		return probed{}, err
	}
	var out probed
	out.tools = tools.Names(ts)
	for _, pr := range p.Prompts(ctx) {
		out.prompts = append(out.prompts, pr.Prompt.Name)
	}
	rs, tmpls := p.Resources(ctx)
	for _, r := range rs {
		out.resources = append(out.resources, r.URI)
	}
	for _, t := range tmpls {
		out.resources = append(out.resources, t.URITemplate.Raw())
	}
	for _, st := range p.Status() {
		state := "up"
		if !st.Up {
			state = "down"
			if st.Detail != "" {
				state += " (" + st.Detail + ")"
			}
		}
		fmt.Fprintf(w, "upstream %s: %s\n", st.Name, state)
	}
	if cs := p.Collisions(); len(cs) > 0 {
		return probed{}, fmt.Errorf("names collide (serve would drop these):\n  %s", strings.Join(cs, "\n  "))
	}
	return out, nil
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

// maxShownName bounds each name or URI check prints.
const maxShownName = 512

// listOrNone joins names for a terminal: each without control characters
// (a resource URI comes from an upstream) and at most maxShownName bytes.
func listOrNone(s []string) string {
	if len(s) == 0 {
		return "(nothing)"
	}
	shown := make([]string, len(s))
	for i, n := range s {
		shown[i] = safetext.Show(n, maxShownName)
	}
	return strings.Join(shown, ", ")
}
