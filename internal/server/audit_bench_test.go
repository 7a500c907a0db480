package server

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// BenchmarkAuditToolCall measures the audit line of one tool call that
// ran, through the handler stack the host builds (the metrics' counting
// handler in front of a JSON handler), for a user's node and a tagged one.
//
//	go test ./internal/server -run '^$' -bench AuditToolCall -benchmem
func BenchmarkAuditToolCall(b *testing.B) {
	s := &Server{}
	s.metrics = newMetrics(true, "bench")
	s.audit = slog.New(s.metrics.AuditHandler(slog.NewJSONHandler(io.Discard, nil))).With(slog.String("log", "audit"))
	ctx := context.Background()
	for _, id := range []*identity.Identity{
		{LoginName: "alice@example.com", NodeName: "laptop.example.ts.net", NodeID: "n1", TailnetIP: netip.MustParseAddr("100.64.0.1")},
		{NodeName: "ci.example.ts.net", NodeID: "n2", Tags: []string{"tag:ci"}, TailnetIP: netip.MustParseAddr("100.64.0.2")},
	} {
		name := "user"
		if id.IsTagged() {
			name = "tagged"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.auditToolCall(ctx, id, "whoami", "allow", "rule 1", 1500*time.Microsecond, "ok", "")
			}
		})
	}
}
