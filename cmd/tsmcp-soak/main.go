// Command tsmcp-soak runs a tsmcp host under abuse for a bounded time and
// checks that it does not grow: many identities on an in-process tailnet
// churn sessions, read slowly or not at all, trickle bodies and crash a
// per-identity upstream, while the host runs as a child process (so its
// memory, goroutines, fds and children are its own).
//
// It prints the host's RSS, goroutines, open fds and child processes at
// the start (after a warm-up) and at the end (after the load stops and the
// host's timers have had time to reap), and exits 1 if any grew beyond its
// bound (see bounds). Run it with `make soak` (10 minutes) or
//
//	go run ./cmd/tsmcp-soak -duration 2m
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case hostSubcommand:
			if err := runHost(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "soak host:", err)
				os.Exit(1)
			}
			return
		case upstreamSubcommand:
			runUpstream()
			return
		case bigSubcommand:
			os.Stdout.WriteString(strings.Repeat("x", bigAnswer))
			return
		}
	}
	duration := flag.Duration("duration", 10*time.Minute, "how long the load runs (warm-up and settling come on top)")
	users := flag.Int("users", 4, "user identities")
	tagged := flag.Int("tagged", 2, "tagged-node identities")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, *duration, *users, *tagged)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}
