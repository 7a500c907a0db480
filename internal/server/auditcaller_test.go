package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// TestAuditCallerLine checks that the caller attributes of an audit line
// read exactly as they did when built with slog.Group: the cheaper
// construction changes no byte of the JSON line.
func TestAuditCallerLine(t *testing.T) {
	old := func(id *identity.Identity) slog.Attr {
		if id == nil {
			return slog.Group("caller", slog.String("user", ""), slog.String("node", ""), slog.Any("tags", []string{}))
		}
		tags := id.Tags
		if tags == nil {
			tags = []string{}
		}
		return slog.Group("caller", slog.String("user", id.LoginName), slog.String("node", id.NodeName),
			slog.Any("tags", tags), slog.String("ip", id.TailnetIP.String()))
	}
	line := func(a slog.Attr) string {
		var buf bytes.Buffer
		h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})
		slog.New(h).LogAttrs(context.Background(), slog.LevelInfo, "tool_call", a, slog.String("tool", "whoami"))
		return buf.String()
	}
	for _, tc := range []struct {
		name string
		id   *identity.Identity
	}{
		{"unidentified", nil},
		{"user", &identity.Identity{LoginName: "alice@example.com", NodeName: "laptop", TailnetIP: netip.MustParseAddr("100.64.0.1")}},
		{"tagged", &identity.Identity{NodeName: "ci", Tags: []string{"tag:ci", "tag:x"}, TailnetIP: netip.MustParseAddr("fd7a:115c:a1e0::1")}},
		{"empty tags", &identity.Identity{LoginName: "bob@example.com", NodeName: "pc", Tags: []string{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, want := line(auditCaller(tc.id)), line(old(tc.id))
			if got != want {
				t.Errorf("line\n%s\nwant\n%s", got, want)
			}
		})
	}
}
