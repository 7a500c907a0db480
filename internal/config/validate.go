package config

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tsmcp/tsmcp/internal/acl"
)

var (
	dnsLabelRE      = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)
	dns1123RE       = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
	tagRE           = regexp.MustCompile(`^tag:[a-zA-Z][a-zA-Z0-9-]*$`)
	toolNameRE      = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	paramNameRE     = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	upstreamNameRE  = regexp.MustCompile(`^[a-zA-Z0-9-]{1,32}$`)
	envNameRE       = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	headerNameRE    = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9a-zA-Z-]+$")
	ssmARNRE        = regexp.MustCompile(`^arn:aws(-[a-z]+)*:ssm:([a-z0-9-]+):(\d{12}):parameter/(.+)$`)
	hostNameRE      = regexp.MustCompile(`^(\*\.)?[a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?(\.[a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?)*\.?$`)
	templateRE      = regexp.MustCompile(`\{\{.*?\}\}`)
	paramRefRE      = regexp.MustCompile(`(^|[\s(|])\$?\.([a-zA-Z_][a-zA-Z0-9_]*)?`)
	simpleParamRE   = regexp.MustCompile(`^\{\{-?\s*\.([a-zA-Z_][a-zA-Z0-9_]*)\s*-?\}\}$`)
	httpMethods     = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}
	paramTypes      = []string{"string", "number", "integer", "boolean"}
	maxMaxBody      = GiB
	reservedToolSep = "__"
)

// problems collects "key: problem" errors.
type problems []error

func (p *problems) addf(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

// Validate checks the whole configuration and returns every problem, one
// per line "key: problem", joined with errors.Join; nil when valid. The
// auth key's value never appears in the error.
func (c *Config) Validate() error {
	var p problems
	c.Tailnet.validate(&p)
	c.Health.validate(&p)
	c.MCP.validate(&p)
	if c.Tailnet.Service != "" && strings.TrimSpace(c.MCP.SessionKey) == "" {
		// Without a shared key each replica signs with its own random one,
		// and a session moved to another replica is refused there.
		p.addf("mcp.session_key", "required when tailnet.service is set: every replica must sign session IDs with the same key (e.g. TSMCP_MCP_SESSION_KEY from a secret)")
	}
	if _, err := acl.New(c.ACL); err != nil {
		p = append(p, err)
	}
	validateTools(&p, c.Tools)
	validateSecrets(&p, c)
	switch a := c.Log.Audit; {
	case a == "", a == "stderr", a == "stdout":
	case !filepath.IsAbs(a):
		p.addf("log.audit", "%q is not stderr, stdout or an absolute file path", a)
	}
	validateUpstreams(&p, c.Upstreams)
	validateAuth(&p, c.MCP.CredentialKey, c.MCP.CredentialStore, c.Tailnet.Service, c.Upstreams)
	switch d := c.Data.Dir; {
	case d == "":
	case strings.ContainsRune(d, 0):
		p.addf("data.dir", "must not contain NUL")
	case !filepath.IsAbs(d):
		p.addf("data.dir", "%q is not an absolute directory path", d)
	}
	return errors.Join(p...)
}

func (t *Tailnet) validate(p *problems) {
	switch {
	case t.Hostname == "":
		p.addf("tailnet.hostname", "must not be empty")
	case !dnsLabelRE.MatchString(t.Hostname):
		p.addf("tailnet.hostname", "%q is not a DNS label (1-63 letters, digits and '-', not starting or ending with '-')", t.Hostname)
	}

	if k := t.AuthKey; k != "" {
		switch {
		case strings.TrimSpace(k) != k || strings.ContainsAny(k, " \t\r\n"):
			p.addf("tailnet.auth_key", "must not contain spaces or line breaks (value not shown)")
		case t.ControlURL == "" && !strings.HasPrefix(k, "tskey-"):
			p.addf("tailnet.auth_key", "must be a Tailscale auth key (tskey-auth-…) or OAuth client secret (tskey-client-…) (value not shown)")
		}
		if t.IsOAuthClientSecret() && len(t.Tags) == 0 {
			p.addf("tailnet.tags", "required when tailnet.auth_key is an OAuth client secret (tskey-client-…)")
		}
	}

	if t.ControlURL != "" {
		if err := checkHTTPURL(t.ControlURL); err != nil {
			p.addf("tailnet.control_url", "%v", err)
		}
	}

	t.validateState(p)

	seen := map[string]int{}
	for i, tag := range t.Tags {
		key := fmt.Sprintf("tailnet.tags[%d]", i)
		if !tagRE.MatchString(tag) {
			p.addf(key, "%q is not a tag (want tag:<name>, the name a letter then letters, digits or '-')", tag)
		}
		if j, ok := seen[tag]; ok {
			p.addf(key, "%q is already listed as tailnet.tags[%d]", tag, j)
		} else {
			seen[tag] = i
		}
	}

	if t.UpTimeout <= 0 {
		p.addf("tailnet.up_timeout", "must be greater than 0")
	}
	t.validateService(p)
}

func (t *Tailnet) validateState(p *problems) {
	s := t.State
	switch {
	case s == "":
		p.addf("tailnet.state", "must not be empty (a directory, mem:, kube:<secret> or arn:aws:ssm:<region>:<account>:parameter/<name>)")
	case strings.HasPrefix(s, "mem:"):
		if !t.Ephemeral {
			p.addf("tailnet.ephemeral", "must be true when tailnet.state is %q (in-memory state is lost on exit, so the node must be ephemeral)", s)
		}
	case strings.HasPrefix(s, "kube:"):
		name := strings.TrimPrefix(s, "kube:")
		switch {
		case name == "":
			p.addf("tailnet.state", "kube: needs a Secret name (kube:<secret-name>)")
		case len(name) > 253 || !dns1123RE.MatchString(name):
			p.addf("tailnet.state", "%q is not a valid Kubernetes Secret name (lower-case letters, digits, '-' and '.', at most 253)", name)
		}
	case strings.HasPrefix(s, "arn:"):
		arn, query, _ := strings.Cut(s, "?")
		if !ssmARNRE.MatchString(arn) {
			p.addf("tailnet.state", "%q is not an SSM parameter ARN (arn:aws:ssm:<region>:<12-digit account>:parameter/<name>)", s)
		}
		if query != "" {
			q, err := url.ParseQuery(query)
			if err != nil {
				p.addf("tailnet.state", "invalid options after '?' in the ARN: %v", err)
			}
			for k := range q {
				if k != "kmsKey" {
					p.addf("tailnet.state", "unknown ARN option %q (only kmsKey)", k)
				}
			}
		}
	case strings.ContainsRune(s, 0):
		p.addf("tailnet.state", "must not contain NUL")
	}
}

func (h *Health) validate(p *problems) {
	if h.Addr == "" {
		p.addf("health.addr", "must not be empty (host:port, e.g. 0.0.0.0:8080)")
		return
	}
	if err := checkHostPort(h.Addr); err != nil {
		p.addf("health.addr", "%q: %v", h.Addr, err)
	}
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("not host:port (e.g. 0.0.0.0:8080, :8080, [::]:8080)")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port == "" || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if host != "" && !hostNameRE.MatchString(host) {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("host %q is not an IP address or host name", host)
		}
	}
	return nil
}

