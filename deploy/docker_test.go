package deploy_test

import (
	"debug/elf"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/devnet"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// dockerInstructions returns the Dockerfile's instructions, as parsed by
// buildkit's parser, as [keyword, rest] pairs (rest: flags, then the
// arguments as written).
func dockerInstructions(t *testing.T) [][2]string {
	t.Helper()
	_, stages := parseDockerfile(t, "Dockerfile")
	var out [][2]string
	for _, s := range stages {
		for _, in := range s.ins {
			out = append(out, [2]string{in.kw, strings.TrimSpace(strings.Join(in.flags, " ") + " " + in.text)})
		}
	}
	return out
}

// shellWords splits a shell command line into words, honouring single and
// double quotes (enough for the Dockerfile's build line; no escapes).
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				w.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// dockerBuildCommand returns the environment and the `go build` arguments
// of the Dockerfile's build step, with ${VAR} build arguments replaced
// from args.
func dockerBuildCommand(t *testing.T, args map[string]string) (env, goArgs []string) {
	t.Helper()
	var run string
	for _, in := range dockerInstructions(t) {
		if in[0] == "RUN" && strings.Contains(in[1], "go build") {
			if run != "" {
				t.Fatal("Dockerfile has more than one go build step")
			}
			run = in[1]
		}
	}
	if run == "" {
		t.Fatal("Dockerfile has no RUN ... go build step")
	}
	var missing []string
	run = regexp.MustCompile(`\$\{(\w+)\}`).ReplaceAllStringFunc(run, func(m string) string {
		v, ok := args[m[2:len(m)-1]]
		if !ok {
			missing = append(missing, m)
		}
		return v
	})
	if len(missing) > 0 {
		t.Fatalf("build step uses %v, which this test does not set", missing)
	}
	words, err := shellWords(run)
	if err != nil {
		t.Fatal(err)
	}
	for len(words) > 0 && strings.HasPrefix(words[0], "--mount=") {
		words = words[1:]
	}
	for len(words) > 0 && strings.Contains(words[0], "=") {
		env = append(env, words[0])
		words = words[1:]
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		t.Fatalf("build step is not `[VAR=value ...] go build ...`: %q", words)
	}
	return env, words[2:]
}

// TestDockerBuildLine checks the Dockerfile's go build step (the image
// targets' invariants are in TestDockerfileTargets) and .dockerignore.
func TestDockerBuildLine(t *testing.T) {
	env, args := dockerBuildCommand(t, map[string]string{"VERSION": "v", "COMMIT": "c", "TARGETOS": "linux", "TARGETARCH": "amd64"})
	if !slices.Contains(env, "CGO_ENABLED=0") {
		t.Errorf("build env %q lacks CGO_ENABLED=0", env)
	}
	if !slices.Contains(args, "-trimpath") || !slices.Contains(args, "-ldflags=-s -w -X main.version=v -X main.commit=c") {
		t.Errorf("build args %q: want -trimpath and -ldflags with -s -w and the stamped version and commit", args)
	}
	dockerignore := strings.Split(string(readFile(t, ".dockerignore")), "\n")
	for _, p := range []string{".git", "**/node_modules", "deploy", "!deploy/images"} {
		if !slices.Contains(dockerignore, p) {
			t.Errorf(".dockerignore lacks %s", p)
		}
	}
}

// TestDockerBuildFlags builds tsmcp with the Dockerfile's exact go build
// step (parsed from it, so the two cannot drift), checks that the binary
// is static and stamped, and that `tsmcp health` exits 0 against a running
// host's health endpoint and 1 against a closed port.
func TestDockerBuildFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	const version, commit = "v9.8.7-deploytest", "0123456789abcdef"
	env, args := dockerBuildCommand(t, map[string]string{
		"VERSION": version, "COMMIT": commit, "TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH,
	})
	bin := filepath.Join(t.TempDir(), "tsmcp")
	if i := slices.Index(args, "-o"); i < 0 || i+1 >= len(args) {
		t.Fatalf("build args %q have no -o", args)
	} else {
		args[i+1] = bin
	}
	// Bounded by the test binary's -timeout only: a cold build's time
	// depends on the machine (.ci/run's release snapshot warms the cache
	// for this same static, -trimpath build).
	ctx, cancel := testutil.DeadlineContext(t)
	defer cancel()
	build := exec.CommandContext(ctx, "go", append([]string{"build"}, args...)...)
	build.Dir = testutil.RepoRoot(t)
	build.Env = append(os.Environ(), env...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %q: %v\n%s", args, err, out)
	}

	// Static: no program interpreter, no shared libraries.
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary has a PT_INTERP segment (dynamically linked)")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("binary needs shared libraries %v (%v)", libs, err)
	}
	if f.Section(".symtab") != nil {
		t.Error("binary has a symbol table; -s should strip it")
	}
	f.Close()

	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		t.Fatalf("tsmcp version: %v", err)
	}
	for _, want := range []string{"tsmcp " + version + "\n", "commit     " + commit + "\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}

	// A running host on an in-process tailnet.
	n, err := devnet.Start(devnet.Options{Tags: []string{"tag:mcp"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	healthAddr := testutil.FreeAddr(t)
	cfg := filepath.Join(t.TempDir(), "tsmcp.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`tailnet:
  hostname: deploytest
  control_url: %s
  state: "mem:"
  ephemeral: true
  tags: [tag:mcp]
health:
  addr: %s
`, n.ControlURL, healthAddr)), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr testutil.Buffer
	serve := exec.CommandContext(ctx, bin, "serve", "--config", cfg)
	serve.Env = append(os.Environ(), "TS_NO_LOGS_NO_SUPPORT=true")
	serve.Stderr = &stderr
	serve.WaitDelay = 5 * time.Second
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		serve.Process.Kill()
		serve.Wait()
		if t.Failed() {
			t.Logf("tsmcp serve stderr:\n%s", stderr.String())
		}
	}()
	readyz := "http://" + healthAddr + "/readyz"
	for {
		if resp, err := http.Get(readyz); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("host not ready in time")
		case <-time.After(100 * time.Millisecond):
		}
	}

	health := func(url string) (int, string) {
		cmd := exec.CommandContext(ctx, bin, "health", "--url", url, "--timeout", "3s")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0, string(out)
		case errors.As(err, &ee):
			return ee.ExitCode(), string(out)
		default:
			t.Fatalf("tsmcp health: %v", err)
			return -1, ""
		}
	}
	for _, path := range []string{"/health", "/readyz"} {
		if code, out := health("http://" + healthAddr + path); code != 0 {
			t.Errorf("tsmcp health --url %s exited %d, want 0:\n%s", path, code, out)
		}
	}
	if code, out := health("http://" + testutil.FreeAddr(t) + "/health"); code != 1 {
		t.Errorf("tsmcp health against a closed port exited %d, want 1:\n%s", code, out)
	}
	if code, out := health("http://" + healthAddr + "/mcp"); code != 1 {
		t.Errorf("tsmcp health against a 404 exited %d, want 1:\n%s", code, out)
	}
}
