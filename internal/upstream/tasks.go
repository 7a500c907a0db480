package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/safetext"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// MCP Tasks (the 2025-11-25 tasks utility) through the bridge. The host
// (internal/server) decides every request and owns the task IDs clients
// see; here a task-augmented tools/call goes to the upstream session that
// serves the caller (the shared one, or the caller's own child), and
// tasks/get, tasks/result and tasks/cancel of an upstream task go to that
// same session. The upstream's notifications/tasks/status of a task reach
// the callback given when it was created, and nothing else.

// ErrTaskNotFound is the error of a task request the upstream answered
// as for an unknown task (-32602), or that has no upstream to go to.
var ErrTaskNotFound = errors.New("task not found")

// maxTaskRoutes bounds the tasks one upstream session routes status
// notifications for; beyond it the oldest route is dropped (its task's
// notifications then go to the log only).
const maxTaskRoutes = 4096

// maxStatusMessage bounds an upstream task's statusMessage, in bytes.
const maxStatusMessage = 1024

// taskRequests numbers the task requests sent upstream.
var taskRequests atomic.Int64

// CreateTask forwards a task-augmented call of the tool clients know as
// name, with the caller's arguments (raw, as the caller sent them) and
// task parameters, to the session that serves the caller in ctx. It
// returns the upstream's name and either the task it created (its ID the
// upstream's own) or, when the upstream answered the call at once (as it
// may for a tool whose task support is optional), the call's result with
// its resource URIs rewritten as for a call. status is called, from the
// session's reader, with each notifications/tasks/status the upstream
// sends about the task. tools.ErrNotFound when no upstream serves name.
func (p *Provider) CreateTask(ctx context.Context, name string, args json.RawMessage, task mcp.TaskParams, status func(mcp.Task)) (up string, created *mcp.Task, res *mcp.CallToolResult, err error) {
	u, orig := p.toolOwner(name)
	if u == nil {
		return "", nil, nil, tools.ErrNotFound
	}
	params := map[string]any{"name": orig, "task": task}
	if a := bytes.TrimSpace(args); len(a) > 0 && !bytes.Equal(a, []byte("null")) {
		params["arguments"] = args
	}
	err = u.onSession(ctx, func(ctx context.Context, sess *session) error {
		raw, err := sess.taskRequest(ctx, string(mcp.MethodToolsCall), params)
		if err != nil {
			return err
		}
		var answer struct {
			Task *mcp.Task `json:"task"`
		}
		if err := json.Unmarshal(raw, &answer); err != nil {
			return fmt.Errorf("decoding the result: %w", err)
		}
		if answer.Task == nil {
			r, err := mcp.ParseCallToolResult(&raw)
			if err != nil {
				return fmt.Errorf("decoding the result: %w", err)
			}
			res = u.rewriteToolResult(r)
			return nil
		}
		if answer.Task.TaskId == "" {
			return errors.New("the upstream created a task without an ID")
		}
		t := boundTask(*answer.Task)
		created = &t
		sess.tasks.add(t.TaskId, status, u.holdForTask(ctx, t))
		return nil
	})
	if err != nil {
		return "", nil, nil, fmt.Errorf("upstream %s: tools/call %s as a task: %w", u.name, orig, err)
	}
	return u.name, created, res, nil
}

// maxTaskHold bounds how long a per-identity child is held for a task
// without a TTL, or whose TTL is longer.
const maxTaskHold = time.Hour

// holdForTask keeps the caller's per-identity child (the one serving ctx)
// from being reaped as idle while task t runs on it: until the task is
// seen ended (a status notification, or a tasks/get, tasks/cancel or
// tasks/result answer) or its TTL (at most maxTaskHold) passed. It returns
// the release, idempotent; nil for a shared upstream.
func (u *upstream) holdForTask(ctx context.Context, t mcp.Task) (release func()) {
	if !u.perIdentity {
		return nil
	}
	_, rel, err := u.acquireChild(ctx)
	if err != nil {
		return nil // the child was just used: it is not reaped before idle_timeout
	}
	hold := maxTaskHold
	if t.TTL != nil && *t.TTL > 0 && time.Duration(*t.TTL)*time.Millisecond < hold {
		hold = time.Duration(*t.TTL) * time.Millisecond
	}
	var once sync.Once
	timer := time.AfterFunc(hold, func() { once.Do(rel) })
	return func() {
		timer.Stop()
		once.Do(rel)
	}
}