func (m *MCP) validate(p *problems) {
	if m.Keepalive < 0 {
		p.addf("mcp.keepalive", "must not be negative (0 disables pings)")
	}
	if m.MaxBody <= 0 || m.MaxBody > maxMaxBody {
		p.addf("mcp.max_body", "must be between 1B and %s, got %s", maxMaxBody, m.MaxBody)
	}
	if m.ShutdownGrace < 0 {
		p.addf("mcp.shutdown_grace", "must not be negative")
	}
	m.Limits.validate(p, m.MaxBody)
	if _, err := ParseSessionKey(m.SessionKey); err != nil {
		p.addf("mcp.session_key", "%v", err)
	}
	if m.SessionMaxAge < time.Second {
		p.addf("mcp.session_max_age", "must be at least 1s, got %s", m.SessionMaxAge)
	}
	if m.ListPageSize < 0 || m.ListPageSize > MaxListPageSize {
		p.addf("mcp.list_page_size", "must be between 0 (one page) and %d, got %d", MaxListPageSize, m.ListPageSize)
	}
	switch {
	case m.ListTTL < 0 || m.ListTTL > MaxListTTL:
		p.addf("mcp.list_ttl", "must be between 0 and %s, got %s", MaxListTTL, m.ListTTL)
	case m.ListTTL%time.Millisecond != 0:
		p.addf("mcp.list_ttl", "must be whole milliseconds (ttlMs), got %s", m.ListTTL)
	}
}

// checkHTTPURL checks that s is an absolute http or https URL.
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http:// or https:// URL", redactURL(s))
	}
	return nil
}

