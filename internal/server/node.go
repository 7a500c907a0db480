package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"tailscale.com/hostinfo"
	"tailscale.com/tsnet"

	"github.com/tsmcp/tsmcp/internal/statestore"
	"github.com/tsmcp/tsmcp/internal/tsnetx"
)

// newNode builds (but does not start) the tsnet node from tailnet.*.
func (s *Server) newNode() (*tsnet.Server, func() error, error) {
	tc := s.cfg.Tailnet
	hostinfo.SetApp("tsmcp")
	node := &tsnet.Server{
		Hostname:      tc.Hostname,
		AuthKey:       tc.AuthKey,
		ControlURL:    tc.ControlURL,
		Ephemeral:     tc.Ephemeral,
		AdvertiseTags: tc.Tags,
		UserLogf: func(format string, args ...any) {
			s.log.Info(fmt.Sprintf(format, args...), "log", "tailscale")
		},
	}
	// tsnet's own log is chatty: it goes to the log only with --verbose,
	// but its last lines are kept to explain a failed join.
	s.joinDiag = &joinDiag{warn: func(cause string) {
		// The cause comes first: ahead of the noise tsnet's helpers
		// log while it retries, and long before tailnet.up_timeout.
		s.log.Warn("cannot join the tailnet yet; retrying until tailnet.up_timeout",
			"error", cause, "control_url", controlURLForLog(tc.ControlURL))
	}}
	node.Logf = func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		s.joinDiag.logf(line)
		if s.verbose {
			s.log.Debug(line, "log", "tsnet")
		}
	}
	var tmpDir string
	switch statestore.KindOf(tc.State) {
	case statestore.Mem, statestore.Kube, statestore.SSM:
		// State lives in memory, a Kubernetes Secret or an SSM parameter;
		// tsnet still needs a writable directory for its log
		// configuration (and, outside Kubernetes, tailnet.https
		// certificates). A fresh one under $TMPDIR (/tmp) serves: nothing
		// in it has to survive a restart. The store itself is opened by
		// statestore in up (openStore), under up's deadline, because the
		// Kubernetes and SSM stores reach the network.
		dir, err := os.MkdirTemp("", "tsmcp-")
		if err != nil {
			return nil, nil, fmt.Errorf("tailnet.state: %s state needs a writable temporary directory (mount one at /tmp or set TMPDIR): %w", statestore.KindOf(tc.State), err)
		}
		tmpDir = dir
		node.Dir = dir
	default:
		if err := writableDir(tc.State); err != nil {
			return nil, nil, fmt.Errorf("tailnet.state: %w; %s", err, stateDirHint)
		}
		node.Dir = tc.State
	}
	closeNode := func() error {
		var err error
		// A node that never started (the state store could not be
		// opened, or tsnet failed before building its subsystems) has
		// nothing to close, and tsnet's Close would panic on it.
		if node.Sys() != nil {
			err = node.Close()
			if errors.Is(err, net.ErrClosed) {
				err = nil
			}
		}
		if tmpDir != "" {
			err = errors.Join(err, os.RemoveAll(tmpDir))
		}
		return err
	}
	return node, closeNode, nil
}

// stateDirHint follows an unusable state directory: how to choose another.
const stateDirHint = "the node keeps its keys there and must write them: choose a directory this user can write " +
	"with --state DIR (tailnet.state, TSMCP_TAILNET_STATE), e.g. --state $HOME/.local/state/tsmcp, " +
	"or --state mem: --ephemeral for a node that is forgotten when tsmcp stops"

// writableDir creates dir (0700) if needed and checks that a file can be
// created in it, so that an unwritable state directory is reported before
// tsnet fails on it with a message about its log configuration.
func writableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tsmcp-write-check-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// up starts the node and waits, at most tailnet.up_timeout, until it is
// Running on the tailnet.
func (s *Server) up(ctx context.Context, node *tsnet.Server) error {
	tc := s.cfg.Tailnet
	ctx, cancel := context.WithTimeout(ctx, tc.UpTimeout)
	defer cancel()
	if err := s.openStore(ctx, node); err != nil {
		return err
	}
	s.log.Info("joining the tailnet", "hostname", tc.Hostname, "control_url", controlURLForLog(tc.ControlURL), "tags", tc.Tags)
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s.joinDiag.watch(watchCtx, s, node)
	}()
	st, err := node.Up(ctx)
	stopWatch()
	<-watched
	s.joinDiag.finish()
	if err != nil {
		hint := s.joinDiag.explain(tc.AuthKey != "")
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("tailnet: node did not join within tailnet.up_timeout (%s); %s", tc.UpTimeout, hint)
		}
		return fmt.Errorf("tailnet: joining failed: %w; %s", err, hint)
	}
	for _, ip := range st.TailscaleIPs {
		if ip.Is4() {
			s.tailnetIP = ip
			break
		}
	}
	if !s.tailnetIP.IsValid() && len(st.TailscaleIPs) > 0 {
		s.tailnetIP = st.TailscaleIPs[0]
	}
	names := append([]string{tc.Hostname}, node.CertDomains()...)
	s.shortName = tc.Hostname
	if st.Self != nil && st.Self.DNSName != "" {
		fqdn := strings.TrimSuffix(st.Self.DNSName, ".")
		short, _, _ := strings.Cut(fqdn, ".")
		names = append(names, fqdn, short)
		s.fqdn, s.shortName = fqdn, short
	}
	for _, ip := range st.TailscaleIPs {
		names = append(names, ip.String())
	}
	s.hosts = newHostSet(names...)
	s.log.Info("joined the tailnet", "names", names)

	// Peers reach a node through its home DERP region until a direct path
	// exists; being ready before that connection is up makes first calls
	// stall. Wait for it briefly, but never make readiness depend on it.
	dctx, dcancel := context.WithTimeout(ctx, derpWait)
	defer dcancel()
	if err := tsnetx.WaitHomeDERP(dctx, node); err != nil {
		s.log.Warn("serving before the home DERP connection is up", "err", err)
	}
	return nil
}

// openStore opens the state store tailnet.state names (memory, a
// Kubernetes Secret or an SSM parameter) for node; a directory needs none,
// tsnet keeps its state file there itself. Kubernetes and SSM stores read
// the node's existing state over the network, so this runs under up's
// deadline.
func (s *Server) openStore(ctx context.Context, node *tsnet.Server) error {
	state := s.cfg.Tailnet.State
	kind := statestore.KindOf(state)
	if kind == statestore.Dir {
		return nil
	}
	if kind != statestore.Mem {
		s.log.Info("opening the state store", "kind", kind.String(), "state", state)
	}
	st, err := statestore.Open(ctx, func(format string, args ...any) {
		s.log.Warn(fmt.Sprintf(format, args...), "log", "statestore")
	}, state)
	if err != nil {
		return err
	}
	node.Store = st
	return nil
}

// derpWait bounds how long joining waits for the home DERP connection.
const derpWait = 5 * time.Second

func controlURLForLog(u string) string {
	if u == "" {
		return "(Tailscale)"
	}
	return u
}
