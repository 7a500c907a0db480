package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sessionPoint is the host's state with n idle sessions open.
type sessionPoint struct {
	n     int
	stats hostStats
}

// sessionRun is measurement 2 for one server kind and transport.
type sessionRun struct {
	kind, transport string
	points          []sessionPoint // from 0 sessions up
	heapProfile     string
	err             error
}

// perThousand returns the growth of f from the first to the last point,
// per 1,000 sessions.
func (r sessionRun) perThousand(f func(hostStats) float64) float64 {
	if len(r.points) < 2 {
		return 0
	}
	first, last := r.points[0], r.points[len(r.points)-1]
	if last.n == first.n {
		return 0
	}
	return (f(last.stats) - f(first.stats)) / float64(last.n-first.n) * 1000
}

// sessionSetupTimeout bounds the opening of one session.
const sessionSetupTimeout = 30 * time.Second

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"%s","capabilities":{},"clientInfo":{"name":"tsmcp-bench","version":"1"}}}`
const initializedBody = `{"jsonrpc":"2.0","method":"notifications/initialized"}`

// idleSession is one open session held by the harness.
type idleSession struct {
	stream io.Closer // the SSE stream; nil for Streamable HTTP
}

// openStreamable opens one Streamable HTTP session (initialize, then
// notifications/initialized) and leaves it idle: no stream stays open,
// the connection returns to hc's pool. Opening gives up after
// sessionSetupTimeout.
func openStreamable(ctx context.Context, hc *http.Client, baseURL string) (*idleSession, error) {
	ctx, cancel := context.WithTimeout(ctx, sessionSetupTimeout)
	defer cancel()
	post := func(body, sid string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/mcp", strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
			req.Header.Set("Mcp-Protocol-Version", clientProtocol)
		}
		return hc.Do(req)
	}
	resp, err := post(fmt.Sprintf(initializeBody, clientProtocol), "")
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" {
		return nil, fmt.Errorf("initialize: %s, session %q", resp.Status, sid)
	}
	resp, err = post(initializedBody, sid)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("initialized: %s", resp.Status)
	}
	return &idleSession{}, nil
}

// openSSE opens one legacy SSE session: GET /sse, initialize and
// notifications/initialized posted to the announced endpoint, the
// initialize answer read from the stream. The stream stays open and is
// drained (keep-alive pings) until closed or ctx ends. Opening gives up
// after sessionSetupTimeout.
func openSSE(ctx context.Context, hc *http.Client, baseURL string) (*idleSession, error) {
	sctx, cancel := context.WithCancel(ctx)
	setup := time.AfterFunc(sessionSetupTimeout, cancel)
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, baseURL+"/sse", nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	fail := func(err error) (*idleSession, error) {
		cancel()
		resp.Body.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("GET /sse: %s", resp.Status))
	}
	br := bufio.NewReader(resp.Body)
	endpoint, err := readEventData(br, "endpoint")
	if err != nil {
		return fail(fmt.Errorf("endpoint event: %w", err))
	}
	if !strings.HasPrefix(endpoint, "http") {
		endpoint = baseURL + endpoint
	}
	post := func(body string) error {
		req, err := http.NewRequestWithContext(sctx, http.MethodPost, endpoint, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		r, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.StatusCode/100 != 2 {
			return fmt.Errorf("POST %s: %s", endpoint, r.Status)
		}
		return nil
	}
	if err := post(fmt.Sprintf(initializeBody, "2024-11-05")); err != nil {
		return fail(err)
	}
	if _, err := readEventData(br, "message"); err != nil {
		return fail(fmt.Errorf("initialize answer: %w", err))
	}
	if err := post(initializedBody); err != nil {
		return fail(err)
	}
	if !setup.Stop() {
		return fail(fmt.Errorf("session setup took over %s", sessionSetupTimeout))
	}
	go func() {
		io.Copy(io.Discard, br)
		resp.Body.Close()
	}()
	return &idleSession{stream: closerFunc(func() error { cancel(); return nil })}, nil
}

// readEventData reads SSE lines until an event of the given type and
// returns its data.
func readEventData(br *bufio.Reader, event string) (string, error) {
	cur := "message"
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "event:"):
			cur = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			if cur == event {
				return strings.TrimSpace(strings.TrimPrefix(line, "data:")), nil
			}
		case line == "":
			cur = "message"
		}
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// measureSessions runs measurement 2 for one kind and transport: a fresh
// host child, its stats with no session, then after every step sessions up
// to max.
func (b *bench) measureSessions(ctx context.Context, kind, tr string) sessionRun {
	run := sessionRun{kind: kind, transport: tr}
	h, err := b.startHostProc(ctx, kind, "sessions-"+kind+"-"+tr, "-sessions", strconv.Itoa(b.sessionMax))
	if err != nil {
		run.err = err
		return run
	}
	// Draining thousands of sessions is not measured: a short grace.
	defer h.stopWithin(time.Second)
	open := openStreamable
	if tr == transportSSE {
		open = openSSE
	}
	// A few HTTP clients (connection pools) per client node, shared by the
	// sessions: Streamable sessions need no connection of their own.
	var pools []*http.Client
	for range 4 {
		pools = append(pools, b.tailnetHTTP())
	}
	var (
		mu       sync.Mutex
		sessions []*idleSession
	)
	defer func() {
		for _, s := range sessions {
			if s.stream != nil {
				s.stream.Close()
			}
		}
		for _, hc := range pools {
			hc.CloseIdleConnections()
		}
	}()
	sample := func(n int) error {
		sleep(ctx, 500*time.Millisecond) // let the host settle
		st, err := h.stats(ctx, true)
		if err != nil {
			return err
		}
		run.points = append(run.points, sessionPoint{n: n, stats: st})
		b.logf("sessions %-13s %-10s n=%-6d rss %-10s heap %-10s goroutines %d",
			kind, tr, n, fmtBytes(float64(st.RSS)), fmtBytes(float64(st.HeapInuse)), st.Goroutines)
		return nil
	}
	// Warm the path (first connection, WhoIs) before the baseline.
	warm, err := open(ctx, pools[0], h.ready.URL)
	if err != nil {
		run.err = fmt.Errorf("first session: %w", err)
		return run
	}
	if warm.stream != nil {
		warm.stream.Close()
	}
	sleep(ctx, time.Second)
	if err := sample(0); err != nil {
		run.err = err
		return run
	}
	var next atomic.Int64
	for target := b.sessionStep; target <= b.sessionMax; target += b.sessionStep {
		var (
			wg       sync.WaitGroup
			firstErr errRecord
		)
		next.Store(int64(len(sessions)))
		for w := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(target) {
					s, err := open(ctx, pools[w%len(pools)], h.ready.URL)
					if err != nil {
						firstErr.setFirst(err)
						return
					}
					mu.Lock()
					sessions = append(sessions, s)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if err := firstErr.get(); err != nil {
			run.err = fmt.Errorf("opening session %d: %w", len(sessions)+1, err)
			return run
		}
		if ctx.Err() != nil {
			run.err = ctx.Err()
			return run
		}
		if err := sample(len(sessions)); err != nil {
			run.err = err
			return run
		}
	}
	if b.profileDir != "" {
		path := filepath.Join(b.profileDir, fmt.Sprintf("heap-%s-%s-%d.pprof", kind, tr, len(sessions)))
		if err := h.heapProfile(ctx, path); err != nil {
			b.logf("heap profile: %v", err)
		} else {
			run.heapProfile = path
		}
	}
	return run
}
