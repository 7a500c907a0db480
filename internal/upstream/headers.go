package upstream

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/template"

	"github.com/tsmcp/tsmcp/internal/config"
)

// Identity headers sent to per-identity url upstreams (never to shared
// ones). They are set by tsmcp from the tailnet's WhoIs answer and override
// configured headers of the same name.
const (
	headerCallerLogin = "X-Tsmcp-Caller-Login"
	headerCallerNode  = "X-Tsmcp-Caller-Node"
	headerCallerTags  = "X-Tsmcp-Caller-Tags"
)

// resolveHeaders evaluates the {{env "NAME"}} templates of an upstream's
// headers once, at New. Errors name the header and the variable, never a
// value. Names are stored in canonical form (http.CanonicalHeaderKey), so
// that the caller headers set per identity replace configured headers of the
// same name whatever their case.
func resolveHeaders(i int, hs map[string]string, lookup func(string) (string, bool)) (map[string]string, error) {
	if len(hs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(hs))
	for _, name := range slices.Sorted(maps.Keys(hs)) {
		var missing string
		funcs := template.FuncMap{"env": func(v string) (string, error) {
			val, ok := lookup(v)
			if !ok {
				missing = v
				return "", fmt.Errorf("environment variable %q is not set", v)
			}
			return val, nil
		}}
		t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(hs[name])
		if err != nil {
			return nil, keyError(i, "headers."+name, "invalid template (want e.g. 'Bearer {{env \"TOKEN\"}}')")
		}
		var b strings.Builder
		if err := t.Execute(&b, nil); err != nil {
			if missing != "" {
				return nil, keyError(i, "headers."+name, "environment variable %q is not set", missing)
			}
			return nil, keyError(i, "headers."+name, "template failed (only {{env \"NAME\"}} is available)")
		}
		if strings.ContainsAny(b.String(), "\r\n\x00") {
			return nil, keyError(i, "headers."+name, "value contains a line break or NUL")
		}
		out[http.CanonicalHeaderKey(name)] = b.String()
	}
	return out, nil
}

// Check reports, without starting anything, the configuration problems New
// would report: header templates that do not parse or name an unset
// environment variable. lookupEnv nil means os.LookupEnv. The host calls it
// before joining the tailnet, so such mistakes stop tsmcp before it starts.
func Check(cfg []config.Upstream, lookupEnv func(string) (string, bool)) error {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	var errs []error
	for i, c := range cfg {
		if _, err := resolveHeaders(i, c.Headers, lookupEnv); err != nil {
			errs = append(errs, err)
		}
		if err := checkAuth(i, c, lookupEnv); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
