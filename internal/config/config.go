// Package config loads and validates tsmcp's configuration.
//
// A configuration comes from, highest precedence first:
//
//  1. command-line flags (see RegisterFlags), when they were set;
//  2. TSMCP_<SECTION>_<KEY> environment variables, one per key
//     (TSMCP_TAILNET_HOSTNAME, TSMCP_MCP_MAX_BODY, TSMCP_ACL_RULES, …);
//  3. Tailscale's own variables: TS_AUTHKEY, TS_AUTH_KEY, TS_CLIENT_SECRET for
//     tailnet.auth_key and TS_CONTROL_URL for tailnet.control_url;
//  4. the config file (YAML, JSON or TOML, chosen by extension);
//  5. the defaults of Default.
//
// Lists of scalars given in the environment are comma-separated
// (TSMCP_TAILNET_TAGS=tag:a,tag:b) or a JSON array; structured keys
// (acl.groups, acl.rules, tools, upstreams) are JSON
// (TSMCP_ACL_RULES='[{"src":["*"],"tools":["whoami"]}]').
//
// Load reads and validates; every problem is reported as one line
// "key: problem" (e.g. "tailnet.hostnme: unknown key",
// "mcp.keepalive: \"abc\" is not a duration").
package config

import (
	"strings"
	"time"

	"github.com/tsmcp/tsmcp/internal/acl"
)

// Config is tsmcp's whole configuration. The zero value is not usable:
// start from Default (Load does).
type Config struct {
	// Tailnet configures the tsnet node tsmcp runs as.
	Tailnet Tailnet `mapstructure:"tailnet"`
	// Health configures the plain-HTTP health listener.
	Health Health `mapstructure:"health"`
	// MCP configures the MCP transports on the tailnet listener.
	MCP MCP `mapstructure:"mcp"`
	// ACL is the local access policy; its zero value denies every tool
	// except what tailnet grants allow.
	ACL acl.Config `mapstructure:"acl"`
	// Tools are the declarative (exec and http) tools. Nil means none:
	// only the built-in whoami tool and bridged upstream tools exist.
	Tools []Tool `mapstructure:"tools"`
	// Upstreams are MCP servers whose tools are bridged under
	// "<name>__<tool>". Nil means none.
	Upstreams []Upstream `mapstructure:"upstreams"`
	// Log configures where logs go.
	Log Log `mapstructure:"log"`
	// Data configures where tsmcp keeps files of its own (per-identity
	// directories of upstream children).
	Data Data `mapstructure:"data"`
	// Secrets configures where per-identity secrets (${secret:NAME} in
	// upstreams' env and headers and http tools' headers) come from. Its
	// zero value has no source: any ${secret:NAME} is then an error.
	Secrets Secrets `mapstructure:"secrets"`
}

// Secrets configures per-identity secrets: values stored for one tailnet
// identity, named ${secret:NAME} in the env values and headers of
// per-identity upstreams and in the headers of http tools, and resolved
// for each caller from their own entry (see internal/secrets and
// docs/credentials.md). A secret missing for a caller is an error for
// that caller's call, never a shared or empty value.
type Secrets struct {
	// Source is where the values are stored: "dir:<absolute path>" (a
	// directory per identity, <path>/<identity key, URL-path-escaped>/<NAME>),
	// "kube:<prefix>" (a Kubernetes Secret per identity,
	// <prefix><SHA-256 of the identity key>, keyed by NAME) or
	// "ssm:<path>" (an AWS SSM SecureString parameter per identity and
	// NAME, <path>/<SHA-256 of the identity key>/<NAME>).
	// "secretsmanager:<prefix>" is not supported yet (an error). Empty
	// means none: a ${secret:NAME} anywhere is an error.
	Source string `mapstructure:"source"`
}

// Data configures where tsmcp keeps files of its own besides the node's
// state.
type Data struct {
	// Dir is an absolute directory path. Per-identity upstream children
	// get their working directory and HOME under it, in
	// identities/<sha256 of the identity>/<upstream> (each created 0700).
	// Empty means the tailnet.state directory when tailnet.state is a
	// directory, and otherwise (mem:, kube:, arn:) a temporary directory
	// removed on exit (see DataDir).
	Dir string `mapstructure:"dir"`
}

