package main

import (
	"context"
	"os/exec"
	"strings"
	"time"
)

// aclCommand is the ACL decision benchmark, run as its own `go test`.
var aclCommand = []string{"go", "test", "./internal/acl", "-run", "^$", "-bench", ".", "-benchmem"}

// aclResult is measurement 5: the benchmark's result lines.
type aclResult struct {
	lines []string
	err   error
}

// measureACL runs aclCommand in the repository and keeps the lines that
// describe the machine and the results.
func (b *bench) measureACL(ctx context.Context) aclResult {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, aclCommand[0], aclCommand[1:]...)
	cmd.Dir = b.repo
	out, err := cmd.CombinedOutput()
	var res aclResult
	for line := range strings.SplitSeq(string(out), "\n") {
		for _, p := range []string{"goos:", "goarch:", "pkg:", "cpu:", "Benchmark"} {
			if strings.HasPrefix(line, p) {
				res.lines = append(res.lines, strings.TrimRight(line, " \t"))
				break
			}
		}
	}
	if err != nil {
		res.err = err
		if len(res.lines) == 0 {
			res.lines = append(res.lines, strings.TrimSpace(tail(string(out), 2000)))
		}
	}
	return res
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
