package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"tailscale.com/client/tailscale/apitype"
	"tailscale.com/ipn"
	"tailscale.com/tailcfg"

	"github.com/tsmcp/tsmcp/internal/logx"
)

// TestFunnelConnectionsAreRefused: a connection that came in through
// Tailscale Funnel (from the internet) is refused before WhoIs, even if
// WhoIs would name someone.
func TestFunnelConnectionsAreRefused(t *testing.T) {
	whoisCalled := false
	s := &Server{
		log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		warns: logx.NewRepeats(nil, 0, 1),
		whoisFn: func(context.Context, string) (*apitype.WhoIsResponse, error) {
			whoisCalled = true
			return &apitype.WhoIsResponse{
				Node:        &tailcfg.Node{Name: "x."},
				UserProfile: &tailcfg.UserProfile{LoginName: "a@example.com"},
			}, nil
		},
	}
	reached := false
	h := s.identify(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
	tests := []struct {
		name  string
		conn  net.Conn
		want  int
		reach bool
	}{
		{"funnel", &ipn.FunnelConn{}, http.StatusForbidden, false},
		{"tailnet", &net.TCPConn{}, http.StatusOK, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reached, whoisCalled = false, false
			req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
			req.RemoteAddr = "100.64.0.9:1234"
			req = req.WithContext(markFunnel(req.Context(), tt.conn))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want || reached != tt.reach {
				t.Fatalf("status %d, reached handler %v; want %d, %v", rec.Code, reached, tt.want, tt.reach)
			}
			if tt.name == "funnel" && whoisCalled {
				t.Error("WhoIs was consulted for a Funnel connection")
			}
		})
	}
}