// DataDir returns the directory of Data.Dir's meaning: Data.Dir when set,
// else tailnet.state when it is a directory path; "" means none (the
// caller uses a temporary directory).
func (c *Config) DataDir() string {
	if c.Data.Dir != "" {
		return c.Data.Dir
	}
	if s := c.Tailnet.State; s != "" && !stateIsStore(s) {
		return s
	}
	return ""
}

// stateIsStore reports whether a tailnet.state value names a store other
// than a directory (mem:, kube:<secret>, an SSM parameter ARN).
func stateIsStore(s string) bool {
	return strings.HasPrefix(s, "mem:") || strings.HasPrefix(s, "kube:") || strings.HasPrefix(s, "arn:")
}

// Log configures where logs go. Operational logs always go to stderr.
type Log struct {
	// Audit is where audit lines ("log":"audit") go: "stderr" (with the
	// other logs), "stdout", or an absolute file path (appended to,
	// created 0600). Empty means "stderr".
	Audit string `mapstructure:"audit"`
}

// Tailnet configures the tsnet node.
type Tailnet struct {
	// Hostname is the node's MagicDNS name, a DNS label. Empty is invalid;
	// the default is "tsmcp".
	Hostname string `mapstructure:"hostname"`
	// AuthKey is a Tailscale auth key (tskey-auth-…) or OAuth client
	// secret (tskey-client-…, which requires Tags). Empty means none: the
	// node uses its existing state or prints an interactive login URL.
	// Falls back to TS_AUTHKEY, TS_AUTH_KEY, then TS_CLIENT_SECRET.
	// It is a secret: never log it (use Config.Redacted).
	AuthKey string `mapstructure:"auth_key"`
	// ControlURL is the coordination server's URL. Empty means Tailscale's
	// own; set it for Headscale or a test control server. Falls back to
	// TS_CONTROL_URL.
	ControlURL string `mapstructure:"control_url"`
	// State is where the node keeps its state: a directory path, "mem:"
	// (in memory; requires Ephemeral), "kube:<secret-name>" or
	// "arn:aws:ssm:<region>:<account>:parameter/<name>". Empty is invalid;
	// the default is "/var/lib/tsmcp".
	State string `mapstructure:"state"`
	// Ephemeral registers the node as ephemeral: the control server removes
	// it soon after it goes offline. False means a persistent node.
	Ephemeral bool `mapstructure:"ephemeral"`
	// Tags are the ACL tags the node advertises (e.g. tag:mcp). Nil means
	// none: the node is owned by the user who authorized it. Required
	// when AuthKey is an OAuth client secret.
	Tags []string `mapstructure:"tags"`
	// HTTPS also serves MCP on port 443 with the tailnet certificate
	// (needs MagicDNS and HTTPS enabled on the tailnet). False means
	// port 80 only.
	HTTPS bool `mapstructure:"https"`
	// UpTimeout bounds how long startup waits for the node to reach the
	// Running state. Zero is invalid; the default is 60s.
	UpTimeout time.Duration `mapstructure:"up_timeout"`
	// Service is a Tailscale Service (svc:<name>, the name a lower-case
	// DNS label) this replica also serves MCP on, besides its own name;
	// several replicas serving one name share its traffic. It requires
	// Tags (service hosts are tagged nodes). Empty means no service.
	Service string `mapstructure:"service"`
	// ServicePort is the TCP port the Service advertises. Zero is
	// invalid; the default is 80. Unused without Service.
	ServicePort int `mapstructure:"service_port"`
	// ServiceDrain is how long, on SIGTERM, a replica keeps serving
	// (new and in-flight requests) after withdrawing its Service
	// advertisement, before the shutdown of mcp.shutdown_grace begins.
	// Zero means no wait; the default is 15s. Unused without Service.
	ServiceDrain time.Duration `mapstructure:"service_drain"`
}

// Health configures the plain-HTTP health listener (/health, /readyz,
// /metrics). It never serves MCP.
type Health struct {
	// Addr is the host:port the health listener binds; port 0 picks a
	// free port (for tests). Empty is invalid; the default is
	// "0.0.0.0:8080".
	Addr string `mapstructure:"addr"`
	// Metrics serves Prometheus metrics at /metrics on this listener.
	// False turns them off (and /metrics is a 404); the default is true.
	Metrics bool `mapstructure:"metrics"`
	// WaitForUpstreams keeps /readyz at 503 until every configured
	// upstream has come up (started and listed its tools) at least once.
	// False makes the host ready without them (their tools appear when
	// they come up); the default is true.
	WaitForUpstreams bool `mapstructure:"wait_for_upstreams"`
}