func checkTimeout(p *problems, key string, d time.Duration) {
	if d < 0 {
		p.addf(key, "must not be negative (0 means the default)")
	}
}

// paramRefs returns the names of the tool params that s refers to in
// simple actions ({{.path}}), and whether any template action refers to
// params at all (e.g. {{index . "path"}}, {{.path | printf "%q"}}).
func paramRefs(s string) (names []string, refs bool) {
	for _, action := range templateRE.FindAllString(s, -1) {
		if m := simpleParamRE.FindStringSubmatch(action); m != nil {
			names = append(names, m[1])
			refs = true
			continue
		}
		body := strings.TrimSpace(strings.Trim(action, "{}-"))
		if paramRefRE.MatchString(body) {
			refs = true
		}
	}
	return names, refs
}

// checkParamRefs reports references in s to params the tool does not
// declare.
func checkParamRefs(p *problems, key, s string, params map[string]Param) {
	names, _ := paramRefs(s)
	for _, n := range names {
		if _, ok := params[n]; !ok {
			p.addf(key, "refers to {{.%s}}, which is not in the tool's params", n)
		}
	}
}

func validateTools(p *problems, tools []Tool) {
	byName := map[string]int{}
	for i, t := range tools {
		key := fmt.Sprintf("tools[%d]", i)
		switch {
		case t.Name == "":
			p.addf(key+".name", "must not be empty")
		case !toolNameRE.MatchString(t.Name):
			p.addf(key+".name", "%q is not a valid tool name (1-64 letters, digits, '_' or '-')", t.Name)
		case t.Name == "whoami":
			p.addf(key+".name", "%q is reserved for the built-in tool", t.Name)
		case strings.Contains(t.Name, reservedToolSep):
			p.addf(key+".name", "%q must not contain %q (reserved for bridged upstream tools, <upstream>__<tool>)", t.Name, reservedToolSep)
		}
		if t.Name != "" {
			if j, ok := byName[t.Name]; ok {
				p.addf(key+".name", "%q is already used by tools[%d]", t.Name, j)
			} else {
				byName[t.Name] = i
			}
		}

		switch {
		case t.Exec == nil && t.HTTP == nil:
			p.addf(key, "needs exactly one of exec or http, has neither")
		case t.Exec != nil && t.HTTP != nil:
			p.addf(key, "needs exactly one of exec or http, has both")
		}
		if t.Exec != nil {
			validateExec(p, key+".exec", t.Exec, t.Params)
		}
		if t.HTTP != nil {
			validateHTTP(p, key+".http", t.HTTP, t.Params)
		}
		validateParams(p, key+".params", t.Params)
		if a := t.Annotations; a != nil {
			if len(a.Title) > maxTitle {
				p.addf(key+".annotations.title", "is %d bytes (at most %d)", len(a.Title), maxTitle)
			}
			if a.ReadOnly != nil && *a.ReadOnly && a.Destructive != nil && *a.Destructive {
				p.addf(key+".annotations", "read_only and destructive cannot both be true")
			}
		}
	}
}

// maxTitle bounds a tool's annotations.title.
const maxTitle = 256

func validateExec(p *problems, key string, e *ExecTool, params map[string]Param) {
	switch {
	case len(e.Command) == 0:
		p.addf(key+".command", "must not be empty")
	case e.Command[0] == "":
		p.addf(key+".command[0]", "must not be empty")
	case strings.Contains(e.Command[0], "{{"):
		p.addf(key+".command[0]", "the program must not be a template (callers never choose the command)")
	case len(e.Command) == 1 && strings.ContainsAny(e.Command[0], " \t"):
		p.addf(key+".command", "is one string with spaces; commands run without a shell, so give the argv as a list, e.g. [df, -h]")
	}
	for j, arg := range e.Command {
		checkParamRefs(p, fmt.Sprintf("%s.command[%d]", key, j), arg, params)
	}
	checkTimeout(p, key+".timeout", e.Timeout)
	checkCap(p, key+".max_output", e.MaxOutput)
	if _, refs := paramRefs(e.Dir); refs {
		p.addf(key+".dir", "must not refer to params (callers never choose the working directory)")
	}
	for _, name := range slices.Sorted(maps.Keys(e.Env)) {
		k := key + ".env." + name
		if !envNameRE.MatchString(name) {
			p.addf(k, "%q is not an environment variable name (letters, digits and '_', not starting with a digit)", name)
		}
		if _, refs := paramRefs(e.Env[name]); refs {
			p.addf(k, "must not refer to params (callers never change the environment)")
		}
	}
}

