package playground

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
)

// reloader applies changes of the playground's config file to its host,
// as `tsmcp serve` does, and reports each on the playground's output.
type reloader struct {
	out           io.Writer
	file          string
	endpointsFile string
	host          *server.Server
	// running is the configuration the host started with; its tailnet
	// and health sections, which the playground set, are kept.
	running   *config.Config
	toolNames []string
	eps       Endpoints
}

// watch reloads until ctx is done. A file that cannot be watched is
// reported and the playground keeps its policy.
func (r *reloader) watch(ctx context.Context, logger *slog.Logger) {
	err := config.Watch(ctx, config.WatchOptions{
		Load:     config.LoadOptions{File: r.file},
		OnReload: r.apply,
	})
	if err != nil {
		fmt.Fprintf(r.out, "config %s is not watched (%v); changes need a restart\n", r.file, err)
		logger.Warn("config file not watched", slog.String("file", r.file), slog.String("error", err.Error()))
	}
}

// apply is config.Watch's OnReload.
func (r *reloader) apply(cfg *config.Config, err error) {
	var policy *acl.Policy
	if err == nil {
		cfg.Tailnet, cfg.Health = r.running.Tailnet, r.running.Health
		policy, err = acl.New(cfg.ACL)
	}
	if err == nil {
		err = r.host.Reload(cfg)
	}
	if err != nil {
		fmt.Fprintf(r.out, "config %s: change refused, keeping the current policy: %v\n", r.file, err)
		return
	}
	var may []string
	for i, id := range r.eps.Identities {
		principal := id.Login
		if len(id.Tags) > 0 {
			principal = id.Tags[0]
		}
		names, err := policy.ToolsFor(principal, r.toolNames)
		if err != nil {
			fmt.Fprintf(r.out, "config %s: %v\n", r.file, err)
			return
		}
		r.eps.Identities[i].MayCall = names
		r.eps.Identities[i].MayGetPrompts, _ = policy.PatternsFor(principal, acl.KindPrompt)
		r.eps.Identities[i].MayReadResources, _ = policy.PatternsFor(principal, acl.KindResource)
		list := strings.Join(names, ", ")
		if list == "" {
			list = "(nothing)"
		}
		may = append(may, id.Name+": "+list)
	}
	fmt.Fprintf(r.out, "config %s reloaded (the acl applies now; tools and upstreams need a restart); may call: %s\n",
		r.file, strings.Join(may, "; "))
	if err := writeEndpoints(r.endpointsFile, r.eps); err != nil {
		fmt.Fprintf(r.out, "endpoints file: %v\n", err)
	}
}