// MCP configures the MCP transports.
type MCP struct {
	// Keepalive is the interval of SSE and stream pings, kept below the
	// 60 s idle timeouts of ALB and nginx. Zero disables pings; the
	// default is 20s.
	Keepalive time.Duration `mapstructure:"keepalive"`
	// MaxBody is the largest request body accepted; larger bodies get 413
	// before they are read. Zero is invalid; the default is 4MiB and the
	// maximum 1GiB.
	MaxBody ByteSize `mapstructure:"max_body"`
	// ShutdownGrace is how long shutdown waits for in-flight requests and
	// streams before closing them. Zero means close them at once; the
	// default is 20s (inside ECS's and Kubernetes' 30 s).
	ShutdownGrace time.Duration `mapstructure:"shutdown_grace"`
	// Limits bound sessions, streams, tool calls and request bodies per
	// identity and in total; see Limits. Default: DefaultLimits.
	Limits Limits `mapstructure:"limits"`
	// SessionKey is the secret key session IDs are signed with (HMAC):
	// every replica of one deployment must have the same, so that a
	// session opened on one is honoured by another for its owner. At least
	// 32 bytes, written as 64 or more hex digits or as base64 (standard or
	// URL alphabet, padded or not); see ParseSessionKey. A secret: it is
	// never logged or printed (Redacted). Empty (the default) means a
	// random key per process: sessions end with the process.
	SessionKey string `mapstructure:"session_key"`
	// CredentialKey is the key (32 bytes: 64 hex digits or base64, see
	// oauth.ParseKey) callers' upstream tokens are sealed with
	// (AES-256-GCM) in the node's state. Required when an upstream has
	// auth; every replica needs the same. A secret: never logged or
	// printed (Redacted). Empty (the default) means no upstream may have
	// auth.
	CredentialKey string `mapstructure:"credential_key"`
	// CredentialStore is where the sealed tokens of upstreams with auth
	// are kept, read through on every use so that replicas share them
	// (internal/credstore): "dir:<path>" (a volume the replicas share),
	// "kube:<secret>" (one Kubernetes Secret, created beforehand) or
	// "ssm:<path>" (one SSM SecureString parameter per token). Required
	// with tailnet.service and an upstream with auth. Empty (the default)
	// means the node's own state: a directory's state file, or, with
	// kube: or SSM node state (cached per replica), a file in data.dir;
	// either is this replica's alone.
	CredentialStore string `mapstructure:"credential_store"`
	// SessionMaxAge is how long a Streamable HTTP session lives from the
	// minting of its ID, however busy: every ID carries its issue time
	// (signed), and no replica serves or adopts an older one (404; the
	// client starts a new session). It bounds how long an ended session
	// can still be adopted by a replica that never saw it end. Zero is
	// invalid; the default is 24h; at least 1s.
	SessionMaxAge time.Duration `mapstructure:"session_max_age"`
	// ListPageSize is how many items one page of tools/list,
	// prompts/list, resources/list and resources/templates/list holds;
	// the rest follow through nextCursor. Zero (the default) means one
	// page with every item the caller may see: some clients never follow
	// nextCursor and would silently miss the rest. At most
	// MaxListPageSize.
	ListPageSize int `mapstructure:"list_page_size"`
	// ListTTL is the ttlMs hint (with cacheScope "private": per identity)
	// on the results of those four lists in the 2026-07-28 protocol: how
	// long a client may reuse a list without asking again. Zero (the
	// default) means revalidate every time. Whole milliseconds, at most
	// MaxListTTL.
	ListTTL time.Duration `mapstructure:"list_ttl"`
}

// MaxListPageSize bounds mcp.list_page_size.
const MaxListPageSize = 10000

// MaxListTTL bounds mcp.list_ttl: a list_changed notification may be
// missed (a client not listening), so a cached list must go stale.
const MaxListTTL = time.Hour

