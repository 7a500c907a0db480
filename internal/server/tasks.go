package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/sessionid"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// MCP Tasks (the 2025-11-25 tasks utility) of bridged tools, per caller.
//
// mcp-go's own task runtime cannot serve a bridge: it keeps tasks per
// process, isolates them only by session, and sends every task's status
// to every client. So the host answers the task methods itself, before
// mcp-go, on Streamable HTTP sessions (serveTasks): a task-augmented
// tools/call of a bridged tool, tasks/get, tasks/result, tasks/cancel and
// tasks/list. The upstream runs the task (internal/upstream, TaskProvider);
// the host decides, audits and names it:
//
//   - a task ID clients see is sealed for the identity that created the
//     task (sessionid.SealTask, with mcp.session_key): it carries the
//     upstream, the tool and the upstream's own task ID, so any replica
//     can check it without state; an ID presented by another identity,
//     forged or tampered with is answered exactly as an unknown task;
//   - the tool must be allowed when the task is created (the tools/call
//     decision: a refused call is refused as any call is) and again at
//     every task request (tasks/result above all: policy may have changed
//     since), and a refused one is an unknown task;
//   - the upstream's status notifications of a task go to the session
//     that created it, and nowhere else;
//   - tasks/list lists the caller's own tasks created through this host.
//
// The mcp-go path never runs a task: the task parameter of a call it
// serves is dropped (dropTaskParam), so a tool whose task support is
// "required" is refused there as mcp-go refuses a call without one. That
// is the answer on the legacy SSE transport and in the stateless protocol
// (2026-07-28), whose Tasks extension is not bridged (docs/bridging.md).

// TaskProvider is a provider whose tools can run as tasks (the bridged
// upstreams). Task IDs it takes and returns are the upstream's own.
type TaskProvider interface {
	// CreateTask forwards a task-augmented call of the tool clients know
	// as name for the caller in ctx; it returns the upstream holding the
	// task and the task, or the call's result when the upstream answered
	// at once. status gets the upstream's status notifications of the
	// task. tools.ErrNotFound when name is not the provider's.
	CreateTask(ctx context.Context, name string, args json.RawMessage, task mcp.TaskParams, status func(mcp.Task)) (up string, created *mcp.Task, res *mcp.CallToolResult, err error)
	// TaskStatus forwards tasks/get or tasks/cancel (method) of task id
	// held by upstream up; ErrTaskNotFound-like errors are reported by
	// IsTaskNotFound.
	TaskStatus(ctx context.Context, up, method, id string) (mcp.Task, error)
	// TaskResult forwards tasks/result of task id held by up.
	TaskResult(ctx context.Context, up, id string) (*mcp.CallToolResult, error)
	// IsTaskNotFound reports whether err says the task is unknown.
	IsTaskNotFound(err error) bool
}

// maxTasksPerIdentity bounds the tasks the host remembers per identity
// for tasks/list; beyond it the oldest is forgotten (its ID still works).
const maxTasksPerIdentity = 256

// taskNotFound is the answer to a task request naming a task the caller
// may not see, whatever the reason: unknown, another identity's, forged,
// refused by policy. (The spec's error for an unknown task.)
const taskNotFound = "task not found"

// taskRef is what a task ID carries: the upstream holding the task, the
// tool (as clients know it) and the upstream's own ID of the task.
type taskRef struct {
	upstream, tool, id string
}

// encode is the payload sealed in the task ID: each field length-prefixed.
func (r taskRef) encode() []byte {
	var b []byte
	for _, f := range []string{r.upstream, r.tool, r.id} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// decodeTaskRef reverses encode.
func decodeTaskRef(b []byte) (taskRef, bool) {
	var f [3]string
	for i := range f {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return taskRef{}, false
		}
		f[i], b = string(b[k:k+int(n)]), b[k+int(n):]
	}
	return taskRef{upstream: f[0], tool: f[1], id: f[2]}, len(b) == 0
}

// taskHost seals task IDs and remembers each identity's tasks for
// tasks/list.
type taskHost struct {
	ids *sessionid.Minter // immutable

	mu    sync.Mutex // guards the field below
	owned map[string][]ownedTask
}

// ownedTask is a task one identity created through this host.
type ownedTask struct {
	id  string // the ID the client knows
	ref taskRef
}

func newTaskHost(key []byte) *taskHost {
	return &taskHost{ids: sessionid.New(key), owned: map[string][]ownedTask{}}
}

