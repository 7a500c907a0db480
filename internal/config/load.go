package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// LoadOptions says where Load reads from besides the environment.
type LoadOptions struct {
	// File is the config file (.yaml, .yml, .json or .toml). Empty means
	// no file: defaults, environment and flags only. A named file that
	// does not exist is an error.
	File string
	// Flags holds the flags registered by RegisterFlags, after parsing;
	// only flags that were set override other sources. Nil means no
	// flags.
	Flags *pflag.FlagSet
}

// flagKeys maps the flags of RegisterFlags to their config keys.
var flagKeys = []struct{ name, key, usage string }{
	{"hostname", "tailnet.hostname", "MagicDNS name of the node (tailnet.hostname)"},
	{"control-url", "tailnet.control_url", "coordination server URL; empty means Tailscale's (tailnet.control_url)"},
	{"state", "tailnet.state", "node state: a directory, mem:, kube:<secret> or an SSM parameter ARN (tailnet.state)"},
	{"ephemeral", "tailnet.ephemeral", "register an ephemeral node (tailnet.ephemeral)"},
	{"tags", "tailnet.tags", "ACL tags to advertise, comma-separated (tailnet.tags)"},
	{"https", "tailnet.https", "also serve HTTPS on port 443 with the tailnet certificate (tailnet.https)"},
	{"up-timeout", "tailnet.up_timeout", "give up joining the tailnet after this long (tailnet.up_timeout)"},
	{"service", "tailnet.service", "also serve MCP as this Tailscale Service, svc:<name> (tailnet.service)"},
	{"service-port", "tailnet.service_port", "TCP port the Tailscale Service advertises (tailnet.service_port)"},
	{"service-drain", "tailnet.service_drain", "on SIGTERM, serve this long after withdrawing the Service advertisement (tailnet.service_drain)"},
	{"health-addr", "health.addr", "host:port of the health listener (health.addr)"},
	{"metrics", "health.metrics", "serve Prometheus metrics at /metrics on the health listener (health.metrics)"},
	{"wait-for-upstreams", "health.wait_for_upstreams", "keep /readyz at 503 until every upstream has come up once (health.wait_for_upstreams)"},
	{"keepalive", "mcp.keepalive", "interval of SSE/stream pings; 0 disables them (mcp.keepalive)"},
	{"max-body", "mcp.max_body", "largest request body accepted, e.g. 4MiB (mcp.max_body)"},
	{"shutdown-grace", "mcp.shutdown_grace", "time in-flight calls get on SIGTERM (mcp.shutdown_grace)"},
	{"acl-capability", "acl.capability", "app capability read from tailnet grants (acl.capability)"},
	{"log-audit", "log.audit", "where audit lines go: stderr, stdout or an absolute file path (log.audit)"},
	{"data-dir", "data.dir", "directory for per-identity upstream directories; default: tailnet.state's directory, or a temporary one (data.dir)"},
	{"secrets-source", "secrets.source", "where per-identity secrets (${secret:NAME}) are stored: dir:<path>, kube:<prefix> or ssm:<path> (secrets.source)"},
}