func validateHTTP(p *problems, key string, h *HTTPTool, params map[string]Param) {
	if h.Method != "" && !slices.Contains(httpMethods, strings.ToUpper(h.Method)) {
		p.addf(key+".method", "%q is not one of %s", h.Method, strings.Join(httpMethods, ", "))
	}
	if h.URL == "" {
		p.addf(key+".url", "must not be empty")
	} else {
		// Template actions become placeholders: a param reference is
		// marked so that it can be refused in the scheme and host.
		const paramMark, otherMark = "tsmcpparam", "tsmcptmpl"
		s := templateRE.ReplaceAllStringFunc(h.URL, func(a string) string {
			if _, refs := paramRefs(a); refs {
				return paramMark
			}
			return otherMark
		})
		u, err := url.Parse(s)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			p.addf(key+".url", "%q is not an absolute http:// or https:// URL", redactURL(h.URL))
		case strings.Contains(u.Scheme+u.Host+u.User.String(), paramMark):
			p.addf(key+".url", "params may appear in the path and query, not in the scheme, credentials or host (callers never choose the target)")
		}
		checkParamRefs(p, key+".url", h.URL, params)
	}
	for _, name := range slices.Sorted(maps.Keys(h.Headers)) {
		k := key + ".headers." + name
		if !headerNameRE.MatchString(name) {
			p.addf(k, "%q is not a valid header name", name)
		}
		if strings.ContainsAny(h.Headers[name], "\r\n\x00") {
			p.addf(k, "must not contain line breaks or NUL")
		}
		checkParamRefs(p, k, h.Headers[name], params)
	}
	checkTimeout(p, key+".timeout", h.Timeout)
	checkCap(p, key+".max_response", h.MaxResponse)
	if h.Body != "" {
		if m := strings.ToUpper(h.Method); m == "GET" || m == "HEAD" || m == "" {
			p.addf(key+".body", "a %s request has no body; use POST, PUT, PATCH or DELETE", cmp.Or(m, "GET"))
		}
		checkParamRefs(p, key+".body", h.Body, params)
	}
	for j, host := range h.AllowHosts {
		if !validAllowHost(host) {
			p.addf(fmt.Sprintf("%s.allow_hosts[%d]", key, j), "%q is not a host name, IP address or CIDR prefix", host)
		}
	}
}

// maxOutputCap bounds max_output and max_response: what a tool returns is
// held in memory and sent to a model.
const maxOutputCap = 64 * MiB

func checkCap(p *problems, key string, b ByteSize) {
	if b < 0 || b > maxOutputCap {
		p.addf(key, "must be between 0 (the default, %s) and %s, got %s", DefaultMaxOutput, ByteSize(maxOutputCap), b)
	}
}

func validAllowHost(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	return len(s) <= 253 && hostNameRE.MatchString(s)
}

func validateParams(p *problems, key string, params map[string]Param) {
	for _, name := range slices.Sorted(maps.Keys(params)) {
		k := key + "." + name
		pa := params[name]
		if !paramNameRE.MatchString(name) {
			p.addf(key, "%q is not a valid param name (a letter or '_', then letters, digits or '_')", name)
		}
		typ := pa.Type
		if typ == "" {
			typ = "string"
		}
		if !slices.Contains(paramTypes, typ) {
			p.addf(k+".type", "%q is not one of %s", pa.Type, strings.Join(paramTypes, ", "))
		}
		if pa.Pattern != "" {
			if typ != "string" {
				p.addf(k+".pattern", "only allowed for type string")
			} else if _, err := regexp.Compile(pa.Pattern); err != nil {
				p.addf(k+".pattern", "invalid regular expression: %v", err)
			}
		}
		if len(pa.Enum) > 0 && typ != "string" {
			p.addf(k+".enum", "only allowed for type string")
		}
		if pa.AllowLeadingDash && typ != "string" {
			p.addf(k+".allow_leading_dash", "only allowed for type string")
		}
	}
}

