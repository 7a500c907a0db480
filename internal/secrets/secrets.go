// Package secrets looks up static per-identity secrets: values an
// operator stored for one tailnet identity (a user, or a tagged node),
// named in the config as ${secret:NAME} in a per-identity upstream's env
// and headers and in an http tool's headers, and resolved per caller at
// the time of use.
//
// A Source is where the values live (secrets.source): a directory, a
// Kubernetes Secret per identity, or AWS SSM parameters. Every source is
// keyed by the caller's identity key (identity.Identity.Key): a value is
// only ever read for the identity it was stored for, and a value that is
// missing is an error (*NotFoundError), never a shared default or an empty
// string.
//
// Values are secrets: this package never logs them, and its errors name
// the secret and where it was looked for, never a value.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// MaxValue bounds a secret's value: it becomes an environment variable or
// a header value.
const MaxValue = 64 << 10

// NameRE is what a secret's NAME matches: a file name, a Kubernetes
// Secret data key and an SSM parameter name element alike.
var NameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$`)

// Source is where per-identity secrets are stored.
type Source interface {
	// Lookup returns the value of the secret name stored for the identity
	// whose key (identity.Identity.Key) is key. A secret that is not
	// stored for that identity (or is empty) is a *NotFoundError; any
	// other error is the source's failure. The value is never empty.
	Lookup(ctx context.Context, key, name string) (string, error)
	// Where describes, for messages, where the secret name of identity
	// key is looked for (a file, a Secret and its key, a parameter). It
	// names no other identity and holds no value.
	Where(key, name string) string
	// String is the source as configured (secrets.source).
	String() string
}

// NotFoundError is a secret that is not stored for an identity.
type NotFoundError struct {
	// Name is the secret's name.
	Name string
	// Where is where it was looked for (Source.Where).
	Where string
	// Detail says why it counts as missing ("no such file", "empty");
	// empty when there is nothing to add.
	Detail string
}

func (e *NotFoundError) Error() string {
	s := fmt.Sprintf("secret %q is not set (%s)", e.Name, e.Where)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// IsNotFound reports whether err is (or wraps) a *NotFoundError.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}

// Open returns the source a secrets.source value names: "dir:<path>",
// "kube:<prefix>" or "ssm:<path>". It checks the value's form only and
// reaches nothing: a source that cannot be reached fails its lookups.
// (internal/config validates the value first; Open repeats the checks it
// relies on.)
func Open(spec string) (Source, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "dir":
		return newDir(spec, arg)
	case "kube":
		return newKube(spec, arg)
	case "ssm":
		return newSSM(spec, arg)
	default:
		return nil, fmt.Errorf("secrets.source: %q is not dir:<path>, kube:<prefix> or ssm:<path>", spec)
	}
}

// checkValue turns an empty value into a *NotFoundError and refuses one
// larger than MaxValue or holding NUL (it could be neither an environment
// variable nor a header value).
func checkValue(src Source, key, name, v string) (string, error) {
	switch {
	case v == "":
		return "", &NotFoundError{Name: name, Where: src.Where(key, name), Detail: "the value is empty"}
	case len(v) > MaxValue:
		return "", fmt.Errorf("secret %q (%s): the value is larger than %d bytes", name, src.Where(key, name), MaxValue)
	case strings.ContainsRune(v, 0):
		return "", fmt.Errorf("secret %q (%s): the value contains NUL", name, src.Where(key, name))
	}
	return v, nil
}
