package config

import "time"

// Limits bound what one caller, and all callers together, may hold on the
// host at once. A request past a per-identity limit gets 429, past a total
// limit 503, both with Retry-After, and a "limit" audit line naming the
// limit. An identity is a user's login (all of that user's nodes together)
// or, for a tagged node, its tags and node name. The defaults are far above
// what a team of a few hundred people uses. Zero is invalid for every key.
//
// The upstream_* keys bound what one upstream (see Upstream) adds to the
// lists clients, the identity page and the log see; what passes a bound is
// cut or dropped with a log line.
type Limits struct {
	// SessionsPerIdentity caps the live Streamable HTTP sessions (opened
	// by initialize, ended by DELETE, idle expiry or shutdown) of one
	// identity. Default 128.
	SessionsPerIdentity int `mapstructure:"sessions_per_identity"`
	// SessionsTotal caps the live Streamable HTTP sessions of all callers.
	// Default 4096.
	SessionsTotal int `mapstructure:"sessions_total"`
	// StreamsPerIdentity caps the open long-lived streams of one identity:
	// legacy SSE streams (GET /sse) and Streamable HTTP GET /mcp streams,
	// with or without a session. Default 32.
	StreamsPerIdentity int `mapstructure:"streams_per_identity"`
	// StreamsTotal caps the open long-lived streams of all callers.
	// Default 1024.
	StreamsTotal int `mapstructure:"streams_total"`
	// CallsPerIdentity caps the requests of one identity in flight that
	// go to a provider (tools/call, resources/read, prompts/get,
	// completion/complete, resources/subscribe), on every transport: each
	// counts from its arrival until its answer is written (or the write
	// fails). Default 32.
	CallsPerIdentity int `mapstructure:"calls_per_identity"`
	// CallsTotal caps those requests of all callers in flight. Default
	// 512.
	CallsTotal int `mapstructure:"calls_total"`
	// SubscriptionsPerSession caps the resource subscriptions of one
	// session (resources/subscribe), and so the URIs one 2026-07-28
	// subscriptions/listen request may name (a listen stream is a session
	// of its own). Default 100.
	SubscriptionsPerSession int `mapstructure:"subscriptions_per_session"`
	// SubscriptionsPerIdentity caps the resource subscriptions of one
	// identity, over all its sessions and listen streams. At least
	// subscriptions_per_session. Default 1000.
	SubscriptionsPerIdentity int `mapstructure:"subscriptions_per_identity"`
	// AnswerBytesPerIdentity caps the bytes of one identity's answers
	// (results of tools/call, resources/read, prompts/get,
	// completion/complete) held in memory: each counts from when its
	// result is produced until it is written or the write fails. An answer
	// that does not fit gets an error instead. At least 1MiB. Default
	// 64MiB.
	AnswerBytesPerIdentity ByteSize `mapstructure:"answer_bytes_per_identity"`
	// AnswerBytesTotal caps the answer bytes of all callers held in
	// memory. At least answer_bytes_per_identity. Default 256MiB.
	AnswerBytesTotal ByteSize `mapstructure:"answer_bytes_total"`
	// BodyBytesPerIdentity caps the request-body bytes one identity may
	// have in memory at once (reserved before a body is read: its
	// Content-Length, or as it arrives). At least mcp.max_body. Default
	// 16MiB.
	BodyBytesPerIdentity ByteSize `mapstructure:"body_bytes_per_identity"`
	// BodyBytesTotal caps the request-body bytes of all callers in memory
	// at once. At least body_bytes_per_identity. Default 64MiB.
	BodyBytesTotal ByteSize `mapstructure:"body_bytes_total"`
	// QueuePerSession caps the answers waiting to be written on one legacy
	// SSE stream; a POST /message past it gets 429 until the client reads.
	// Default 32.
	QueuePerSession int `mapstructure:"queue_per_session"`
	// WriteTimeout bounds every write to a client (each event of a stream,
	// renewed per event, and each response): a client that stops reading
	// for this long has its stream or response closed and what was queued
	// for it freed. Default 30s.
	WriteTimeout time.Duration `mapstructure:"write_timeout"`
	// UnusedSessionTTL is how long a Streamable HTTP session that has seen
	// only its initialize request lives; sessions in use expire after 30
	// minutes idle. Default 1m.
	UnusedSessionTTL time.Duration `mapstructure:"unused_session_ttl"`
	// InputWait is how long a caller has to answer an upstream's
	// elicitation or sampling request: a caller on a session, and a
	// stateless (2026-07-28) caller whose call is parked at
	// input_required. Then the upstream's request is refused and a parked
	// call cancelled. Default 10m.
	InputWait time.Duration `mapstructure:"input_wait"`
	// PagesPerIdentity caps the identity page views (GET /) of one
	// identity in progress at once (being built or written). Default 8.
	PagesPerIdentity int `mapstructure:"pages_per_identity"`
	// PagesTotal caps the identity page views of all callers in progress
	// at once. Default 128.
	PagesTotal int `mapstructure:"pages_total"`

	// UpstreamItems caps the tools, prompts, resources and resource
	// templates one upstream adds, each kind counted on its own: the first
	// this many it lists are used, the rest dropped with a log line.
	// Default 10000.
	UpstreamItems int `mapstructure:"upstream_items"`
	// UpstreamItemBytes caps one tool, prompt, resource or resource
	// template of an upstream, as its JSON once its titles and
	// descriptions are cut: its schemas, icons, _meta, arguments. A larger
	// item is dropped with a log line. At least upstream_description_bytes.
	// Default 256KiB.
	UpstreamItemBytes ByteSize `mapstructure:"upstream_item_bytes"`
	// UpstreamNameBytes caps the name of an upstream's resource, resource
	// template or prompt argument (tool and prompt names are at most 64
	// bytes by their pattern). Names identify, and a cut name would name
	// something else, so an item with a longer one is dropped with a log
	// line. Default 1KiB.
	UpstreamNameBytes ByteSize `mapstructure:"upstream_name_bytes"`
	// UpstreamURIBytes caps an upstream's resource URI or URI template; an
	// item with a longer one is dropped with a log line. Default 4KiB.
	UpstreamURIBytes ByteSize `mapstructure:"upstream_uri_bytes"`
	// UpstreamTitleBytes caps each title an upstream lists (of a tool, its
	// annotations, a prompt, a prompt argument, a resource, a template):
	// a longer one is cut on a character boundary and ends with "…".
	// Default 1KiB.
	UpstreamTitleBytes ByteSize `mapstructure:"upstream_title_bytes"`
	// UpstreamDescriptionBytes caps each description an upstream lists,
	// cut like titles. Default 16KiB.
	UpstreamDescriptionBytes ByteSize `mapstructure:"upstream_description_bytes"`
}