// ownerKey keys an identity's tasks by exactly what identity.Equal
// compares.
func ownerKey(id *identity.Identity) string {
	return fmt.Sprintf("%q/%q/%q", id.NodeID, id.LoginName, id.Tags)
}

// remember records a task owner created, for tasks/list.
func (th *taskHost) remember(owner *identity.Identity, t ownedTask) {
	k := ownerKey(owner)
	th.mu.Lock()
	defer th.mu.Unlock()
	l := append(th.owned[k], t)
	if len(l) > maxTasksPerIdentity {
		l = slices.Clone(l[len(l)-maxTasksPerIdentity:])
	}
	th.owned[k] = l
}

// forget drops a task the upstream no longer knows.
func (th *taskHost) forget(owner *identity.Identity, id string) {
	k := ownerKey(owner)
	th.mu.Lock()
	defer th.mu.Unlock()
	l := slices.DeleteFunc(th.owned[k], func(t ownedTask) bool { return t.id == id })
	if len(l) == 0 {
		delete(th.owned, k)
	} else {
		th.owned[k] = l
	}
}

// tasksOf returns owner's remembered tasks, oldest first.
func (th *taskHost) tasksOf(owner *identity.Identity) []ownedTask {
	th.mu.Lock()
	defer th.mu.Unlock()
	return slices.Clone(th.owned[ownerKey(owner)])
}

// taskProviders are the providers whose tools can run as tasks.
func (s *Server) taskProviders() []TaskProvider {
	var out []TaskProvider
	for _, p := range s.providers {
		if tp, ok := p.(TaskProvider); ok {
			out = append(out, tp)
		}
	}
	return out
}

// tasksServedKey marks the context of a request to the Streamable HTTP
// endpoint, where the host serves tasks (see advertiseTasks).
type tasksServedKey struct{}

// isTaskMethod reports whether method is one the host answers for tasks.
func isTaskMethod(method string) bool {
	switch mcp.MCPMethod(method) {
	case mcp.MethodTasksGet, mcp.MethodTasksResult, mcp.MethodTasksList, mcp.MethodTasksCancel:
		return true
	}
	return false
}

// serveTasks answers the task requests of a session on /mcp (see the
// comment at the top); everything else goes to next.
func (s *Server) serveTasks(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(context.WithValue(r.Context(), tasksServedKey{}, true))
		sid := r.Header.Get(server.HeaderKeySessionID)
		if r.Method != http.MethodPost || sid == "" {
			next.ServeHTTP(w, r)
			return
		}
		p := peekRPC(r)
		method := p.Method()
		if !p.Single() || p.ID() == nil || p.Modern(r.Header.Get(mcp.HeaderProtocolVersion)) ||
			!isTaskMethod(method) && method != string(mcp.MethodToolsCall) {
			next.ServeHTTP(w, r)
			return
		}
		body := bufferedBody(r)
		if method == string(mcp.MethodToolsCall) && !bytes.Contains(body, []byte(`"task"`)) {
			next.ServeHTTP(w, r) // a plain call: no need to decode it here
			return
		}
		var req struct {
			Params json.RawMessage `json:"params"`
		}
		if json.Unmarshal(body, &req) != nil {
			next.ServeHTTP(w, r) // mcp-go answers what does not decode
			return
		}
		caller, _ := identity.FromContext(r.Context())
		if owner := s.sessions.Owner(sid); caller == nil || owner == nil || !owner.Equal(caller) {
			// Not a session of the caller's this host serves: mcp-go
			// refuses it.
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer context.AfterFunc(s.callCtx, cancel)()
		var result any
		var rpcErr *mcp.JSONRPCErrorDetails
		if method == string(mcp.MethodToolsCall) {
			var handled bool
			result, rpcErr, handled = s.createTask(ctx, caller, sid, req.Params)
			if !handled {
				next.ServeHTTP(w, r)
				return
			}
		} else {
			result, rpcErr = s.taskRequest(ctx, caller, method, req.Params)
		}
		writeRPC(w, p.ID(), result, rpcErr)
	})
}

// writeRPC writes the JSON-RPC response with id: result, or rpcErr when
// not nil.
func writeRPC(w http.ResponseWriter, id json.RawMessage, result any, rpcErr *mcp.JSONRPCErrorDetails) {
	resp := struct {
		JSONRPC string                   `json:"jsonrpc"`
		ID      json.RawMessage          `json:"id"`
		Result  any                      `json:"result,omitempty"`
		Error   *mcp.JSONRPCErrorDetails `json:"error,omitempty"`
	}{JSONRPC: mcp.JSONRPC_VERSION, ID: id, Result: result, Error: rpcErr}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(resp)
}

