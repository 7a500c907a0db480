package server_test

import (
	"time"

	"github.com/tsmcp/tsmcp/internal/config"
)

// testLimits are the small limits of the limit tests' hosts: two of a kind
// per identity, three in all.
func testLimits(c *config.Config) {
	c.MCP.MaxBody = 64 * config.KiB
	c.MCP.Limits = config.Limits{
		SessionsPerIdentity:      2,
		SessionsTotal:            3,
		StreamsPerIdentity:       2,
		StreamsTotal:             3,
		CallsPerIdentity:         2,
		CallsTotal:               3,
		SubscriptionsPerSession:  3,
		SubscriptionsPerIdentity: 4,
		AnswerBytesPerIdentity:   8 * config.MiB,
		AnswerBytesTotal:         16 * config.MiB,
		BodyBytesPerIdentity:     128 * config.KiB,
		BodyBytesTotal:           192 * config.KiB,
		QueuePerSession:          8,
		WriteTimeout:             500 * time.Millisecond,
		UnusedSessionTTL:         time.Hour, // TestUnusedSessionsExpireSooner sets its own
	}
}

// testUnusedSessionTTL sets mcp.limits.unused_session_ttl.
func testUnusedSessionTTL(c *config.Config, d time.Duration) { c.MCP.Limits.UnusedSessionTTL = d }
