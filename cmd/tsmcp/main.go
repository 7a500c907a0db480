// Command tsmcp hosts MCP tools on a Tailscale tailnet and authorizes every
// tool per caller from Tailscale identity.
//
// See README.md for usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.As(err, new(errLogged)) {
			fmt.Fprintln(os.Stderr, "tsmcp:", err)
		}
		os.Exit(1)
	}
}

// run executes the command line args; ctx is cancelled on SIGINT/SIGTERM.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}
