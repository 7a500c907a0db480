// Command tsmcp-bench measures tsmcp side by side with a bare mcp-go server
// (on the same in-process tailnet and on loopback) and with supergateway,
// and writes the results to docs/benchmarks.md:
//
//  1. tools/call of a no-op tool over Streamable HTTP and SSE at several
//     concurrencies (p50, p99, calls/s, server CPU per call), against bare
//     mcp-go and the anchor a user would deploy instead: mcp-go on loopback
//     behind a tailscaled sidecar running `tailscale serve`;
//  2. memory and goroutines of idle SSE and Streamable sessions;
//  3. a stdio server (server-everything's echo) bridged by tsmcp and by
//     supergateway;
//  4. cold start of `tsmcp serve` to /readyz 200, fresh and persisted state;
//  5. the ACL decision benchmark (go test ./internal/acl -bench .);
//  6. `tsmcp serve` with metrics (scraped) and with tracing (exported to an
//     OTLP sink in the harness) on vs off.
//
// Everything runs on one machine in one run, against an in-process tailnet
// (internal/devnet). Servers under test run as child processes (the bench
// binary re-executed as "host", `tsmcp serve`, or tailscaled), so that
// their memory and CPU are their own. See `make bench` and docs/benchmarks.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tsmcp-bench:", err)
		os.Exit(1)
	}
}

// run executes the command line args; ctx is cancelled on SIGINT/SIGTERM.
func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == hostSubcommand {
		return runHost(ctx, args[1:], os.Stdout)
	}
	opts, err := parseFlags(args)
	if err != nil {
		return err
	}
	return runBench(ctx, opts)
}