// MinAnswerBytes is the least mcp.limits.answer_bytes_per_identity.
const MinAnswerBytes = 1 * MiB

// DefaultLimits are the limits of Default.
func DefaultLimits() Limits {
	return Limits{
		SessionsPerIdentity:      128,
		SessionsTotal:            4096,
		StreamsPerIdentity:       32,
		StreamsTotal:             1024,
		CallsPerIdentity:         32,
		CallsTotal:               512,
		SubscriptionsPerSession:  100,
		SubscriptionsPerIdentity: 1000,
		AnswerBytesPerIdentity:   64 * MiB,
		AnswerBytesTotal:         256 * MiB,
		BodyBytesPerIdentity:     16 * MiB,
		BodyBytesTotal:           64 * MiB,
		QueuePerSession:          32,
		WriteTimeout:             30 * time.Second,
		UnusedSessionTTL:         time.Minute,
		InputWait:                10 * time.Minute,
		PagesPerIdentity:         8,
		PagesTotal:               128,

		UpstreamItems:            10000,
		UpstreamItemBytes:        256 * KiB,
		UpstreamNameBytes:        KiB,
		UpstreamURIBytes:         4 * KiB,
		UpstreamTitleBytes:       KiB,
		UpstreamDescriptionBytes: 16 * KiB,
	}
}

