package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// legacy is the HTTP+SSE transport of MCP 2024-11-05: one GET event
// stream carries every message from the host, and each client message is
// POSTed to the endpoint the stream's first event names. When the stream
// breaks, the session is gone: requests still unanswered may have run and
// are answered with an error, and the relay reconnects and replays the
// client's initialize.
type legacy struct {
	r      *relay
	sseURL *url.URL

	mu sync.Mutex // guards the fields below
	// endpoint is the POST URL of the current stream; empty while none.
	endpoint string
	// ready is closed once the session can take the client's messages:
	// the stream is open and, on a reconnect, initialize was replayed.
	ready chan struct{}
	// connected is true while a stream runs (or is being reopened).
	connected bool
	// pending holds the ids of requests sent and not yet answered.
	pending map[string]json.RawMessage
	// replayID is the id of the replayed initialize, whose answer is
	// not passed to the client; replayed is signalled when it arrives.
	replayID string
	replayed chan []byte
	replays  int
}

// legacyURL is where the legacy transport is tried after Streamable HTTP
// failed at u: tsmcp's /sse beside /mcp, or else u itself, as the MCP
// specification's backwards compatibility section says.
func legacyURL(u *url.URL) *url.URL {
	l := *u
	if strings.HasSuffix(l.Path, "/mcp") {
		l.Path = strings.TrimSuffix(l.Path, "/mcp") + "/sse"
	}
	return &l
}

func newLegacy(r *relay, sseURL *url.URL) *legacy {
	return &legacy{r: r, sseURL: sseURL, ready: make(chan struct{}), pending: map[string]json.RawMessage{}}
}

// handle forwards one client message.
func (l *legacy) handle(ctx context.Context, k kind, env envelope, msg []byte) {
	l.mu.Lock()
	connected := l.connected
	l.connected = true
	l.mu.Unlock()
	if !connected {
		if err := l.open(ctx, false); err != nil {
			l.mu.Lock()
			l.connected = false
			l.mu.Unlock()
			if ctx.Err() == nil && k == kindRequest {
				l.r.log.Error("the host's SSE endpoint failed", slog.String("url", l.sseURL.Redacted()), slog.String("error", err.Error()))
				l.r.out.fail(env.ID, "%v", err)
			}
			return
		}
	}
	l.mu.Lock()
	ready := l.ready
	l.mu.Unlock()
	select {
	case <-ready:
	default:
		// The stream broke and is being reopened: answer at once rather
		// than hold up the client's other messages.
		if k == kindRequest {
			l.r.out.fail(env.ID, "cannot reach the host at %s: its event stream is down and is being reopened (did the host restart?)", l.sseURL.Redacted())
		} else {
			l.r.log.Warn("dropped a message while the host's event stream is down", slog.String("method", env.Method))
		}
		return
	}
	l.mu.Lock()
	endpoint := l.endpoint
	if k == kindRequest {
		l.pending[string(env.ID)] = env.ID
	}
	l.mu.Unlock()
	if err := l.post(ctx, endpoint, msg); err != nil {
		if ctx.Err() != nil {
			return
		}
		if k != kindRequest {
			l.r.log.Warn("could not forward a message to the host", slog.String("method", env.Method), slog.String("error", err.Error()))
			return
		}
		l.mu.Lock()
		_, stillPending := l.pending[string(env.ID)]
		delete(l.pending, string(env.ID))
		l.mu.Unlock()
		if stillPending {
			l.r.log.Error("request not delivered", slog.String("error", err.Error()))
			l.r.out.fail(env.ID, "%v", err)
		}
	}
}

// post sends msg to the session's endpoint.
func (l *legacy) post(ctx context.Context, endpoint string, msg []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(msg))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.r.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the host at %s (is it running, and is this machine on its tailnet?): %w", l.sseURL.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return errors.New(l.r.httpError(resp))
	}
	return nil
}

