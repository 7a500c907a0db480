package upstream

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// Environment variables of a per-identity child.
const (
	envCallerLogin = "TSMCP_CALLER_LOGIN" // the user's login; empty for tagged nodes
	envCallerNode  = "TSMCP_CALLER_NODE"  // the node of the call that started the child
	envCallerTags  = "TSMCP_CALLER_TAGS"  // the node's tags, comma-separated; empty for users
)

// callerInfo is what a per-identity child (or session) knows of its caller.
type callerInfo struct {
	key string // identity key, see callerKey
	// authKey is the identity's credential key
	// (identity.CredentialKey): whose token an upstream with auth sends.
	authKey string
	login   string
	node    string
	tags    string
	// secrets are the caller's own values of the upstream's secretNames,
	// by name, looked up before their child started; nil when the
	// upstream uses none. Never logged.
	secrets map[string]string
}

// callerKey is the per-identity key (identity.Identity.Key): a user by
// login (all of a user's devices share one child), a tagged node, which
// has no user, by its tags and its node. Per-identity secrets are keyed
// the same way (internal/secrets).
func callerKey(id *identity.Identity) string { return id.Key() }

func newCallerInfo(id *identity.Identity) *callerInfo {
	c := &callerInfo{key: callerKey(id), authKey: id.CredentialKey(), node: id.NodeName, tags: strings.Join(id.Tags, ",")}
	if !id.IsTagged() {
		c.login = id.LoginName
	}
	return c
}

func (c *callerInfo) env() map[string]string {
	return map[string]string{envCallerLogin: c.login, envCallerNode: c.node, envCallerTags: c.tags}
}

// child is one caller's child (or session) of a per-identity upstream.
type child struct {
	sup      *supervisor
	inflight int
	lastUsed time.Time
	timer    *time.Timer // reaps the child once idle; nil while in use
}

// acquireChild returns the caller's supervisor, starting it on first use,
// and a release func to call when the call is over. The child counts as in
// use until release.
func (u *upstream) acquireChild(ctx context.Context) (*supervisor, func(), error) {
	id, ok := identity.FromContext(ctx)
	if !ok {
		return nil, nil, errNoIdentity
	}
	caller := newCallerInfo(id)
	key := caller.key
	if u.auth != nil {
		// Only a caller holding a token gets a session (auth.go); one
		// session per token holder.
		if err := u.needsConnect(ctx, caller); err != nil {
			return nil, nil, err
		}
		key += childKeySep + caller.authKey
	}
	for {
		if u.secretNames != nil && caller.secrets == nil && !u.hasChild(key) {
			// Looked up without the lock: a source may be remote.
			vals, err := u.callerSecrets(ctx, id)
			if err != nil {
				return nil, nil, err
			}
			caller.secrets = vals
		}
		u.mu.Lock()
		if u.secretNames == nil || caller.secrets != nil || u.children[key] != nil {
			break // with u.mu held
		}
		// The child was reaped since hasChild: look the secrets up.
		u.mu.Unlock()
	}
	defer u.mu.Unlock()
	if u.closed {
		return nil, nil, errStopped
	}
	ch := u.children[key]
	if ch != nil && ch.sup.Context().Err() != nil {
		// Stopped (its token stopped working): a new one.
		delete(u.children, key)
		ch = nil
	}
	if ch == nil {
		if len(u.children) >= u.p.opts.MaxPerIdentity {
			return nil, nil, errTooMany
		}
		sup := u.newSupervisor(caller, false)
		ch = &child{sup: sup}
		u.children[key] = ch
		u.log.Info("per-identity child started", "caller", caller.key)
		// Under u.mu with u.closed false: Provider.Close has not reached
		// its Wait yet.
		u.p.goFunc(sup.Run)
	}
	ch.inflight++
	if ch.timer != nil {
		ch.timer.Stop()
		ch.timer = nil
	}
	release := func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		ch.inflight--
		ch.lastUsed = time.Now()
		if ch.inflight == 0 && !u.closed {
			ch.timer = time.AfterFunc(u.idle, func() { u.reap(key, ch) })
		}
	}
	return ch.sup, release, nil
}

// hasChild reports whether the caller with key has a child now.
func (u *upstream) hasChild(key string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.children[key] != nil
}

// reap stops ch if it is still the caller's child and has been idle for
// the idle timeout.
func (u *upstream) reap(key string, ch *child) {
	u.mu.Lock()
	if u.closed || u.children[key] != ch || ch.inflight > 0 || time.Since(ch.lastUsed) < u.idle {
		u.mu.Unlock()
		return
	}
	delete(u.children, key)
	u.mu.Unlock()
	u.log.Info("per-identity child idle, stopping", "caller", key)
	ch.sup.Stop() // its run loop (which Close waits for) reaps the child
}

// describeTooMany is the tool error text when the limit is reached.
func (u *upstream) describeTooMany() string {
	return fmt.Sprintf("upstream %s has too many active callers (limit %d); try again later", u.name, u.p.opts.MaxPerIdentity)
}