func validateUpstreams(p *problems, ups []Upstream) {
	byName := map[string]int{}
	for i, u := range ups {
		key := fmt.Sprintf("upstreams[%d]", i)
		switch {
		case u.Name == "":
			p.addf(key+".name", "must not be empty")
		case !upstreamNameRE.MatchString(u.Name):
			p.addf(key+".name", "%q is not a valid upstream name (1-32 letters, digits or '-'; bridged tools are named <upstream>__<tool>)", u.Name)
		}
		if u.Name != "" {
			if j, ok := byName[u.Name]; ok {
				p.addf(key+".name", "%q is already used by upstreams[%d]", u.Name, j)
			} else {
				byName[u.Name] = i
			}
		}
		validateUpstreamKind(p, key, u)
		if len(u.Command) > 0 {
			switch {
			case u.Command[0] == "":
				p.addf(key+".command[0]", "must not be empty")
			case len(u.Command) == 1 && strings.ContainsAny(u.Command[0], " \t"):
				p.addf(key+".command", "is one string with spaces; commands run without a shell, so give the argv as a list, e.g. [npx, -y, server]")
			}
		}
		if u.URL != "" {
			if err := checkHTTPURL(u.URL); err != nil {
				p.addf(key+".url", "%v", err)
			}
		}
		switch u.Isolation {
		case "", IsolationShared, IsolationPerIdentity:
		default:
			p.addf(key+".isolation", "%q is not %q or %q", u.Isolation, IsolationShared, IsolationPerIdentity)
		}
		switch {
		case u.Protocol != "" && u.Protocol != ProtocolSession && u.Protocol != ProtocolAuto:
			p.addf(key+".protocol", "%q is not %q or %q", u.Protocol, ProtocolSession, ProtocolAuto)
		case u.Protocol != ProtocolAuto:
		case u.URL == "":
			p.addf(key+".protocol", "%q only applies to a url upstream", ProtocolAuto)
		}
		for _, name := range slices.Sorted(maps.Keys(u.Env)) {
			if !envNameRE.MatchString(name) {
				p.addf(key+".env."+name, "%q is not an environment variable name (letters, digits and '_', not starting with a digit)", name)
			}
		}
		validateIdentityVars(p, key, u)
		if u.Timeout < 0 {
			p.addf(key+".timeout", "must not be negative (0 means no limit)")
		}
		checkTimeout(p, key+".idle_timeout", u.IdleTimeout)
		if u.IdleTimeout != 0 && !u.IsPerIdentity() {
			p.addf(key+".idle_timeout", "only applies with isolation: %s", IsolationPerIdentity)
		}
		if len(u.Headers) > 0 && u.URL == "" {
			p.addf(key+".headers", "only applies to a url upstream")
		}
		if len(u.Env) > 0 && len(u.Command) == 0 && u.Package == "" {
			p.addf(key+".env", "only applies to a command upstream")
		}
		for _, name := range slices.Sorted(maps.Keys(u.Headers)) {
			k := key + ".headers." + name
			if !headerNameRE.MatchString(name) {
				p.addf(k, "%q is not a valid header name", name)
			}
			if strings.ContainsAny(u.Headers[name], "\r\n\x00") {
				p.addf(k, "must not contain line breaks or NUL")
			}
		}
	}
}

// validateIdentityVars checks the ${identity.…} variables in an upstream's
// command, args and env values: only IdentityDirVar, only in a
// per-identity stdio upstream, never in the program's name.
func validateIdentityVars(p *problems, key string, u Upstream) {
	check := func(k, v string, program bool) {
		uses, bad := identityVars(v)
		switch {
		case bad != "":
			p.addf(k, "unknown variable %s (the only one is %s)", bad, IdentityDirVar)
		case !uses:
		case program:
			p.addf(k, "the program cannot use %s; pass the directory in an argument or env", IdentityDirVar)
		case u.Isolation != IsolationPerIdentity:
			p.addf(k, "%s needs isolation: %s (a shared child serves every caller)", IdentityDirVar, IsolationPerIdentity)
		}
	}
	for i, a := range u.Command {
		check(fmt.Sprintf("%s.command[%d]", key, i), a, i == 0)
	}
	for i, a := range u.Args {
		check(fmt.Sprintf("%s.args[%d]", key, i), a, false)
	}
	for _, name := range slices.Sorted(maps.Keys(u.Env)) {
		check(key+".env."+name, u.Env[name], false)
	}
}

// identityVars reports whether s uses IdentityDirVar, and the first other
// ${identity.…} variable it holds ("" if none).
func identityVars(s string) (uses bool, bad string) {
	const open = "${identity."
	for {
		i := strings.Index(s, open)
		if i < 0 {
			return uses, ""
		}
		s = s[i:]
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return uses, s
		}
		if v := s[:end+1]; v == IdentityDirVar {
			uses = true
		} else {
			return uses, v
		}
		s = s[end+1:]
	}
}
