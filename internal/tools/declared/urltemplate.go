package declared

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// urlTemplate is an http tool's URL template in three parts, each
// rendered with its own escaping:
//
//   - base, "scheme://authority": no params; {{env}} inserted as is;
//   - path, up to the first '?' or '#': params and {{env}} are
//     url.PathEscape'd, so a value is one segment (or part of one) and
//     can never add a '/', '?' or '#';
//   - query, the rest: params and {{env}} are url.QueryEscape'd.
//
// The rendered URL must have the base's scheme, credentials and host,
// and its path no "." or ".." segment and no empty segment ("//") that
// the template does not have itself.
type urlTemplate struct {
	base, path, query *tmpl
}

// urlError is a rendered URL that breaks the rules; msg is for the
// caller.
type urlError struct{ msg string }

func (e *urlError) Error() string { return e.msg }

func parseURLTemplate(key, src string, lookup func(string) (string, bool), params map[string]*param) (*urlTemplate, error) {
	base, path, query, err := splitURL(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", key, err)
	}
	u := &urlTemplate{}
	if u.base, err = parseTemplate(key, base, envFunc(lookup, nil)); err != nil {
		return nil, err
	}
	if len(u.base.refs) > 0 {
		return nil, fmt.Errorf("%s: params may appear in the path and query, not in the scheme, credentials or host", key)
	}
	if u.path, err = parseTemplate(key, path, envFunc(lookup, url.PathEscape)); err != nil {
		return nil, err
	}
	if u.query, err = parseTemplate(key, query, envFunc(lookup, url.QueryEscape)); err != nil {
		return nil, err
	}
	for _, t := range []*tmpl{u.path, u.query} {
		if err := checkRefs(t, params, key); err != nil {
			return nil, err
		}
	}
	if len(u.base.envNames) == 0 {
		if _, err := checkBase(base); err != nil {
			return nil, fmt.Errorf("%s: %v", key, err)
		}
	}
	// A path that breaks the rules with ordinary values would fail
	// every call: say so now.
	sample := map[string]string{}
	for name := range params {
		sample[name] = "x"
	}
	if p, err := u.path.t.Clone(); err == nil {
		p = p.Funcs(map[string]any{"env": func(string) string { return "x" }})
		var sb strings.Builder
		if p.Execute(&sb, sample) == nil && badPath(sb.String()) {
			return nil, fmt.Errorf("%s: the path has an empty, \".\" or \"..\" segment", key)
		}
	}
	return u, nil
}

// splitURL splits a URL template into base, path and query (with the
// fragment) at the first '/', '?' or '#' after "scheme://" and the
// first '?' or '#' after that, outside template actions.
func splitURL(src string) (base, path, query string, err error) {
	i := strings.Index(src, "://")
	if i <= 0 || strings.Contains(src[:i], "{{") {
		return "", "", "", fmt.Errorf("%q is not an absolute http:// or https:// URL with a literal scheme", redactTemplate(src))
	}
	baseEnd, queryStart := -1, -1
	inAction := false
	var quote byte
	for j := i + 3; j < len(src); j++ {
		c := src[j]
		switch {
		case inAction && quote != 0:
			if c == '\\' && quote != '`' {
				j++
			} else if c == quote {
				quote = 0
			}
		case inAction:
			if c == '"' || c == '`' || c == '\'' {
				quote = c
			} else if strings.HasPrefix(src[j:], "}}") {
				inAction = false
				j++
			}
		case strings.HasPrefix(src[j:], "{{"):
			inAction = true
			j++
		case c == '/' || c == '?' || c == '#':
			if baseEnd < 0 {
				baseEnd = j
			}
			if c != '/' && queryStart < 0 {
				queryStart = j
			}
		}
	}
	if baseEnd < 0 {
		return src, "", "", nil
	}
	if queryStart < 0 {
		return src[:baseEnd], src[baseEnd:], "", nil
	}
	return src[:baseEnd], src[baseEnd:queryStart], src[queryStart:], nil
}

// redactTemplate shows a URL template's shape without its values.
func redactTemplate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// checkBase parses a rendered base: an http(s) scheme, a host, nothing
// else.
func checkBase(base string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("the URL does not start with http:// or https:// and a host")
	}
	return u, nil
}

// badPath reports a path with a "." or ".." segment (also
// percent-encoded) or an empty segment other than a trailing one.
func badPath(p string) bool {
	if p == "" {
		return false
	}
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range segs {
		if d, err := url.PathUnescape(s); err == nil {
			s = d
		}
		if s == "." || s == ".." || (s == "" && i < len(segs)-1) {
			return true
		}
	}
	return false
}

// envNames are the variables the URL reads.
func (u *urlTemplate) envNames() []string {
	n := slices.Concat(u.base.envNames, u.path.envNames, u.query.envNames)
	slices.Sort(n)
	return slices.Compact(n)
}

// render returns the URL for validated values. Rule violations are
// *urlError.
func (u *urlTemplate) render(params map[string]*param, vals map[string]value) (*url.URL, error) {
	base, err := u.base.render(map[string]string{})
	if err != nil {
		return nil, err
	}
	bu, err := checkBase(base)
	if err != nil {
		return nil, &urlError{msg: "the tool is misconfigured: its URL has no valid scheme and host"}
	}
	pdata := make(map[string]string, len(params))
	qdata := make(map[string]string, len(params))
	for name := range params {
		v := vals[name].text // "" when absent
		pdata[name] = url.PathEscape(v)
		qdata[name] = url.QueryEscape(v)
	}
	path, err := u.path.render(pdata)
	if err != nil {
		return nil, err
	}
	query, err := u.query.render(qdata)
	if err != nil {
		return nil, err
	}
	if badPath(path) {
		return nil, &urlError{msg: "invalid arguments: the URL path would have an empty, \".\" or \"..\" segment"}
	}
	full, err := url.Parse(base + path + query)
	if err != nil {
		return nil, &urlError{msg: "invalid arguments: they do not make a valid URL"}
	}
	if full.Scheme != bu.Scheme || full.Host != bu.Host || full.User.String() != bu.User.String() || full.Opaque != "" {
		// Escaping makes this impossible; refuse rather than trust it.
		return nil, &urlError{msg: "invalid arguments: they would change the URL's host"}
	}
	return full, nil
}