// Tool is one declarative tool: exactly one of Exec or HTTP is set.
type Tool struct {
	// Name is the tool's MCP name, matching ^[a-zA-Z0-9_-]{1,64}$, unique,
	// not "whoami" (built in) and without "__" (reserved for bridged
	// upstream tools). Empty is invalid.
	Name string `mapstructure:"name"`
	// Description is shown to MCP clients. Empty means no description.
	Description string `mapstructure:"description"`
	// Exec runs a command. Nil means this is not an exec tool.
	Exec *ExecTool `mapstructure:"exec"`
	// HTTP calls an HTTP endpoint. Nil means this is not an http tool.
	HTTP *HTTPTool `mapstructure:"http"`
	// Params are the tool's arguments by name, used in templates as
	// {{.name}}. Nil means the tool takes no arguments. Names keep their
	// case as written in the file.
	Params map[string]Param `mapstructure:"params"`
	// Annotations are the hints clients show and act on (MCP tool
	// annotations). Nil means the defaults for the tool's kind: exec tools
	// and http POST/PATCH are neither read-only nor idempotent, http
	// GET/HEAD are read-only, PUT/DELETE idempotent; all open-world.
	Annotations *ToolAnnotations `mapstructure:"annotations"`
}

// ToolAnnotations are a declarative tool's MCP annotations. A nil field
// keeps the default for the tool's kind (see Tool.Annotations).
type ToolAnnotations struct {
	// Title is a human-readable name shown by clients. Empty means none.
	Title string `mapstructure:"title"`
	// ReadOnly says the tool does not modify its environment.
	ReadOnly *bool `mapstructure:"read_only"`
	// Destructive says the tool may delete or overwrite (meaningful only
	// when not read-only; nil means the opposite of ReadOnly).
	Destructive *bool `mapstructure:"destructive"`
	// Idempotent says repeated calls with the same arguments have no
	// further effect.
	Idempotent *bool `mapstructure:"idempotent"`
	// OpenWorld says the tool reaches entities outside tsmcp (a web API,
	// the file system).
	OpenWorld *bool `mapstructure:"open_world"`
}

// ExecTool runs a command without a shell.
type ExecTool struct {
	// Command is the argv: Command[0] is the program (looked up in PATH
	// when it has no slash), the rest its arguments, each a template that
	// may use the tool's params ({{.path}}). Empty is invalid.
	Command []string `mapstructure:"command"`
	// Timeout bounds one run; when it passes, the command's whole process
	// group is killed. Zero means DefaultToolTimeout.
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxOutput caps what is kept of stdout and of stderr, each; the rest
	// is discarded and the result says it was truncated. Zero means
	// DefaultMaxOutput.
	MaxOutput ByteSize `mapstructure:"max_output"`
	// Dir is the working directory. Empty means tsmcp's own.
	Dir string `mapstructure:"dir"`
	// Env holds extra environment variables for the command, by name.
	// Nil means none. Names keep their case as written (in the file and
	// in JSON from TSMCP_TOOLS).
	Env map[string]string `mapstructure:"env"`
}

// HTTPTool calls an HTTP endpoint. The caller's own headers are never
// forwarded.
type HTTPTool struct {
	// Method is GET, POST, PUT, PATCH, DELETE or HEAD. Empty means GET
	// (Load fills it in and upper-cases it).
	Method string `mapstructure:"method"`
	// URL is an absolute http(s) URL template; params may appear in the
	// path and query ({{.service}}) but not in the scheme or host. Empty
	// is invalid.
	URL string `mapstructure:"url"`
	// Headers are request headers, values being templates
	// (e.g. 'Bearer {{env "TOKEN"}}'); ${secret:NAME} in a value is the
	// caller's own secret (see Secrets), looked up per call. Nil means
	// none.
	Headers map[string]string `mapstructure:"headers"`
	// Body is a JSON request body template; params are inserted as JSON
	// values ({{.count}} becomes 3 or "text", quoted and escaped), and
	// {{env "NAME"}} as a JSON string. Empty means no body.
	Body string `mapstructure:"body"`
	// Timeout bounds one call, redirects included. Zero means
	// DefaultToolTimeout.
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxResponse caps the response body kept; the rest is discarded and
	// the result says it was truncated. Zero means DefaultMaxOutput.
	MaxResponse ByteSize `mapstructure:"max_response"`
	// AllowHosts names targets that would otherwise be refused (loopback,
	// link-local, cloud metadata): host names, IP addresses or CIDR
	// prefixes. Nil means such targets are refused.
	AllowHosts []string `mapstructure:"allow_hosts"`
}

