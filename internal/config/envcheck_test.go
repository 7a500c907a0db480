package config

import (
	"strings"
	"testing"
)

// TestLoadUnknownEnv proves that a TSMCP_ variable matching no key stops
// Load with an error naming it, and that the variables Kubernetes injects
// for a Service named tsmcp (or tsmcp-<x>) never do.
func TestLoadUnknownEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string // error lines; none means Load succeeds
	}{
		{name: "typo", env: map[string]string{"TSMCP_TAILNET_HOSTNAM": "x"},
			want: []string{"TSMCP_TAILNET_HOSTNAM: environment variable matches no config key (did you mean TSMCP_TAILNET_HOSTNAME?)"}},
		{name: "unrelated", env: map[string]string{"TSMCP_FOO": "1"},
			want: []string{"TSMCP_FOO: environment variable matches no config key"}},
		{name: "two typos", env: map[string]string{"TSMCP_MCP_MAXBODY": "1MiB", "TSMCP_ACL_RULE": "[]"},
			want: []string{"TSMCP_ACL_RULE: ", "TSMCP_MCP_MAXBODY: "}},
		{name: "empty unknown is unset", env: map[string]string{"TSMCP_FOO": ""}},
		{name: "service links for Service tsmcp", env: map[string]string{
			"TSMCP_PORT":                  "tcp://10.0.0.7:80",
			"TSMCP_SERVICE_HOST":          "10.0.0.7",
			"TSMCP_SERVICE_PORT":          "80",
			"TSMCP_SERVICE_PORT_HEALTH":   "80",
			"TSMCP_PORT_80_TCP":           "tcp://10.0.0.7:80",
			"TSMCP_PORT_80_TCP_PROTO":     "tcp",
			"TSMCP_PORT_80_TCP_PORT":      "80",
			"TSMCP_PORT_80_TCP_ADDR":      "10.0.0.7",
			"TSMCP_PORT_8080_UDP_ADDR":    "10.0.0.7",
			"TSMCP_HEALTH_SERVICE_HOST":   "10.0.0.8", // a Service named tsmcp-health
			"TSMCP_HEALTH_PORT_8080_TCP":  "tcp://10.0.0.8:8080",
			"TSMCP_HEALTH_PORT":           "tcp://10.0.0.8:8080",
			"TSMCP_PACKAGE_ROOT":          "/opt/tsmcp",
			"TSMCP_CALLER_LOGIN":          "alice@example.com",
			"TSMCP_TAILNET_HOSTNAME":      "box",
			"TSMCP_HEALTH_SERVICE_PORT_X": "1",
		}},
		{name: "almost a service link", env: map[string]string{"TSMCP_PORT_80": "1"},
			want: []string{"TSMCP_PORT_80: environment variable matches no config key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := Load(LoadOptions{})
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if h, ok := tt.env["TSMCP_TAILNET_HOSTNAME"]; ok && cfg.Tailnet.Hostname != h {
					t.Fatalf("hostname = %q, want %q", cfg.Tailnet.Hostname, h)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded, want errors %q", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("Load error has %d lines, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}
