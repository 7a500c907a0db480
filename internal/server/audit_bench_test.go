package server

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/identity"
)

// BenchmarkAuditToolCall measures the audit event of one tool call that
// ran, through the sinks the host builds (newAudit: the metrics, then a
// JSON audit log), for a user's node and a tagged one.
//
//	go test ./internal/server -run '^$' -bench AuditToolCall -benchmem
func BenchmarkAuditToolCall(b *testing.B) {
	s := &Server{}
	s.metrics = newMetrics(true, "bench")
	s.audit = newAudit(slog.New(slog.NewJSONHandler(io.Discard, nil)), s.metrics, false)
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
				s.audit.Record(ctx, audit.Event{Action: audit.ToolCall, Caller: audit.CallerOf(id), Kind: audit.Tool, Name: "whoami",
					Decision: audit.Allow, Reason: "rule 1", Duration: 1500 * time.Microsecond, Outcome: audit.OK})
			}
		})
	}
}