// open opens the event stream and waits for its endpoint event. With
// replay, it then replays the client's initialize before the session is
// ready; without, the session is ready at once.
func (l *legacy) open(ctx context.Context, replay bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.sseURL.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := l.r.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the host at %s (is it running, and is this machine on its tailnet?): %w", l.sseURL.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return errors.New(l.r.httpError(resp))
	}
	got := make(chan error, 1)
	l.r.goTracked(func() { l.stream(ctx, resp, got) })
	select {
	case err := <-got:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	if replay {
		if err := l.replay(ctx); err != nil {
			return err
		}
	}
	l.mu.Lock()
	close(l.ready)
	l.mu.Unlock()
	return nil
}

// stream reads the event stream until it ends; got receives the outcome
// of waiting for the endpoint event. Then it reconnects.
func (l *legacy) stream(ctx context.Context, resp *http.Response, got chan<- error) {
	announced := false
	err := readEvents(resp.Body, func(event, data string) bool {
		switch event {
		case "endpoint":
			ep, err := l.sseURL.Parse(strings.TrimSpace(data))
			if err != nil || ep.Host != l.sseURL.Host {
				got <- fmt.Errorf("the host's SSE stream named an unusable endpoint %q", data)
				announced = true
				return false
			}
			l.mu.Lock()
			l.endpoint = ep.String()
			l.mu.Unlock()
			if !announced {
				announced = true
				got <- nil
			}
		case "message":
			l.fromHost([]byte(data))
		}
		return true
	})
	resp.Body.Close()
	if !announced {
		got <- fmt.Errorf("the host's SSE stream ended before naming its endpoint: %v", err)
		return
	}
	// The session is gone with its stream.
	l.mu.Lock()
	l.endpoint = ""
	l.ready = make(chan struct{})
	lost := l.pending
	l.pending = map[string]json.RawMessage{}
	l.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	for _, id := range lost {
		l.r.broken(id, err)
	}
	l.reconnect(ctx)
}

// reconnect reopens the stream, with backoff, and replays initialize.
func (l *legacy) reconnect(ctx context.Context) {
	backoff := minBackoff
	for {
		l.r.log.Warn("the host's SSE stream ended (did it restart?); reconnecting", slog.Duration("in", backoff))
		if !sleep(ctx, backoff) {
			return
		}
		err := l.open(ctx, true)
		if err == nil {
			l.r.log.Info("re-initialized with the host", slog.String("url", l.sseURL.Redacted()))
			return
		}
		if ctx.Err() != nil {
			return
		}
		l.r.log.Warn("reconnecting failed", slog.String("error", err.Error()))
		backoff = min(2*backoff, maxBackoff)
	}
}

// replay sends the client's initialize (under an id of its own, whose
// answer is kept from the client) and notifications/initialized.
func (l *legacy) replay(ctx context.Context) error {
	l.r.mu.Lock()
	init, initialized := l.r.init, l.r.initialized
	l.r.mu.Unlock()
	if init == nil {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(init, &fields); err != nil {
		return err
	}
	l.mu.Lock()
	l.replays++
	l.replayID = strconv.Quote("tsmcp-connect-reinit-" + strconv.Itoa(l.replays))
	l.replayed = make(chan []byte, 1)
	replayed, endpoint := l.replayed, l.endpoint
	l.mu.Unlock()
	fields["id"] = json.RawMessage(l.replayID)
	msg, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	if err := l.post(ctx, endpoint, msg); err != nil {
		return err
	}
	select {
	case res := <-replayed:
		if protocolOf(res) == "" {
			return fmt.Errorf("the host refused initialize: %s", bytes.TrimSpace(res))
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	if initialized != nil {
		return l.post(ctx, endpoint, initialized)
	}
	return nil
}

// fromHost passes one message from the host to the client, except the
// answer to a replayed initialize.
func (l *legacy) fromHost(msg []byte) {
	if k, env := classify(msg); k == kindResponse {
		l.mu.Lock()
		if l.replayID != "" && sameID(env.ID, json.RawMessage(l.replayID)) {
			l.replayID = ""
			l.replayed <- msg
			l.mu.Unlock()
			return
		}
		delete(l.pending, string(bytes.TrimSpace(env.ID)))
		l.mu.Unlock()
	}
	l.r.out.write(msg)
}

// close lets the stream end with the relay's context; nothing else to do:
// the legacy transport has no session deletion.
func (l *legacy) close() {}
