package deploy_test

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/tsmcp/tsmcp/internal/packages"
)

// instruction is one parsed Dockerfile instruction.
type instruction struct {
	kw    string   // upper-case keyword
	flags []string // --flag=value options (RUN --mount, COPY --from, ...)
	args  []string // arguments as buildkit splits them
	json  bool     // exec (JSON array) form
	text  string   // the instruction after its keyword and flags, as written
}

// stage is one FROM ... [AS name] and its instructions.
type stage struct {
	name, from string
	ins        []instruction
}

// parseDockerfile parses path with buildkit's parser (the one docker and
// buildx use) into the global ARGs and the stages.
func parseDockerfile(t *testing.T, path string) (globalArgs map[string]string, stages []*stage) {
	t.Helper()
	res, err := parser.Parse(bytes.NewReader(readFile(t, path)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	globalArgs = map[string]string{}
	var cur *stage
	for _, n := range res.AST.Children {
		in := instruction{kw: strings.ToUpper(n.Value), flags: n.Flags, json: n.Attributes["json"]}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
		}
		text := strings.TrimSpace(n.Original[len(n.Value):])
		for _, f := range n.Flags {
			text = strings.TrimSpace(strings.TrimPrefix(text, f))
		}
		in.text = text
		switch {
		case in.kw == "FROM":
			cur = &stage{from: in.args[0]}
			if len(in.args) == 3 && strings.EqualFold(in.args[1], "AS") {
				cur.name = in.args[2]
			}
			stages = append(stages, cur)
		case cur == nil && in.kw == "ARG":
			for _, a := range in.args {
				k, v, _ := strings.Cut(a, "=")
				globalArgs[k] = strings.Trim(v, `"`)
			}
		case cur != nil:
			cur.ins = append(cur.ins, in)
		}
	}
	return globalArgs, stages
}

func stageNamed(t *testing.T, stages []*stage, name string) *stage {
	t.Helper()
	for _, s := range stages {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("Dockerfile has no stage %q", name)
	return nil
}

// all returns the instructions of s with keyword kw.
func (s *stage) all(kw string) []instruction {
	var out []instruction
	for _, in := range s.ins {
		if in.kw == kw {
			out = append(out, in)
		}
	}
	return out
}

// env returns the ENV values set in s.
func (s *stage) env() map[string]string {
	m := map[string]string{}
	for _, in := range s.all("ENV") {
		// buildkit gives key, value, separator triples.
		for i := 0; i+1 < len(in.args); i += 3 {
			m[in.args[i]] = strings.Trim(in.args[i+1], `"`)
		}
	}
	return m
}

// argDefault returns the default of ARG name declared in s.
func (s *stage) argDefault(name string) (string, bool) {
	for _, in := range s.all("ARG") {
		for _, a := range in.args {
			if k, v, ok := strings.Cut(a, "="); ok && k == name {
				return strings.Trim(v, `"`), true
			}
		}
	}
	return "", false
}

// TestDockerfileTargets decodes the Dockerfile with buildkit's parser and
// checks the invariants every image target must keep: non-root numeric
// USER, the same exec-form HEALTHCHECK, ENTRYPOINT and CMD, writable
// paths only under the declared volumes (HOME and TMPDIR there), bases as
// build args, pinned baked packages, and nothing downloaded at run time.
func TestDockerfileTargets(t *testing.T) {
	global, stages := parseDockerfile(t, "Dockerfile")
	if last := stages[len(stages)-1]; last.name != "static" {
		t.Errorf("last stage is %q, want static (the default target)", last.name)
	}
	for name, def := range map[string]string{
		"GO_IMAGE":     "golang:1.26",
		"STATIC_BASE":  "gcr.io/distroless/static-debian12:nonroot",
		"RUNTIME_BASE": "debian:trixie-slim",
	} {
		if global[name] != def {
			t.Errorf("global ARG %s default = %q, want %q", name, global[name], def)
		}
	}
	froms := map[string]string{}
	for _, s := range stages {
		froms[s.name] = s.from
		if !strings.HasPrefix(s.from, "${") && !slices.ContainsFunc(stages, func(o *stage) bool { return o.name == s.from }) {
			t.Errorf("stage %q is FROM %q: a base must be a build arg (${...}) or an earlier stage", s.name, s.from)
		}
	}
	for name, from := range map[string]string{"build": "${GO_IMAGE}", "static": "${STATIC_BASE}", "runtime-base": "${RUNTIME_BASE}", "packages": "runtime-base", "runtime": "runtime-base"} {
		if froms[name] != from {
			t.Errorf("stage %q FROM %q, want %q", name, froms[name], from)
		}
	}

	for _, target := range []string{"static", "runtime"} {
		t.Run(target, func(t *testing.T) {
			s := stageNamed(t, stages, target)
			one := func(kw string) instruction {
				t.Helper()
				ins := s.all(kw)
				if len(ins) != 1 {
					t.Fatalf("%s has %d %s instructions, want 1", target, len(ins), kw)
				}
				return ins[0]
			}
			if u := one("USER"); u.text != "65532:65532" {
				t.Errorf("USER %q, want 65532:65532 (numeric, non-root, so runAsNonRoot can verify it)", u.text)
			}
			if s.ins[len(s.ins)-1].kw != "CMD" {
				t.Errorf("last instruction is %s; nothing may follow the image's CMD", s.ins[len(s.ins)-1].kw)
			}
			hc := one("HEALTHCHECK")
			if got := strings.Join(hc.flags, " ") + " " + hc.text; got != `--interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["/tsmcp", "health"]` {
				t.Errorf("HEALTHCHECK %q", got)
			}
			for kw, want := range map[string][]string{
				"ENTRYPOINT": {"/tsmcp"},
				"CMD":        {"serve", "--config", "/etc/tsmcp/tsmcp.yaml"},
				"VOLUME":     {"/var/lib/tsmcp", "/tmp"},
			} {
				in := one(kw)
				if !in.json || !slices.Equal(in.args, want) {
					t.Errorf("%s %q (exec form %v), want the exec form of %q: the static image has no shell", kw, in.args, in.json, want)
				}
			}
			if e := one("EXPOSE"); e.text != "8080" {
				t.Errorf("EXPOSE %q, want 8080", e.text)
			}
			env := s.env()
			for k, want := range map[string]string{"HOME": "/tmp", "TMPDIR": "/tmp"} {
				if env[k] != want {
					t.Errorf("ENV %s=%q, want %q: with a read-only root only the volumes are writable", k, env[k], want)
				}
			}
			// The final stages only copy what earlier stages built: no
			// RUN, no ADD (which could fetch a URL).
			for _, kw := range []string{"RUN", "ADD"} {
				if ins := s.all(kw); len(ins) > 0 {
					t.Errorf("%s has %s %q; build in an earlier stage", target, kw, ins[0].text)
				}
			}
			var copied []string
			for _, c := range s.all("COPY") {
				copied = append(copied, strings.Join(c.flags, " ")+" "+strings.Join(c.args, " "))
			}
			for _, want := range []string{"--from=build /out/tsmcp /tsmcp", "--from=build --chown=65532:65532 /out/state /var/lib/tsmcp"} {
				if !slices.Contains(copied, want) {
					t.Errorf("COPY %q missing (have %q)", want, copied)
				}
			}
			if target == "static" && len(copied) != 2 {
				t.Errorf("static copies %q; it holds only the binary and the state dir (no scripts: it has no shell or /usr/bin/env)", copied)
			}
		})
	}

	t.Run("runtime packages", func(t *testing.T) {
		rt := stageNamed(t, stages, "runtime")
		env := rt.env()
		path := strings.Split(env["PATH"], ":")
		for _, dir := range []string{"/opt/tsmcp/npm/bin", "/opt/tsmcp/python/bin", "/usr/bin", "/bin"} {
			if !slices.Contains(path, dir) {
				t.Errorf("runtime PATH %q lacks %s", env["PATH"], dir)
			}
		}
		// Nothing is downloaded at run time: npx and pip only use what is
		// baked in, and their caches are under /tmp.
		for k, want := range map[string]string{
			"npm_config_offline": "true", "PIP_NO_INDEX": "1", "npm_config_cache": "/tmp/.npm",
			"XDG_CACHE_HOME": "/tmp/.cache", "PYTHONDONTWRITEBYTECODE": "1",
		} {
			if env[k] != want {
				t.Errorf("runtime ENV %s=%q, want %q", k, env[k], want)
			}
		}
		if copied := rt.all("COPY"); len(copied) == 0 || strings.Join(copied[0].flags, " ")+" "+strings.Join(copied[0].args, " ") != "--from=packages /opt/tsmcp /opt/tsmcp" {
			t.Errorf("runtime's first COPY is not the baked packages (--from=packages /opt/tsmcp)")
		}

		base := stageNamed(t, stages, "runtime-base")
		install := strings.Join(base.all("RUN")[0].args, " ")
		for _, pkg := range []string{"nodejs", "npm", "python3", "python3-venv", "ca-certificates"} {
			if !regexp.MustCompile(`\s` + regexp.QuoteMeta(pkg) + `\s`).MatchString(install + " ") {
				t.Errorf("runtime-base does not install %s: %q", pkg, install)
			}
		}

		pk := stageNamed(t, stages, "packages")
		for _, tt := range []struct{ arg, kind, sep string }{
			{"NPM_PACKAGES", packages.NPM, "@"},
			{"PYTHON_PACKAGES", packages.Python, "=="},
		} {
			def, ok := pk.argDefault(tt.arg)
			if !ok || def == "" {
				t.Errorf("packages stage has no default for ARG %s", tt.arg)
				continue
			}
			for _, ref := range strings.Fields(def) {
				spec, err := packages.Parse(tt.kind + ":" + ref)
				if err != nil || spec.Version == "" || !strings.Contains(ref, tt.sep) {
					t.Errorf("%s default %q is not pinned to an exact version (%v)", tt.arg, ref, err)
				}
			}
			// The build refuses unpinned values too.
			var checked bool
			for _, r := range pk.all("RUN") {
				if strings.Contains(r.text, "for p in $"+tt.arg) && strings.Contains(r.text, "exit 1") {
					checked = true
				}
			}
			if !checked {
				t.Errorf("no RUN in the packages stage refuses an unpinned %s", tt.arg)
			}
		}
		if def, _ := pk.argDefault("PIP_INDEX_ARGS"); !strings.Contains(def, "--no-index") {
			t.Errorf("PIP_INDEX_ARGS default %q: the default build must not need a package index", def)
		}
	})

	t.Run("no downloads but the package managers", func(t *testing.T) {
		for _, s := range stages {
			for _, in := range s.ins {
				if in.kw == "ADD" {
					t.Errorf("stage %q uses ADD %q; use COPY", s.name, in.text)
				}
				if in.kw == "RUN" && regexp.MustCompile(`\b(curl|wget|npx)\b|https?://`).MatchString(in.text) {
					t.Errorf("stage %q RUN fetches directly: %q", s.name, in.text)
				}
			}
		}
	})
}

// TestECSConfigDockerfile checks the derived-image recipe for ECS: FROM
// the runtime image (a build arg), the config copied to where the image's
// CMD reads it, checked by `tsmcp check` at build time (exec form: it
// must work on any target), and the base image's user kept.
func TestECSConfigDockerfile(t *testing.T) {
	global, stages := parseDockerfile(t, "deploy/ecs/Dockerfile.config")
	if len(stages) != 1 || stages[0].from != "${TSMCP_IMAGE}" {
		t.Fatalf("stages %v: want one stage FROM ${TSMCP_IMAGE}", stages)
	}
	if global["TSMCP_IMAGE"] == "" {
		t.Error("ARG TSMCP_IMAGE has no default")
	}
	s := stages[0]
	copies := s.all("COPY")
	if len(copies) != 1 || copies[0].args[len(copies[0].args)-1] != "/etc/tsmcp/tsmcp.yaml" {
		t.Errorf("COPY %v: want the config copied to /etc/tsmcp/tsmcp.yaml", copies)
	}
	runs := s.all("RUN")
	if len(runs) != 1 || !runs[0].json || !slices.Equal(runs[0].args, []string{"/tsmcp", "check", "--config", "/etc/tsmcp/tsmcp.yaml"}) {
		t.Errorf("RUN %v: want exactly [\"/tsmcp\", \"check\", \"--config\", \"/etc/tsmcp/tsmcp.yaml\"]", runs)
	}
	for _, kw := range []string{"USER", "ENTRYPOINT", "CMD", "ADD"} {
		if len(s.all(kw)) > 0 {
			t.Errorf("derived image sets %s; it must keep the base image's", kw)
		}
	}
}

// TestECSConfigPackagesBaked checks that every package upstream in the
// config `make image-ecs` bakes in is pinned and among the packages the
// Dockerfile's and the Makefile's defaults bake into the runtime image, so
// the default ECS image starts all its upstreams with no network. (The
// image build itself runs `tsmcp check`, which resolves them for real.)
func TestECSConfigPackagesBaked(t *testing.T) {
	cfg := loadConfig(t, "tsmcp.yaml", string(readFile(t, "deploy/ecs/tsmcp.yaml")), nil)
	_, stages := parseDockerfile(t, "Dockerfile")
	pk := stageNamed(t, stages, "packages")
	npmDef, _ := pk.argDefault("NPM_PACKAGES")
	pyDef, _ := pk.argDefault("PYTHON_PACKAGES")
	makefile := string(readFile(t, "Makefile"))
	var n int
	for _, u := range cfg.Upstreams {
		if u.Package == "" {
			continue
		}
		n++
		spec, err := packages.Parse(u.Package)
		if err != nil || spec.Version == "" || spec.Kind == "" {
			t.Errorf("upstream %s: package %q must name its kind and exact version (%v)", u.Name, u.Package, err)
			continue
		}
		want, defaults, arg := spec.Name+"@"+spec.Version, npmDef, "NPM_PACKAGES"
		if spec.Kind == packages.Python {
			want, defaults, arg = spec.Name+"=="+spec.Version, pyDef, "PYTHON_PACKAGES"
		}
		if !slices.Contains(strings.Fields(defaults), want) {
			t.Errorf("upstream %s: %s is not in the Dockerfile's %s default %q", u.Name, want, arg, defaults)
		}
		if !regexp.MustCompile(`(?m)^` + arg + `\s*\?=.*[ =]` + regexp.QuoteMeta(want) + `(\s|$)`).MatchString(makefile) {
			t.Errorf("upstream %s: %s is not in the Makefile's %s default", u.Name, want, arg)
		}
	}
	if n == 0 {
		t.Error("deploy/ecs/tsmcp.yaml bridges no baked package; it is the example of how to")
	}
}
