package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at link time: -ldflags "-X main.version=v1.2.3 -X main.commit=abc123".
var (
	version = "dev"
	commit  = ""
)

// buildCommit returns the commit set at link time, else the VCS revision
// recorded by the Go toolchain, else "unknown".
func buildCommit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
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
			fmt.Fprintf(w, "commit     %s\n", buildCommit())
			fmt.Fprintf(w, "go         %s\n", runtime.Version())
			fmt.Fprintf(w, "tailscale  %s\n", depVersion("tailscale.com"))
			fmt.Fprintf(w, "mcp-go     %s\n", depVersion("github.com/mark3labs/mcp-go"))
			return nil
		},
	}
}
