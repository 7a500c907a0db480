package audit

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	alice    = Caller{Identified: true, User: "alice@example.com", Node: "laptop", IP: netip.MustParseAddr("100.64.0.1")}
	ci       = Caller{Identified: true, Node: "ci", Tags: []string{"tag:ci", "tag:x"}, IP: netip.MustParseAddr("fd7a:115c:a1e0::1")}
	noIP     = Caller{Identified: true, User: "bob@example.com", Node: "pc", Tags: []string{}}
	aliceAt  = `"caller":{"user":"alice@example.com","node":"laptop","tags":[],"ip":"100.64.0.1"}`
	ciAt     = `"caller":{"user":"","node":"ci","tags":["tag:ci","tag:x"],"ip":"fd7a:115c:a1e0::1"}`
	nobodyAt = `"caller":{"user":"","node":"","tags":[]}`
)

// line returns the audit line Log writes for e, without its time.
func line(t *testing.T, e Event) string {
	t.Helper()
	var buf bytes.Buffer
	NewLog(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))).Record(context.Background(), e)
	return strings.TrimSuffix(buf.String(), "\n")
}

// TestLogLines: each action's audit line, key by key and in order. The
// wanted lines of the actions the host had before events are the lines
// its positional helpers and inline slog calls wrote for the same inputs
// (captured from them), so the documented format is unchanged.
func TestLogLines(t *testing.T) {
	tests := []struct {
		name string
		e    Event
		want string
	}{
		{
			name: "tool call ran",
			e:    Event{Action: ToolCall, Caller: alice, Kind: Tool, Name: "whoami", Decision: Allow, Reason: "rule 1", Duration: 1500 * time.Microsecond, Outcome: OK},
			want: `{"level":"INFO","msg":"tool_call","log":"audit",` + aliceAt + `,"tool":"whoami","decision":"allow","reason":"rule 1","duration_ms":1.5,"outcome":"ok"}`,
		},
		{
			name: "tool call with credentials: named, never valued; a subject bounded",
			e: Event{Action: ToolCall, Caller: alice, Kind: Tool, Name: "jira__search", Decision: Allow, Reason: "rule 1", Outcome: OK,
				Credentials: []Credential{
					{Upstream: "jira", Kind: CredentialSecret, Name: "jira-token"},
					{Upstream: "gh", Kind: CredentialOAuth, Subject: "alice\n{\"x\":1}", Expiry: time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)},
				}},
			want: `{"level":"INFO","msg":"tool_call","log":"audit",` + aliceAt + `,"tool":"jira__search","decision":"allow","reason":"rule 1","duration_ms":0,"outcome":"ok",` +
				`"credentials":[{"upstream":"jira","kind":"secret","name":"jira-token"},{"upstream":"gh","kind":"oauth","subject":"alice�{\"x\":1}","expiry":"2026-12-07T18:00:00Z"}]}`,
		},
		{
			name: "tool call refused, unidentified, unsafe name",
			e:    Event{Action: ToolCall, Kind: Tool, Name: "who\x00ami\n{\"msg\":\"x\"}\x1b[31m\u202e", Decision: Deny, Reason: "no rule", Outcome: Refused},
			want: `{"level":"INFO","msg":"tool_call","log":"audit",` + nobodyAt + `,"tool":"who�ami�{\"msg\":\"x\"}�[31m�","decision":"deny","reason":"no rule","duration_ms":0,"outcome":"refused"}`,
		},
		{
			name: "tool call panic, tagged, long error",
			e: Event{Action: ToolCall, Caller: ci, Kind: Tool, Name: "crash", Decision: Allow, Reason: "rule 2",
				Duration: 2*time.Second + 3*time.Microsecond + 999, Outcome: Panic, Err: strings.Repeat("e", 5000)},
			want: `{"level":"INFO","msg":"tool_call","log":"audit",` + ciAt + `,"tool":"crash","decision":"allow","reason":"rule 2","duration_ms":2000.003,"outcome":"panic","err":"` +
				strings.Repeat("e", MaxErr) + `…[5000 bytes]"}`,
		},
		{
			name: "tool call not up",
			e:    Event{Action: ToolCall, Caller: alice, Kind: Tool, Name: "every__echo", Decision: Allow, Reason: "rule 1", Outcome: ToolError, Err: "upstream every is not up"},
			want: `{"level":"INFO","msg":"tool_call","log":"audit",` + aliceAt + `,"tool":"every__echo","decision":"allow","reason":"rule 1","duration_ms":0,"outcome":"tool_error","err":"upstream every is not up"}`,
		},
		{
			name: "prompt get error, caller without an address",
			e:    Event{Action: PromptGet, Caller: noIP, Kind: Prompt, Name: "every__simple", Decision: Allow, Reason: "rule 3", Duration: time.Millisecond, Outcome: Error, Err: "boom"},
			want: `{"level":"INFO","msg":"prompt_get","log":"audit","caller":{"user":"bob@example.com","node":"pc","tags":[],"ip":"invalid IP"},"kind":"prompt","prompt":"every__simple","decision":"allow","reason":"rule 3","duration_ms":1,"outcome":"error","err":"boom"}`,
		},
		{
			name: "resource read refused",
			e:    Event{Action: ResourceRead, Caller: alice, Kind: Resource, Name: "secret+file:///etc/shadow", Decision: Deny, Reason: "no rule", Outcome: Refused},
			want: `{"level":"INFO","msg":"resource_read","log":"audit",` + aliceAt + `,"kind":"resource","uri":"secret+file:///etc/shadow","decision":"deny","reason":"no rule","duration_ms":0,"outcome":"refused"}`,
		},
		{
			name: "resource subscribe limit",
			e: Event{Action: ResourceSubscribe, Caller: alice, Kind: Resource, Name: "every+demo://a", Decision: Allow, Reason: "rule 4",
				Duration: 250 * time.Microsecond, Outcome: LimitReached, Err: "mcp.limits.subscriptions_per_identity"},
			want: `{"level":"INFO","msg":"resource_subscribe","log":"audit",` + aliceAt + `,"kind":"resource","uri":"every+demo://a","decision":"allow","reason":"rule 4","duration_ms":0.25,"outcome":"limit","err":"mcp.limits.subscriptions_per_identity"}`,
		},
		{
			name: "completion prompt",
			e:    Event{Action: Completion, Caller: alice, Kind: Prompt, Name: "every__simple", Decision: Allow, Reason: "rule 3", Duration: 10 * time.Microsecond, Outcome: OK},
			want: `{"level":"INFO","msg":"completion","log":"audit",` + aliceAt + `,"kind":"prompt","prompt":"every__simple","decision":"allow","reason":"rule 3","duration_ms":0.01,"outcome":"ok"}`,
		},
		{
			name: "completion resource",
			e:    Event{Action: Completion, Caller: alice, Kind: Resource, Name: "every+demo://{id}", Decision: Deny, Reason: "no rule", Outcome: Refused},
			want: `{"level":"INFO","msg":"completion","log":"audit",` + aliceAt + `,"kind":"resource","uri":"every+demo://{id}","decision":"deny","reason":"no rule","duration_ms":0,"outcome":"refused"}`,
		},
		{
			name: "resource updated",
			e:    Event{Action: ResourceUpdated, Caller: alice, Kind: Resource, Name: "every+demo://a", Decision: Allow, Reason: "rule 4", Outcome: OK},
			want: `{"level":"INFO","msg":"resource_updated","log":"audit",` + aliceAt + `,"kind":"resource","uri":"every+demo://a","decision":"allow","reason":"rule 4","outcome":"ok"}`,
		},
		{
			name: "resource withheld",
			e:    Event{Action: ResourceWithheld, Caller: alice, Kind: Resource, Name: "secret+x", In: "tools/call " + strings.Repeat("A", 300), Decision: Deny, Reason: "no URI in the item"},
			want: `{"level":"INFO","msg":"resource_withheld","log":"audit",` + aliceAt + `,"kind":"resource","uri":"secret+x","in":"tools/call ` + strings.Repeat("A", 117) + `…[311 bytes]","decision":"deny","reason":"no URI in the item"}`,
		},
		{
			name: "tools list",
			e:    Event{Action: ToolsList, Kind: Tool, Decision: Filter},
			want: `{"level":"INFO","msg":"tools_list","log":"audit",` + nobodyAt + `,"decision":"filter","shown":0}`,
		},
		{
			name: "prompts list",
			e:    Event{Action: PromptsList, Caller: alice, Kind: Prompt, Decision: Filter, Shown: 2},
			want: `{"level":"INFO","msg":"prompts_list","log":"audit",` + aliceAt + `,"kind":"prompt","decision":"filter","shown":2}`,
		},
		{
			name: "resources list",
			e:    Event{Action: ResourcesList, Caller: alice, Kind: Resource, Decision: Filter, Shown: 5},
			want: `{"level":"INFO","msg":"resources_list","log":"audit",` + aliceAt + `,"kind":"resource","decision":"filter","shown":5}`,
		},
		{
			name: "resource templates list",
			e:    Event{Action: ResourceTemplatesList, Caller: ci, Kind: Resource, Decision: Filter},
			want: `{"level":"INFO","msg":"resource_templates_list","log":"audit",` + ciAt + `,"kind":"resource","decision":"filter","shown":0}`,
		},
		{
			name: "identity page",
			e:    Event{Action: IdentityPage, Caller: alice, Decision: Filter, Shown: 3, ShownPrompts: 2, ShownResources: 1},
			want: `{"level":"INFO","msg":"identity_page","log":"audit",` + aliceAt + `,"decision":"filter","shown":3,"shown_prompts":2,"shown_resources":1}`,
		},
		{
			name: "limit on a request",
			e:    Event{Action: Limit, Caller: alice, Decision: Deny, Limit: "mcp.limits.calls_per_identity", Path: "/mcp", Method: "POST"},
			want: `{"level":"WARN","msg":"limit","log":"audit",` + aliceAt + `,"decision":"deny","limit":"mcp.limits.calls_per_identity","path":"/mcp","method":"POST"}`,
		},
		{
			name: "limit on a subscription",
			e:    Event{Action: Limit, Caller: alice, Decision: Deny, Limit: "mcp.limits.subscriptions_per_session", Method: "resources/subscribe", URIs: 2},
			want: `{"level":"WARN","msg":"limit","log":"audit",` + aliceAt + `,"decision":"deny","limit":"mcp.limits.subscriptions_per_session","method":"resources/subscribe","uris":2}`,
		},
		{
			name: "limit on a resource subscribe",
			e:    Event{Action: Limit, Caller: alice, Kind: Resource, Name: "every+demo://a", Decision: Deny, Limit: "mcp.limits.subscriptions_per_identity"},
			want: `{"level":"WARN","msg":"limit","log":"audit",` + aliceAt + `,"decision":"deny","limit":"mcp.limits.subscriptions_per_identity","uri":"every+demo://a"}`,
		},
		{
			name: "limit on an answer",
			e:    Event{Action: Limit, Caller: ci, Kind: Tool, Name: "big", Decision: Deny, Limit: "mcp.limits.answer_bytes_per_identity"},
			want: `{"level":"WARN","msg":"limit","log":"audit",` + ciAt + `,"decision":"deny","limit":"mcp.limits.answer_bytes_per_identity","tool":"big"}`,
		},
		{
			name: "limit on a prompt answer",
			e:    Event{Action: Limit, Kind: Prompt, Name: "every__simple", Decision: Deny, Limit: "mcp.limits.answer_bytes_total"},
			want: `{"level":"WARN","msg":"limit","log":"audit",` + nobodyAt + `,"decision":"deny","limit":"mcp.limits.answer_bytes_total","prompt":"every__simple"}`,
		},
		{
			name: "session hijack",
			e:    Event{Action: SessionHijack, Caller: ci, Decision: Deny, Reason: "session of another identity", Path: "/mcp"},
			want: `{"level":"WARN","msg":"session_hijack","log":"audit",` + ciAt + `,"decision":"deny","reason":"session of another identity","path":"/mcp"}`,
		},
		{
			name: "cancel",
			e:    Event{Action: Cancel, Caller: alice, RequestID: "7", Decision: Deny, Reason: "request belongs to tag:ci,tag:x (ci)", CancelledOwn: 1},
			want: `{"level":"WARN","msg":"cancel","log":"audit",` + aliceAt + `,"request_id":"7","decision":"deny","reason":"request belongs to tag:ci,tag:x (ci)","cancelled_own":1}`,
		},
		// New with events: every string the caller chose is bounded,
		// a limit's path and method too.
		{
			name: "limit on a long unsafe path",
			e:    Event{Action: Limit, Caller: alice, Decision: Deny, Limit: "mcp.limits.calls_per_identity", Path: "/" + strings.Repeat("p", 200) + "\n", Method: "P\x1bOST"},
			want: `{"level":"WARN","msg":"limit","log":"audit",` + aliceAt + `,"decision":"deny","limit":"mcp.limits.calls_per_identity","path":"/` + strings.Repeat("p", 127) + `…[202 bytes]","method":"P�OST"}`,
		},
		{
			name: "cancel of a long request id",
			e:    Event{Action: Cancel, Caller: alice, RequestID: strings.Repeat("9", 129), Decision: Deny, Reason: "request belongs to bob"},
			want: `{"level":"WARN","msg":"cancel","log":"audit",` + aliceAt + `,"request_id":"` + strings.Repeat("9", 128) + `…[129 bytes]","decision":"deny","reason":"request belongs to bob","cancelled_own":0}`,
		},
		{
			name: "limit on a resource completion's answer names the template as uri",
			e:    Event{Action: Limit, Caller: alice, Kind: Resource, Name: "every+demo://{id}", Decision: Deny, Limit: "mcp.limits.answer_bytes_total"},
			want: `{"level":"WARN","msg":"limit","log":"audit",` + aliceAt + `,"decision":"deny","limit":"mcp.limits.answer_bytes_total","uri":"every+demo://{id}"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := line(t, tt.e); got != tt.want {
				t.Errorf("line\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestLogCallerGroup checks that the caller group reads exactly as it did
// when built with slog.Group: the cheaper construction changes no byte of
// the JSON line.
func TestLogCallerGroup(t *testing.T) {
	old := func(c Caller) slog.Attr {
		if !c.Identified {
			return slog.Group("caller", slog.String("user", ""), slog.String("node", ""), slog.Any("tags", []string{}))
		}
		tags := c.Tags
		if tags == nil {
			tags = []string{}
		}
		return slog.Group("caller", slog.String("user", c.User), slog.String("node", c.Node),
			slog.Any("tags", tags), slog.String("ip", c.IP.String()))
	}
	render := func(a slog.Attr) string {
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
	tests := []struct {
		name string
		c    Caller
	}{
		{name: "unidentified"},
		{name: "user", c: alice},
		{name: "tagged", c: ci},
		{name: "empty tags, no address", c: noIP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := render(tt.c.attr()), render(old(tt.c)); got != want {
				t.Errorf("line\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestLogLevels: refusals are warnings, the rest information; a logger
// that drops a level drops those events' lines and keeps the others.
func TestLogLevels(t *testing.T) {
	var buf bytes.Buffer
	l := NewLog(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	tests := []struct {
		name  string
		e     Event
		level string // "" when the line is dropped
	}{
		{name: "tool call", e: Event{Action: ToolCall, Kind: Tool, Name: "whoami", Decision: Allow, Outcome: OK}},
		{name: "tools list", e: Event{Action: ToolsList, Kind: Tool, Decision: Filter}},
		{name: "limit", e: Event{Action: Limit, Decision: Deny, Limit: "mcp.limits.sessions_total"}, level: "WARN"},
		{name: "session hijack", e: Event{Action: SessionHijack, Decision: Deny}, level: "WARN"},
		{name: "cancel", e: Event{Action: Cancel, Decision: Deny}, level: "WARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf.Reset()
			l.Record(context.Background(), tt.e)
			got := buf.String()
			switch {
			case tt.level == "" && got != "":
				t.Errorf("a dropped level was written: %s", got)
			case tt.level != "" && !strings.Contains(got, `"level":"`+tt.level+`","msg":"`+string(tt.e.Action)+`"`):
				t.Errorf("line %q, want level %s", got, tt.level)
			}
		})
	}
}