// Param describes one tool argument.
type Param struct {
	// Type is string, number, integer or boolean. Empty means string
	// (Load fills it in).
	Type string `mapstructure:"type"`
	// Description is shown to MCP clients. Empty means none.
	Description string `mapstructure:"description"`
	// Required makes the argument mandatory. False means optional.
	Required bool `mapstructure:"required"`
	// Pattern is a Go regular expression a string argument must match
	// (unanchored unless it anchors itself). Empty means any value.
	Pattern string `mapstructure:"pattern"`
	// Enum lists the allowed values of a string argument. Nil means any
	// value.
	Enum []string `mapstructure:"enum"`
	// AllowLeadingDash lets a string argument start with '-', which a
	// command could read as an option. False refuses such values.
	AllowLeadingDash bool `mapstructure:"allow_leading_dash"`
}

// Upstream is an MCP server whose tools are bridged as "<name>__<tool>"
// (or under their own names, see Prefix): exactly one of Command, Package
// or URL is set.
type Upstream struct {
	// Name prefixes the bridged tools; it matches ^[a-zA-Z0-9-]{1,32}$ and
	// is unique. Empty is invalid.
	Name string `mapstructure:"name"`
	// Prefix, when false, bridges the upstream's tools and prompts under
	// their own names and its resources under their own URIs, rather than
	// as "<name>__<tool>" and "<name>+<uri>": for hosting one server with
	// its real names. A name or URI that another upstream or a built-in or
	// declared tool already serves is dropped with a log line. Nil means
	// true (prefixed); see Prefixed.
	Prefix *bool `mapstructure:"prefix"`
	// Command starts a stdio MCP server (argv, no shell). Nil means this
	// is not a stdio upstream. With per-identity isolation its arguments
	// (not the program) may use ${identity.dir} (see IdentityDirVar).
	Command []string `mapstructure:"command"`
	// Package names an MCP server package baked into the image
	// ("[npm:|python:]name[@version]", e.g.
	// "@modelcontextprotocol/server-everything"); tsmcp finds its entry
	// point under the package root (/opt/tsmcp) and runs it as a stdio
	// upstream. Empty means this is not a package upstream.
	Package string `mapstructure:"package"`
	// Args are appended to a Package's entry point. Nil means none; only
	// valid with Package (a Command carries its own arguments). With
	// per-identity isolation they may use ${identity.dir}.
	Args []string `mapstructure:"args"`
	// URL is the address of a remote (Streamable HTTP or SSE) MCP server.
	// Empty means this is not a remote upstream.
	URL string `mapstructure:"url"`
	// Isolation is "shared" (one upstream session for all callers) or
	// "per-identity" (one child or session per caller; a stdio child runs
	// in a directory of its caller's own, which is also its HOME: see
	// Data.Dir). Empty means shared.
	Isolation string `mapstructure:"isolation"`
	// Env holds extra environment variables for Command or Package. Nil
	// means none. With per-identity isolation values may use
	// ${identity.dir} and ${secret:NAME} (the caller's own secret, see
	// Secrets); a HOME given here replaces the caller's directory as HOME
	// (the working directory stays the caller's).
	Env map[string]string `mapstructure:"env"`
	// Headers are sent to a URL upstream; values may use {{env "NAME"}}
	// and, with per-identity isolation (a session per caller),
	// ${secret:NAME}. Nil means none.
	Headers map[string]string `mapstructure:"headers"`
	// Timeout bounds how long a forwarded tool call may go without news
	// from the upstream: the time from the call's start, and from each
	// progress notification the upstream sends for it, to the next one or
	// the result. While the call's caller is answering an elicitation or
	// sampling request of the upstream, the clock stops. Zero means no
	// limit; Load sets DefaultUpstreamTimeout when the key is absent.
	Timeout time.Duration `mapstructure:"timeout"`
	// IdleTimeout is how long a per-identity child (or session) may sit
	// unused before it is stopped. Zero means DefaultIdleTimeout. Shared
	// upstreams are never reaped.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// Protocol says in which protocol era tsmcp talks to a url upstream.
	// Empty (or ProtocolSession) means MCP sessions of 2025-11-25 for
	// every caller; the host turns the upstream's requests to a caller of
	// the stateless protocol (2026-07-28) into input_required results.
	// ProtocolAuto sends the requests of callers on 2026-07-28 to the
	// upstream in 2026-07-28 (with the caller's own capabilities and log
	// level, and the upstream's input_required results passed through)
	// when the upstream's server/discover lists that version, and lists
	// to them what the upstream lists in that era; callers on a session
	// keep the session. Only for url upstreams; a per-identity upstream's
	// requests go with the caller's headers and secrets, one with auth's
	// with the caller's token, as on their sessions.
	Protocol string `mapstructure:"protocol"`
	// Auth makes a url upstream act as each caller: tsmcp is an OAuth
	// client of the upstream per tailnet identity and sends each caller's
	// requests with that caller's own token (see UpstreamAuth). It
	// implies per-identity isolation. Nil means every caller shares the
	// upstream's session and headers.
	Auth *UpstreamAuth `mapstructure:"auth"`
}

