// Package credstore keeps credentials at rest for tsmcp (the sealed OAuth
// tokens and client registrations of internal/oauth) in a store that every
// replica reads through: nothing is cached in memory, so a token one
// replica wrote, refreshed or deleted is what the next read on any replica
// returns. tailscale's own state stores (kubestore, awsstore) serve reads
// from memory and hold one replica's node state, so they cannot be shared.
//
// A store is named by a spec (mcp.credential_store):
//   - dir:<path> (or an absolute path): one file per key in a directory, for
//     one host, or replicas sharing a volume (EFS, a ReadWriteMany claim);
//   - kube:<secret>: keys in one Kubernetes Secret of the pod's namespace,
//     created beforehand; the service account needs get and patch on it;
//   - ssm:<path>: one SecureString parameter per key under an AWS SSM
//     Parameter Store path; the task role needs ssm:GetParameter,
//     ssm:PutParameter and ssm:DeleteParameter on <path>/*.
//
// Keys are names of the form [A-Za-z0-9._-]{1,128} (internal/oauth's are
// "tsmcp-oauth-<hex>"); values are opaque bytes. Writing an empty value
// deletes the key.
package credstore

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"tailscale.com/ipn"
)

// Kind is the kind of store a spec names.
type Kind string

// The kinds of store.
const (
	KindDir  Kind = "dir"
	KindKube Kind = "kube"
	KindSSM  Kind = "ssm"
)

// Spec is a parsed store spec.
type Spec struct {
	// Kind is the kind of store.
	Kind Kind
	// Target is the directory, the Secret's name or the SSM path.
	Target string
}

// String is the spec as written in config.
func (s Spec) String() string { return string(s.Kind) + ":" + s.Target }

var (
	secretName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
	ssmPath    = regexp.MustCompile(`^(/[a-zA-Z0-9_.-]+)+$`)
	validKey   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
)

// Parse reads a store spec; its errors say what a valid one looks like.
func Parse(spec string) (Spec, error) {
	kind, target, ok := strings.Cut(spec, ":")
	if !ok && filepath.IsAbs(spec) {
		kind, target = string(KindDir), spec
	}
	switch Kind(kind) {
	case KindDir:
		if !filepath.IsAbs(target) {
			return Spec{}, fmt.Errorf("%q: a dir: store needs an absolute path (dir:/var/lib/tsmcp/credentials)", spec)
		}
		return Spec{KindDir, filepath.Clean(target)}, nil
	case KindKube:
		if !secretName.MatchString(target) {
			return Spec{}, fmt.Errorf("%q: a kube: store needs a Secret name (kube:tsmcp-credentials): lower-case letters, digits, '-' and '.'", spec)
		}
		return Spec{KindKube, target}, nil
	case KindSSM:
		target = strings.TrimSuffix(target, "/")
		if !ssmPath.MatchString(target) {
			return Spec{}, fmt.Errorf("%q: an ssm: store needs a parameter path (ssm:/tsmcp/credentials)", spec)
		}
		return Spec{KindSSM, target}, nil
	}
	return Spec{}, fmt.Errorf("%q: not a credential store (want dir:<path>, kube:<secret> or ssm:<path>)", spec)
}

// Open opens the store spec names. For kube: and ssm: it checks, under
// ctx, that the store can be read, so that a missing Secret, permission
// or credential stops tsmcp at start rather than at a caller's first
// Connect.
func Open(ctx context.Context, spec string) (ipn.StateStore, error) {
	s, err := Parse(spec)
	if err != nil {
		return nil, err
	}
	switch s.Kind {
	case KindDir:
		return openDir(s.Target)
	case KindKube:
		return openKube(ctx, s.Target)
	default:
		return openSSM(ctx, s.Target)
	}
}

// checkKey refuses a key that is not a plain name: it becomes a file
// name, a Secret data key or the last element of a parameter path.
func checkKey(id ipn.StateKey) error {
	if !validKey.MatchString(string(id)) || id == "." || id == ".." {
		return fmt.Errorf("credential store: invalid key %q", id)
	}
	return nil
}

// errNotExist is what ReadState answers for a missing key.
var errNotExist = ipn.ErrStateNotExist
