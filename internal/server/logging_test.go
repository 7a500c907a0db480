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

// TestAuthKeyNeverLogged: the auth key appears neither in the host's logs
// (tsnet's own included) nor in the error when joining fails.
func TestAuthKeyNeverLogged(t *testing.T) {
	tn := startTailnet(t)
	const secret = "kSECRETVALUE0123456789"
	key := "tskey-auth-" + secret
	t.Run("joined", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		logs := &logBuffer{}
		host, err := startHost(ctx, tn.net, "keyed", logs, func(c *config.Config, o *server.Options) {
			c.Tailnet.AuthKey = key
			o.Verbose = true
		})
		if err != nil {
			t.Fatal(err)
		}
		host.Close()
		if strings.Contains(logs.String(), secret) {
			t.Fatal("the auth key is in the host's log")
		}
	})
	t.Run("join fails", func(t *testing.T) {
		cfg := testConfig("http://127.0.0.1:1")
		cfg.Tailnet.AuthKey = key
		cfg.Tailnet.UpTimeout = time.Second
		logs := &logBuffer{}
		host, err := server.New(server.Options{Config: cfg, Logger: newTestLogger(logs), Verbose: true})
		if err != nil {
			t.Fatal(err)
		}
		err = host.Run(context.Background())
		if err == nil {
			t.Fatal("Run succeeded without a control server")
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
			t.Fatalf("the auth key leaked: %v", err)
		}
	})
}
