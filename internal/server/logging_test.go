package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
)

// TestTsnetLogsOnlyWhenVerbose: tsnet's own chatter is discarded unless
// Verbose is set; the host's own lines are always there.
func TestTsnetLogsOnlyWhenVerbose(t *testing.T) {
	tn := startTailnet(t)
	tests := []struct {
		name    string
		verbose bool
	}{
		{"quiet", false},
		{"verbose", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			logs := &logBuffer{}
			host, err := startHost(ctx, tn.net, "logs-"+tt.name, logs, func(_ *config.Config, o *server.Options) {
				o.Verbose = tt.verbose
			})
			if err != nil {
				t.Fatal(err)
			}
			host.Close()
			out := logs.String()
			if n := strings.Count(out, `"log":"tsnet"`); (n > 0) != tt.verbose {
				t.Errorf("%d tsnet log lines with Verbose=%v", n, tt.verbose)
			}
			if len(logs.JSONLines("ready")) != 1 {
				t.Errorf("no ready line in the host's log")
			}
		})
	}
}
