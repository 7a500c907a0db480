package playground

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
)

// reloader applies changes of the playground's config file to its host,
// as `tsmcp serve` does, and reports each on the playground's output.
type reloader struct {
	out  io.Writer
	file string
	host *server.Server
	// running is the configuration the host started with; its tailnet
	// and health sections, which the playground set, are kept.
	running *config.Config
	// lists are the endpoints and what each identity may use.
	lists *lists
	// ctx bounds asking the host what each identity may call; set by
	// watch.
	ctx context.Context
}

// watch reloads until ctx is done. A file that cannot be watched is
// reported and the playground keeps its policy.
func (r *reloader) watch(ctx context.Context, logger *slog.Logger) {
	r.ctx = ctx
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
	r.lists.refresh(r.ctx, policy,
		fmt.Sprintf("config %s reloaded (the acl applies now; tools and upstreams need a restart)", r.file))
}
