package upstream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/secrets"
)

// Per-identity secrets: a per-identity upstream's env values and headers
// may name ${secret:NAME}, the caller's own secret. The values are looked
// up for the caller before their child (or session) starts, and a secret
// missing for them refuses the call: the child is not started, and no
// other value (shared, empty) is used. The discovery child, which serves
// no caller, runs without the variables and headers that name a secret.

// secretRefs returns the secrets an upstream's env values and (resolved)
// headers refer to; nil when none. A malformed reference is a key error.
func secretRefs(i int, env, headers map[string]string) ([]string, error) {
	var names []string
	for _, m := range []struct {
		key string
		vs  map[string]string
	}{{"env", env}, {"headers", headers}} {
		for _, k := range slices.Sorted(maps.Keys(m.vs)) {
			ns, err := secrets.Refs(m.vs[k])
			if err != nil {
				return nil, keyError(i, m.key+"."+k, "%v", err)
			}
			names = append(names, ns...)
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// withoutSecrets returns m without the entries whose values name a
// secret (for the discovery child or session).
func withoutSecrets(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if !secrets.HasRefs(v) {
			out[k] = v
		}
	}
	return out
}

// expandSecrets replaces, in place, each ${secret:NAME} of m's values
// with the caller's value.
func expandSecrets(m map[string]string, vals map[string]string) {
	for k, v := range m {
		m[k] = secrets.Expand(v, vals)
	}
}

// callerSecrets looks up the upstream's secrets for the caller id. A
// value with a line break cannot go in a header: that is an error too.
func (u *upstream) callerSecrets(ctx context.Context, id *identity.Identity) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, u.setupTimeout)
	defer cancel()
	vals, err := secrets.Resolve(ctx, u.p.opts.Secrets, id, u.secretNames)
	if err != nil {
		return nil, err
	}
	for h, v := range u.headers {
		names, _ := secrets.Refs(v)
		for _, name := range names {
			if strings.ContainsAny(vals[name], "\r\n") {
				src := u.p.opts.Secrets
				return nil, &secrets.Error{Name: name, Source: src.String(), Where: src.Where(id.Key(), name),
					Err: fmt.Errorf("the value contains a line break, which header %s cannot carry", h)}
			}
		}
	}
	return vals, nil
}

// secretRefusal turns a failed lookup of the caller's secrets into the
// caller's error text, logging the details (never a value); ok is false
// when err is not such a failure.
func (u *upstream) secretRefusal(ctx context.Context, what string, err error) (msg string, ok bool) {
	var se *secrets.Error
	if !errors.As(err, &se) {
		return "", false
	}
	caller := ""
	if id, found := identity.FromContext(ctx); found {
		caller = id.Key()
	}
	u.log.Warn("upstream call refused: the caller's secret could not be resolved; the child was not started",
		"what", what, "caller", caller, "secret", se.Name, "where", se.Where, "missing", secrets.IsNotFound(err), errAttr(err))
	return "upstream " + u.name + ": " + se.CallerMessage(), true
}

// recordSecrets notes, for the audit line of the caller's request, the
// secrets the caller's child or session was started with.
func (u *upstream) recordSecrets(ctx context.Context) {
	for _, name := range u.secretNames {
		audit.RecordCredential(ctx, audit.Credential{Upstream: u.name, Kind: audit.CredentialSecret, Name: name})
	}
}
