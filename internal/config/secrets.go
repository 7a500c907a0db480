package config

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tsmcp/tsmcp/internal/secrets"
)

// validateSecrets checks secrets.source and every ${secret:NAME}: well
// formed, only where a caller's own secret can be used (env and headers
// of per-identity upstreams, headers of http tools), and only with a
// source configured.
func validateSecrets(p *problems, c *Config) {
	src := c.Secrets.Source
	kind, arg, _ := strings.Cut(src, ":")
	switch {
	case src == "":
	case kind == "dir":
		switch {
		case arg == "":
			p.addf("secrets.source", "dir: needs a directory (dir:/var/lib/tsmcp/secrets)")
		case strings.ContainsRune(arg, 0):
			p.addf("secrets.source", "must not contain NUL")
		case !filepath.IsAbs(arg):
			p.addf("secrets.source", "%q: the directory must be an absolute path", src)
		}
	case kind == "kube":
		if !secrets.ValidKubePrefix(arg) {
			p.addf("secrets.source", "%q: kube: needs a Secret name prefix of lower-case letters, digits, '-' and '.', at most 189 (kube:tsmcp-secrets-)", src)
		}
	case kind == "ssm":
		if !secrets.ValidSSMPath(arg) {
			p.addf("secrets.source", "%q: ssm: needs a parameter path such as ssm:/tsmcp/secrets (segments of letters, digits, '_', '.' and '-')", src)
		}
	case kind == "secretsmanager":
		p.addf("secrets.source", "secretsmanager: is not supported yet; use ssm:<path> (AWS SSM SecureString parameters), kube:<prefix> or dir:<path>")
	default:
		p.addf("secrets.source", "%q is not dir:<path>, kube:<prefix> or ssm:<path>", src)
	}

	// check reports a bad reference in v, or one where allowed is false
	// (why says what it needs), or one without a source.
	check := func(key, v string, allowed bool, why string) {
		if !secrets.HasRefs(v) {
			return
		}
		if _, err := secrets.Refs(v); err != nil {
			p.addf(key, "%v", err)
			return
		}
		switch {
		case !allowed:
			p.addf(key, "${secret:…} %s", why)
		case src == "":
			p.addf(key, "uses ${secret:…}, which needs secrets.source (where each identity's secrets are stored)")
		}
	}
	for i, u := range c.Upstreams {
		key := fmt.Sprintf("upstreams[%d]", i)
		perIdentity := u.Isolation == IsolationPerIdentity
		for _, name := range slices.Sorted(maps.Keys(u.Env)) {
			check(key+".env."+name, u.Env[name], perIdentity,
				fmt.Sprintf("needs isolation: %s (a shared child serves every caller, so it cannot hold one caller's secret)", IsolationPerIdentity))
		}
		for _, name := range slices.Sorted(maps.Keys(u.Headers)) {
			check(key+".headers."+name, u.Headers[name], perIdentity,
				fmt.Sprintf("needs isolation: %s (a shared session serves every caller, so it cannot carry one caller's secret)", IsolationPerIdentity))
		}
		for j, a := range u.Command {
			check(fmt.Sprintf("%s.command[%d]", key, j), a, false, "cannot be used in a command (arguments are visible to every process); pass it in env")
		}
		for j, a := range u.Args {
			check(fmt.Sprintf("%s.args[%d]", key, j), a, false, "cannot be used in args (arguments are visible to every process); pass it in env")
		}
		check(key+".url", u.URL, false, "cannot be used in a url; pass it in headers")
	}
	for i, t := range c.Tools {
		key := fmt.Sprintf("tools[%d]", i)
		if h := t.HTTP; h != nil {
			for _, name := range slices.Sorted(maps.Keys(h.Headers)) {
				check(key+".http.headers."+name, h.Headers[name], true, "")
			}
			check(key+".http.url", h.URL, false, "can only be used in headers of an http tool")
			check(key+".http.body", h.Body, false, "can only be used in headers of an http tool")
		}
		if e := t.Exec; e != nil {
			for j, a := range e.Command {
				check(fmt.Sprintf("%s.exec.command[%d]", key, j), a, false, "is not supported in exec tools")
			}
			for _, name := range slices.Sorted(maps.Keys(e.Env)) {
				check(key+".exec.env."+name, e.Env[name], false, "is not supported in exec tools")
			}
		}
	}
}
