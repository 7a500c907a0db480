package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/tsmcp/tsmcp/internal/acl"
)

// clearEnv unsets (sets empty, which Load ignores) every variable Load
// reads, so that the caller's environment cannot leak into a test.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, name := range EnvVars() {
		t.Setenv(name, "")
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustLoad(t *testing.T, opts LoadOptions) *Config {
	t.Helper()
	c, err := Load(opts)
	if err != nil {
		t.Fatalf("Load(%+v): %v", opts, err)
	}
	return c
}

// wantErr checks that err has each of wants as a substring of one of its
// lines.
func wantErr(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %q", wants)
	}
	lines := strings.Split(err.Error(), "\n")
	for _, w := range wants {
		found := false
		for _, l := range lines {
			if strings.Contains(l, w) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("error lacks %q; got:\n%v", w, err)
		}
	}
}

// designExample is what the product design's example config,
// testdata/design-example.{yaml,json,toml}, decodes to.
func designExample() *Config {
	return &Config{
		Tailnet: Tailnet{
			Hostname:     "tsmcp",
			State:        "/var/lib/tsmcp",
			Tags:         []string{"tag:mcp"},
			UpTimeout:    60 * time.Second,
			ServicePort:  80,
			ServiceDrain: 15 * time.Second,
		},
		Health: Health{Addr: "0.0.0.0:8080", Metrics: true, WaitForUpstreams: true},
		MCP:    MCP{Keepalive: 20 * time.Second, MaxBody: 4 * MiB, ShutdownGrace: 20 * time.Second, Limits: DefaultLimits(), SessionMaxAge: DefaultSessionMaxAge},
		ACL: acl.Config{
			Capability: "tsmcp.dev/cap/mcp",
			Groups:     map[string][]string{"sre": {"alice@example.com", "bob@example.com"}},
			Rules: []acl.Rule{
				{Src: []string{"group:sre", "tag:ci"}, Tools: []string{"*"}},
				{Src: []string{"*"}, Tools: []string{"whoami"}},
			},
		},
		Tools: []Tool{
			{
				Name:        "disk_usage",
				Description: "Disk usage of a mounted volume",
				Exec:        &ExecTool{Command: []string{"df", "-h", "{{.path}}"}, Timeout: 10 * time.Second},
				Params:      map[string]Param{"path": {Type: "string", Description: "mount point", Required: true}},
			},
			{
				Name:        "service_status",
				Description: "Status of an internal service",
				HTTP: &HTTPTool{
					Method:  "GET",
					URL:     "http://status.internal/api/v1/services/{{.service}}",
					Headers: map[string]string{"Authorization": `Bearer {{env "STATUS_TOKEN"}}`},
					Timeout: 5 * time.Second,
				},
				Params: map[string]Param{"service": {Type: "string", Required: true, Pattern: "^[a-z0-9-]+$"}},
			},
		},
		Upstreams: []Upstream{
			{Name: "fs", Command: []string{"npx", "-y", "@modelcontextprotocol/server-filesystem", "/data"}, Isolation: "shared", Timeout: DefaultUpstreamTimeout},
			{Name: "wiki", URL: "http://wiki-mcp.internal:8080/mcp", Timeout: DefaultUpstreamTimeout},
		},
		Log: Log{Audit: "stderr"},
	}
}

func TestLoadDesignExample(t *testing.T) {
	for _, tt := range []struct{ name, file string }{
		{"yaml", "testdata/design-example.yaml"},
		{"json", "testdata/design-example.json"},
		{"toml", "testdata/design-example.toml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			got := mustLoad(t, LoadOptions{File: tt.file})
			if want := designExample(); !reflect.DeepEqual(got, want) {
				t.Errorf("Load(%s) =\n%+v\nwant\n%+v", tt.file, got, want)
			}
		})
	}
}

