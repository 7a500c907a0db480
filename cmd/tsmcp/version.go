package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Set at link time: -ldflags "-X main.version=v1.2.3 -X main.commit=abc123"
// (the Makefile, the Dockerfile and goreleaser do). Left empty (or at the
// Dockerfile's placeholders "dev" and "unknown"), they are read from the
// build information the Go toolchain records: see init.
var (
	version = ""
	commit  = ""
)

func init() {
	bi, _ := debug.ReadBuildInfo()
	version, commit = resolveVersion(version, commit, bi)
}

// resolveVersion returns the version and commit to report. Values set at
// link time win; otherwise the version is the main module's version from
// bi (v1.2.3 for `go install …@v1.2.3`; a pseudo-version such as
// v0.0.0-20251207052200-0cb7ef2beafd+dirty for a `go build` in a git
// checkout), and the commit is bi's vcs.revision, followed by
// " (modified)" when vcs.modified says the tree had uncommitted changes,
// or else the revision a pseudo-version names. What is still unknown is
// "dev" and "unknown". bi may be nil.
func resolveVersion(linkVersion, linkCommit string, bi *debug.BuildInfo) (string, string) {
	v, c := linkVersion, linkCommit
	if v == "dev" {
		v = ""
	}
	if c == "unknown" {
		c = ""
	}
	if bi != nil {
		if mv := bi.Main.Version; v == "" && mv != "" && mv != "(devel)" {
			v = mv
		}
		if c == "" {
			c = buildSetting(bi, "vcs.revision")
			if c != "" && buildSetting(bi, "vcs.modified") == "true" {
				c += " (modified)"
			}
		}
		if c == "" {
			c = pseudoVersionRev(bi.Main.Version)
		}
	}
	if v == "" {
		v = "dev"
	}
	if c == "" {
		c = "unknown"
	}
	return v, c
}

// buildSetting returns the value of the build setting key in bi, or "".
func buildSetting(bi *debug.BuildInfo, key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// pseudoVersionRev returns the commit prefix a Go pseudo-version ends with
// (v0.0.0-20251207052200-0cb7ef2beafd, v1.2.4-0.2025…-0cb7ef2beafd,
// either possibly +dirty or +incompatible), or "" for any other version.
func pseudoVersionRev(v string) string {
	v, _, _ = strings.Cut(v, "+")
	i := strings.LastIndexByte(v, '-')
	if i < 0 {
		return ""
	}
	rev, rest := v[i+1:], v[:i]
	j := strings.LastIndexAny(rest, "-.")
	if len(rev) != 12 || j < 0 || !isDigits(rest[j+1:]) || len(rest)-j-1 != 14 || strings.Trim(rev, "0123456789abcdef") != "" {
		return ""
	}
	return rev
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// depVersion returns the version of module path linked into the binary.
func depVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path {
				if d.Replace != nil {
					return d.Replace.Version
				}
				return d.Version
			}
		}
	}
	return "unknown"
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print version, commit, Go and tailscale versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "tsmcp %s\n", version)
			fmt.Fprintf(w, "commit     %s\n", commit)
			fmt.Fprintf(w, "go         %s\n", runtime.Version())
			fmt.Fprintf(w, "tailscale  %s\n", depVersion("tailscale.com"))
			fmt.Fprintf(w, "mcp-go     %s\n", depVersion("github.com/mark3labs/mcp-go"))
			return nil
		},
	}
}
