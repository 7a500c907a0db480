package deploy_test

import (
	"regexp"
	"strings"
	"testing"
)

// goTestLine matches a `go test` command line of a shell script or a
// README code block, up to a comment.
var goTestLine = regexp.MustCompile(`(?m)^go test ([^#\n]*)`)

// TestCITestCommand: .ci/run runs the README's test command (the whole
// suite, with -race and a -timeout), so what CI passes is what a
// developer runs. Its other `go test` lines may only add focused runs of
// named packages (the allocation counts, which mean nothing under -race).
func TestCITestCommand(t *testing.T) {
	commands := func(file string) []string {
		var out []string
		for _, m := range goTestLine.FindAllStringSubmatch(string(readFile(t, file)), -1) {
			out = append(out, strings.Join(strings.Fields(m[1]), " "))
		}
		return out
	}
	readme, ci := commands("README.md"), commands(".ci/run")
	if len(readme) != 1 || len(ci) == 0 {
		t.Fatalf("README.md gives the test commands %q and .ci/run runs %q: want one in the README, and it in .ci/run", readme, ci)
	}
	if ci[0] != readme[0] {
		t.Errorf("README.md's test command is `go test %s`, .ci/run's first `go test %s`: keep them the same", readme[0], ci[0])
	}
	for _, flag := range []string{"-race", "-timeout ", "./..."} {
		if !strings.Contains(ci[0], flag) {
			t.Errorf(".ci/run's `go test %s` lacks %s", ci[0], strings.TrimSpace(flag))
		}
	}
	for _, extra := range ci[1:] {
		if strings.Contains(extra, "./...") || !strings.Contains(extra, "-run ") {
			t.Errorf(".ci/run's `go test %s` is not a focused run (-run and named packages): the README's command is the suite", extra)
		}
	}
}