func TestLoadNoFileIsDefault(t *testing.T) {
	clearEnv(t)
	got := mustLoad(t, LoadOptions{})
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("Load() = %+v, want Default() = %+v", got, want)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

// envCases sets one TSMCP_ variable per key; TestEnvCoversEveryKey checks
// that none is missing.
var envCases = []struct {
	name, env, value string
	check            func(*Config) bool
}{
	{"hostname", "TSMCP_TAILNET_HOSTNAME", "from-env", func(c *Config) bool { return c.Tailnet.Hostname == "from-env" }},
	{"auth key", "TSMCP_TAILNET_AUTH_KEY", "tskey-auth-env", func(c *Config) bool { return c.Tailnet.AuthKey == "tskey-auth-env" }},
	{"control url", "TSMCP_TAILNET_CONTROL_URL", "https://hs.example.com", func(c *Config) bool { return c.Tailnet.ControlURL == "https://hs.example.com" }},
	{"state", "TSMCP_TAILNET_STATE", "kube:tsmcp-state", func(c *Config) bool { return c.Tailnet.State == "kube:tsmcp-state" }},
	{"ephemeral", "TSMCP_TAILNET_EPHEMERAL", "true", func(c *Config) bool { return c.Tailnet.Ephemeral }},
	{"tags comma", "TSMCP_TAILNET_TAGS", "tag:a, tag:b", func(c *Config) bool { return reflect.DeepEqual(c.Tailnet.Tags, []string{"tag:a", "tag:b"}) }},
	{"tags json", "TSMCP_TAILNET_TAGS", `["tag:x","tag:y"]`, func(c *Config) bool { return reflect.DeepEqual(c.Tailnet.Tags, []string{"tag:x", "tag:y"}) }},
	{"https", "TSMCP_TAILNET_HTTPS", "1", func(c *Config) bool { return c.Tailnet.HTTPS }},
	{"up timeout", "TSMCP_TAILNET_UP_TIMEOUT", "2m", func(c *Config) bool { return c.Tailnet.UpTimeout == 2*time.Minute }},
	{"service", "TSMCP_TAILNET_SERVICE", "svc:mcp", func(c *Config) bool { return c.Tailnet.Service == "svc:mcp" }},
	{"service port", "TSMCP_TAILNET_SERVICE_PORT", "8080", func(c *Config) bool { return c.Tailnet.ServicePort == 8080 }},
	{"service drain", "TSMCP_TAILNET_SERVICE_DRAIN", "0s", func(c *Config) bool { return c.Tailnet.ServiceDrain == 0 }},
	{"health addr", "TSMCP_HEALTH_ADDR", "127.0.0.1:9090", func(c *Config) bool { return c.Health.Addr == "127.0.0.1:9090" }},
	{"keepalive", "TSMCP_MCP_KEEPALIVE", "0", func(c *Config) bool { return c.MCP.Keepalive == 0 }},
	{"max body", "TSMCP_MCP_MAX_BODY", "512KiB", func(c *Config) bool { return c.MCP.MaxBody == 512*KiB }},
	{"credential key", "TSMCP_MCP_CREDENTIAL_KEY", strings.Repeat("ef", 32), func(c *Config) bool { return c.MCP.CredentialKey == strings.Repeat("ef", 32) }},
	{"credential store", "TSMCP_MCP_CREDENTIAL_STORE", "kube:tsmcp-credentials", func(c *Config) bool { return c.MCP.CredentialStore == "kube:tsmcp-credentials" }},
	{"session key", "TSMCP_MCP_SESSION_KEY", strings.Repeat("ab", 32), func(c *Config) bool { return c.MCP.SessionKey == strings.Repeat("ab", 32) }},
	{"shutdown grace", "TSMCP_MCP_SHUTDOWN_GRACE", "5s", func(c *Config) bool { return c.MCP.ShutdownGrace == 5*time.Second }},
	{"session max age", "TSMCP_MCP_SESSION_MAX_AGE", "2h", func(c *Config) bool { return c.MCP.SessionMaxAge == 2*time.Hour }},
	{"list page size", "TSMCP_MCP_LIST_PAGE_SIZE", "50", func(c *Config) bool { return c.MCP.ListPageSize == 50 }},
	{"list ttl", "TSMCP_MCP_LIST_TTL", "30s", func(c *Config) bool { return c.MCP.ListTTL == 30*time.Second }},
	{"limits sessions per identity", "TSMCP_MCP_LIMITS_SESSIONS_PER_IDENTITY", "7", func(c *Config) bool { return c.MCP.Limits.SessionsPerIdentity == 7 }},
	{"limits body bytes total", "TSMCP_MCP_LIMITS_BODY_BYTES_TOTAL", "1GiB", func(c *Config) bool { return c.MCP.Limits.BodyBytesTotal == GiB }},
	{"limits sessions total", "TSMCP_MCP_LIMITS_SESSIONS_TOTAL", "9000", func(c *Config) bool { return c.MCP.Limits.SessionsTotal == 9000 }},
	{"limits streams per identity", "TSMCP_MCP_LIMITS_STREAMS_PER_IDENTITY", "3", func(c *Config) bool { return c.MCP.Limits.StreamsPerIdentity == 3 }},
	{"limits streams total", "TSMCP_MCP_LIMITS_STREAMS_TOTAL", "2000", func(c *Config) bool { return c.MCP.Limits.StreamsTotal == 2000 }},
	{"limits calls per identity", "TSMCP_MCP_LIMITS_CALLS_PER_IDENTITY", "4", func(c *Config) bool { return c.MCP.Limits.CallsPerIdentity == 4 }},
	{"limits calls total", "TSMCP_MCP_LIMITS_CALLS_TOTAL", "600", func(c *Config) bool { return c.MCP.Limits.CallsTotal == 600 }},
	{"limits subscriptions per session", "TSMCP_MCP_LIMITS_SUBSCRIPTIONS_PER_SESSION", "5", func(c *Config) bool { return c.MCP.Limits.SubscriptionsPerSession == 5 }},
	{"limits subscriptions per identity", "TSMCP_MCP_LIMITS_SUBSCRIPTIONS_PER_IDENTITY", "5000", func(c *Config) bool { return c.MCP.Limits.SubscriptionsPerIdentity == 5000 }},
	{"limits answer bytes per identity", "TSMCP_MCP_LIMITS_ANSWER_BYTES_PER_IDENTITY", "8MiB", func(c *Config) bool { return c.MCP.Limits.AnswerBytesPerIdentity == 8*MiB }},
	{"limits answer bytes total", "TSMCP_MCP_LIMITS_ANSWER_BYTES_TOTAL", "1GiB", func(c *Config) bool { return c.MCP.Limits.AnswerBytesTotal == GiB }},
	{"limits body bytes per identity", "TSMCP_MCP_LIMITS_BODY_BYTES_PER_IDENTITY", "32MiB", func(c *Config) bool { return c.MCP.Limits.BodyBytesPerIdentity == 32*MiB }},
	{"limits queue per session", "TSMCP_MCP_LIMITS_QUEUE_PER_SESSION", "10", func(c *Config) bool { return c.MCP.Limits.QueuePerSession == 10 }},
	{"limits unused session ttl", "TSMCP_MCP_LIMITS_UNUSED_SESSION_TTL", "90s", func(c *Config) bool { return c.MCP.Limits.UnusedSessionTTL == 90*time.Second }},
	{"limits input wait", "TSMCP_MCP_LIMITS_INPUT_WAIT", "2m", func(c *Config) bool { return c.MCP.Limits.InputWait == 2*time.Minute }},
	{"limits write timeout", "TSMCP_MCP_LIMITS_WRITE_TIMEOUT", "5s", func(c *Config) bool { return c.MCP.Limits.WriteTimeout == 5*time.Second }},
	{"limits pages per identity", "TSMCP_MCP_LIMITS_PAGES_PER_IDENTITY", "2", func(c *Config) bool { return c.MCP.Limits.PagesPerIdentity == 2 }},
	{"limits pages total", "TSMCP_MCP_LIMITS_PAGES_TOTAL", "300", func(c *Config) bool { return c.MCP.Limits.PagesTotal == 300 }},
	{"limits upstream items", "TSMCP_MCP_LIMITS_UPSTREAM_ITEMS", "500", func(c *Config) bool { return c.MCP.Limits.UpstreamItems == 500 }},
	{"limits upstream item bytes", "TSMCP_MCP_LIMITS_UPSTREAM_ITEM_BYTES", "1MiB", func(c *Config) bool { return c.MCP.Limits.UpstreamItemBytes == MiB }},
	{"limits upstream name bytes", "TSMCP_MCP_LIMITS_UPSTREAM_NAME_BYTES", "256", func(c *Config) bool { return c.MCP.Limits.UpstreamNameBytes == 256 }},
	{"limits upstream uri bytes", "TSMCP_MCP_LIMITS_UPSTREAM_URI_BYTES", "8KiB", func(c *Config) bool { return c.MCP.Limits.UpstreamURIBytes == 8*KiB }},
	{"limits upstream title bytes", "TSMCP_MCP_LIMITS_UPSTREAM_TITLE_BYTES", "200B", func(c *Config) bool { return c.MCP.Limits.UpstreamTitleBytes == 200 }},
	{"limits upstream description bytes", "TSMCP_MCP_LIMITS_UPSTREAM_DESCRIPTION_BYTES", "32KiB", func(c *Config) bool { return c.MCP.Limits.UpstreamDescriptionBytes == 32*KiB }},
	{"capability", "TSMCP_ACL_CAPABILITY", "example.com/cap/other", func(c *Config) bool { return c.ACL.Capability == "example.com/cap/other" }},
	{"groups", "TSMCP_ACL_GROUPS", `{"sre":["carol@example.com"],"Ops_Team":["dave@example.com"]}`, func(c *Config) bool {
		return reflect.DeepEqual(c.ACL.Groups, map[string][]string{"sre": {"carol@example.com"}, "Ops_Team": {"dave@example.com"}})
	}},
	{"rules", "TSMCP_ACL_RULES", `[{"src":["*"],"tools":["whoami"]}]`, func(c *Config) bool {
		return reflect.DeepEqual(c.ACL.Rules, []acl.Rule{{Src: []string{"*"}, Tools: []string{"whoami"}}})
	}},
	{"rules with prompts and resources", "TSMCP_ACL_RULES", `[{"src":["*"],"prompts":["docs__*"],"resources":["docs+file:///*"]}]`, func(c *Config) bool {
		return reflect.DeepEqual(c.ACL.Rules, []acl.Rule{{Src: []string{"*"}, Prompts: []string{"docs__*"}, Resources: []string{"docs+file:///*"}}})
	}},
	{"tools", "TSMCP_TOOLS", `[{"name":"echo","exec":{"command":["echo","{{.msg}}"],"env":{"My_Var":"v"}},"params":{"msg":{"required":true}}}]`, func(c *Config) bool {
		return reflect.DeepEqual(c.Tools, []Tool{{
			Name:   "echo",
			Exec:   &ExecTool{Command: []string{"echo", "{{.msg}}"}, Env: map[string]string{"My_Var": "v"}},
			Params: map[string]Param{"msg": {Type: "string", Required: true}},
		}})
	}},
	{"metrics off", "TSMCP_HEALTH_METRICS", "false", func(c *Config) bool { return !c.Health.Metrics }},
	{"ready without upstreams", "TSMCP_HEALTH_WAIT_FOR_UPSTREAMS", "false", func(c *Config) bool { return !c.Health.WaitForUpstreams }},
	{"data dir", "TSMCP_DATA_DIR", "/srv/tsmcp", func(c *Config) bool { return c.Data.Dir == "/srv/tsmcp" }},
	{"secrets source", "TSMCP_SECRETS_SOURCE", "dir:/srv/secrets", func(c *Config) bool { return c.Secrets.Source == "dir:/srv/secrets" }},
	{"audit log", "TSMCP_LOG_AUDIT", "/var/log/tsmcp-audit.jsonl", func(c *Config) bool { return c.Log.Audit == "/var/log/tsmcp-audit.jsonl" }},
	{"tool annotations", "TSMCP_TOOLS", `[{"name":"du","exec":{"command":["du"]},"annotations":{"title":"Disk usage","read_only":true,"open_world":false}}]`, func(c *Config) bool {
		a := c.Tools[0].Annotations
		return a != nil && a.Title == "Disk usage" && a.ReadOnly != nil && *a.ReadOnly && a.OpenWorld != nil && !*a.OpenWorld && a.Destructive == nil && a.Idempotent == nil
	}},
	{"upstreams", "TSMCP_UPSTREAMS", `[{"name":"docs","url":"https://docs.internal/mcp","isolation":"per-identity","headers":{"X-Team":"sre"}}]`, func(c *Config) bool {
		return reflect.DeepEqual(c.Upstreams, []Upstream{{
			Name: "docs", URL: "https://docs.internal/mcp", Isolation: "per-identity", Headers: map[string]string{"X-Team": "sre"},
			Timeout: DefaultUpstreamTimeout,
		}})
	}},
}

func TestEnvCoversEveryKey(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range envCases {
		covered[c.env] = true
	}
	for _, k := range configKeys {
		if env := envVars(k.key)[0]; !covered[env] {
			t.Errorf("no env test for %s (%s)", k.key, env)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	files := map[string]string{
		"key in file":     "testdata/design-example.yaml",
		"key absent":      "", // no file at all
		"key not in file": "", // a file without the key, set below
	}
	for _, tt := range envCases {
		for variant, file := range files {
			t.Run(tt.name+"/"+variant, func(t *testing.T) {
				clearEnv(t)
				if variant == "key not in file" {
					file = writeFile(t, "c.yaml", "health:\n  addr: 0.0.0.0:8081\n")
				}
				t.Setenv(tt.env, tt.value)
				if tt.env == "TSMCP_TAILNET_SERVICE" {
					// A service needs tags and a session key, which the
					// defaults lack.
					t.Setenv("TSMCP_TAILNET_TAGS", "tag:mcp")
					t.Setenv("TSMCP_MCP_SESSION_KEY", strings.Repeat("cd", 32))
				}
				c := mustLoad(t, LoadOptions{File: file})
				if !tt.check(c) {
					t.Errorf("%s=%s not applied: %+v", tt.env, tt.value, c)
				}
				if variant == "key not in file" && tt.env != "TSMCP_HEALTH_ADDR" && c.Health.Addr != "0.0.0.0:8081" {
					t.Errorf("file value lost: health.addr = %q", c.Health.Addr)
				}
			})
		}
	}
}

func TestTailscaleEnv(t *testing.T) {
	for _, tt := range []struct {
		name     string
		env      map[string]string
		file     string
		wantKey  string
		wantCtrl string
	}{
		{name: "TS_AUTHKEY", env: map[string]string{"TS_AUTHKEY": "tskey-auth-ts"}, wantKey: "tskey-auth-ts"},
		{name: "TS_AUTH_KEY", env: map[string]string{"TS_AUTH_KEY": "tskey-auth-ts2"}, wantKey: "tskey-auth-ts2"},
		{
			name:    "TS_CLIENT_SECRET",
			env:     map[string]string{"TS_CLIENT_SECRET": "tskey-client-abc", "TSMCP_TAILNET_TAGS": "tag:mcp"},
			wantKey: "tskey-client-abc",
		},
		{
			name:    "TS_AUTHKEY before TS_CLIENT_SECRET",
			env:     map[string]string{"TS_AUTHKEY": "tskey-auth-first", "TS_CLIENT_SECRET": "tskey-client-second"},
			wantKey: "tskey-auth-first",
		},
		{
			name:    "TSMCP_ before TS_",
			env:     map[string]string{"TSMCP_TAILNET_AUTH_KEY": "tskey-auth-tsmcp", "TS_AUTHKEY": "tskey-auth-ts"},
			wantKey: "tskey-auth-tsmcp",
		},
		{
			name:    "TS_AUTHKEY before file",
			env:     map[string]string{"TS_AUTHKEY": "tskey-auth-env"},
			file:    "tailnet:\n  auth_key: tskey-auth-file\n",
			wantKey: "tskey-auth-env",
		},
		{name: "file without env", file: "tailnet:\n  auth_key: tskey-auth-file\n", wantKey: "tskey-auth-file"},
		{name: "TS_CONTROL_URL", env: map[string]string{"TS_CONTROL_URL": "http://127.0.0.1:9911"}, wantCtrl: "http://127.0.0.1:9911"},
		{
			name:     "TSMCP_ control url before TS_CONTROL_URL",
			env:      map[string]string{"TS_CONTROL_URL": "http://ts", "TSMCP_TAILNET_CONTROL_URL": "http://tsmcp"},
			wantCtrl: "http://tsmcp",
		},
		{
			name:     "TS_CONTROL_URL before file",
			env:      map[string]string{"TS_CONTROL_URL": "http://env"},
			file:     "tailnet:\n  control_url: http://file\n",
			wantCtrl: "http://env",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var opts LoadOptions
			if tt.file != "" {
				opts.File = writeFile(t, "c.yaml", tt.file)
			}
			c := mustLoad(t, opts)
			if c.Tailnet.AuthKey != tt.wantKey {
				t.Errorf("auth_key = %q, want %q", c.Tailnet.AuthKey, tt.wantKey)
			}
			if c.Tailnet.ControlURL != tt.wantCtrl {
				t.Errorf("control_url = %q, want %q", c.Tailnet.ControlURL, tt.wantCtrl)
			}
		})
	}
}

func TestPrecedence(t *testing.T) {
	const file = "tailnet:\n  hostname: from-file\n  tags: [tag:file]\n  ephemeral: true\n  state: \"mem:\"\nhealth:\n  addr: 0.0.0.0:1111\n"
	for _, tt := range []struct {
		name      string
		file      bool
		env       map[string]string
		args      []string
		wantHost  string
		wantTags  []string
		wantAddr  string
		wantEphem bool
	}{
		{name: "default", wantHost: "tsmcp", wantAddr: "0.0.0.0:8080"},
		{name: "file over default", file: true, wantHost: "from-file", wantTags: []string{"tag:file"}, wantAddr: "0.0.0.0:1111", wantEphem: true},
		{
			name: "env over file", file: true,
			env:      map[string]string{"TSMCP_TAILNET_HOSTNAME": "from-env", "TSMCP_TAILNET_TAGS": "tag:env"},
			wantHost: "from-env", wantTags: []string{"tag:env"}, wantAddr: "0.0.0.0:1111", wantEphem: true,
		},
		{
			name: "flag over env", file: true,
			env:      map[string]string{"TSMCP_TAILNET_HOSTNAME": "from-env", "TSMCP_HEALTH_ADDR": "0.0.0.0:2222"},
			args:     []string{"--hostname=from-flag", "--tags=tag:f1,tag:f2", "--health-addr=:3333"},
			wantHost: "from-flag", wantTags: []string{"tag:f1", "tag:f2"}, wantAddr: ":3333", wantEphem: true,
		},
		{
			name: "unset flags change nothing", file: true,
			args:     []string{},
			wantHost: "from-file", wantTags: []string{"tag:file"}, wantAddr: "0.0.0.0:1111", wantEphem: true,
		},
		{
			name: "unset flags keep env", file: true,
			env:      map[string]string{"TSMCP_TAILNET_HOSTNAME": "from-env"},
			args:     []string{"--https"},
			wantHost: "from-env", wantTags: []string{"tag:file"}, wantAddr: "0.0.0.0:1111", wantEphem: true,
		},
		{
			name: "bool flag false over file true", file: true,
			args:     []string{"--ephemeral=false", "--state=/tmp/state"},
			wantHost: "from-file", wantTags: []string{"tag:file"}, wantAddr: "0.0.0.0:1111", wantEphem: false,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var opts LoadOptions
			if tt.file {
				opts.File = writeFile(t, "c.yaml", file)
			}
			if tt.args != nil {
				fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
				RegisterFlags(fs)
				if err := fs.Parse(tt.args); err != nil {
					t.Fatal(err)
				}
				opts.Flags = fs
			}
			c := mustLoad(t, opts)
			if c.Tailnet.Hostname != tt.wantHost || !reflect.DeepEqual(c.Tailnet.Tags, tt.wantTags) ||
				c.Health.Addr != tt.wantAddr || c.Tailnet.Ephemeral != tt.wantEphem {
				t.Errorf("got hostname %q tags %q addr %q ephemeral %v; want %q %q %q %v",
					c.Tailnet.Hostname, c.Tailnet.Tags, c.Health.Addr, c.Tailnet.Ephemeral,
					tt.wantHost, tt.wantTags, tt.wantAddr, tt.wantEphem)
			}
		})
	}
}

// TestDurationAndSizeFlags: the typed flags reach the config, over the
// file's values.
func TestDurationAndSizeFlags(t *testing.T) {
	clearEnv(t)
	f := writeFile(t, "c.yaml", "mcp:\n  keepalive: 20s\n  max_body: 4MiB\n")
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse([]string{"--keepalive=5s", "--max-body=1KiB", "--shutdown-grace=3s", "--up-timeout=10s", "--acl-capability=example.com/cap/x",
		"--service-drain=7s", "--service-port=8443", "--wait-for-upstreams=false", "--data-dir=/srv/tsmcp"}); err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, LoadOptions{File: f, Flags: fs})
	if c.MCP.Keepalive != 5*time.Second || c.MCP.MaxBody != KiB || c.MCP.ShutdownGrace != 3*time.Second ||
		c.Tailnet.UpTimeout != 10*time.Second || c.ACL.Capability != "example.com/cap/x" ||
		c.Tailnet.ServiceDrain != 7*time.Second || c.Tailnet.ServicePort != 8443 ||
		c.Health.WaitForUpstreams || c.Data.Dir != "/srv/tsmcp" {
		t.Fatalf("got %+v %+v %q", c.MCP, c.Tailnet.UpTimeout, c.ACL.Capability)
	}
}

