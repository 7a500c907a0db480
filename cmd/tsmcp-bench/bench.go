package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tsmcp/tsmcp/internal/devnet"
)

// The measurements, as named by -parts.
const (
	partCalls    = "calls"
	partSessions = "sessions"
	partBridge   = "bridge"
	partCold     = "cold"
	partACL      = "acl"
	partOverhead = "overhead"
	partStall    = "stall"
)

var allParts = []string{partCalls, partSessions, partBridge, partCold, partACL, partOverhead, partStall}

// allCallKinds are the servers measurement 1 compares, in table order.
var allCallKinds = []string{kindTsmcp, kindBareTailnet, kindBareLoopback, kindSidecar}

// options are the harness's flags.
type options struct {
	out            string
	repo           string
	tsmcpBin       string
	tailscaledBin  string
	tailscaleBin   string
	npmDir         string
	profileDir     string
	provisional    string
	parts          []string
	cell           time.Duration
	warmup         time.Duration
	concurrency    []int
	callKinds      []string
	callTransports []string
	overheadTrs    []string
	sessionMax     int
	sessionStep    int
	sessionKinds   []string
	bridgeTrs      []string
	coldRuns       int
	clientNodes    int
	hostProcs      string
	command        string
}

// parseFlags parses the command line.
func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("tsmcp-bench", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", "markdown file to write; the part between the generated-section markers is replaced, the rest kept")
	fs.StringVar(&o.repo, "repo", ".", "repository root (for go test and go build)")
	fs.StringVar(&o.tsmcpBin, "tsmcp", "", "tsmcp binary for the cold-start, bridge and metrics/tracing measurements; empty builds one from -repo")
	fs.StringVar(&o.tailscaledBin, "tailscaled", "", "tailscaled binary for the sidecar anchor (tailscale.com/cmd/tailscaled at the pinned version; `make bench-deps` builds it); empty: the anchor is reported as not available")
	fs.StringVar(&o.tailscaleBin, "tailscale", "", "tailscale CLI binary for the sidecar anchor (tailscale.com/cmd/tailscale)")
	fs.StringVar(&o.npmDir, "npm", "bench/npm", "directory with node_modules holding supergateway and @modelcontextprotocol/server-everything (npm ci)")
	fs.StringVar(&o.profileDir, "profile-dir", "", "if set, write CPU profiles of the hosts under the highest load and heap profiles with the most idle sessions here")
	fs.StringVar(&o.provisional, "provisional", "", "if set, mark the results as provisional, giving this reason")
	parts := fs.String("parts", strings.Join(allParts, ","), "measurements to run")
	fs.DurationVar(&o.cell, "cell", 5*time.Second, "measured duration of one load cell")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "warm-up of one load cell, not measured")
	conc := fs.String("concurrency", "1,8,64", "concurrent clients per load cell")
	callKinds := fs.String("servers", strings.Join(allCallKinds, ","), "servers measurement 1 (calls) compares")
	callTrs := fs.String("transports", transportStreamable+","+transportSSE, "transports of measurement 1 (calls)")
	overheadTrs := fs.String("overhead-transports", transportStreamable, "transports of measurement 6 (metrics and tracing on vs off)")
	fs.IntVar(&o.sessionMax, "sessions", 10000, "idle sessions to open, at most")
	fs.IntVar(&o.sessionStep, "session-step", 1000, "sample the host every this many sessions")
	kinds := fs.String("session-kinds", kindTsmcp+","+kindBareTailnet, "server kinds for the idle-session measurement")
	bridgeTrs := fs.String("bridge-transports", transportSSE+","+transportStreamable, "transports for the bridge measurement")
	fs.IntVar(&o.coldRuns, "cold-runs", 5, "cold starts per kind of state")
	fs.IntVar(&o.clientNodes, "client-nodes", 2, "tsnet client nodes the load comes from")
	fs.StringVar(&o.hostProcs, "host-gomaxprocs", "", "GOMAXPROCS for the host children; empty leaves Go's default")
	quick := fs.Bool("quick", false, "a short smoke run: 1s cells, 200ms warm-up, 2,000 sessions, 2 cold starts (results are not representative)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *quick {
		o.cell, o.warmup, o.sessionMax, o.sessionStep, o.coldRuns = time.Second, 200*time.Millisecond, 2000, 1000, 2
		if o.provisional == "" {
			o.provisional = "a -quick smoke run: cells of 1 s, 2,000 sessions, 2 cold starts"
		}
	}
	o.parts = splitList(*parts)
	for _, p := range o.parts {
		if !slices.Contains(allParts, p) {
			return o, fmt.Errorf("-parts: unknown measurement %q (want some of %s)", p, strings.Join(allParts, ","))
		}
	}
	for _, s := range splitList(*conc) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return o, fmt.Errorf("-concurrency: %q is not a positive number", s)
		}
		o.concurrency = append(o.concurrency, n)
	}
	o.callKinds = splitList(*callKinds)
	for _, k := range o.callKinds {
		if !slices.Contains(allCallKinds, k) {
			return o, fmt.Errorf("-servers: unknown server %q (want some of %s)", k, strings.Join(allCallKinds, ","))
		}
	}
	o.callTransports = splitList(*callTrs)
	o.overheadTrs = splitList(*overheadTrs)
	for _, tr := range append(slices.Clone(o.callTransports), o.overheadTrs...) {
		if tr != transportStreamable && tr != transportSSE {
			return o, fmt.Errorf("-transports, -overhead-transports: unknown transport %q", tr)
		}
	}
	o.sessionKinds = splitList(*kinds)
	for _, k := range o.sessionKinds {
		if k != kindTsmcp && k != kindBareTailnet && k != kindBareLoopback {
			return o, fmt.Errorf("-session-kinds: unknown kind %q", k)
		}
	}
	o.bridgeTrs = splitList(*bridgeTrs)
	if o.sessionStep < 1 || o.sessionMax < o.sessionStep {
		return o, errors.New("-sessions must be at least -session-step, which must be positive")
	}
	if o.clientNodes < 1 || o.coldRuns < 1 || len(o.concurrency) == 0 {
		return o, errors.New("-client-nodes, -cold-runs and -concurrency need at least one")
	}
	o.command = "tsmcp-bench " + strings.Join(args, " ")
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// bench is one run of the harness.
type bench struct {
	options
	procs   *procs
	net     *devnet.Network
	clients []*devnet.Node
	next    atomic.Uint64 // round-robin over clients
	tmp     string
	started time.Time
}

