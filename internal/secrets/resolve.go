package secrets

import (
	"context"
	"errors"
	"fmt"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// Error is a failure to resolve one secret for a caller: missing
// (IsNotFound) or the source's failure. Its Error text, for the host's
// log, has the details; CallerMessage is what the caller may be told.
type Error struct {
	// Name is the secret's name.
	Name string
	// Source is secrets.source as configured.
	Source string
	// Where is where the secret was looked for, for this caller.
	Where string
	// Err is the cause: a *NotFoundError or the source's error.
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("secret %q (secrets.source %s, %s): %v", e.Name, e.Source, e.Where, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// CallerMessage is the error's text for the caller whose secret it is:
// the secret's name and where it would come from for them, never another
// identity's entry nor the source's own error text.
func (e *Error) CallerMessage() string {
	if IsNotFound(e.Err) {
		return fmt.Sprintf("secret %q is not set for you (secrets.source %s: %s); ask the host's administrator to add it", e.Name, e.Source, e.Where)
	}
	return fmt.Sprintf("secret %q could not be read (secrets.source %s); details are in the host's log", e.Name, e.Source)
}

// Resolve looks up each secret of names for the caller id and returns the
// values by name. The first that fails ends it with an *Error. A nil
// source with names to look up is an *Error too (the config check
// prevents it).
func Resolve(ctx context.Context, src Source, id *identity.Identity, names []string) (map[string]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	if id == nil {
		return nil, errors.New("secrets: no caller identity")
	}
	key := id.Key()
	out := make(map[string]string, len(names))
	for _, name := range names {
		if src == nil {
			return nil, &Error{Name: name, Source: "(none)", Where: "secrets.source is not set", Err: &NotFoundError{Name: name, Where: "no secrets.source"}}
		}
		v, err := src.Lookup(ctx, key, name)
		if err != nil {
			return nil, &Error{Name: name, Source: src.String(), Where: src.Where(key, name), Err: err}
		}
		out[name] = v
	}
	return out, nil
}

// CallerMessage returns the text to tell the caller about err from
// Resolve: the *Error's CallerMessage, or a generic text.
func CallerMessage(err error) string {
	var se *Error
	if errors.As(err, &se) {
		return se.CallerMessage()
	}
	return "a secret could not be resolved; details are in the host's log"
}
