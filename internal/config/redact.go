package config

import (
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// redacted is the placeholder that replaces secrets in Config.Redacted.
const redacted = "REDACTED"

var (
	// secretNameRE matches header and environment variable names whose
	// values are likely secrets.
	secretNameRE = regexp.MustCompile(`(?i)auth|token|secret|passw|pwd|credential|cookie|session|signature|api[-_]?key|access[-_]?key|private[-_]?key|(^|[-_])key($|[-_])`)
	// schemeOnlyRE matches what is left of a value once its template
	// actions are removed when it holds no literal secret
	// ('Bearer {{env "TOKEN"}}' leaves "Bearer").
	schemeOnlyRE = regexp.MustCompile(`(?i)^(bearer|basic|token|bot|apikey)?$`)
	// secretValueRE matches literal values that look like credentials
	// whatever their name.
	secretValueRE = regexp.MustCompile(`(?i)tskey-|^(bearer|basic)\s+\S`)
)

// Redacted returns a deep copy of c that is safe to print: the auth key,
// the session key, header and environment values that look secret (by name, e.g.
// Authorization or API_TOKEN, or by value, e.g. "Bearer abc…") and
// passwords in URLs are replaced by "REDACTED". Values that only refer to
// the environment through templates ('Bearer {{env "TOKEN"}}') are kept:
// they name a secret without holding it.
func (c *Config) Redacted() *Config {
	r := *c
	r.Tailnet.Tags = slices.Clone(c.Tailnet.Tags)
	if r.Tailnet.AuthKey != "" {
		r.Tailnet.AuthKey = redacted
	}
	r.Tailnet.ControlURL = redactURL(c.Tailnet.ControlURL)
	if r.MCP.SessionKey != "" {
		r.MCP.SessionKey = redacted
	}
	if r.MCP.CredentialKey != "" {
		r.MCP.CredentialKey = redacted
	}

	r.ACL.Groups = make(map[string][]string, len(c.ACL.Groups))
	for k, v := range c.ACL.Groups {
		r.ACL.Groups[k] = slices.Clone(v)
	}
	if c.ACL.Groups == nil {
		r.ACL.Groups = nil
	}
	r.ACL.Rules = nil
	for _, rule := range c.ACL.Rules {
		rule.Src = slices.Clone(rule.Src)
		rule.Tools = slices.Clone(rule.Tools)
		rule.Prompts = slices.Clone(rule.Prompts)
		rule.Resources = slices.Clone(rule.Resources)
		r.ACL.Rules = append(r.ACL.Rules, rule)
	}

	r.Tools = nil
	for _, t := range c.Tools {
		if t.Exec != nil {
			e := *t.Exec
			e.Command = slices.Clone(e.Command)
			e.Env = redactMap(e.Env)
			t.Exec = &e
		}
		if t.HTTP != nil {
			h := *t.HTTP
			h.URL = redactURL(h.URL)
			h.Headers = redactMap(h.Headers)
			h.AllowHosts = slices.Clone(h.AllowHosts)
			t.HTTP = &h
		}
		if t.Params != nil {
			params := make(map[string]Param, len(t.Params))
			for k, p := range t.Params {
				p.Enum = slices.Clone(p.Enum)
				params[k] = p
			}
			t.Params = params
		}
		r.Tools = append(r.Tools, t)
	}

	r.Upstreams = nil
	for _, u := range c.Upstreams {
		u.Command = slices.Clone(u.Command)
		u.URL = redactURL(u.URL)
		u.Env = redactMap(u.Env)
		u.Headers = redactMap(u.Headers)
		u.Auth = u.Auth.redacted()
		r.Upstreams = append(r.Upstreams, u)
	}
	return &r
}

// redactMap copies m, redacting values that look secret.
func redactMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := maps.Clone(m)
	for k, v := range out {
		if looksSecret(k, v) {
			out[k] = redacted
		}
	}
	return out
}

// looksSecret reports whether the value of header or variable name holds a
// literal secret.
func looksSecret(name, value string) bool {
	literal := strings.TrimSpace(templateRE.ReplaceAllString(value, ""))
	if secretValueRE.MatchString(literal) {
		return true
	}
	return secretNameRE.MatchString(name) && !schemeOnlyRE.MatchString(literal)
}

// redactURL hides the password of a URL with credentials; other strings
// are returned unchanged.
func redactURL(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), redacted)
	}
	return u.String()
}