// TaskStatus forwards tasks/get or tasks/cancel (method) of the upstream's
// task id to up's session of the caller in ctx and returns the
// task's state. ErrTaskNotFound when the upstream does not know it.
func (p *Provider) TaskStatus(ctx context.Context, up, method, id string) (mcp.Task, error) {
	if method != string(mcp.MethodTasksGet) && method != string(mcp.MethodTasksCancel) {
		return mcp.Task{}, fmt.Errorf("not a task status method: %q", method)
	}
	var t mcp.Task
	err := p.onTaskSession(ctx, up, true, func(ctx context.Context, _ *upstream, sess *session) error {
		raw, err := sess.taskRequest(ctx, method, map[string]any{"taskId": id})
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &t); err != nil {
			return fmt.Errorf("decoding the result: %w", err)
		}
		if t.TaskId != id {
			return errors.New("the upstream answered for another task")
		}
		t = boundTask(t)
		if t.Status.IsTerminal() {
			sess.tasks.ended(id)
		}
		return nil
	})
	return t, err
}

// TaskResult forwards tasks/result of the upstream's task id to
// up's session of the caller in ctx; it waits, as tasks/result does,
// until the task ends (bounded by ctx only: a task may run longer than
// the upstream's timeout). The result's resource URIs are rewritten as
// for a call. ErrTaskNotFound when the upstream does not know the task.
func (p *Provider) TaskResult(ctx context.Context, up, id string) (*mcp.CallToolResult, error) {
	var res *mcp.CallToolResult
	err := p.onTaskSession(ctx, up, false, func(ctx context.Context, u *upstream, sess *session) error {
		raw, err := sess.taskRequest(ctx, string(mcp.MethodTasksResult), map[string]any{"taskId": id})
		if err != nil {
			return err
		}
		r, err := mcp.ParseCallToolResult(&raw)
		if err != nil {
			return fmt.Errorf("decoding the result: %w", err)
		}
		res = u.rewriteToolResult(r)
		sess.tasks.ended(id) // tasks/result answers once the task ended
		return nil
	})
	return res, err
}

// IsTaskNotFound reports whether err says the upstream does not know the
// task (ErrTaskNotFound).
func (p *Provider) IsTaskNotFound(err error) bool { return errors.Is(err, ErrTaskNotFound) }

// onTaskSession runs f with the session of the upstream named name that
// serves the caller in ctx (held until f returns), under the upstream's
// timeout when timed. Errors name the upstream; ErrTaskNotFound stays
// recognisable.
func (p *Provider) onTaskSession(ctx context.Context, name string, timed bool, f func(context.Context, *upstream, *session) error) error {
	var u *upstream
	for _, up := range p.ups {
		if up.name == name {
			u = up
		}
	}
	if u == nil {
		return ErrTaskNotFound
	}
	sup, release, err := u.supervisorFor(ctx)
	if err != nil {
		return err
	}
	defer release()
	if timed {
		var cancel context.CancelFunc
		ctx, cancel = u.requestContext(ctx)
		defer cancel()
	}
	sess, err := sup.Session(ctx)
	if err != nil {
		return fmt.Errorf("upstream %s: %w", u.name, err)
	}
	if err := f(ctx, u, sess); err != nil {
		return fmt.Errorf("upstream %s: %w", u.name, err)
	}
	return nil
}

// toolOwner returns the upstream serving the tool clients know as name,
// by the same rules as the merged tool list (mergeTools), and its own
// name for it; nil when none does.
func (p *Provider) toolOwner(name string) (*upstream, string) {
	c := p.newClaims("tool", p.nameNamespaceOf, p.opts.ReservedTools, false)
	for _, u := range p.ups {
		for _, t := range u.currentTools() {
			if c.keep(u, t.Tool.Name) && t.Tool.Name == name {
				if u.unprefixed {
					return u, name
				}
				return u, strings.TrimPrefix(name, u.name+nameSep)
			}
		}
	}
	return nil, ""
}

