// Package packages finds the entry point of an MCP server package that was
// baked into the image at build time (see the Dockerfile's runtime target),
// so that an upstream names a package instead of a path into
// node_modules, and a package that is not there is an error naming it.
//
// Layout under the root (default /opt/tsmcp, or $TSMCP_PACKAGE_ROOT):
//
//	npm/lib/node_modules/<name>/package.json   npm install --global --prefix <root>/npm
//	python/bin/python                          python3 -m venv <root>/python
//	python/lib/python3.*/site-packages/<name>-<version>.dist-info/
//
// An npm package runs as [node, <its bin script>]; a Python package as
// [<root>/python/bin/python, <root>/python/bin/<console script>]. Neither
// depends on a script's "#!/usr/bin/env" line.
package packages

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// DefaultRoot is where the image installs baked packages.
const DefaultRoot = "/opt/tsmcp"

// RootEnv names the environment variable that overrides DefaultRoot (for
// running outside the image, e.g. against a local npm prefix).
const RootEnv = "TSMCP_PACKAGE_ROOT"

// Kinds of package.
const (
	NPM    = "npm"
	Python = "python"
)

var (
	npmNameRE    = regexp.MustCompile(`^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$`)
	pythonNameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$`)
	versionRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+_-]*$`)
)

// Spec is a parsed package reference: "[npm:|python:]name[@version]" (a
// Python version may also be written name==version). Kind is empty when
// the reference did not say; Version is empty when any installed version
// will do.
type Spec struct {
	Kind    string
	Name    string
	Version string
}

// String returns the spec as written in canonical form.
func (s Spec) String() string {
	out := s.Name
	if s.Kind != "" {
		out = s.Kind + ":" + out
	}
	if s.Version != "" && s.Kind == Python {
		out += "==" + s.Version
	} else if s.Version != "" {
		out += "@" + s.Version
	}
	return out
}

// Parse checks a package reference's syntax.
func Parse(ref string) (Spec, error) {
	var s Spec
	rest := ref
	if k, r, ok := strings.Cut(ref, ":"); ok {
		if k != NPM && k != Python {
			return s, fmt.Errorf("%q: unknown kind %q (want npm: or python:)", ref, k)
		}
		s.Kind, rest = k, r
	}
	name, version := rest, ""
	if n, v, ok := strings.Cut(rest, "=="); ok {
		name, version = n, v
	} else if i := strings.LastIndex(rest, "@"); i > 0 {
		name, version = rest[:i], rest[i+1:]
	}
	s.Name, s.Version = name, version
	if s.Kind == "" && strings.HasPrefix(name, "@") {
		s.Kind = NPM // only npm has scopes
	}
	switch {
	case name == "":
		return s, fmt.Errorf("%q: no package name", ref)
	case s.Kind == NPM && !npmNameRE.MatchString(name):
		return s, fmt.Errorf("%q: %q is not an npm package name", ref, name)
	case s.Kind == Python && !pythonNameRE.MatchString(name):
		return s, fmt.Errorf("%q: %q is not a Python package name", ref, name)
	case s.Kind == "" && !npmNameRE.MatchString(name) && !pythonNameRE.MatchString(name):
		return s, fmt.Errorf("%q: %q is not a package name", ref, name)
	case strings.Contains(rest, "@") && strings.Contains(rest, "=="),
		version == "" && (strings.HasSuffix(rest, "@") || strings.HasSuffix(rest, "==")):
		return s, fmt.Errorf("%q: malformed version", ref)
	case version != "" && !versionRE.MatchString(version):
		return s, fmt.Errorf("%q: %q is not an exact version (ranges are not allowed: the image pins one)", ref, version)
	}
	return s, nil
}

// Root returns the package root: lookup(RootEnv) when set, else
// DefaultRoot.
func Root(lookup func(string) (string, bool)) string {
	if v, ok := lookup(RootEnv); ok && v != "" {
		return v
	}
	return DefaultRoot
}

// ErrNotBaked is wrapped by Resolve's error when the package is not
// installed under the root.
var ErrNotBaked = errors.New("not baked into this image")

// notBaked is one kind's reason for ErrNotBaked.
type notBaked string

func (e notBaked) Error() string        { return string(e) }
func (e notBaked) Is(target error) bool { return target == ErrNotBaked }

func notBakedf(format string, args ...any) error { return notBaked(fmt.Sprintf(format, args...)) }