func TestRegisterFlags(t *testing.T) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	for _, f := range flagKeys {
		if fs.Lookup(f.name) == nil {
			t.Errorf("flag --%s not registered", f.name)
		}
	}
	if got := fs.Lookup("hostname").DefValue; got != "tsmcp" {
		t.Errorf("--hostname default = %q, want tsmcp", got)
	}
	// A flag set without tsmcp's flags, or with only some, is fine.
	clearEnv(t)
	other := pflag.NewFlagSet("other", pflag.ContinueOnError)
	other.String("hostname", "", "")
	if err := other.Parse([]string{"--hostname=x"}); err != nil {
		t.Fatal(err)
	}
	if c := mustLoad(t, LoadOptions{Flags: other}); c.Tailnet.Hostname != "x" {
		t.Errorf("hostname = %q, want x", c.Tailnet.Hostname)
	}
}

// TestCaseSensitiveKeys checks that map keys inside tools, upstreams and
// acl keep their case and dots, whatever the source: exec environment
// variable names and param names are case-sensitive.
func TestCaseSensitiveKeys(t *testing.T) {
	const yaml = `
acl:
  groups:
    SRE: [alice@example.com]
  rules:
    - src: [group:SRE]
      tools: [Echo]
tools:
  - name: Echo
    exec:
      command: [echo, "{{.filePath}}"]
      env: {My_Var: v, HOME: /x}
    params:
      filePath: {type: string}
  - name: get
    http:
      method: post
      url: https://api.example.com/{{.filePath}}
      headers: {X-Api.Key: k, Content-Type: application/json}
    params:
      filePath: {}
upstreams:
  - name: up
    command: [server]
    env: {Mixed_Case: "1"}
`
	const toml = `
[acl.groups]
SRE = ["alice@example.com"]
[[acl.rules]]
src = ["group:SRE"]
tools = ["Echo"]
[[tools]]
name = "Echo"
[tools.exec]
command = ["echo", "{{.filePath}}"]
env = {My_Var = "v", HOME = "/x"}
[tools.params.filePath]
type = "string"
[[tools]]
name = "get"
[tools.http]
method = "post"
url = "https://api.example.com/{{.filePath}}"
headers = {"X-Api.Key" = "k", Content-Type = "application/json"}
[tools.params.filePath]
[[upstreams]]
name = "up"
command = ["server"]
env = {Mixed_Case = "1"}
`
	check := func(t *testing.T, c *Config) {
		t.Helper()
		if _, ok := c.ACL.Groups["SRE"]; !ok {
			t.Errorf("acl.groups = %v, want key SRE", c.ACL.Groups)
		}
		if got, want := c.Tools[0].Exec.Env, map[string]string{"My_Var": "v", "HOME": "/x"}; !reflect.DeepEqual(got, want) {
			t.Errorf("exec env = %v, want %v", got, want)
		}
		if _, ok := c.Tools[0].Params["filePath"]; !ok {
			t.Errorf("params = %v, want key filePath", c.Tools[0].Params)
		}
		if got, want := c.Tools[1].HTTP.Headers, map[string]string{"X-Api.Key": "k", "Content-Type": "application/json"}; !reflect.DeepEqual(got, want) {
			t.Errorf("headers = %v, want %v", got, want)
		}
		if c.Tools[1].HTTP.Method != "POST" || c.Tools[1].Params["filePath"].Type != "string" {
			t.Errorf("not normalized: method %q, param type %q", c.Tools[1].HTTP.Method, c.Tools[1].Params["filePath"].Type)
		}
		if got := c.Upstreams[0].Env; !reflect.DeepEqual(got, map[string]string{"Mixed_Case": "1"}) {
			t.Errorf("upstream env = %v", got)
		}
	}
	for _, tt := range []struct{ name, file, content string }{
		{"yaml", "c.yaml", yaml},
		{"toml", "c.toml", toml},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			check(t, mustLoad(t, LoadOptions{File: writeFile(t, tt.file, tt.content)}))
		})
	}
	t.Run("env json", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("TSMCP_ACL_GROUPS", `{"SRE":["alice@example.com"]}`)
		t.Setenv("TSMCP_ACL_RULES", `[{"src":["group:SRE"],"tools":["Echo"]}]`)
		t.Setenv("TSMCP_TOOLS", `[
			{"name":"Echo","exec":{"command":["echo","{{.filePath}}"],"env":{"My_Var":"v","HOME":"/x"}},"params":{"filePath":{"type":"string"}}},
			{"name":"get","http":{"method":"post","url":"https://api.example.com/{{.filePath}}","headers":{"X-Api.Key":"k","Content-Type":"application/json"}},"params":{"filePath":{}}}]`)
		t.Setenv("TSMCP_UPSTREAMS", `[{"name":"up","command":["server"],"env":{"Mixed_Case":"1"}}]`)
		check(t, mustLoad(t, LoadOptions{}))
	})
	t.Run("scalar sections are case-insensitive", func(t *testing.T) {
		clearEnv(t)
		c := mustLoad(t, LoadOptions{File: writeFile(t, "c.yaml", "Tailnet:\n  HostName: upper\n")})
		if c.Tailnet.Hostname != "upper" {
			t.Errorf("hostname = %q", c.Tailnet.Hostname)
		}
	})
}

