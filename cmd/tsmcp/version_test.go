package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

func TestResolveVersion(t *testing.T) {
	vcs := func(rev, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{
			Main:     debug.Module{Path: "github.com/tsmcp/tsmcp", Version: "v0.0.0-20251207052200-0cb7ef2beafd"},
			Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}},
		}
	}
	const rev = "0cb7ef2beafddabcd5a1b72e7d5a7ad18f615e85"
	tests := []struct {
		name                    string
		linkVersion, linkCommit string
		bi                      *debug.BuildInfo
		wantVersion, wantCommit string
	}{
		{name: "link time values win", linkVersion: "v1.2.3", linkCommit: "abc123", bi: vcs(rev, "true"),
			wantVersion: "v1.2.3", wantCommit: "abc123"},
		{name: "go build in a checkout: module version and revision", bi: vcs(rev, "false"),
			wantVersion: "v0.0.0-20251207052200-0cb7ef2beafd", wantCommit: rev},
		{name: "uncommitted changes are marked", bi: vcs(rev, "true"),
			wantVersion: "v0.0.0-20251207052200-0cb7ef2beafd", wantCommit: rev + " (modified)"},
		{name: "the Dockerfile's placeholders count as unset", linkVersion: "dev", linkCommit: "unknown", bi: vcs(rev, "false"),
			wantVersion: "v0.0.0-20251207052200-0cb7ef2beafd", wantCommit: rev},
		{name: "go install of a release: its version, no revision",
			bi:          &debug.BuildInfo{Main: debug.Module{Path: "github.com/tsmcp/tsmcp", Version: "v1.4.0"}},
			wantVersion: "v1.4.0", wantCommit: "unknown"},
		{name: "go install of a commit: the pseudo-version's revision",
			bi:          &debug.BuildInfo{Main: debug.Module{Path: "github.com/tsmcp/tsmcp", Version: "v1.4.1-0.20251207052200-0cb7ef2beafd"}},
			wantVersion: "v1.4.1-0.20251207052200-0cb7ef2beafd", wantCommit: "0cb7ef2beafd"},
		{name: "no VCS information (go run, -buildvcs=false)",
			bi:          &debug.BuildInfo{Main: debug.Module{Path: "github.com/tsmcp/tsmcp", Version: "(devel)"}},
			wantVersion: "dev", wantCommit: "unknown"},
		{name: "no build information", wantVersion: "dev", wantCommit: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, c := resolveVersion(tt.linkVersion, tt.linkCommit, tt.bi)
			if v != tt.wantVersion || c != tt.wantCommit {
				t.Errorf("resolveVersion = %q, %q; want %q, %q", v, c, tt.wantVersion, tt.wantCommit)
			}
		})
	}
}

func TestPseudoVersionRev(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "no base version", in: "v0.0.0-20251207052200-0cb7ef2beafd", want: "0cb7ef2beafd"},
		{name: "after a release", in: "v1.2.4-0.20251207052200-0cb7ef2beafd", want: "0cb7ef2beafd"},
		{name: "after a pre-release", in: "v1.2.4-rc.1.0.20251207052200-0cb7ef2beafd", want: "0cb7ef2beafd"},
		{name: "dirty", in: "v0.0.0-20251207052200-0cb7ef2beafd+dirty", want: "0cb7ef2beafd"},
		{name: "release", in: "v1.2.3", want: ""},
		{name: "pre-release", in: "v1.2.3-rc.1", want: ""},
		{name: "twelve letters that are not hex", in: "v1.2.3-20251207052200-zzzzzzzzzzzz", want: ""},
		{name: "devel", in: "(devel)", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pseudoVersionRev(tt.in); got != tt.want {
				t.Errorf("pseudoVersionRev(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestVersionOfSourceBuild builds ./cmd/tsmcp as a user would from a git
// checkout (`go build`, no -ldflags) and runs `tsmcp version`: it reports
// the module version Go derives from the commit and the commit itself,
// marked modified since the tree has uncommitted changes. The build runs
// in a fresh repository holding this tree's sources (tracked and new
// files), so the binary is the code under test with a commit of its own;
// the go command does not stamp builds inside a git worktree, whose .git
// is a file.
func TestVersionOfSourceBuild(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("git is needed to build from a checkout: %v", err)
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed: %v", err)
	}
	root := testutil.RepoRoot(t)
	src := filepath.Join(t.TempDir(), "tsmcp")
	run := func(dir string, name string, args ...string) string {
		t.Helper()
		ctx, cancel := testutil.DeadlineContext(t)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		// The static build of the release archives (CGO_ENABLED=0, as
		// -trimpath below), whose compiled packages the build cache holds
		// after .ci/run's release snapshot or testutil.BuildTsmcp.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errb.String())
		}
		return out.String()
	}
	files := run(root, git, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "go.mod", "go.sum", "cmd", "internal")
	for _, f := range strings.Split(strings.TrimSuffix(files, "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(root, f))
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(src, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitIn := func(args ...string) string {
		return run(src, git, append([]string{"-c", "user.name=tsmcp test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"}, args...)...)
	}
	gitIn("init", "-q")
	gitIn("add", "-A")
	gitIn("commit", "-q", "-m", "source build test")
	rev := strings.TrimSpace(gitIn("rev-parse", "HEAD"))
	// An uncommitted change: the build is marked modified.
	if err := os.WriteFile(filepath.Join(src, "uncommitted.txt"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "tsmcp")
	// -buildvcs=true, not the default auto, so that a missing stamp fails
	// the build instead of passing unnoticed (GOFLAGS may say false);
	// -trimpath so that the build cache serves the next run, whose
	// temporary directory differs.
	run(src, goCmd, "build", "-buildvcs=true", "-trimpath", "-o", bin, "./cmd/tsmcp")
	out := run(src, bin, "version")

	wantVersion := regexp.MustCompile(`(?m)^tsmcp v0\.0\.0-\d{14}-` + rev[:12] + `\+dirty$`)
	if !wantVersion.MatchString(out) {
		t.Errorf("version output lacks the module version of commit %s (tsmcp v0.0.0-<time>-%s+dirty):\n%s", rev, rev[:12], out)
	}
	if want := "commit     " + rev + " (modified)\n"; !strings.Contains(out, want) {
		t.Errorf("version output lacks %q:\n%s", want, out)
	}
}