// rpcError is a JSON-RPC error of code with message.
func rpcError(code int, message string) *mcp.JSONRPCErrorDetails {
	return &mcp.JSONRPCErrorDetails{Code: code, Message: message}
}

// errTaskNotFound is the one answer to a task the caller may not see.
var errTaskNotFound = rpcError(mcp.INVALID_PARAMS, taskNotFound)

// createTask serves a tools/call that carries a task parameter: for a
// bridged tool the caller may call, the upstream runs it as a task.
// handled is false when mcp-go should answer the call as any other: no
// task parameter (or one that does not decode), a tool the policy refuses (refused as any call is, with
// the same audit line) or that no TaskProvider serves.
func (s *Server) createTask(ctx context.Context, caller *identity.Identity, sid string, raw json.RawMessage) (result any, rpcErr *mcp.JSONRPCErrorDetails, handled bool) {
	var params struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
		// Task is forwarded as decoded: only what the spec defines.
		Task *mcp.TaskParams `json:"task"`
	}
	if json.Unmarshal(raw, &params) != nil || params.Task == nil {
		return nil, nil, false // mcp-go answers it (and drops the task)
	}
	d := s.policy.Load().Decide(caller, params.Name)
	if !d.Allow {
		return nil, nil, false
	}
	done := s.inflight.begin()
	defer done()
	ev := audit.Event{Action: audit.TaskCreate, Caller: audit.CallerOf(caller), Kind: audit.Tool, Name: params.Name,
		Decision: audit.Allow, Reason: d.Reason, Outcome: audit.OK}
	defer func() {
		if handled {
			s.audit.Record(ctx, ev)
		}
	}()
	news := &taskNews{send: func(ot ownedTask, t mcp.Task) { s.taskStatus(caller, sid, ot, t) }}
	for _, tp := range s.taskProviders() {
		up, created, res, err := tp.CreateTask(ctx, params.Name, params.Arguments, *params.Task, news.status)
		switch {
		case errors.Is(err, tools.ErrNotFound):
			continue
		case err != nil:
			ev.Outcome, ev.Err = audit.Error, err.Error()
			return nil, rpcError(mcp.INTERNAL_ERROR, errToolFailed.Error()), true
		case res != nil:
			if kept, changed := s.allowedContent(ctx, caller, "tools/call "+params.Name, res.Content); changed {
				cp := *res
				cp.Content = kept
				res = &cp
			}
			if res.IsError {
				ev.Outcome = audit.ToolError
			}
			if err := s.holdAnswer(ctx, toolResultSize(res), audit.Event{Kind: audit.Tool, Name: params.Name}); err != nil {
				ev.Outcome, ev.Err = audit.Error, answerRefused
				return nil, rpcError(mcp.INTERNAL_ERROR, err.Error()), true
			}
			return res, nil, true
		}
		ref := taskRef{upstream: up, tool: params.Name, id: created.TaskId}
		id, ok := s.tasks.ids.SealTask(caller, ref.encode())
		if !ok {
			ev.Outcome, ev.Err = audit.Error, "the upstream's task ID is too long to carry"
			return nil, rpcError(mcp.INTERNAL_ERROR, errToolFailed.Error()), true
		}
		ot := ownedTask{id: id, ref: ref}
		s.tasks.remember(caller, ot)
		news.created(ot)
		t := *created
		t.TaskId = id
		return mcp.NewCreateTaskResult(t), nil, true
	}
	return nil, nil, false
}

// taskNews holds a task's status notifications until the task has the ID
// the client knows: the upstream may report a quick task's progress
// before its creation is answered.
type taskNews struct {
	send func(ownedTask, mcp.Task)

	mu     sync.Mutex // guards the fields below
	target *ownedTask // nil until created
	early  []mcp.Task
}

// maxEarlyNews bounds the notifications held for a task being created.
const maxEarlyNews = 8

// status takes one of the upstream's status notifications of the task.
func (n *taskNews) status(t mcp.Task) {
	n.mu.Lock()
	target := n.target
	if target == nil && len(n.early) < maxEarlyNews {
		n.early = append(n.early, t)
	}
	n.mu.Unlock()
	if target != nil {
		n.send(*target, t)
	}
}

