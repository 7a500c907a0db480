package server

import (
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// The legacy SSE keep-alive (mcp.keepalive): a JSON-RPC ping on every open
// /sse stream every interval from its opening, numbered per stream from 1,
// as mcp-go's WithKeepAlive sends it. mcp-go runs a goroutine and a ticker
// per stream for it; the host instead runs one goroutine for all streams,
// started with the first one and ended as soon as none is left, which
// queues each stream's ping through mcp-go (SSEServer.SendEventToSession),
// to be written by the stream's own handler as mcp-go's pings are. An idle
// SSE session then costs one goroutine and one timer fewer.
//
// The goroutine wakes pingSteps times per interval and pings the streams
// whose ping is due, so each stream keeps its own phase (pinged within
// interval/pingSteps of when its own ticker would have fired): ten
// thousand streams opened over a minute are not all pinged in one burst.

// pingSteps is how many times per interval the pinging goroutine wakes.
const pingSteps = 16

// sseKeepalive is the keep-alive state of an sseTracker, guarded by its
// mutex.
type sseKeepalive struct {
	interval time.Duration                     // 0: no pings
	send     func(sid string, event any) error // queues an event on a stream
	running  bool                              // pingLoop runs
	idle     chan struct{}                     // wakes pingLoop when the last stream ends
}

// setKeepalive makes tr ping every open stream every interval with send;
// 0 turns the pings off. Called when the SSE transport is built.
func (tr *sseTracker) setKeepalive(interval time.Duration, send func(sid string, event any) error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.ka.interval, tr.ka.send = interval, send
	tr.startKeepaliveLocked()
}

// startKeepaliveLocked starts pingLoop if streams are open, pings are on
// and it is not running. tr.mu must be held.
func (tr *sseTracker) startKeepaliveLocked() {
	if tr.ka.running || tr.ka.interval <= 0 || tr.ka.send == nil || len(tr.streams) == 0 {
		return
	}
	if tr.ka.idle == nil {
		tr.ka.idle = make(chan struct{}, 1)
	}
	tr.ka.running = true
	go tr.pingLoop(tr.ka.interval, tr.ka.idle)
}

// streamEndedLocked wakes pingLoop when the last stream has ended, so
// that it does not outlive the streams. tr.mu must be held.
func (tr *sseTracker) streamEndedLocked() {
	if len(tr.streams) == 0 && tr.ka.running {
		select {
		case tr.ka.idle <- struct{}{}:
		default:
		}
	}
}

// pingLoop pings every open stream each interval. It returns when no
// stream is open (restarted by the next one) or the interval has changed
// (restarted with the new one).
func (tr *sseTracker) pingLoop(interval time.Duration, idle <-chan struct{}) {
	t := time.NewTicker(max(interval/pingSteps, time.Millisecond))
	defer t.Stop()
	type ping struct {
		sid string
		id  int64
	}
	var pings []ping
	for {
		tick := false
		select {
		case <-t.C:
			tick = true
		case <-idle:
		}
		tr.mu.Lock()
		if len(tr.streams) == 0 || tr.ka.interval != interval {
			tr.ka.running = false
			tr.startKeepaliveLocked()
			tr.mu.Unlock()
			return
		}
		if !tick {
			tr.mu.Unlock()
			continue
		}
		send := tr.ka.send
		pings = pings[:0]
		now := time.Now()
		for sid, st := range tr.streams {
			if st.nextPing.IsZero() {
				st.nextPing = st.opened.Add(interval)
			}
			if now.Before(st.nextPing) {
				continue
			}
			st.pings++
			pings = append(pings, ping{sid, st.pings})
			st.nextPing = st.nextPing.Add(interval)
			if !now.Before(st.nextPing) { // fell behind: no catching up
				st.nextPing = now.Add(interval)
			}
		}
		tr.mu.Unlock()
		for _, p := range pings {
			// A stream whose queue is full is busy, not idle: its ping
			// is dropped (send fails without blocking), as is the ping
			// of a stream that has just ended.
			send(p.sid, mcp.JSONRPCRequest{
				JSONRPC: mcp.JSONRPC_VERSION,
				ID:      mcp.NewRequestId(p.id),
				Request: mcp.Request{Method: string(mcp.MethodPing)},
			})
		}
	}
}
