package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/logx"
	"github.com/tsmcp/tsmcp/internal/oauth"
	"github.com/tsmcp/tsmcp/internal/safetext"
	"github.com/tsmcp/tsmcp/internal/tools"
	"github.com/tsmcp/tsmcp/internal/upstream/conn"
)

// minSetupTimeout is the least time given to starting a child or session
// and to tools/list, even when the call timeout is shorter (npx may have a
// package to fetch first).
const minSetupTimeout = 30 * time.Second

// maxDetailBytes bounds an upstream's status detail.
const maxDetailBytes = 512

// warnBurst is how many records of one repeated line (an item skipped or
// dropped) an upstream's warns logs in full per interval.
const warnBurst = 10

// upstream is the bridge of one configured upstream.
type upstream struct {
	p    *Provider
	name string
	// unprefixed is true for an upstream configured `prefix: false`: its
	// names and URIs are served as it lists them (see servedName).
	unprefixed bool
	cfg        config.Upstream
	timeout    time.Duration // bounds a forwarded call's silence (see deadline); 0: no limit
	// setupTimeout bounds starting a child or session (initialize) and
	// tools/list: the call timeout, but at least minSetupTimeout.
	setupTimeout time.Duration
	idle         time.Duration
	perIdentity  bool
	headers      map[string]string // resolved; secrets: never logged
	remote       *conn.Remote      // nil for stdio upstreams
	// auth is set for an upstream with auth: each caller's session
	// carries that caller's token (auth.go); nil otherwise.
	auth    *oauth.Upstream
	catalog *catalog // which identity lists an upstream with auth
	// modern is the 2026-07-28 lane of an upstream with protocol: auto
	// (modern.go); nil otherwise.
	modern *modernLane
	log    *slog.Logger
	// warns logs the lines an upstream can repeat at will (an item
	// skipped or dropped per listing) without flooding the log.
	warns *logx.Repeats
	// secretNames are the ${secret:NAME} of a per-identity upstream's
	// env values and resolved headers, looked up for each caller when
	// their child or session starts (secret.go); nil when none.
	secretNames []string

	// lister serves tools/list and list_changed: the shared child or
	// session, or the discovery one of a per-identity upstream (never
	// used for calls then).
	lister       *supervisor
	firstListing chan struct{} // closed after the lister's first attempt
	firstOnce    sync.Once

	mu       sync.Mutex // guards the fields below
	tools    []tools.Tool
	rawList  []byte // the raw tools of the last listing, to detect changes
	children map[string]*child
	closed   bool

	feat featureState // bridged prompts, resources, templates; see resources.go
}

