package declared

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/secrets"
)

// An http tool's header value may name the caller's own secret,
// ${secret:NAME}: the value is cut there into template pieces (rendered
// with the call's params as before) and secrets, looked up for the caller
// at each call. A secret's value is inserted as it is, never parsed as a
// template, and text the caller sent (a param's value) is never searched
// for ${secret:…}. A secret missing for the caller refuses the call: the
// request is not sent.

// headerPart is a template piece of a header value, or a secret.
type headerPart struct {
	t      *tmpl  // nil for a secret
	secret string // the secret's name, when t is nil
}

// parseHeader compiles the value src of header name (key in errors).
func (p *Provider) parseHeader(key, name, src string, params map[string]*param) (header, error) {
	h := header{name: name}
	refs, err := secrets.Refs(src)
	if err != nil {
		return header{}, fmt.Errorf("%s: %v", key, err)
	}
	for {
		before, ref, rest, found := cutSecretRef(src)
		if before != "" || (!found && len(h.parts) == 0) {
			tm, err := parseTemplate(key, before, envFunc(p.lookupEnv, nil))
			if err != nil {
				if len(refs) > 0 {
					return header{}, fmt.Errorf("%s (a ${secret:…} cannot be inside a {{…}} action)", err)
				}
				return header{}, err
			}
			if err := checkRefs(tm, params, key); err != nil {
				return header{}, err
			}
			h.parts = append(h.parts, headerPart{t: tm})
		}
		if !found {
			return h, nil
		}
		h.parts = append(h.parts, headerPart{secret: ref})
		src = rest
	}
}

// cutSecretRef cuts s around its first ${secret:NAME} (checked well
// formed by secrets.Refs).
func cutSecretRef(s string) (before, name, after string, found bool) {
	before, rest, found := strings.Cut(s, "${secret:")
	if !found {
		return s, "", "", false
	}
	name, after, _ = strings.Cut(rest, "}")
	return before, name, after, true
}

// render renders the header's value with the call's param texts and the
// caller's secrets.
func (h header) render(data map[string]string, secretVals map[string]string) (string, error) {
	var b strings.Builder
	for _, part := range h.parts {
		if part.t == nil {
			v, ok := secretVals[part.secret]
			if !ok {
				return "", fmt.Errorf("secret %q was not looked up", part.secret)
			}
			b.WriteString(v)
			continue
		}
		v, err := part.t.render(data)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// callerSecrets looks up the tool's secrets for the caller of ctx and
// notes them for the call's audit line; refused is the call's result
// when one is missing or cannot be read (the request is not sent).
func (x *httpTool) callerSecrets(ctx context.Context) (vals map[string]string, refused *mcp.CallToolResult) {
	if len(x.secretNames) == 0 {
		return nil, nil
	}
	id, _ := identity.FromContext(ctx)
	if id == nil {
		return nil, x.p.failed(ctx, x.name, "secret", "the tool needs an identified caller")
	}
	vals, err := secrets.Resolve(ctx, x.p.secrets, id, x.secretNames)
	if err != nil {
		var se *secrets.Error
		name, where := "", ""
		if errors.As(err, &se) {
			name, where = se.Name, se.Where
		}
		return nil, x.p.failed(ctx, x.name, "secret", secrets.CallerMessage(err),
			"caller", id.Key(), "secret", name, "where", where, "missing", secrets.IsNotFound(err), "error", err.Error())
	}
	for _, name := range x.secretNames {
		audit.RecordCredential(ctx, audit.Credential{Kind: audit.CredentialSecret, Name: name})
	}
	return vals, nil
}
