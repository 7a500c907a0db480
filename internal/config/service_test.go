package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidateService(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(c *Config)
		want   []string // each "key: problem" substring; nil means valid
	}{
		{name: "no service", mutate: func(c *Config) {}},
		{name: "service", mutate: func(c *Config) { c.Tailnet.Service = "svc:mcp" }},
		{name: "service with dash and digits", mutate: func(c *Config) { c.Tailnet.Service = "svc:mcp-2" }},
		{name: "service 63 chars", mutate: func(c *Config) { c.Tailnet.Service = "svc:" + strings.Repeat("a", 63) }},
		{name: "service 64 chars", mutate: func(c *Config) { c.Tailnet.Service = "svc:" + strings.Repeat("a", 64) }, want: []string{"tailnet.service: "}},
		{name: "service without prefix", mutate: func(c *Config) { c.Tailnet.Service = "mcp" }, want: []string{`tailnet.service: "mcp" is not a Tailscale Service name`}},
		{name: "service upper case", mutate: func(c *Config) { c.Tailnet.Service = "svc:MCP" }, want: []string{`tailnet.service: "svc:MCP" is not a Tailscale Service name`}},
		{name: "service trailing dash", mutate: func(c *Config) { c.Tailnet.Service = "svc:mcp-" }, want: []string{"tailnet.service: "}},
		{name: "service empty name", mutate: func(c *Config) { c.Tailnet.Service = "svc:" }, want: []string{"tailnet.service: "}},
		{name: "service with dot", mutate: func(c *Config) { c.Tailnet.Service = "svc:mcp.example" }, want: []string{"tailnet.service: "}},
		{name: "service without tags", mutate: func(c *Config) {
			c.Tailnet.Service = "svc:mcp"
			c.Tailnet.Tags = nil
		}, want: []string{"tailnet.tags: required when tailnet.service is set"}},
		{name: "service without session key", mutate: func(c *Config) {
			c.Tailnet.Service = "svc:mcp"
			c.MCP.SessionKey = ""
		}, want: []string{"mcp.session_key: required when tailnet.service is set"}},
		{name: "no service, no session key", mutate: func(c *Config) { c.MCP.SessionKey = "" }},
		{name: "no service, no tags", mutate: func(c *Config) { c.Tailnet.Tags = nil }},
		{name: "port zero", mutate: func(c *Config) { c.Tailnet.ServicePort = 0 }, want: []string{"tailnet.service_port: 0 is not a TCP port"}},
		{name: "port too big", mutate: func(c *Config) { c.Tailnet.ServicePort = 65536 }, want: []string{"tailnet.service_port: 65536 is not a TCP port"}},
		{name: "port 443", mutate: func(c *Config) { c.Tailnet.Service = "svc:mcp"; c.Tailnet.ServicePort = 443 }},
		{name: "drain zero", mutate: func(c *Config) { c.Tailnet.Service = "svc:mcp"; c.Tailnet.ServiceDrain = 0 }},
		{name: "drain negative", mutate: func(c *Config) { c.Tailnet.ServiceDrain = -time.Second }, want: []string{"tailnet.service_drain: must be between 0s and 10m0s"}},
		{name: "drain too long", mutate: func(c *Config) { c.Tailnet.ServiceDrain = time.Hour }, want: []string{"tailnet.service_drain: must be between 0s and 10m0s"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := designExample()
			c.MCP.SessionKey = strings.Repeat("ab", 32)
			tt.mutate(c)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			wantErr(t, err, tt.want...)
		})
	}
}

func TestServiceDefaults(t *testing.T) {
	d := Default()
	if d.Tailnet.Service != "" || d.Tailnet.ServicePort != 80 || d.Tailnet.ServiceDrain != 15*time.Second {
		t.Fatalf("defaults: service %q port %d drain %s; want none, 80, 15s", d.Tailnet.Service, d.Tailnet.ServicePort, d.Tailnet.ServiceDrain)
	}
}