// logf reports progress on stderr.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%7.1fs  %s\n", time.Since(b.started).Seconds(), fmt.Sprintf(format, args...))
}

// tailnetHTTP returns an HTTP client with its own connection pool that
// dials through one of the client nodes, in turn.
func (b *bench) tailnetHTTP() *http.Client {
	nd := b.clients[b.next.Add(1)%uint64(len(b.clients))]
	return nd.HTTPClient()
}

// results gathers everything measured.
type results struct {
	env      environment
	calls    *callsResults
	callsErr error
	sessions []sessionRun
	bridge   *bridgeResults
	cold     []coldResult
	acl      *aclResult
	overhead *overheadResults
	stall    *stallResult
	elapsed  time.Duration
}

// runBench runs the measurements and writes the report.
func runBench(ctx context.Context, o options) (err error) {
	b := &bench{options: o, procs: newProcs(), started: time.Now()}
	defer b.procs.killAll()
	if b.repo, err = filepath.Abs(b.repo); err != nil {
		return err
	}
	if !filepath.IsAbs(b.out) {
		b.out = filepath.Join(b.repo, b.out)
	}
	if b.npmDir != "" && !filepath.IsAbs(b.npmDir) {
		b.npmDir = filepath.Join(b.repo, b.npmDir)
	}
	if b.profileDir != "" {
		if !filepath.IsAbs(b.profileDir) {
			b.profileDir = filepath.Join(b.repo, b.profileDir)
		}
		if err := os.MkdirAll(b.profileDir, 0o755); err != nil {
			return err
		}
	}
	b.tmp, err = os.MkdirTemp("", "tsmcp-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(b.tmp)
	nofile := raiseNoFile()

	res := &results{env: collectEnvironment(ctx, b.repo, b.npmDir)}
	res.env.nofile = nofile
	if b.tsmcpBin == "" && (b.has(partCold) || b.has(partBridge) || b.has(partOverhead)) {
		b.tsmcpBin = filepath.Join(b.tmp, "tsmcp")
		b.logf("building %s", b.tsmcpBin)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.tsmcpBin, "./cmd/tsmcp")
		cmd.Dir = b.repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building tsmcp: %v\n%s", err, out)
		}
	}
	if b.tsmcpBin != "" {
		res.env.tsmcpVersion = commandOutput(ctx, b.tsmcpBin, "version")
	}

	b.logf("starting the in-process tailnet")
	b.net, err = devnet.Start(devnet.Options{Tags: []string{"tag:mcp"}})
	if err != nil {
		return err
	}
	defer b.closeBounded("the in-process tailnet", b.net.Close)
	defer b.closeBounded("the client nodes", func() error {
		// In parallel: each may block until closeTimeout.
		var wg sync.WaitGroup
		for _, nd := range b.clients {
			wg.Go(func() { nd.Close() })
		}
		wg.Wait()
		return nil
	})
	for i := range b.clientNodes {
		nd, err := b.net.NewNode(ctx, devnet.NodeOptions{Hostname: fmt.Sprintf("bench-client-%d", i+1)})
		if err != nil {
			return err
		}
		b.clients = append(b.clients, nd)
	}

	if b.has(partCalls) {
		b.logf("1. tools/call no-op, %s per cell after %s warm-up", b.cell, b.warmup)
		res.calls, res.callsErr = b.measureCalls(ctx)
	}
	if b.has(partSessions) && ctx.Err() == nil {
		b.logf("2. idle sessions, up to %d", b.sessionMax)
		for _, tr := range []string{transportSSE, transportStreamable} {
			for _, kind := range b.sessionKinds {
				if ctx.Err() != nil {
					break
				}
				res.sessions = append(res.sessions, b.measureSessions(ctx, kind, tr))
			}
		}
	}
	if b.has(partBridge) && ctx.Err() == nil {
		b.logf("3. bridged stdio server")
		res.bridge = b.measureBridge(ctx)
	}
	if b.has(partCold) && ctx.Err() == nil {
		b.logf("4. cold start, %d runs each", b.coldRuns)
		res.cold = b.measureColdStart(ctx)
	}
	if b.has(partACL) && ctx.Err() == nil {
		b.logf("5. ACL decision benchmark")
		a := b.measureACL(ctx)
		res.acl = &a
	}
	if b.has(partOverhead) && ctx.Err() == nil {
		b.logf("6. metrics and tracing on vs off")
		res.overhead = b.measureOverhead(ctx)
	}
	if b.has(partStall) && ctx.Err() == nil {
		b.logf("7. answers to a client that stopped reading")
		res.stall = b.measureStall(ctx)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted; %s not written", b.out)
	}
	res.elapsed = time.Since(b.started)
	res.env.loadEnd = loadAvg()
	if err := writeReport(b.out, renderResults(b.options, res)); err != nil {
		return err
	}
	b.logf("wrote %s", b.out)
	return nil
}

// closeTimeout bounds the close of an in-process tailnet component at exit.
const closeTimeout = 15 * time.Second

// closeBounded runs close, but returns after closeTimeout even if close has
// not: closing a tsnet node can block in gVisor's netstack (its outbound
// queue full while it resets the connections still open), and the harness
// must exit all the same; what close would free goes with the process.
func (b *bench) closeBounded(what string, close func() error) {
	done := make(chan error, 1)
	go func() { done <- close() }()
	select {
	case <-done:
	case <-time.After(closeTimeout):
		b.logf("closing %s did not finish within %s; exiting without waiting", what, closeTimeout)
	}
}

// has reports whether the measurement part is to run.
func (b *bench) has(part string) bool { return slices.Contains(b.parts, part) }

// raiseNoFile raises the soft limit on open files to the hard limit (Go
// does this at start-up too) and returns the limit in force.
func raiseNoFile() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	return lim.Cur
}