// Resolve returns the argv prefix that starts the package ref under root:
// [node, script] for npm, [python, script] for Python. A package that is
// not installed, installed at another version than ref pins, or found
// as both kinds when ref names no kind is an error naming it.
func Resolve(root, ref string) ([]string, error) {
	s, err := Parse(ref)
	if err != nil {
		return nil, err
	}
	var found [][]string
	var reasons []string
	for _, kind := range []string{NPM, Python} {
		if s.Kind != "" && s.Kind != kind {
			continue
		}
		var argv []string
		var err error
		if kind == NPM {
			argv, err = resolveNPM(root, s)
		} else {
			argv, err = resolvePython(root, s)
		}
		switch {
		case err == nil:
			found = append(found, argv)
		case !errors.Is(err, ErrNotBaked):
			return nil, fmt.Errorf("package %s: %w", s, err)
		default:
			reasons = append(reasons, err.Error())
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, fmt.Errorf("package %s: %w (%s; bake it in with the image's NPM_PACKAGES or PYTHON_PACKAGES build arg)",
			s, ErrNotBaked, strings.Join(reasons, "; "))
	default:
		return nil, fmt.Errorf("package %s: installed both as npm and as Python package; write npm:%s or python:%s", s, s.Name, s.Name)
	}
}

// npmPackage is what Resolve reads of a package.json.
type npmPackage struct {
	Name    string          `json:"name"`
	Version string          `json:"version"`
	Bin     json.RawMessage `json:"bin"`
}

func resolveNPM(root string, s Spec) ([]string, error) {
	if !npmNameRE.MatchString(s.Name) {
		return nil, notBakedf("npm: %q is not an npm package name", s.Name)
	}
	dir := filepath.Join(root, "npm", "lib", "node_modules", filepath.FromSlash(s.Name))
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, notBakedf("npm: no %s", dir)
	}
	if err != nil {
		return nil, err
	}
	var pkg npmPackage
	if err := json.Unmarshal(b, &pkg); err != nil {
		return nil, fmt.Errorf("%s/package.json: %w", dir, err)
	}
	if s.Version != "" && pkg.Version != s.Version {
		return nil, notBakedf("npm: version %s is installed, not %s", pkg.Version, s.Version)
	}
	bin, err := npmBin(s.Name, pkg.Bin)
	if err != nil {
		return nil, fmt.Errorf("%s/package.json: %w", dir, err)
	}
	script := filepath.Join(dir, filepath.FromSlash(path.Clean("/" + bin))[1:])
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("entry point: %w", err)
	}
	return []string{"node", script}, nil
}

// npmBin picks the package's executable: its only bin, or the one named
// like the package (without scope).
func npmBin(name string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", errors.New("declares no bin: it is not a runnable server")
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one, nil
	}
	var many map[string]string
	if err := json.Unmarshal(raw, &many); err != nil {
		return "", fmt.Errorf("bin: %w", err)
	}
	if len(many) == 1 {
		for _, v := range many {
			return v, nil
		}
	}
	base := name[strings.LastIndex(name, "/")+1:]
	if v, ok := many[base]; ok {
		return v, nil
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range many {
			if !yield(k) {
				return
			}
		}
	})
	return "", fmt.Errorf("declares %d bins (%s) and none is named %q", len(many), strings.Join(names, ", "), base)
}

// normalizePython folds a Python distribution name as PEP 503 does.
func normalizePython(name string) string {
	return strings.ToLower(regexp.MustCompile(`[-_.]+`).ReplaceAllString(name, "-"))
}

func resolvePython(root string, s Spec) ([]string, error) {
	if !pythonNameRE.MatchString(s.Name) {
		return nil, notBakedf("python: %q is not a Python package name", s.Name)
	}
	venv := filepath.Join(root, "python")
	python := filepath.Join(venv, "bin", "python")
	infos, _ := filepath.Glob(filepath.Join(venv, "lib", "python3*", "site-packages", "*.dist-info"))
	want := normalizePython(s.Name)
	for _, info := range infos {
		base := strings.TrimSuffix(filepath.Base(info), ".dist-info")
		i := strings.LastIndex(base, "-")
		if i < 0 || normalizePython(base[:i]) != want {
			continue
		}
		if s.Version != "" && base[i+1:] != s.Version {
			return nil, notBakedf("python: version %s is installed, not %s", base[i+1:], s.Version)
		}
		script, err := pythonScript(info, s.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", info, err)
		}
		return []string{python, filepath.Join(venv, "bin", script)}, nil
	}
	return nil, notBakedf("python: no %s in %s", s.Name, venv)
}

// pythonScript picks the distribution's console script: its only one, or
// the one named like the distribution.
func pythonScript(info, name string) (string, error) {
	f, err := os.Open(filepath.Join(info, "entry_points.txt"))
	if errors.Is(err, os.ErrNotExist) {
		return "", errors.New("declares no console script: it is not a runnable server")
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	var scripts []string
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[] ")
		case section == "console_scripts" && strings.Contains(line, "="):
			k, _, _ := strings.Cut(line, "=")
			scripts = append(scripts, strings.TrimSpace(k))
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	switch {
	case len(scripts) == 1:
		return scripts[0], nil
	case len(scripts) == 0:
		return "", errors.New("declares no console script: it is not a runnable server")
	}
	for _, sname := range scripts {
		if normalizePython(sname) == normalizePython(name) {
			return sname, nil
		}
	}
	slices.Sort(scripts)
	return "", fmt.Errorf("declares %d console scripts (%s) and none is named %q", len(scripts), strings.Join(scripts, ", "), name)
}
