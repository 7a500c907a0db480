package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

// TestCheckRuntime proves that `check` and `serve` report, before the
// node joins, a program that an exec tool or upstream starts and that is
// missing, a script whose #! interpreter is missing, and a package
// upstream whose package is not baked in; and that a baked package and
// present programs pass.
func TestCheckRuntime(t *testing.T) {
	testutil.EverythingBin(t) // the npm package the baked root points at
	dir := t.TempDir()
	// A package root whose npm prefix holds interop/ts's packages.
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(root, "npm", "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(testutil.RepoRoot(t), "interop", "ts", "node_modules"), filepath.Join(root, "npm", "lib", "node_modules")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TSMCP_PACKAGE_ROOT", root)
	envScript := filepath.Join(dir, "env-script")
	if err := os.WriteFile(envScript, []byte("#!/usr/bin/env tsmcp-no-such-interpreter\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	absScript := filepath.Join(dir, "abs-script")
	if err := os.WriteFile(absScript, []byte("#!/no/such/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	emptyPath := t.TempDir()

	tests := []struct {
		name    string
		file    string
		path    string // PATH for the run; empty means the test's own
		wantErr []string
	}{
		{
			name: "present programs and a baked package",
			file: "tools:\n  - name: disk\n    exec:\n      command: [df, -h]\nupstreams:\n  - name: ev\n    package: \"@modelcontextprotocol/server-everything\"\n  - name: c\n    command: [cat]\n",
		},
		{
			name:    "exec tool program missing",
			file:    "tools:\n  - name: t\n    exec:\n      command: [tsmcp-no-such-program]\n",
			wantErr: []string{`tools[0].exec.command[0] (tool t): "tsmcp-no-such-program" not found in PATH`},
		},
		{
			name:    "upstream program missing",
			file:    "upstreams:\n  - name: u\n    command: [tsmcp-no-such-server, --stdio]\n",
			wantErr: []string{`upstreams[0].command[0] (upstream u): "tsmcp-no-such-server" not found in PATH`},
		},
		{
			name:    "upstream path missing",
			file:    "upstreams:\n  - name: u\n    command: [/opt/nowhere/server]\n",
			wantErr: []string{`upstreams[0].command[0] (upstream u): "/opt/nowhere/server" does not exist`},
		},
		{
			name:    "env shebang names a missing interpreter",
			file:    "upstreams:\n  - name: u\n    command: [" + envScript + "]\n",
			wantErr: []string{`upstreams[0].command[0] (upstream u): ` + envScript + `: its #!/usr/bin/env tsmcp-no-such-interpreter: "tsmcp-no-such-interpreter" not found in PATH`},
		},
		{
			name:    "shebang interpreter missing",
			file:    "tools:\n  - name: t\n    exec:\n      command: [" + absScript + "]\n",
			wantErr: []string{`tools[0].exec.command[0] (tool t): ` + absScript + `: its #! interpreter "/no/such/sh" does not exist`},
		},
		{
			name:    "package not baked",
			file:    "upstreams:\n  - name: fs\n    package: npm:@modelcontextprotocol/server-filesystem@2025.8.21\n",
			wantErr: []string{"upstreams[0].package (upstream fs): package npm:@modelcontextprotocol/server-filesystem@2025.8.21: not baked into this image (npm: no " + root + "/npm/lib/node_modules/@modelcontextprotocol/server-filesystem; bake it in with the image's NPM_PACKAGES or PYTHON_PACKAGES build arg)"},
		},
		{
			name:    "baked package without node (the static image)",
			file:    "upstreams:\n  - name: ev\n    package: \"@modelcontextprotocol/server-everything\"\n",
			path:    emptyPath,
			wantErr: []string{`upstreams[0].package (upstream ev): "node" not found in PATH (` + emptyPath + `) (package @modelcontextprotocol/server-everything needs it: use the runtime image)`},
		},
		{
			name:    "every problem at once",
			file:    "tools:\n  - name: t\n    exec:\n      command: [tsmcp-no-such-program]\nupstreams:\n  - name: u\n    command: [tsmcp-no-such-server]\n",
			wantErr: []string{"tools[0].exec.command[0] (tool t)", "upstreams[0].command[0] (upstream u)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.path != "" {
				t.Setenv("PATH", tt.path)
			}
			f := writeFile(t, "tsmcp.yaml", tt.file)
			for _, sub := range []string{"check", "serve"} {
				if sub == "serve" && len(tt.wantErr) == 0 {
					continue // serve would go on to join a tailnet
				}
				_, _, err := runCmd(t, sub, "--config", f)
				if len(tt.wantErr) == 0 {
					if err != nil {
						t.Fatalf("%s: %v", sub, err)
					}
					continue
				}
				if err == nil {
					t.Fatalf("%s succeeded, want %q", sub, tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s error:\n%v\nwant it to contain %q", sub, err, w)
					}
				}
			}
		})
	}
}
