package upstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// childEnvOf calls the test server's env tool as ctx's caller.
func (h *harness) childEnvOf(ctx context.Context, tool string) map[string]string {
	h.t.Helper()
	res := h.call(ctx, tool, nil)
	if res.IsError {
		h.t.Fatalf("%s: %s", tool, resultText(res))
	}
	var env map[string]string
	if err := json.Unmarshal([]byte(resultText(res)), &env); err != nil {
		h.t.Fatal(err)
	}
	return env
}

// wantPrivateDir fails unless path is a directory (not a link) of mode
// 0700.
func wantPrivateDir(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: mode %v, want a directory of mode 0700", path, fi.Mode())
	}
}

// identityDirUpstream is a per-identity test upstream that gets its
// directory in an argument and an environment variable.
func identityDirUpstream(t *testing.T) config.Upstream {
	u := perIdentityUpstream(t, "p")
	u.Command = append(u.Command, "--data=${identity.dir}/arg", "plain")
	u.Env["TSMCP_TEST_FILE"] = "${identity.dir}/memory.jsonl"
	return u
}

// TestPerIdentityDirectories: every caller's child runs in a directory of
// its own, <IdentitiesDir>/<sha256 of the identity key>/<upstream>, each
// level 0700, which is its HOME and working directory and what
// ${identity.dir} stands for in its arguments and environment.
func TestPerIdentityDirectories(t *testing.T) {
	root := filepath.Join(t.TempDir(), "data", "identities")
	// A root that exists with a wider mode is tightened.
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := testOptions()
	opts.IdentitiesDir = root
	h := newHarness(t, []config.Upstream{identityDirUpstream(t)}, opts)
	bg := context.Background()

	seen := map[string]string{}
	for _, tc := range []struct {
		name, key string
		ctx       context.Context
		secret    string // what the directory's name must not contain
	}{
		{name: "alice", key: "user:alice@example.com", ctx: alice(bg), secret: "alice"},
		{name: "bob", key: "user:bob@example.com", ctx: bob(bg), secret: "bob"},
		{name: "tagged node", key: "tags:tag:ci,tag:prod/node:n3", ctx: ciNode(bg), secret: "ci"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := h.in(t)
			sum := sha256.Sum256([]byte(tc.key))
			hash := hex.EncodeToString(sum[:])
			want := filepath.Join(root, hash, "p")
			env := h.childEnvOf(tc.ctx, "p__env")
			for k, v := range map[string]string{
				"home": want, "cwd": want, "file": want + "/memory.jsonl",
				"args": "--data=" + want + "/arg plain", "cfg": "from-config",
			} {
				if env[k] != v {
					t.Errorf("child's %s = %q, want %q", k, env[k], v)
				}
			}
			if strings.Contains(strings.TrimPrefix(want, root), tc.secret) {
				t.Errorf("directory %s names the identity", want)
			}
			for _, d := range []string{root, filepath.Join(root, hash), want} {
				wantPrivateDir(t, d)
			}
			if other, dup := seen[want]; dup {
				t.Errorf("%s shares its directory with %s", tc.name, other)
			}
			seen[want] = tc.name
		})
	}

	// The discovery child, which serves no caller, has a directory of its
	// own too (read from the kernel: it answers no calls).
	discovery := filepath.Join(root, "discovery", "p")
	wantPrivateDir(t, discovery)
	found := false
	for _, pid := range testutil.ChildPIDs(t) {
		if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err == nil && cwd == discovery {
			found = true
		}
	}
	if !found {
		t.Errorf("no child runs in %s", discovery)
	}
}

// TestPerIdentityHomeFromEnv: an explicit HOME in env wins over the
// directory; the working directory stays the caller's.
func TestPerIdentityHomeFromEnv(t *testing.T) {
	root := filepath.Join(t.TempDir(), "identities")
	u := identityDirUpstream(t)
	u.Env["HOME"] = "${identity.dir}/home"
	opts := testOptions()
	opts.IdentitiesDir = root
	h := newHarness(t, []config.Upstream{u}, opts)
	sum := sha256.Sum256([]byte("user:alice@example.com"))
	dir := filepath.Join(root, hex.EncodeToString(sum[:]), "p")
	env := h.childEnvOf(alice(context.Background()), "p__env")
	if env["home"] != dir+"/home" || env["cwd"] != dir {
		t.Errorf("home %q, cwd %q; want %q, %q", env["home"], env["cwd"], dir+"/home", dir)
	}
}

// TestPerIdentityDirectoryRefusesLink tries to redirect a caller's child
// into another directory by planting a symbolic link where its directory
// goes: the child is not started, the call fails generically, and the log
// says why.
func TestPerIdentityDirectoryRefusesLink(t *testing.T) {
	root := filepath.Join(t.TempDir(), "identities")
	elsewhere := t.TempDir()
	sum := sha256.Sum256([]byte("user:bob@example.com"))
	bobs := filepath.Join(root, hex.EncodeToString(sum[:]))
	if err := os.MkdirAll(bobs, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(bobs, "p")); err != nil {
		t.Fatal(err)
	}
	opts := testOptions()
	opts.IdentitiesDir = root
	h := newHarness(t, []config.Upstream{identityDirUpstream(t)}, opts)
	bg := context.Background()
	wantError(t, h.call(bob(bg), "p__env", nil), "upstream p is unavailable")
	if !strings.Contains(h.logs.String(), "is a symbolic link, not a directory") {
		t.Errorf("log does not say why bob's child did not start")
	}
	// Others are not affected.
	if env := h.childEnvOf(alice(bg), "p__env"); !strings.HasPrefix(env["cwd"], root+"/") {
		t.Errorf("alice's child runs in %q, want under %s", env["cwd"], root)
	}
}

// TestPerIdentityTemporaryDirectories: without IdentitiesDir the
// directories live in a temporary root, which Close removes.
func TestPerIdentityTemporaryDirectories(t *testing.T) {
	h := newHarness(t, []config.Upstream{identityDirUpstream(t)}, testOptions())
	env := h.childEnvOf(alice(context.Background()), "p__env")
	root := filepath.Dir(filepath.Dir(env["cwd"]))
	if !strings.HasPrefix(filepath.Base(root), "tsmcp-identities-") || filepath.Dir(root) != filepath.Clean(os.TempDir()) {
		t.Fatalf("child runs in %q, want a directory under a temporary tsmcp-identities-* root", env["cwd"])
	}
	wantPrivateDir(t, root)
	if err := h.p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("temporary root %s still there after Close (%v)", root, err)
	}
}
