package packages

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bake lays out files under a temp root as the image's build does.
func bake(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, ref string
		want      Spec
		err       string
	}{
		{name: "scoped npm", ref: "@modelcontextprotocol/server-everything", want: Spec{Kind: NPM, Name: "@modelcontextprotocol/server-everything"}},
		{name: "scoped npm pinned", ref: "@modelcontextprotocol/server-everything@2025.9.12", want: Spec{Kind: NPM, Name: "@modelcontextprotocol/server-everything", Version: "2025.9.12"}},
		{name: "explicit npm", ref: "npm:supergateway@3.4.0", want: Spec{Kind: NPM, Name: "supergateway", Version: "3.4.0"}},
		{name: "python ==", ref: "python:mcp-server-time==1.0.0", want: Spec{Kind: Python, Name: "mcp-server-time", Version: "1.0.0"}},
		{name: "bare", ref: "mcp-server-fetch", want: Spec{Name: "mcp-server-fetch"}},
		{name: "unknown kind", ref: "pip:x", err: `unknown kind "pip"`},
		{name: "empty", ref: "", err: "no package name"},
		{name: "range", ref: "npm:x@^1.2", err: "not an exact version"},
		{name: "dangling at", ref: "npm:x@", err: "malformed version"},
		{name: "path", ref: "npm:../../etc", err: "not an npm package name"},
		{name: "python scope", ref: "python:@a/b", err: "not a Python package name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.ref)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse(%q) error = %v, want it to contain %q", tt.ref, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", tt.ref, got, err, tt.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	root := bake(t, map[string]string{
		"npm/lib/node_modules/@modelcontextprotocol/server-everything/package.json":                 `{"name":"@modelcontextprotocol/server-everything","version":"2025.9.12","bin":{"mcp-server-everything":"dist/index.js"}}`,
		"npm/lib/node_modules/@modelcontextprotocol/server-everything/dist/index.js":                "",
		"npm/lib/node_modules/two-bins/package.json":                                                `{"name":"two-bins","version":"1.0.0","bin":{"a":"a.js","b":"b.js"}}`,
		"npm/lib/node_modules/lib-only/package.json":                                                `{"name":"lib-only","version":"1.0.0"}`,
		"npm/lib/node_modules/both/package.json":                                                    `{"name":"both","version":"1.0.0","bin":"cli.js"}`,
		"npm/lib/node_modules/both/cli.js":                                                          "",
		"python/lib/python3.13/site-packages/tsmcp_example_server-0.1.0.dist-info/entry_points.txt": "[console_scripts]\ntsmcp-example-server = tsmcp_example_server:main\n",
		"python/lib/python3.13/site-packages/Both-2.0.dist-info/entry_points.txt":                   "[console_scripts]\nboth = both:main\n",
	})
	everything := filepath.Join(root, "npm/lib/node_modules/@modelcontextprotocol/server-everything/dist/index.js")
	tests := []struct {
		name, ref string
		want      []string
		notBaked  bool
		err       string
	}{
		{name: "npm by name", ref: "@modelcontextprotocol/server-everything", want: []string{"node", everything}},
		{name: "npm pinned", ref: "npm:@modelcontextprotocol/server-everything@2025.9.12", want: []string{"node", everything}},
		{name: "npm other version", ref: "@modelcontextprotocol/server-everything@2026.1.1", notBaked: true, err: "version 2025.9.12 is installed, not 2026.1.1"},
		{name: "npm missing", ref: "npm:@modelcontextprotocol/server-filesystem", notBaked: true, err: "package npm:@modelcontextprotocol/server-filesystem: not baked into this image"},
		{name: "npm ambiguous bins", ref: "npm:two-bins", err: `declares 2 bins (a, b) and none is named "two-bins"`},
		{name: "npm library", ref: "npm:lib-only", err: "declares no bin"},
		{name: "python by name", ref: "python:tsmcp-example-server==0.1.0", want: []string{filepath.Join(root, "python/bin/python"), filepath.Join(root, "python/bin/tsmcp-example-server")}},
		{name: "python normalized name", ref: "tsmcp_example.server", want: []string{filepath.Join(root, "python/bin/python"), filepath.Join(root, "python/bin/tsmcp-example-server")}},
		{name: "python other version", ref: "python:tsmcp-example-server==0.2.0", notBaked: true, err: "version 0.1.0 is installed, not 0.2.0"},
		{name: "python missing", ref: "python:mcp-server-time==1.0.0", notBaked: true, err: "package python:mcp-server-time==1.0.0: not baked"},
		{name: "both kinds", ref: "both", err: "installed both as npm and as Python package"},
		{name: "neither kind", ref: "nothing-here", notBaked: true, err: "package nothing-here: not baked into this image (npm: no " + root + "/npm/lib/node_modules/nothing-here; python: no nothing-here in " + root + "/python; bake it in with"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(root, tt.ref)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Resolve(%q) error = %v, want it to contain %q", tt.ref, err, tt.err)
				}
				if errors.Is(err, ErrNotBaked) != tt.notBaked {
					t.Fatalf("Resolve(%q): errors.Is(ErrNotBaked) = %v, want %v", tt.ref, !tt.notBaked, tt.notBaked)
				}
				return
			}
			if err != nil || strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("Resolve(%q) = %q, %v; want %q", tt.ref, got, err, tt.want)
			}
		})
	}
}

func TestRoot(t *testing.T) {
	env := map[string]string{}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if got := Root(lookup); got != DefaultRoot {
		t.Fatalf("Root() = %q, want %q", got, DefaultRoot)
	}
	env[RootEnv] = "/x"
	if got := Root(lookup); got != "/x" {
		t.Fatalf("Root() with %s=/x = %q", RootEnv, got)
	}
}
