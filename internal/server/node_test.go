package server

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"tailscale.com/ipn/store/mem"
	"tailscale.com/kube/kubeclient"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/devnet"
	"github.com/tsmcp/tsmcp/internal/statestore/fakekube"
)

// These tests call newNode and up directly, the part of Run that builds
// and joins the node.

// useFakeKube points tailscale's kubeclient at a fake API server, as a
// pod's service account mount and environment would.
func useFakeKube(t *testing.T) *fakekube.Server {
	t.Helper()
	fk, err := fakekube.Start(t.TempDir(), fakekube.Options{Namespace: "tsmcp", ResourceNames: []string{"tsmcp-state"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fk.Close)
	for _, kv := range fk.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("POD_NAME", "")
	t.Setenv("POD_UID", "")
	kubeclient.SetRootPathForTesting(fk.Root)
	t.Cleanup(func() { kubeclient.SetRootPathForTesting("") })
	return fk
}

func kubeStateServer(controlURL string) *Server {
	cfg := config.Default()
	cfg.Tailnet.Hostname = "tsmcp-node"
	cfg.Tailnet.ControlURL = controlURL
	cfg.Tailnet.State = "kube:tsmcp-state"
	cfg.Tailnet.UpTimeout = 30 * time.Second
	return &Server{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// TestNodeWithKubeStateKeepsIdentity: the host's node, with tailnet.state
// kube:<secret>, writes its state to the Secret, uses a temporary Dir that
// is removed on close, and comes back with the same tailnet IP.
func TestNodeWithKubeStateKeepsIdentity(t *testing.T) {
	fk := useFakeKube(t)
	fk.CreateSecret("tsmcp-state", nil)
	n, err := devnet.Start(devnet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	run := func() (ip, dir string) {
		t.Helper()
		s := kubeStateServer(n.ControlURL)
		node, closeNode, err := s.newNode()
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := closeNode(); err != nil {
				t.Error(err)
			}
		}()
		if err := s.up(ctx, node); err != nil {
			t.Fatal(err)
		}
		return s.tailnetIP.String(), node.Dir
	}
	ip1, dir1 := run()
	if data, _ := fk.Secret("tsmcp-state"); len(data["_machinekey"]) == 0 {
		t.Fatalf("no state in the Secret: %v", data)
	}
	if _, err := os.Stat(dir1); !os.IsNotExist(err) {
		t.Errorf("temporary Dir %s left behind: %v", dir1, err)
	}
	ip2, dir2 := run()
	if ip1 != ip2 {
		t.Errorf("tailnet IP changed across restart: %s, then %s", ip1, ip2)
	}
	if dir1 == dir2 {
		t.Errorf("Dir reused: %s", dir1)
	}
}

// TestNodeMemState: every mem: value config accepts ("mem:" and
// "mem:<anything>") gets an in-memory store, opened through statestore,
// and a temporary Dir removed on close.
func TestNodeMemState(t *testing.T) {
	for _, state := range []string{"mem:", "mem:node-1"} {
		t.Run(state, func(t *testing.T) {
			cfg := config.Default()
			cfg.Tailnet.State = state
			cfg.Tailnet.Ephemeral = true
			s := &Server{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			node, closeNode, err := s.newNode()
			if err != nil {
				t.Fatal(err)
			}
			if err := s.openStore(t.Context(), node); err != nil {
				t.Fatal(err)
			}
			if _, ok := node.Store.(*mem.Store); !ok {
				t.Errorf("node.Store = %T, want *mem.Store", node.Store)
			}
			if node.Dir == "" {
				t.Error("no temporary Dir for tsnet's log configuration")
			}
			if err := closeNode(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(node.Dir); !os.IsNotExist(err) {
				t.Errorf("temporary Dir %s left behind: %v", node.Dir, err)
			}
		})
	}
}

// TestNodeKubeStateOutsideAPod: the error names tailnet.state and says why.
func TestNodeKubeStateOutsideAPod(t *testing.T) {
	kubeclient.SetRootPathForTesting(t.TempDir())
	t.Cleanup(func() { kubeclient.SetRootPathForTesting("") })
	s := kubeStateServer("http://127.0.0.1:1")
	node, closeNode, err := s.newNode()
	if err != nil {
		t.Fatal(err)
	}
	defer closeNode()
	err = s.up(t.Context(), node)
	if err == nil || !strings.HasPrefix(err.Error(), "tailnet.state: kube:tsmcp-state: not running in a Kubernetes pod") {
		t.Fatalf("up = %v", err)
	}
}
