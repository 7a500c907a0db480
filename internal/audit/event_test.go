package audit

import (
	"context"
	"net/netip"
	"reflect"
	"testing"

	"github.com/tsmcp/tsmcp/internal/identity"
)

func TestCallerOf(t *testing.T) {
	ip := netip.MustParseAddr("100.64.0.1")
	tests := []struct {
		name string
		id   *identity.Identity
		want Caller
	}{
		{name: "no identity"},
		{
			name: "user",
			id:   &identity.Identity{LoginName: "alice@example.com", DisplayName: "Alice", NodeName: "laptop", NodeID: "n1", TailnetIP: ip},
			want: Caller{Identified: true, User: "alice@example.com", Node: "laptop", IP: ip},
		},
		{
			name: "tagged",
			id:   &identity.Identity{NodeName: "ci", Tags: []string{"tag:ci"}, TailnetIP: ip, Shared: true},
			want: Caller{Identified: true, Node: "ci", Tags: []string{"tag:ci"}, IP: ip},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CallerOf(tt.id); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("CallerOf = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestActions(t *testing.T) {
	tests := []struct {
		name           string
		a              Action
		timed, refusal bool
	}{
		{name: "tool call", a: ToolCall, timed: true},
		{name: "prompt get", a: PromptGet, timed: true},
		{name: "resource read", a: ResourceRead, timed: true},
		{name: "resource subscribe", a: ResourceSubscribe, timed: true},
		{name: "completion", a: Completion, timed: true},
		{name: "resource updated", a: ResourceUpdated},
		{name: "resource withheld", a: ResourceWithheld},
		{name: "tools list", a: ToolsList},
		{name: "prompts list", a: PromptsList},
		{name: "resources list", a: ResourcesList},
		{name: "resource templates list", a: ResourceTemplatesList},
		{name: "identity page", a: IdentityPage},
		{name: "limit", a: Limit, refusal: true},
		{name: "session hijack", a: SessionHijack, refusal: true},
		{name: "cancel", a: Cancel, refusal: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Timed(); got != tt.timed {
				t.Errorf("%s.Timed() = %v, want %v", tt.a, got, tt.timed)
			}
			if got := tt.a.Refusal(); got != tt.refusal {
				t.Errorf("%s.Refusal() = %v, want %v", tt.a, got, tt.refusal)
			}
		})
	}
}

// recorder is a Sink that keeps what it receives, tagged with its name.
type recorder struct {
	name string
	got  *[]string
}

func (r recorder) Record(_ context.Context, e Event) {
	*r.got = append(*r.got, r.name+":"+string(e.Action)+":"+e.Name)
}

func TestSinks(t *testing.T) {
	var got []string
	a, b := recorder{"a", &got}, recorder{"b", &got}
	tests := []struct {
		name  string
		sinks Sinks
		want  []string
	}{
		{name: "none"},
		{name: "one", sinks: Sinks{a}, want: []string{"a:tool_call:whoami"}},
		{name: "in order", sinks: Sinks{b, a}, want: []string{"b:tool_call:whoami", "a:tool_call:whoami"}},
		{name: "nil skipped", sinks: Sinks{a, nil, b}, want: []string{"a:tool_call:whoami", "b:tool_call:whoami"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			tt.sinks.Record(context.Background(), Event{Action: ToolCall, Kind: Tool, Name: "whoami", Decision: Allow})
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