func newUpstream(p *Provider, i int, c config.Upstream) (*upstream, error) {
	c, err := ResolvePackage(c, p.opts.LookupEnv)
	if err != nil {
		return nil, keyError(i, "package", "%v", err)
	}
	u := &upstream{
		p:            p,
		name:         c.Name,
		unprefixed:   !c.Prefixed(),
		cfg:          c,
		timeout:      c.Timeout,
		idle:         c.IdleTimeout,
		perIdentity:  c.IsPerIdentity(),
		log:          p.opts.Logger.With("upstream", c.Name),
		firstListing: make(chan struct{}),
		children:     map[string]*child{},
	}
	u.warns = logx.NewRepeats(u.log, 0, warnBurst)
	u.setupTimeout = max(u.timeout, minSetupTimeout)
	if u.idle <= 0 {
		u.idle = config.DefaultIdleTimeout
	}
	switch {
	case c.Name == "":
		return nil, keyError(i, "name", "must not be empty")
	case len(c.Command) > 0 && c.URL != "", len(c.Command) == 0 && c.URL == "":
		return nil, keyError(i, "", "needs exactly one of command or url")
	case len(c.Command) > 0 && c.Command[0] == "":
		return nil, keyError(i, "command[0]", "must not be empty")
	}
	if c.URL != "" {
		h, err := resolveHeaders(i, c.Headers, p.opts.LookupEnv)
		if err != nil {
			return nil, err
		}
		u.headers = h
		u.remote = conn.NewRemote(c.URL, u.log, u.setupTimeout, callStream)
		if c.Protocol == config.ProtocolAuto {
			u.modern = &modernLane{}
		}
		if c.Auth != nil {
			if u.auth, err = newAuth(i, c, p.opts); err != nil {
				return nil, err
			}
			u.catalog = newCatalog(p.opts.State, c.Name)
		}
	}
	if u.perIdentity {
		if u.secretNames, err = secretRefs(i, c.Env, u.headers); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// start launches the lister in the background.
func (u *upstream) start() {
	u.lister = u.newSupervisor(nil, true)
	if u.auth != nil {
		// Nothing to wait for: the catalog session waits for a
		// connected identity (auth.go).
		u.firstOnce.Do(func() { close(u.firstListing) })
	}
	u.p.goFunc(u.lister.Run)
}

// remoteFor returns how a url upstream is reached for caller (nil: shared
// or discovery) and, with auth, as the identity of credential key
// authKey: the dialer (with that identity's token) and the headers (the
// caller's secrets and the X-Tsmcp-Caller-* headers; none of either for
// nil).
func (u *upstream) remoteFor(caller *callerInfo, authKey string) (*conn.Remote, map[string]string) {
	remote := u.remote
	if u.auth != nil {
		remote = u.remoteAs(authKey)
	}
	h := u.headers
	if caller == nil && u.secretNames != nil {
		h = withoutSecrets(u.headers)
	}
	if caller != nil {
		h = make(map[string]string, len(u.headers)+3)
		maps.Copy(h, u.headers)
		expandSecrets(h, caller.secrets)
		h[headerCallerLogin] = caller.login
		h[headerCallerNode] = caller.node
		h[headerCallerTags] = caller.tags
	}
	return remote, h
}

// connect starts a child or opens a session, for caller (nil: shared or
// discovery, without caller variables); a session of an upstream with
// auth sends as the identity of credential key authKey. lane is the
// 2026-07-28 client that sends as the session does (protocol: auto;
// nil otherwise, see modern.go).
func (u *upstream) connect(ctx context.Context, caller *callerInfo, authKey string, hooks conn.Hooks) (_ *conn.Session, lane *conn.Modern, _ error) {
	if u.remote != nil {
		remote, h := u.remoteFor(caller, authKey)
		if u.modern != nil {
			lane = remote.Modern(h, maxModernMessage)
		}
		s, err := remote.Dial(ctx, h, hooks)
		return s, lane, err
	}
	var extra map[string]string
	log := u.log
	if caller != nil {
		extra = caller.env()
		log = log.With("caller", caller.key)
	}
	argv, cfgEnv, dir := u.cfg.Command, u.cfg.Env, ""
	if u.perIdentity {
		var err error
		if dir, err = u.p.dirs.dir(caller, u.name); err != nil {
			return nil, nil, fmt.Errorf("per-identity directory: %w", err)
		}
		argv, cfgEnv = identityCommand(u.cfg.Command, u.cfg.Env, dir)
		if caller == nil {
			cfgEnv = withoutSecrets(cfgEnv)
		} else {
			expandSecrets(cfgEnv, caller.secrets)
		}
	}
	s, err := conn.StartChild(ctx, conn.Child{
		Argv:    argv,
		Env:     conn.ChildEnv(u.p.opts.LookupEnv, cfgEnv, extra),
		Dir:     dir,
		Timeout: u.setupTimeout,
		Log:     log,
		Hooks:   hooks,
		Track:   u.trackChild,
	})
	return s, nil, err
}

// identityCommand returns the argv and configured environment of a
// per-identity child whose directory is dir: ${identity.dir} replaced in
// the arguments (never the program) and env values, and HOME set to dir
// unless env names a HOME of its own.
func identityCommand(command []string, env map[string]string, dir string) ([]string, map[string]string) {
	argv := slices.Clone(command)
	for i := 1; i < len(argv); i++ {
		argv[i] = expandIdentityDir(argv[i], dir)
	}
	out := map[string]string{"HOME": dir}
	for k, v := range env {
		out[k] = expandIdentityDir(v, dir)
	}
	return argv, out
}

// listed takes the lister's new raw tool list; when it differs from the
// previous one, it is bridged (bridge.go) and the host notified. (Only
// the lister's goroutine calls listed.)
func (u *upstream) listed(s *session) {
	raws, more := s.rawTools()
	var modernOnlyTools []json.RawMessage
	if u.modern != nil {
		s.mu.Lock()
		modernOnlyTools = modernOnly(raws, s.modernTools, rawToolName)
		s.mu.Unlock()
		raws = append(slices.Clip(raws), modernOnlyTools...)
	}
	var joined []byte
	for _, r := range raws {
		joined = append(append(joined, r...), 0)
	}
	u.mu.Lock()
	changed := u.rawList == nil || !bytes.Equal(joined, u.rawList)
	u.mu.Unlock()
	if changed {
		ts := u.bridge(raws, more)
		served := map[string]bool{}
		for _, raw := range modernOnlyTools {
			served[u.servedName(rawToolName(raw))] = true
		}
		u.setModernOnly(false, served)
		u.mu.Lock()
		u.rawList, u.tools = joined, ts
		u.mu.Unlock()
		u.log.Info("upstream tools listed", "tools", len(ts))
		u.p.notify()
	}
	u.listedFeatures(s)
}

func (u *upstream) currentTools() []tools.Tool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]tools.Tool(nil), u.tools...)
}

func (u *upstream) status() tools.Status {
	up, detail := u.lister.Describe()
	// The detail quotes errors, which may quote the upstream: it is
	// written for people (/readyz, tsmcp check).
	everUp, starting := u.lister.History()
	st := tools.Status{Name: u.name, Up: up, Detail: safetext.Show(detail, maxDetailBytes), EverUp: everUp, Starting: starting}
	if u.auth != nil {
		st = u.authStatus(st)
	}
	if u.perIdentity {
		u.mu.Lock()
		st.PerIdentity = len(u.children)
		u.mu.Unlock()
	}
	return st
}

// close stops the lister and every per-identity child; Provider.Close
// waits for them.
func (u *upstream) close() {
	u.mu.Lock()
	u.closed = true
	children := u.children
	u.children = map[string]*child{}
	u.mu.Unlock()
	for _, ch := range children {
		if ch.timer != nil {
			ch.timer.Stop()
		}
		ch.sup.Stop()
	}
	if u.lister != nil {
		u.lister.Stop()
	}
}

// requestContext bounds one forwarded request other than a tool call (a
// read, a prompt, a completion, a subscription) by the upstream's
// timeout; with timeout 0 (no limit) it only adds a cancel.
func (u *upstream) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if u.timeout > 0 {
		return context.WithTimeout(ctx, u.timeout)
	}
	return context.WithCancel(ctx)
}