// Prefixed reports whether the upstream's names and URIs are served with
// its name as a prefix: Prefix unset or true.
func (u Upstream) Prefixed() bool { return u.Prefix == nil || *u.Prefix }

// Defaults that apply when a tool or upstream leaves a key at zero.
const (
	// DefaultToolTimeout bounds an exec or http tool without a timeout.
	DefaultToolTimeout = 30 * time.Second
	// DefaultMaxOutput caps an exec tool's stdout and stderr and an http
	// tool's response body.
	DefaultMaxOutput = 1 * MiB
	// DefaultUpstreamTimeout bounds a call forwarded to an upstream whose
	// timeout key is absent (see Upstream.Timeout).
	DefaultUpstreamTimeout = 60 * time.Second
	// DefaultIdleTimeout is how long an idle per-identity upstream lives.
	DefaultIdleTimeout = 10 * time.Minute
)

// Values of Upstream.Protocol.
const (
	ProtocolSession = "2025-11-25"
	ProtocolAuto    = "auto"
)

// Isolation values of Upstream.Isolation.
const (
	IsolationShared      = "shared"
	IsolationPerIdentity = "per-identity"
)

// IdentityDirVar, in a per-identity upstream's env values, command
// arguments or args, stands for the caller's own directory (see Data.Dir):
// e.g. MEMORY_FILE_PATH: ${identity.dir}/memory.jsonl. It is the only
// ${identity.…} variable (another is an error); other ${…} text is kept
// as written.
const IdentityDirVar = "${identity.dir}"

// Default returns the built-in defaults: hostname "tsmcp", state
// "/var/lib/tsmcp", up_timeout 60s, no service (service_port 80 and
// service_drain 15s once one is set), health on 0.0.0.0:8080 waiting for
// upstreams, keepalive 20s, max_body 4MiB, shutdown_grace 20s, capability
// tsmcp.dev/cap/mcp. It has no auth key, rules, tools or upstreams, and no
// data.dir (see Config.DataDir).
func Default() *Config {
	return &Config{
		Tailnet: Tailnet{
			Hostname:     "tsmcp",
			State:        "/var/lib/tsmcp",
			UpTimeout:    60 * time.Second,
			ServicePort:  80,
			ServiceDrain: 15 * time.Second,
		},
		Health: Health{Addr: "0.0.0.0:8080", Metrics: true, WaitForUpstreams: true},
		MCP: MCP{
			Keepalive:     20 * time.Second,
			MaxBody:       4 * MiB,
			ShutdownGrace: 20 * time.Second,
			Limits:        DefaultLimits(),
			SessionMaxAge: DefaultSessionMaxAge,
		},
		ACL: acl.Config{Capability: acl.DefaultCapability},
		Log: Log{Audit: "stderr"},
	}
}

// IsOAuthClientSecret reports whether AuthKey is an OAuth client secret
// (tskey-client-…), which needs Tags.
func (t Tailnet) IsOAuthClientSecret() bool {
	return strings.HasPrefix(t.AuthKey, "tskey-client-")
}