// RegisterFlags adds a flag for every scalar config key to fs (see
// flagKeys). The auth key has none: command lines are visible to every
// user of the machine.
// Their defaults, shown in help, are those of Default; pass fs to Load
// through LoadOptions.Flags once parsed.
func RegisterFlags(fs *pflag.FlagSet) {
	d := Default()
	for _, f := range flagKeys {
		switch f.key {
		case "tailnet.hostname":
			fs.String(f.name, d.Tailnet.Hostname, f.usage)
		case "tailnet.control_url":
			fs.String(f.name, d.Tailnet.ControlURL, f.usage)
		case "tailnet.state":
			fs.String(f.name, d.Tailnet.State, f.usage)
		case "tailnet.ephemeral":
			fs.Bool(f.name, d.Tailnet.Ephemeral, f.usage)
		case "tailnet.tags":
			fs.StringSlice(f.name, d.Tailnet.Tags, f.usage)
		case "tailnet.https":
			fs.Bool(f.name, d.Tailnet.HTTPS, f.usage)
		case "tailnet.up_timeout":
			fs.Duration(f.name, d.Tailnet.UpTimeout, f.usage)
		case "tailnet.service":
			fs.String(f.name, d.Tailnet.Service, f.usage)
		case "tailnet.service_port":
			fs.Int(f.name, d.Tailnet.ServicePort, f.usage)
		case "tailnet.service_drain":
			fs.Duration(f.name, d.Tailnet.ServiceDrain, f.usage)
		case "health.addr":
			fs.String(f.name, d.Health.Addr, f.usage)
		case "health.metrics":
			fs.Bool(f.name, d.Health.Metrics, f.usage)
		case "health.wait_for_upstreams":
			fs.Bool(f.name, d.Health.WaitForUpstreams, f.usage)
		case "mcp.keepalive":
			fs.Duration(f.name, d.MCP.Keepalive, f.usage)
		case "mcp.max_body":
			fs.String(f.name, d.MCP.MaxBody.String(), f.usage)
		case "mcp.shutdown_grace":
			fs.Duration(f.name, d.MCP.ShutdownGrace, f.usage)
		case "acl.capability":
			fs.String(f.name, d.ACL.Capability, f.usage)
		case "log.audit":
			fs.String(f.name, d.Log.Audit, f.usage)
		case "data.dir":
			fs.String(f.name, d.Data.Dir, f.usage)
		case "secrets.source":
			fs.String(f.name, d.Secrets.Source, f.usage)
		}
	}
}

// extraEnv lists, per key, the environment variables consulted after
// TSMCP_<SECTION>_<KEY>, in order.
var extraEnv = map[string][]string{
	"tailnet.auth_key":    {"TS_AUTHKEY", "TS_AUTH_KEY", "TS_CLIENT_SECRET"},
	"tailnet.control_url": {"TS_CONTROL_URL"},
}

// envVars returns the environment variables for key, highest precedence
// first.
func envVars(key string) []string {
	primary := "TSMCP_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
	return append([]string{primary}, extraEnv[key]...)
}

// EnvVars lists every environment variable Load reads: for each config
// key its TSMCP_<SECTION>_<KEY> variable, then the key's fallbacks (e.g.
// TS_AUTHKEY). Load treats an empty variable as unset, so setting each of
// them to "" shields a Load from the caller's environment, as tests do.
func EnvVars() []string {
	var out []string
	for _, k := range configKeys {
		out = append(out, envVars(k.key)...)
	}
	return out
}

// configKey is one leaf key of Config (e.g. "mcp.max_body") with the
// index path of its struct field.
type configKey struct {
	key   string
	index []int
}

// configKeys lists every leaf key of Config: struct fields are descended
// into, anything else (scalars, durations, lists, maps) is a leaf.
var configKeys = leafKeys(reflect.TypeFor[Config](), "", nil)

func leafKeys(t reflect.Type, prefix string, index []int) []configKey {
	var out []configKey
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		key := prefix + tag
		idx := append(slices.Clone(index), i)
		if f.Type.Kind() == reflect.Struct {
			out = append(out, leafKeys(f.Type, key+".", idx)...)
			continue
		}
		out = append(out, configKey{key: key, index: idx})
	}
	return out
}

