package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
)

// TestReadyzShowsUpstreamThatCannotStart proves that an upstream whose
// process cannot start (here: it exits at once, as a server missing its
// runtime or package does) is not retried silently: /readyz names it as
// down while the supervisor keeps retrying, and every failure is logged.
// With health.wait_for_upstreams false the node is ready (200) all the
// same: the operator chose to serve the built-in tools and the other
// upstreams without it. (With the default it waits: see
// TestUpstreamNotUpYet.)
func TestReadyzShowsUpstreamThatCannotStart(t *testing.T) {
	tn := startTailnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logs := &logBuffer{}
	host, err := startHost(ctx, tn.net, "readyz-down", logs, func(c *config.Config, o *server.Options) {
		c.Upstreams = []config.Upstream{{Name: "broken", Command: []string{"false"}}}
		c.Health.WaitForUpstreams = false
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	readyz := "http://" + host.HealthAddr().String() + "/readyz"
	for {
		code, body := get(t, http.DefaultClient, readyz)
		if code == http.StatusOK && strings.Contains(body, "upstream broken: down") &&
			strings.Count(logs.String(), `"msg":"upstream down"`) >= 2 {
			break // seen down, and retried at least once, loudly
		}
		select {
		case <-ctx.Done():
			t.Fatalf("/readyz = %d %q; log:\n%s\nwant 200 naming upstream broken as down, and two logged failures", code, body, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