// validate checks the limits against each other and mcp.max_body.
func (l *Limits) validate(p *problems, maxBody ByteSize) {
	pairs := []struct {
		per, total       int
		perKey, totalKey string
	}{
		{l.SessionsPerIdentity, l.SessionsTotal, "sessions_per_identity", "sessions_total"},
		{l.StreamsPerIdentity, l.StreamsTotal, "streams_per_identity", "streams_total"},
		{l.CallsPerIdentity, l.CallsTotal, "calls_per_identity", "calls_total"},
		{l.PagesPerIdentity, l.PagesTotal, "pages_per_identity", "pages_total"},
	}
	for _, c := range pairs {
		if c.per < 1 {
			p.addf("mcp.limits."+c.perKey, "must be at least 1, got %d", c.per)
		}
		if c.total < 1 {
			p.addf("mcp.limits."+c.totalKey, "must be at least 1, got %d", c.total)
		} else if c.per > c.total {
			p.addf("mcp.limits."+c.totalKey, "must be at least mcp.limits.%s (%d), got %d", c.perKey, c.per, c.total)
		}
	}
	if l.SubscriptionsPerSession < 1 {
		p.addf("mcp.limits.subscriptions_per_session", "must be at least 1, got %d", l.SubscriptionsPerSession)
	}
	if l.SubscriptionsPerIdentity < max(l.SubscriptionsPerSession, 1) {
		p.addf("mcp.limits.subscriptions_per_identity", "must be at least mcp.limits.subscriptions_per_session (%d), got %d", l.SubscriptionsPerSession, l.SubscriptionsPerIdentity)
	}
	if l.AnswerBytesPerIdentity < MinAnswerBytes {
		p.addf("mcp.limits.answer_bytes_per_identity", "must be at least %s, got %s", MinAnswerBytes, l.AnswerBytesPerIdentity)
	}
	if l.AnswerBytesTotal < l.AnswerBytesPerIdentity {
		p.addf("mcp.limits.answer_bytes_total", "must be at least mcp.limits.answer_bytes_per_identity (%s), got %s", l.AnswerBytesPerIdentity, l.AnswerBytesTotal)
	}
	if l.BodyBytesPerIdentity < maxBody {
		p.addf("mcp.limits.body_bytes_per_identity", "must be at least mcp.max_body (%s), got %s", maxBody, l.BodyBytesPerIdentity)
	}
	if l.BodyBytesTotal < l.BodyBytesPerIdentity {
		p.addf("mcp.limits.body_bytes_total", "must be at least mcp.limits.body_bytes_per_identity (%s), got %s", l.BodyBytesPerIdentity, l.BodyBytesTotal)
	}
	if l.QueuePerSession < 1 {
		p.addf("mcp.limits.queue_per_session", "must be at least 1, got %d", l.QueuePerSession)
	}
	if l.WriteTimeout <= 0 {
		p.addf("mcp.limits.write_timeout", "must be positive, got %s", l.WriteTimeout)
	}
	if l.UnusedSessionTTL <= 0 {
		p.addf("mcp.limits.unused_session_ttl", "must be positive, got %s", l.UnusedSessionTTL)
	}
	if l.InputWait <= 0 {
		p.addf("mcp.limits.input_wait", "must be positive, got %s", l.InputWait)
	}
	l.validateUpstream(p)
}

// validateUpstream checks the upstream_* bounds.
func (l *Limits) validateUpstream(p *problems) {
	if l.UpstreamItems < 1 {
		p.addf("mcp.limits.upstream_items", "must be at least 1, got %d", l.UpstreamItems)
	}
	for _, b := range []struct {
		key string
		v   ByteSize
	}{
		{"upstream_name_bytes", l.UpstreamNameBytes},
		{"upstream_uri_bytes", l.UpstreamURIBytes},
		{"upstream_title_bytes", l.UpstreamTitleBytes},
		{"upstream_description_bytes", l.UpstreamDescriptionBytes},
	} {
		if b.v < 1 || b.v > maxMaxBody {
			p.addf("mcp.limits."+b.key, "must be between 1B and %s, got %s", maxMaxBody, b.v)
		}
	}
	if l.UpstreamItemBytes < l.UpstreamDescriptionBytes || l.UpstreamItemBytes > maxMaxBody {
		p.addf("mcp.limits.upstream_item_bytes", "must be between mcp.limits.upstream_description_bytes (%s) and %s, got %s",
			l.UpstreamDescriptionBytes, maxMaxBody, l.UpstreamItemBytes)
	}
}
