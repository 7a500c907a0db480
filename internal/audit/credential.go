package audit

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Credential describes a credential a request used on the caller's behalf
// (a per-identity secret, an OAuth token): which one, never its value.
type Credential struct {
	// Upstream is the upstream the credential was sent to; empty for an
	// http tool (the event's Name is the tool).
	Upstream string `json:"upstream,omitempty"`
	// Kind is what sort of credential: "secret" (a per-identity secret,
	// ${secret:NAME}) or "oauth" (a per-identity OAuth token). Never
	// empty.
	Kind string `json:"kind"`
	// Name is the secret's name (Kind "secret"); empty otherwise.
	Name string `json:"name,omitempty"`
	// Subject is who the credential speaks for at the upstream (an OAuth
	// token's subject); empty when unknown.
	Subject string `json:"subject,omitempty"`
	// Expiry is when the credential expires; zero when unknown or never.
	Expiry time.Time `json:"expiry,omitzero"`
}

// The kinds of Credential.
const (
	CredentialSecret = "secret"
	CredentialOAuth  = "oauth"
)

// credentialSet collects the credentials one request used.
type credentialSet struct {
	mu   sync.Mutex // guards the field below
	list []Credential
}

type credentialsKey struct{}

// WithCredentials returns a context in which RecordCredential collects
// what a request's handler used, and the function that returns the
// collected credentials (in the order first recorded, without repeats).
// The host wraps each decided request so; the event it records then
// carries them (Event.Credentials).
func WithCredentials(ctx context.Context) (context.Context, func() []Credential) {
	set := &credentialSet{}
	return context.WithValue(ctx, credentialsKey{}, set), func() []Credential {
		set.mu.Lock()
		defer set.mu.Unlock()
		return slices.Clone(set.list)
	}
}

// RecordCredential notes that the request of ctx used c (a provider calls
// it where it sends a credential). Without WithCredentials above it in
// ctx it does nothing.
func RecordCredential(ctx context.Context, c Credential) {
	set, _ := ctx.Value(credentialsKey{}).(*credentialSet)
	if set == nil {
		return
	}
	set.mu.Lock()
	defer set.mu.Unlock()
	if !slices.Contains(set.list, c) {
		set.list = append(set.list, c)
	}
}
