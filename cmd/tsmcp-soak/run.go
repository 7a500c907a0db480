package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tsmcp/tsmcp/internal/devnet"
)

// Bounds on what the host may grow by between the start and the end.
var bounds = stats{
	RSS:        64 << 20,
	Goroutines: 50,
	FDs:        20,
	Children:   0,
}

// settleTime is how long the end measurement waits for the host to be back
// within bounds once the load has stopped: its timers (write timeout,
// unused-session TTL, upstream idle timeout) all fire well within it.
const settleTime = 60 * time.Second

// run starts the tailnet, the host and the load, and reports whether the
// host stayed within bounds.
func run(ctx context.Context, duration time.Duration, users, tagged int) (bool, error) {
	nw, err := devnet.Start(devnet.Options{Tags: []string{"tag:mcp", "tag:soak"}})
	if err != nil {
		return false, err
	}
	defer nw.Close()
	h, err := startHostChild(ctx, nw.ControlURL)
	if err != nil {
		return false, err
	}
	defer h.stop()

	var ids []*identity
	for i := range users + tagged {
		opts := devnet.NodeOptions{Hostname: fmt.Sprintf("user%d", i)}
		if i >= users {
			opts = devnet.NodeOptions{Hostname: fmt.Sprintf("tagged%d", i-users), Tags: []string{"tag:soak"}}
		}
		joinCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
		nd, err := nw.NewNode(joinCtx, opts)
		cancel()
		if err != nil {
			return false, err
		}
		defer nd.Close()
		ids = append(ids, &identity{name: opts.Hostname, node: nd, hc: nd.HTTPClient(), base: h.ready.URL})
	}
	fmt.Printf("soak: host %s, %d identities (%d users, %d tagged), load for %s\n", h.ready.URL, len(ids), users, tagged, duration)

	// Warm-up: every identity once through every path, so that lazily
	// built state (connections, per-identity children) exists at the start.
	for _, id := range ids {
		id.churnOnce(ctx)
	}
	start, err := h.settled(ctx, stats{})
	if err != nil {
		return false, err
	}

	loadCtx, stopLoad := context.WithTimeout(ctx, duration)
	var wg sync.WaitGroup
	var counts loadCounts
	for _, id := range ids {
		for _, w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for loadCtx.Err() == nil {
					w(loadCtx, id, &counts)
				}
			}()
		}
	}
	progress := time.NewTicker(30 * time.Second)
	defer progress.Stop()
loop:
	for {
		select {
		case <-loadCtx.Done():
			break loop
		case <-progress.C:
			st, err := h.stats(ctx, false)
			if err != nil {
				stopLoad()
				wg.Wait()
				return false, fmt.Errorf("host stats during the load (did it crash?): %w", err)
			}
			fmt.Printf("soak: %s  rss %d MiB, goroutines %d, fds %d, children %d; %s\n",
				time.Now().Format("15:04:05"), st.RSS>>20, st.Goroutines, st.FDs, st.Children, counts.String())
		}
	}
	stopLoad()
	wg.Wait()
	for _, id := range ids {
		id.hc.CloseIdleConnections()
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	end, err := h.settled(ctx, start)
	if err != nil {
		return false, err
	}
	fmt.Printf("soak: load done: %s\n", counts.String())
	return report(start, end), nil
}

// report prints the start and end stats and whether each stayed within
// its bound.
func report(start, end stats) bool {
	ok := true
	row := func(name string, a, b, bound int64, unit int64, u string) {
		verdict := "ok"
		if b-a > bound {
			verdict = "GREW"
			ok = false
		}
		fmt.Printf("  %-11s start %6d%s  end %6d%s  growth %+6d%s  bound +%d%s  %s\n", name, a/unit, u, b/unit, u, (b-a)/unit, u, bound/unit, u, verdict)
	}
	fmt.Println("soak: host process, start vs end:")
	row("rss", start.RSS, end.RSS, bounds.RSS, 1<<20, "MiB")
	row("goroutines", start.Goroutines, end.Goroutines, bounds.Goroutines, 1, "")
	row("fds", start.FDs, end.FDs, bounds.FDs, 1, "")
	row("children", start.Children, end.Children, bounds.Children, 1, "")
	fmt.Printf("  %-11s start %6d%s  end %6d%s  (reported, not bounded)\n", "heap", start.Heap>>20, "MiB", end.Heap>>20, "MiB")
	if ok {
		fmt.Println("soak: PASS")
	} else {
		fmt.Println("soak: FAIL: the host grew beyond a bound")
	}
	return ok
}

