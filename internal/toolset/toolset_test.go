package toolset

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/config"
)

// TestDataDirPreparedBeforeJoining: New (before serve joins the tailnet)
// creates data.dir's identities
// directory (0700) when a per-identity stdio upstream needs it, and fails,
// naming data.dir and how to choose another, when it cannot; without such
// an upstream it creates nothing.
func TestDataDirPreparedBeforeJoining(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	perIdentity := []config.Upstream{{Name: "pi", Command: []string{"true"}, Isolation: config.IsolationPerIdentity}}
	shared := []config.Upstream{{Name: "sh", Command: []string{"true"}}}
	for _, tt := range []struct {
		name      string
		dataDir   string
		upstreams []config.Upstream
		wantErr   string
		wantDir   bool // identities/ exists afterwards, mode 0700
	}{
		{name: "per-identity upstream: created", dataDir: filepath.Join(t.TempDir(), "a", "data"), upstreams: perIdentity, wantDir: true},
		{name: "unusable data dir", dataDir: filepath.Join(file, "data"), upstreams: perIdentity,
			wantErr: "data.dir: per-identity upstreams keep their callers' files there: mkdir " + file + ": not a directory; set data.dir (TSMCP_DATA_DIR, --data-dir) to a directory tsmcp may write"},
		{name: "shared upstreams only: nothing created", dataDir: filepath.Join(t.TempDir(), "b", "data"), upstreams: shared},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Data.Dir = tt.dataDir
			cfg.Upstreams = tt.upstreams
			set, err := New(cfg, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			set.Close()
			fi, err := os.Stat(filepath.Join(tt.dataDir, "identities"))
			switch {
			case tt.wantDir && (err != nil || fi.Mode().Perm() != 0o700):
				t.Errorf("identities: %v, %v; want a directory of mode 0700", fi, err)
			case !tt.wantDir && !os.IsNotExist(err):
				t.Errorf("identities: %v, %v; want nothing", fi, err)
			}
		})
	}
}

// TestStartAndClose: Start returns the built-in, declared and (when
// configured) bridged providers, once; Close before Start releases the
// declared tools, after Start does nothing (the providers are the
// caller's); a declared tool that does not compile fails New, naming it.
func TestStartAndClose(t *testing.T) {
	cfg := config.Default()
	cfg.Tools = []config.Tool{{Name: "hello", Exec: &config.ExecTool{Command: []string{"echo", "hi"}}}}
	cfg.Upstreams = []config.Upstream{{Name: "up", Command: []string{"true"}}}
	set, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := set.Start(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name())
	}
	if got := strings.Join(names, " "); got != "builtin tools upstreams" {
		t.Errorf("providers = %q, want builtin, tools (declared), upstreams", got)
	}
	if _, err := set.Start(nil, nil); err == nil {
		t.Error("a second Start succeeded")
	}
	if err := set.Close(); err != nil {
		t.Errorf("Close after Start: %v", err)
	}
	for _, p := range ps {
		if err := p.Close(); err != nil {
			t.Errorf("closing %s: %v", p.Name(), err)
		}
	}

	unused, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := unused.Close(); err != nil {
		t.Errorf("Close before Start: %v", err)
	}
	if _, err := unused.Start(nil, nil); err == nil {
		t.Error("Start after Close succeeded")
	}

	bad := config.Default()
	bad.Tools = []config.Tool{{Name: "broken", Exec: &config.ExecTool{Command: []string{"echo", "{{.missing"}}}}
	if _, err := New(bad, nil); err == nil || !strings.Contains(err.Error(), "tools[0].exec.command[1]") {
		t.Errorf("New with a template that does not parse = %v, want an error naming the key", err)
	}
}