// taskRequest sends one request to the upstream and returns its raw
// result; an error answer of -32602 (Invalid params: the spec's answer
// for an unknown task) is ErrTaskNotFound.
func (s *session) taskRequest(ctx context.Context, method string, params map[string]any) (json.RawMessage, error) {
	req := transport.JSONRPCRequest{
		JSONRPC: mcp.JSONRPC_VERSION,
		ID:      mcp.NewRequestId(fmt.Sprintf("tsmcp-task-%d", taskRequests.Add(1))),
		Method:  method,
		Params:  params,
	}
	resp, err := s.Client().GetTransport().SendRequest(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	if resp.Error != nil {
		if resp.Error.Code == mcp.INVALID_PARAMS && method != string(mcp.MethodToolsCall) {
			return nil, ErrTaskNotFound
		}
		return nil, fmt.Errorf("%s: %w", method, resp.Error.AsError())
	}
	return resp.Result, nil
}

// boundTask returns t with its statusMessage bounded and stripped of
// control characters.
func boundTask(t mcp.Task) mcp.Task {
	t.StatusMessage = safetext.Show(t.StatusMessage, maxStatusMessage)
	for _, s := range []*string{&t.CreatedAt, &t.LastUpdatedAt} {
		if len(*s) > 64 || !utf8.ValidString(*s) {
			*s = ""
		}
	}
	return t
}

// taskRoutes take an upstream session's notifications/tasks/status to
// the callback of the task they name (see CreateTask), and release what
// is held for the task once it ends. A notification that arrives before
// its task's route (the upstream may report a quick task's progress
// before the tools/call that created it is answered) is kept, a bounded
// number of them, and handed over when the route is added.
type taskRoutes struct {
	mu    sync.Mutex // guards the fields below
	byID  map[string]*taskRoute
	order []string // IDs in the order they were added, for the bound
	early map[string][]mcp.Task
	// earlyOrder are the IDs of early, oldest first, for its bound.
	earlyOrder []string
}

// taskRoute is one task's: its status callback, and the release of what
// is held while it runs (nil: nothing).
type taskRoute struct {
	notify  func(mcp.Task)
	release func()
}

// maxEarlyTasks bounds the tasks whose notifications are kept for a route
// not added yet, and maxEarlyNotes the notifications kept for one.
const (
	maxEarlyTasks = 64
	maxEarlyNotes = 8
)

// add routes the notifications about task id to notify until the task
// ends, first those that came before; release (nil: none) is called once
// it ended.
func (r *taskRoutes) add(id string, notify func(mcp.Task), release func()) {
	r.mu.Lock()
	if r.byID == nil {
		r.byID = map[string]*taskRoute{}
	}
	if _, ok := r.byID[id]; !ok {
		r.order = append(r.order, id)
	}
	r.byID[id] = &taskRoute{notify: notify, release: release}
	var dropped []*taskRoute
	for len(r.byID) > maxTaskRoutes && len(r.order) > 0 {
		dropped = append(dropped, r.byID[r.order[0]])
		delete(r.byID, r.order[0])
		r.order = r.order[1:]
	}
	early := r.early[id]
	delete(r.early, id)
	r.mu.Unlock()
	for _, d := range dropped {
		if d != nil && d.release != nil {
			d.release()
		}
	}
	for _, t := range early {
		r.route(t)
	}
}

// ended releases what is held for task id, which its upstream reported
// ended in an answer; its route stays for the notification that may
// still come.
func (r *taskRoutes) ended(id string) {
	r.mu.Lock()
	rt := r.byID[id]
	r.mu.Unlock()
	if rt != nil && rt.release != nil {
		rt.release()
	}
}

// deliver hands a notifications/tasks/status to its task's callback (or
// keeps it for a route about to be added). It reports whether the task had
// a route.
func (r *taskRoutes) deliver(params map[string]any) bool {
	b, err := json.Marshal(params)
	if err != nil {
		return false
	}
	var t mcp.Task
	if err := json.Unmarshal(b, &t); err != nil || t.TaskId == "" {
		return false
	}
	return r.route(boundTask(t))
}

// route calls t's callback; a terminal status ends the route and releases
// what is held. Without a route t is kept as early news.
func (r *taskRoutes) route(t mcp.Task) bool {
	r.mu.Lock()
	rt := r.byID[t.TaskId]
	switch {
	case rt == nil:
		r.keepEarly(t)
	case t.Status.IsTerminal():
		delete(r.byID, t.TaskId)
		if i := slices.Index(r.order, t.TaskId); i >= 0 {
			r.order = slices.Delete(r.order, i, i+1)
		}
	}
	r.mu.Unlock()
	if rt == nil {
		return false
	}
	if t.Status.IsTerminal() && rt.release != nil {
		rt.release()
	}
	if rt.notify != nil {
		rt.notify(t)
	}
	return true
}

// keepEarly keeps t for a route not added yet, within the bounds.
func (r *taskRoutes) keepEarly(t mcp.Task) {
	if r.early == nil {
		r.early = map[string][]mcp.Task{}
	}
	l, ok := r.early[t.TaskId]
	if !ok {
		r.earlyOrder = append(r.earlyOrder, t.TaskId)
		for len(r.earlyOrder) > maxEarlyTasks {
			delete(r.early, r.earlyOrder[0])
			r.earlyOrder = r.earlyOrder[1:]
		}
	}
	if len(l) < maxEarlyNotes {
		r.early[t.TaskId] = append(l, t)
	}
}