// Load builds a Config from opts.File (if any), the environment and
// opts.Flags (if any) over Default, and validates it. Every problem is one
// line "key: problem" of the returned error (use errors.Join's Unwrap to
// get them one by one). A non-empty TSMCP_ variable that matches no key is
// an error naming it (Kubernetes service-link variables are allowed).
func Load(opts LoadOptions) (*Config, error) {
	if err := checkEnv(os.Environ()); err != nil {
		return nil, err
	}
	v := viper.NewWithOptions(viper.WithDecoderRegistry(rawSectionRegistry{viper.NewCodecRegistry()}))

	def := reflect.ValueOf(Default()).Elem()
	for _, k := range configKeys {
		if dv := def.FieldByIndex(k.index); !dv.IsZero() {
			v.SetDefault(k.key, dv.Interface())
		}
		if err := v.BindEnv(append([]string{k.key}, envVars(k.key)...)...); err != nil {
			return nil, err
		}
	}

	if opts.File != "" {
		if err := readFile(v, opts.File); err != nil {
			return nil, err
		}
	}

	if opts.Flags != nil {
		for _, f := range flagKeys {
			if pf := opts.Flags.Lookup(f.name); pf != nil {
				if err := v.BindPFlag(f.key, pf); err != nil {
					return nil, err
				}
			}
		}
	}

	cfg := &Config{}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:       decodeHook,
		ErrorUnused:      true,
		WeaklyTypedInput: true,
		TagName:          "mapstructure",
		Result:           cfg,
	})
	if err != nil {
		return nil, err
	}
	if err := dec.Decode(v.AllSettings()); err != nil {
		return nil, decodeError(err)
	}
	cfg.normalize()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// readFile reads path into v, choosing the format by extension.
func readFile(v *viper.Viper, path string) error {
	var format string
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".yaml", ".yml":
		format = "yaml"
	case ".json":
		format = "json"
	case ".toml":
		format = "toml"
	default:
		return fmt.Errorf("config file %s: unsupported extension %q (want .yaml, .yml, .json or .toml)", path, ext)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("config file %s: %w", path, fs.ErrNotExist)
	}
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	v.SetConfigType(format)
	if err := v.ReadConfig(bytes.NewReader(b)); err != nil {
		var pe viper.ConfigParseError
		if errors.As(err, &pe) {
			err = pe.Unwrap()
		}
		return fmt.Errorf("config file %s: invalid %s: %w", path, strings.ToUpper(format), err)
	}
	return nil
}

// normalize fills in the defaults that live inside lists: an HTTP tool's
// method (GET, upper-cased) and a param's type (string).
func (c *Config) normalize() {
	for i := range c.Tools {
		t := &c.Tools[i]
		if t.HTTP != nil {
			t.HTTP.Method = strings.ToUpper(t.HTTP.Method)
			if t.HTTP.Method == "" {
				t.HTTP.Method = "GET"
			}
		}
		for name, p := range t.Params {
			if p.Type == "" {
				p.Type = "string"
				t.Params[name] = p
			}
		}
	}
}

// rawSections are the keys whose values viper must not touch: viper
// lower-cases map keys and splits them at dots, which would change exec
// environment variable names, param names (used in templates) and header
// names. Their values are kept as decoded from the file, wrapped in
// rawValue, and unwrapped by decodeHook.
var rawSections = [][]string{{"acl", "groups"}, {"acl", "rules"}, {"tools"}, {"upstreams"}}

// rawValue hides a value from viper's key rewriting: viper only descends
// into maps and slices.
type rawValue struct{ v any }

// rawSectionRegistry wraps viper's decoders so that rawSections are
// wrapped in rawValue before viper lower-cases the file's keys.
type rawSectionRegistry struct{ base viper.DecoderRegistry }

func (r rawSectionRegistry) Decoder(format string) (viper.Decoder, error) {
	d, err := r.base.Decoder(format)
	if err != nil {
		return nil, err
	}
	return rawSectionDecoder{base: d, yaml: isYAML(format)}, nil
}

type rawSectionDecoder struct {
	base viper.Decoder
	yaml bool // the format is YAML: syntax errors get their line corrected
}

func (d rawSectionDecoder) Decode(b []byte, m map[string]any) error {
	if err := d.base.Decode(b, m); err != nil {
		if d.yaml {
			return yamlLine(b, err)
		}
		return err
	}
	for _, path := range rawSections {
		wrapRaw(m, path)
	}
	return nil
}

// wrapRaw wraps the value at path (matched case-insensitively, like viper
// does) in rawValue.
func wrapRaw(m map[string]any, path []string) {
	for k, val := range m {
		if !strings.EqualFold(k, path[0]) || val == nil {
			continue
		}
		if len(path) == 1 {
			m[k] = rawValue{val}
		} else if sub, ok := val.(map[string]any); ok {
			wrapRaw(sub, path[1:])
		}
	}
}