// hostChild is the tsmcp host, a child process of the harness.
type hostChild struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan error
	ready  hostReady
}

func startHostChild(ctx context.Context, control string) (*hostChild, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, hostSubcommand, "-control", control)
	cmd.Env = append(os.Environ(), "TS_NO_LOGS_NO_SUPPORT=true")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &hostChild{cmd: cmd, stdin: stdin, exited: make(chan error, 1)}
	lines := make(chan []byte, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- append([]byte(nil), sc.Bytes()...)
		}
		io.Copy(io.Discard, stdout)
		h.exited <- cmd.Wait()
	}()
	select {
	case line := <-lines:
		if err := json.Unmarshal(line, &h.ready); err != nil {
			h.stop()
			return nil, fmt.Errorf("host: bad ready line %q", line)
		}
		return h, nil
	case err := <-h.exited:
		return nil, fmt.Errorf("host exited before ready: %v", err)
	case <-time.After(90 * time.Second):
		h.stop()
		return nil, errors.New("host not ready within 90s")
	case <-ctx.Done():
		h.stop()
		return nil, ctx.Err()
	}
}

// stop ends the host: SIGTERM (by closing its stdin), then a kill after
// 10 s.
func (h *hostChild) stop() {
	h.stdin.Close()
	select {
	case <-h.exited:
	case <-time.After(10 * time.Second):
		h.cmd.Process.Kill()
		<-h.exited
	}
}

// stats fetches the host's stats, after a GC when gc is set.
func (h *hostChild) stats(ctx context.Context, gc bool) (stats, error) {
	url := "http://" + h.ready.Stats + "/stats"
	if gc {
		url += "?gc=1"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return stats{}, err
	}
	defer resp.Body.Close()
	var st stats
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// settled measures the host (after a GC) once it is within bounds of base,
// or after settleTime; a zero base takes the first measurement after the
// host has had a few seconds to go quiet.
func (h *hostChild) settled(ctx context.Context, base stats) (stats, error) {
	var zero stats
	if base == zero {
		time.Sleep(3 * time.Second)
		return h.stats(ctx, true)
	}
	deadline := time.Now().Add(settleTime)
	for {
		st, err := h.stats(ctx, true)
		if err != nil {
			return st, fmt.Errorf("host stats at the end (did it crash?): %w", err)
		}
		within := st.RSS-base.RSS <= bounds.RSS && st.Goroutines-base.Goroutines <= bounds.Goroutines &&
			st.FDs-base.FDs <= bounds.FDs && st.Children-base.Children <= bounds.Children
		if within || time.Now().After(deadline) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// loadCounts counts what the load did, by outcome.
type loadCounts struct {
	calls, refused, sessions, streams, cut, crashes, trickles, errors atomic.Int64
	subscriptions, reads, pages, parked, listens                      atomic.Int64
}

func (c *loadCounts) String() string {
	return fmt.Sprintf("calls %d, sessions %d, streams %d, non-reading streams cut %d, upstream crashes %d, trickled bodies %d, subscriptions %d, unread reads %d, page views %d, parked round trips %d, listen streams %d, limit refusals %d, errors %d",
		c.calls.Load(), c.sessions.Load(), c.streams.Load(), c.cut.Load(), c.crashes.Load(), c.trickles.Load(),
		c.subscriptions.Load(), c.reads.Load(), c.pages.Load(), c.parked.Load(), c.listens.Load(), c.refused.Load(), c.errors.Load())
}