// TestUpstreamTimeoutAbsentOrZero: an upstream without a timeout key gets
// DefaultUpstreamTimeout; an explicit 0 stays 0 (no limit), in a file and
// in the environment alike.
func TestUpstreamTimeoutAbsentOrZero(t *testing.T) {
	for _, tt := range []struct {
		name, file, env string
		want            time.Duration
	}{
		{name: "yaml absent", file: "upstreams:\n  - {name: u, command: [s]}\n", want: DefaultUpstreamTimeout},
		{name: "yaml zero", file: "upstreams:\n  - {name: u, command: [s], timeout: 0s}\n", want: 0},
		{name: "yaml bare zero", file: "upstreams:\n  - {name: u, command: [s], timeout: 0}\n", want: 0},
		{name: "yaml set", file: "upstreams:\n  - {name: u, command: [s], Timeout: 5s}\n", want: 5 * time.Second},
		{name: "env absent", env: `[{"name":"u","command":["s"]}]`, want: DefaultUpstreamTimeout},
		{name: "env zero", env: `[{"name":"u","command":["s"],"timeout":"0s"}]`, want: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			opts := LoadOptions{}
			if tt.file != "" {
				opts.File = writeFile(t, "c.yaml", tt.file)
			}
			if tt.env != "" {
				t.Setenv("TSMCP_UPSTREAMS", tt.env)
			}
			if got := mustLoad(t, opts).Upstreams[0].Timeout; got != tt.want {
				t.Errorf("timeout = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tt := range []struct {
		name    string
		file    string // name in a temp dir; empty: no file
		content string
		env     map[string]string
		want    []string
		notWant []string // substrings no line may have
	}{
		{name: "unknown key", file: "c.yaml", content: "tailnet:\n  hostnme: x\n", want: []string{"tailnet.hostnme: unknown key (did you mean hostname?)"}},
		{name: "unknown section", file: "c.yaml", content: "tailnets:\n  hostname: x\n", want: []string{"tailnets: unknown key (did you mean tailnet?)"}},
		{
			name: "unknown keys in lists", file: "c.yaml",
			content: "tools:\n  - name: a\n    exec: {comand: [x]}\n    params: {p: {typ: string}}\nupstreams:\n  - {name: u, url: http://u, isolaton: shared}\nacl:\n  rules:\n    - {src: ['*'], tool: [a]}\n",
			want: []string{
				"tools[0].exec.comand: unknown key (did you mean command?)",
				"tools[0].params.p.typ: unknown key (did you mean type?)",
				"upstreams[0].isolaton: unknown key (did you mean isolation?)",
				"acl.rules[0].tool: unknown key (did you mean tools?)",
			},
		},
		{name: "unknown key far from any", file: "c.yaml", content: "tailnet:\n  colour: blue\n", want: []string{"tailnet.colour: unknown key"}, notWant: []string{"did you mean"}},
		{name: "unknown key in a mapping of free keys", file: "c.yaml", content: "tools:\n  - name: a\n    exec: {command: [x], env: {HOME: /}}\n    annotations: {read_onyl: true}\n", want: []string{"tools[0].annotations.read_onyl: unknown key (did you mean read_only?)"}},
		{name: "unknown key in json", file: "c.json", content: `{"mcp": {"keep_alive": "1s"}}`, want: []string{"mcp.keep_alive: unknown key (did you mean keepalive?)"}},
		{name: "unknown key in toml", file: "c.toml", content: "[health]\naddress = \":1\"\n", want: []string{"health.address: unknown key (did you mean addr?)"}},
		{name: "unknown key in env json", env: map[string]string{"TSMCP_ACL_RULES": `[{"src":["*"],"tools":["a"],"prompt":["x"]}]`}, want: []string{"acl.rules[0].prompt: unknown key (did you mean prompts?)"}},
		// YAML syntax errors name the line of the problem (or of what was
		// left open), counted from 1: go-yaml alone says the line before,
		// or where the enclosing mapping starts.
		{name: "yaml list left open", file: "c.yaml", content: "tailnet:\n  hostname: x\nacl:\n  rules:\n    - src: ['*']\n      tools: [a\n    - src: [b]\n", want: []string{"c.yaml: invalid YAML: line 6: did not find expected ',' or ']'"}},
		{name: "yaml over-indented key", file: "c.yaml", content: "tailnet:\n  hostname: x\n  state: /x\n bad: 1\n", want: []string{"c.yaml: invalid YAML: line 4: did not find expected key"}},
		{name: "yaml bad key deep in a mapping", file: "c.yaml", content: "tailnet:\n  hostname: x\nmcp:\n  keepalive: 1s\n  max_body: 1MiB\n limits: {}\n", want: []string{"c.yaml: invalid YAML: line 6: did not find expected key"}},
		{name: "yaml key inside a list", file: "c.yaml", content: "tailnet:\n  hostname: x\n  tags:\n    - tag:a\n    x: 1\n", want: []string{"c.yaml: invalid YAML: line 5: did not find expected '-' indicator"}},
		{name: "yaml mapping left open", file: "c.yaml", content: "tailnet:\n  hostname: x\nhealth: {addr: x\nmcp: {}\n", want: []string{"c.yaml: invalid YAML: line 3: did not find expected ',' or '}'"}},
		{name: "yaml list on the first line", file: "c.yaml", content: "- a\ntailnet: {}\n", want: []string{"c.yaml: invalid YAML: line 2: did not find expected '-' indicator"}},
		{name: "yaml tab", file: "c.yaml", content: "tailnet:\n  hostname: x\n  state: /x\nacl:\n\trules: []\n", want: []string{"c.yaml: invalid YAML: line 5: found character that cannot start any token"}},
		{name: "yaml quote left open", file: "c.yaml", content: "tailnet:\n  hostname: x\n\nhealth:\n  addr: \"x\nmcp: {}\n", want: []string{"c.yaml: invalid YAML: line 5: found unexpected end of stream"}},
		{name: "yaml colon in a value", file: "c.yaml", content: "tailnet:\n  hostname: x\n  state: a: b\n", want: []string{"c.yaml: invalid YAML: line 3: mapping values are not allowed in this context"}},
		{name: "yaml duplicate key", file: "c.yaml", content: "tailnet:\n  hostname: x\ntailnet:\n  state: y\n", want: []string{`line 3: mapping key "tailnet" already defined at line 1`}},
		{name: "bad duration", file: "c.yaml", content: "mcp:\n  keepalive: abc\n", want: []string{`mcp.keepalive: "abc" is not a duration`}},
		{name: "duration without unit", file: "c.yaml", content: "mcp:\n  keepalive: 20\n", want: []string{"mcp.keepalive: 20 is not a duration: add a unit"}},
		{name: "bad duration in list", file: "c.yaml", content: "tools:\n  - {name: a, exec: {command: [x], timeout: soon}}\n", want: []string{`tools[0].exec.timeout: "soon" is not a duration`}},
		{name: "bad duration from env", env: map[string]string{"TSMCP_TAILNET_UP_TIMEOUT": "1 minute"}, want: []string{`tailnet.up_timeout: "1 minute" is not a duration`}},
		{name: "bad size", file: "c.yaml", content: "mcp:\n  max_body: 4 megs\n", want: []string{`mcp.max_body: "4 megs" is not a size`}},
		{name: "bad size from env", env: map[string]string{"TSMCP_MCP_MAX_BODY": "lots"}, want: []string{`mcp.max_body: "lots" is not a size`}},
		{name: "fractional size", file: "c.json", content: `{"mcp": {"max_body": 1.5}}`, want: []string{"mcp.max_body: 1.5 is not a whole number of bytes"}},
		{name: "bad bool", file: "c.yaml", content: "tailnet:\n  ephemeral: maybe\n", want: []string{`tailnet.ephemeral: "maybe" is not a boolean`}},
		{name: "bad bool from env", env: map[string]string{"TSMCP_TAILNET_HTTPS": "yes please"}, want: []string{`tailnet.https: "yes please" is not a boolean`}},
		{name: "mapping for string", file: "c.yaml", content: "health:\n  addr: {host: x}\n", want: []string{"health.addr: expected a string, got a mapping"}},
		{name: "string for section", file: "c.yaml", content: "mcp: fast\n", want: []string{"mcp: expected a mapping (key: value), got a string"}},
		{name: "mapping for list", file: "c.yaml", content: "tools:\n  name: a\n", want: []string{"tools: expected a list, got a mapping"}},
		{name: "string for exec", file: "c.yaml", content: "tools:\n  - {name: a, exec: df -h}\n", want: []string{"tools[0].exec: expected a mapping (key: value), got a string"}},
		{name: "bad json in env", env: map[string]string{"TSMCP_ACL_RULES": `[{"src":`}, want: []string{"acl.rules: expected a list, got a string that is not a JSON list"}},
		{name: "json of wrong shape in env", env: map[string]string{"TSMCP_TOOLS": `{"name":"a"}`}, want: []string{"tools: expected a list, got a mapping"}},
		{name: "missing file", file: "missing.yaml", want: []string{"missing.yaml", "file does not exist"}},
		{name: "bad extension", file: "c.ini", content: "x=1\n", want: []string{"c.ini", `unsupported extension ".ini"`}},
		{name: "no extension", file: "config", content: "x: 1\n", want: []string{"config", `unsupported extension ""`}},
		{name: "bad yaml", file: "c.yaml", content: "tailnet: [\n", want: []string{"c.yaml: invalid YAML"}},
		{name: "bad json", file: "c.json", content: "{", want: []string{"c.json: invalid JSON"}},
		{name: "bad toml", file: "c.toml", content: "[tailnet\n", want: []string{"c.toml: invalid TOML"}},
		{name: "validation after decode", file: "c.yaml", content: "tailnet:\n  hostname: -x-\n", want: []string{`tailnet.hostname: "-x-" is not a DNS label`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var opts LoadOptions
			if tt.file != "" {
				opts.File = filepath.Join(t.TempDir(), tt.file)
				if tt.content != "" {
					opts.File = writeFile(t, tt.file, tt.content)
				}
			}
			c, err := Load(opts)
			if c != nil {
				t.Errorf("Load returned a config with an error")
			}
			wantErr(t, err, tt.want...)
			for _, nw := range tt.notWant {
				if err != nil && strings.Contains(err.Error(), nw) {
					t.Errorf("error has %q; got:\n%v", nw, err)
				}
			}
			if tt.name == "missing file" && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("missing file error %v is not fs.ErrNotExist", err)
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	clearEnv(t)
	path := writeFile(t, "c.yaml", `
tailnet:
  hostname: "bad host"
  state: ""
  tags: [mcp]
  up_timeout: 0s
health:
  addr: nope
mcp:
  max_body: 0
acl:
  rules:
    - src: [group:nobody]
      tools: [a]
tools:
  - name: whoami
    exec: {command: []}
upstreams:
  - name: up_1
`)
	_, err := Load(LoadOptions{File: path})
	wantErr(t, err,
		"tailnet.hostname: ",
		"tailnet.state: must not be empty",
		"tailnet.tags[0]: ",
		"tailnet.up_timeout: must be greater than 0",
		"health.addr: ",
		"mcp.max_body: ",
		"acl.rules[0].src[0]: ",
		`tools[0].name: "whoami" is reserved`,
		"tools[0].exec.command: must not be empty",
		"upstreams[0].name: ",
		"upstreams[0]: needs exactly one of command, package or url",
	)
	for _, l := range strings.Split(err.Error(), "\n") {
		if !strings.Contains(l, ": ") {
			t.Errorf("line %q is not key: problem", l)
		}
	}
}
