package server_test

import (
	"time"

	"github.com/tsmcp/tsmcp/internal/config"
)

// testLimits are the small limits of the limit tests' hosts: two of a kind
// per identity, three in all; the upstream_* bounds keep their defaults.
func testLimits(c *config.Config) {
	c.MCP.MaxBody = 64 * config.KiB
	l := config.DefaultLimits()
	l.SessionsPerIdentity, l.SessionsTotal = 2, 3
	l.StreamsPerIdentity, l.StreamsTotal = 2, 3
	l.CallsPerIdentity, l.CallsTotal = 2, 3
	l.PagesPerIdentity, l.PagesTotal = 2, 3
	l.SubscriptionsPerSession, l.SubscriptionsPerIdentity = 3, 4
	l.AnswerBytesPerIdentity, l.AnswerBytesTotal = 8*config.MiB, 16*config.MiB
	l.BodyBytesPerIdentity, l.BodyBytesTotal = 128*config.KiB, 192*config.KiB
	l.QueuePerSession = 8
	l.WriteTimeout = 500 * time.Millisecond
	l.UnusedSessionTTL = time.Hour // TestUnusedSessionsExpireSooner sets its own
	c.MCP.Limits = l
}

// testUnusedSessionTTL sets mcp.limits.unused_session_ttl.
func testUnusedSessionTTL(c *config.Config, d time.Duration) { c.MCP.Limits.UnusedSessionTTL = d }
