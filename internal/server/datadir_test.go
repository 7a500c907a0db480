package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
)

// TestDataDirPreparedBeforeJoining: New creates data.dir's identities
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
			cfg := testConfig("http://127.0.0.1:1")
			cfg.Data.Dir = tt.dataDir
			cfg.Upstreams = tt.upstreams
			host, err := server.New(server.Options{Config: cfg})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			host.Close()
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
