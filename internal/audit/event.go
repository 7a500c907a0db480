// Package audit is the record of the host's access decisions: one Event,
// built where a decision is made (a tool call, a prompt, a resource read,
// a list the policy filtered, a request a limit refused, ...) and handed
// once to a Sink. The host's sinks are the JSON audit log (Log, here), the
// Prometheus metrics (internal/metrics) and the request's trace span
// (internal/server); each reads the typed Event, none reads another's
// output.
package audit

import (
	"net/netip"
	"time"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// Event is one access decision. Which fields an action uses is said on
// each; the others stay zero. Strings the caller chose (Name, In, Path,
// Method, RequestID) are as received: sinks that show them bound them.
type Event struct {
	// Action is what was decided on; it is the audit line's msg. Never
	// empty.
	Action Action
	// Caller is who asked; the zero Caller is a request with no identity.
	Caller Caller
	// Kind is what Name names (or, for a list, what was listed); empty
	// when the event concerns no tool, prompt or resource.
	Kind Kind
	// Name is the tool or prompt name, or the resource URI (a URI
	// template for a resource's completion), as the caller sent it; empty
	// when there is none.
	Name string
	// In names the request whose answer carried Name (ResourceWithheld,
	// e.g. "tools/call whoami"); empty otherwise.
	In string
	// Decision is the policy's answer. Never empty.
	Decision Decision
	// Reason says why: the policy's rule, or the host's ("no such tool",
	// the owner of a cancelled request). Empty for lists and limits.
	Reason string
	// Duration is how long the decided request ran (Timed actions); zero
	// for one that did not run.
	Duration time.Duration
	// Outcome is how the decided request ended; empty for actions that
	// have none (lists, withheld URIs, limits, session hijacks, cancels).
	Outcome Outcome
	// Err is the failure's text (a handler's error or panic, the limit of
	// a refused subscription, the message of a tool whose upstream is not
	// up); empty when there is none.
	Err string
	// Limit is the configuration key of the limit that refused the
	// request (Action Limit), e.g. mcp.limits.calls_per_identity; empty
	// otherwise.
	Limit string
	// Shown is how many items a list showed (tools on the identity page);
	// ShownPrompts and ShownResources are the identity page's other
	// counts. Zero otherwise.
	Shown, ShownPrompts, ShownResources int
	// Path is the refused HTTP request's path (Limit, SessionHijack);
	// empty when the refusal came later than the HTTP request.
	Path string
	// Method is the refused request's method: the HTTP method with Path,
	// or the JSON-RPC method of a subscription a limit refused (Limit);
	// empty otherwise.
	Method string
	// URIs is how many resource URIs the subscription a limit refused
	// named (Limit); zero otherwise.
	URIs int
	// RequestID is the JSON-RPC id another identity's cancel named
	// (Cancel); empty otherwise.
	RequestID string
	// CancelledOwn is how many of the caller's own requests with that id
	// the cancel did cancel (Cancel).
	CancelledOwn int
	// Credentials are the credentials the request used on the caller's
	// behalf (per-identity secrets, OAuth tokens), described, never their
	// values; nil when it used none.
	Credentials []Credential
}

// Action is what an Event decided on; its value is the audit line's msg.
type Action string

// The actions.
const (
	// ToolCall is a tools/call: refused, naming no tool, or run.
	ToolCall Action = "tool_call"
	// ToolsList is a tools/list (Decision Filter, Shown).
	ToolsList Action = "tools_list"
	// PromptGet is a prompts/get: refused, naming no prompt, or run.
	PromptGet Action = "prompt_get"
	// PromptsList is a prompts/list (Decision Filter, Shown).
	PromptsList Action = "prompts_list"
	// ResourceRead is a resources/read.
	ResourceRead Action = "resource_read"
	// ResourceSubscribe is a resources/subscribe.
	ResourceSubscribe Action = "resource_subscribe"
	// ResourceUpdated is one delivery of a subscribed resource's update,
	// decided again for the caller.
	ResourceUpdated Action = "resource_updated"
	// ResourceWithheld is a resource URI in an answer (In) that the
	// caller may not read, withheld from the answer.
	ResourceWithheld Action = "resource_withheld"
	// ResourcesList is a resources/list (Decision Filter, Shown).
	ResourcesList Action = "resources_list"
	// ResourceTemplatesList is a resources/templates/list (Decision
	// Filter, Shown).
	ResourceTemplatesList Action = "resource_templates_list"
	// Completion is a completion/complete of a prompt's or a resource
	// template's argument (Kind says which).
	Completion Action = "completion"
	// IdentityPage is a view of the identity page (Decision Filter,
	// Shown, ShownPrompts, ShownResources).
	IdentityPage Action = "identity_page"
	// Limit is a request refused by a limit (Decision Deny, Limit).
	Limit Action = "limit"
	// SessionHijack is a session ID presented by an identity it was not
	// minted for (Decision Deny).
	SessionHijack Action = "session_hijack"
	// Cancel is a cancel of another identity's request, refused (Decision
	// Deny).
	Cancel Action = "cancel"
	// TaskCreate is a task-augmented tools/call (MCP Tasks) of a bridged
	// tool (Kind Tool, Name): allowed and the task created, or answered at
	// once, or failed (Outcome). Refused ones are ToolCall events, as for
	// any call.
	TaskCreate Action = "task_create"
	// TaskGet, TaskResult and TaskCancel are a tasks/get, tasks/result
	// or tasks/cancel (Kind Tool, Name the task's tool; empty when the
	// task ID is not one the caller may present, Decision Deny).
	TaskGet    Action = "task_get"
	TaskResult Action = "task_result"
	TaskCancel Action = "task_cancel"
	// TasksList is a tasks/list (Decision Filter, Shown: the caller's
	// own tasks the policy still allows).
	TasksList Action = "tasks_list"
)

// Timed reports whether events of action a are of a request that runs, and
// so carry a Duration (zero when refused) and an Outcome.
func (a Action) Timed() bool {
	switch a {
	case ToolCall, PromptGet, ResourceRead, ResourceSubscribe, Completion:
		return true
	}
	return false
}

// Refusal reports whether events of action a refuse the request they
// belong to whatever else happens (a limit, a session hijack, a foreign
// cancel): the request then ends Refused unless an event says otherwise.
func (a Action) Refusal() bool {
	return a == Limit || a == SessionHijack || a == Cancel
}

// Kind is what an Event's Name names.
type Kind string

// The kinds.
const (
	Tool     Kind = "tool"
	Prompt   Kind = "prompt"
	Resource Kind = "resource"
)

// Decision is the policy's answer in an Event.
type Decision string

// The decisions.
const (
	// Allow: the request may proceed.
	Allow Decision = "allow"
	// Deny: the request is refused.
	Deny Decision = "deny"
	// Filter: a list was shown in part, each item decided (the per-item
	// decisions are not events).
	Filter Decision = "filter"
)

// Outcome is how a decided request ended.
type Outcome string

// The outcomes.
const (
	// OK: it ran and succeeded.
	OK Outcome = "ok"
	// Refused: the policy refused it (or it named nothing the caller may
	// see); nothing ran.
	Refused Outcome = "refused"
	// NotFound: allowed, but no provider has it.
	NotFound Outcome = "not_found"
	// ToolError: the tool ran and answered with isError.
	ToolError Outcome = "tool_error"
	// InputRequired: the tool asked the caller for input (one event per
	// round trip).
	InputRequired Outcome = "input_required"
	// URLRequired: a bridged upstream refused the call until the caller
	// opens URLs (URLElicitationRequiredError, passed to the caller).
	URLRequired Outcome = "url_required"
	// Error: it failed (Err says how).
	Error Outcome = "error"
	// Panic: its handler panicked (Err holds the value).
	Panic Outcome = "panic"
	// Cancelled: the caller cancelled it or went away before it ended.
	Cancelled Outcome = "cancelled"
	// Withheld: every content of a read was withheld from the caller.
	Withheld Outcome = "withheld"
	// LimitReached: a limit refused it after the decision (Err names the
	// limit).
	LimitReached Outcome = "limit"
)

// Caller is who made a decided request, as the audit shows them.
type Caller struct {
	// Identified is false for a request that had no identity; the other
	// fields are then empty.
	Identified bool
	// User is the caller's login; empty for a tagged node.
	User string
	// Node is the caller's node name.
	Node string
	// Tags are the node's tags; nil for a user's node.
	Tags []string
	// IP is the caller's tailnet address.
	IP netip.Addr
}

// CallerOf returns the Caller of identity id; nil is the zero Caller.
func CallerOf(id *identity.Identity) Caller {
	if id == nil {
		return Caller{}
	}
	return Caller{Identified: true, User: id.LoginName, Node: id.NodeName, Tags: id.Tags, IP: id.TailnetIP}
}