// created names the task and sends what came before.
func (n *taskNews) created(ot ownedTask) {
	n.mu.Lock()
	n.target = &ot
	early := n.early
	n.early = nil
	n.mu.Unlock()
	for _, t := range early {
		n.send(ot, t)
	}
}

// taskStatus sends an upstream's status notification of a task to the
// session that created it, under the ID the client knows, while the
// policy still allows the task's tool. (It runs on the upstream session's
// reader: SendNotificationToSpecificClient does not block.)
func (s *Server) taskStatus(owner *identity.Identity, sid string, ot ownedTask, t mcp.Task) {
	if !s.policy.Load().Decide(owner, ot.ref.tool).Allow {
		return
	}
	t.TaskId = ot.id
	b, err := json.Marshal(t)
	var params map[string]any
	if err == nil {
		err = json.Unmarshal(b, &params)
	}
	if err == nil {
		err = s.mcp.SendNotificationToSpecificClient(sid, mcp.MethodNotificationTasksStatus, params)
	}
	if err != nil {
		s.log.Debug("task status not delivered", "err", err)
	}
}

// openTask returns what the task ID carries when the caller may present
// it; ok false answers as an unknown task.
func (s *Server) openTask(caller *identity.Identity, id string) (taskRef, bool) {
	payload, ok := s.tasks.ids.OpenTask(id, caller)
	if !ok {
		return taskRef{}, false
	}
	return decodeTaskRef(payload)
}

// taskActions are the audit actions of the task methods.
var taskActions = map[string]audit.Action{
	string(mcp.MethodTasksGet):    audit.TaskGet,
	string(mcp.MethodTasksResult): audit.TaskResult,
	string(mcp.MethodTasksCancel): audit.TaskCancel,
}

// taskRequest serves tasks/get, tasks/result, tasks/cancel and
// tasks/list for caller.
func (s *Server) taskRequest(ctx context.Context, caller *identity.Identity, method string, raw json.RawMessage) (any, *mcp.JSONRPCErrorDetails) {
	if method == string(mcp.MethodTasksList) {
		return s.listTasks(ctx, caller), nil
	}
	var params struct {
		TaskID string `json:"taskId"`
	}
	_ = json.Unmarshal(raw, &params)
	ev := audit.Event{Action: taskActions[method], Caller: audit.CallerOf(caller), Kind: audit.Tool}
	defer func() { s.audit.Record(ctx, ev) }()
	ref, ok := s.openTask(caller, params.TaskID)
	if !ok {
		ev.Decision, ev.Reason, ev.Outcome = audit.Deny, "not a task ID of the caller's", audit.Refused
		return nil, errTaskNotFound
	}
	ev.Name = ref.tool
	d := s.policy.Load().Decide(caller, ref.tool)
	ev.Decision, ev.Reason = audit.Allow, d.Reason
	if !d.Allow {
		ev.Decision, ev.Outcome = audit.Deny, audit.Refused
		return nil, errTaskNotFound
	}
	done := s.inflight.begin()
	defer done()
	for _, tp := range s.taskProviders() {
		var res any
		var err error
		if method == string(mcp.MethodTasksResult) {
			var r *mcp.CallToolResult
			if r, err = tp.TaskResult(ctx, ref.upstream, ref.id); err == nil {
				out := s.taskResult(ctx, caller, ref, params.TaskID, r)
				if r.IsError {
					ev.Outcome = audit.ToolError
				}
				if err := s.holdAnswer(ctx, toolResultSize(out), audit.Event{Kind: audit.Tool, Name: ref.tool}); err != nil {
					ev.Outcome, ev.Err = audit.Error, answerRefused
					return nil, rpcError(mcp.INTERNAL_ERROR, err.Error())
				}
				res = out
			}
		} else {
			var t mcp.Task
			if t, err = tp.TaskStatus(ctx, ref.upstream, method, ref.id); err == nil {
				t.TaskId = params.TaskID
				res = t
			}
		}
		switch {
		case err == nil:
			if ev.Outcome == "" {
				ev.Outcome = audit.OK
			}
			return res, nil
		case tp.IsTaskNotFound(err):
			continue
		case ctx.Err() != nil:
			ev.Outcome = audit.Cancelled
		default:
			ev.Outcome, ev.Err = audit.Error, err.Error()
		}
		return nil, rpcError(mcp.INTERNAL_ERROR, errToolFailed.Error())
	}
	ev.Outcome = audit.NotFound
	s.tasks.forget(caller, params.TaskID)
	return nil, errTaskNotFound
}

