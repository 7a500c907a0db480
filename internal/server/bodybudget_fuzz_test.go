package server

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/logx"
)

// FuzzBodyBudget sends arbitrary bodies, declared with a right, wrong or
// no Content-Length, through limitBody under a small mcp.max_body and
// body budget. It must never panic; a body over the limit never reaches
// the handler; what reaches it is the body sent, unchanged; and once the
// request is over the budget is back to zero, whatever happened.
//
// go test ./internal/server -run '^$' -fuzz FuzzBodyBudget
func FuzzBodyBudget(f *testing.F) {
	for _, seed := range []struct {
		body    string
		declare int64 // -1: chunked (unknown length)
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"ping"}`, 40},
		{`{"jsonrpc":"2.0","id":1,"method":"ping"}`, -1},
		{``, 0},
		{string(bytes.Repeat([]byte("x"), 5000)), -1},
		{string(bytes.Repeat([]byte("x"), 5000)), 5000},
		{`short`, 100},
		{`longer than declared`, 3},
	} {
		f.Add([]byte(seed.body), seed.declare)
	}
	const max = 4096
	lim := config.DefaultLimits()
	lim.BodyBytesPerIdentity, lim.BodyBytesTotal = 8192, 8192
	s := &Server{
		log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		audit:    audit.NewLog(slog.New(slog.NewTextHandler(io.Discard, nil))),
		limits:   newLimits(lim),
		sessions: newSessionStore(nil, config.DefaultSessionMaxAge, nil),
		warns:    logx.NewRepeats(nil, 0, 1),
	}
	id := &identity.Identity{LoginName: "alice@example.com", NodeName: "laptop"}
	f.Fuzz(func(t *testing.T, body []byte, declare int64) {
		var got []byte
		reached := false
		h := s.limitBody(max, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached = true
			got, _ = io.ReadAll(r.Body)
			if mine, _ := s.limits.body.held(id.Key()); mine > max {
				t.Errorf("handler runs holding %d budget bytes for a body of at most %d", mine, max)
			}
		}))
		r := httptest.NewRequest(http.MethodPost, "/mcp", bytes.NewReader(body))
		switch {
		case declare < 0:
			r.ContentLength = -1
		default:
			r.ContentLength = declare
		}
		r = r.WithContext(identity.NewContext(r.Context(), id))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		if reached {
			if len(got) > max {
				t.Fatalf("a %d-byte body reached the handler (max %d)", len(got), max)
			}
			if (declare < 0 || declare == int64(len(body))) && !bytes.Equal(got, body) {
				t.Fatalf("the handler got %q, the client sent %q", got, body)
			}
		} else if len(body) <= max && (declare < 0 || declare == int64(len(body))) && declare <= max {
			t.Fatalf("a %d-byte body (declared %d) was refused with %d", len(body), declare, w.Code)
		}
		if len(body) > max && declare != int64(len(body)) && declare >= 0 {
			return // a lying Content-Length: only the invariants below
		}
		if len(body) > max && reached {
			t.Fatalf("a %d-byte body over the %d limit reached the handler", len(body), max)
		}
		if mine, all := s.limits.body.held(id.Key()); mine != 0 || all != 0 {
			t.Fatalf("after the request the budget holds %d (all %d), want 0", mine, all)
		}
	})
}