// taskResult is a task's result as the caller gets it: resource URIs the
// caller may not read withheld, the related-task metadata naming the ID
// the client knows.
func (s *Server) taskResult(ctx context.Context, caller *identity.Identity, ref taskRef, clientID string, r *mcp.CallToolResult) *mcp.CallToolResult {
	cp := *r
	if kept, changed := s.allowedContent(ctx, caller, "tasks/result "+ref.tool, r.Content); changed {
		cp.Content = kept
	}
	meta := &mcp.Meta{AdditionalFields: map[string]any{}}
	if r.Meta != nil {
		for k, v := range r.Meta.AdditionalFields {
			meta.AdditionalFields[k] = v
		}
		meta.ProgressToken = r.Meta.ProgressToken
	}
	meta.AdditionalFields[mcp.RelatedTaskMetaKey] = mcp.RelatedTaskMeta(clientID)
	cp.Meta = meta
	return &cp
}

// listTasks serves tasks/list: the caller's own tasks created through
// this host whose tools the policy still allows, as their upstreams
// report them now; a task its upstream no longer knows is forgotten.
func (s *Server) listTasks(ctx context.Context, caller *identity.Identity) mcp.ListTasksResult {
	out := mcp.ListTasksResult{Tasks: []mcp.Task{}}
	policy := s.policy.Load()
	for _, ot := range s.tasks.tasksOf(caller) {
		if !policy.Decide(caller, ot.ref.tool).Allow {
			continue
		}
		for _, tp := range s.taskProviders() {
			t, err := tp.TaskStatus(ctx, ot.ref.upstream, string(mcp.MethodTasksGet), ot.ref.id)
			if err == nil {
				t.TaskId = ot.id
				out.Tasks = append(out.Tasks, t)
				break
			}
			if tp.IsTaskNotFound(err) {
				s.tasks.forget(caller, ot.id)
				continue
			}
			s.log.Debug("tasks/list: a task's status is unavailable", "tool", bounded(ot.ref.tool), "err", err)
			break
		}
	}
	s.audit.Record(ctx, audit.Event{Action: audit.TasksList, Caller: audit.CallerOf(caller), Kind: audit.Tool,
		Decision: audit.Filter, Shown: len(out.Tasks)})
	return out
}

// advertiseTasks declares the tasks capability in the answer to an
// initialize on /mcp (where serveTasks answers the task methods) that
// settled on 2025-11-25, when a provider's tools can run as tasks.
func (s *Server) advertiseTasks(ctx context.Context, _ any, _ *mcp.InitializeRequest, res *mcp.InitializeResult) {
	if res == nil || ctx.Value(tasksServedKey{}) == nil || !tasksProtocol(res.ProtocolVersion) || len(s.taskProviders()) == 0 {
		return
	}
	res.Capabilities.Tasks = mcp.NewTasksCapability()
}

// tasksProtocol reports whether protocol version v has the tasks utility
// the host serves: 2025-11-25 (earlier versions have no tasks; 2026-07-28
// replaced it with the Tasks extension).
func tasksProtocol(v string) bool { return v == mcp.ProtocolVersion20251125 }

// hideTaskOnly is a tool filter: where the host serves no tasks (the
// legacy SSE transport, the stateless protocol), a tool that runs only as
// a task (execution.taskSupport "required") could never be called, so it
// is not offered there; a call of it is then "not found", as its listing
// says. (A Streamable HTTP session of a version before 2025-11-25 is
// offered it as the upstream offers it to such a client: its call fails
// as the upstream's would.)
func (s *Server) hideTaskOnly(ctx context.Context, in []mcp.Tool) []mcp.Tool {
	if ctx.Value(tasksServedKey{}) != nil && !server.IsModernRequest(ctx) {
		return in
	}
	return slices.DeleteFunc(slices.Clone(in), func(t mcp.Tool) bool {
		return t.Execution != nil && t.Execution.TaskSupport == mcp.TaskSupportRequired
	})
}

// dropTaskParam is a tools/call hook: a call mcp-go serves never runs as
// mcp-go's own task (see the comment at the top).
func dropTaskParam(_ context.Context, _ any, req *mcp.CallToolRequest) {
	req.Params.Task = nil
}
