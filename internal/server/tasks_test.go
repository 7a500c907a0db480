package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
)

// taskUpstream is an upstream built with mcp-go's server, whose own task
// runtime runs "research" (task support required) and "quick" (optional)
// as tasks: "quick" answers "quick answer" at once; "research" answers
// "report on <topic>" at once, or, with hold, once release is closed (a
// tasks/cancel marks the task cancelled without waiting for it; the
// handler cannot wait for its context: mcp-go's task runtime derives it
// from the creating request's, which ends with that request). It sends
// every task's status to every client it has: tsmcp's one session to it,
// shared by all callers.
func taskUpstream(t *testing.T, release <-chan struct{}) string {
	s := mcpserver.NewMCPServer("jobs", "1", mcpserver.WithToolCapabilities(true), mcpserver.WithTaskCapabilities(true, true, true))
	tool := mcp.NewTool("research", mcp.WithTaskSupport(mcp.TaskSupportRequired),
		mcp.WithString("topic", mcp.Required()), mcp.WithBoolean("hold"))
	s.AddTool(tool, func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if req.GetBool("hold", false) {
			<-release
		}
		return mcp.NewToolResultText("report on " + req.GetString("topic", "")), nil
	})
	s.AddTool(mcp.NewTool("quick", mcp.WithTaskSupport(mcp.TaskSupportOptional)), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("quick answer"), nil
	})
	hs := httptest.NewServer(mcpserver.NewStreamableHTTPServer(s))
	t.Cleanup(hs.Close)
	return hs.URL + "/mcp"
}

// taskNotes collects the task status notifications one client received.
type taskNotes struct {
	mu   sync.Mutex // guards the field below
	seen []mcp.Task
}

func (n *taskNotes) add(params map[string]any) {
	b, _ := json.Marshal(params)
	var tk mcp.Task
	_ = json.Unmarshal(b, &tk)
	n.mu.Lock()
	n.seen = append(n.seen, tk)
	n.mu.Unlock()
}

func (n *taskNotes) all() []mcp.Task {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.seen)
}

// tasksClient is a caller's mcp-go client in the 2025-11-25 protocol,
// recording the task status notifications it gets.
func tasksClient(ctx context.Context, t *testing.T, endpoint string, c caller, notes *taskNotes) *mcpgoclient.Client {
	return legacyMCPGo(ctx, t, endpoint, c, "tasks-test-"+c.name, func(cl *mcpgoclient.Client) {
		cl.OnNotification(func(n mcp.JSONRPCNotification) {
			if n.Method == mcp.MethodNotificationTasksStatus {
				notes.add(n.Params.AdditionalFields)
			}
		})
	})
}

// callAsTask sends a tools/call of tool with a task parameter and returns
// the raw answer.
func callAsTask(ctx context.Context, t *testing.T, cl *mcpgoclient.Client, tool string, args map[string]any) *transport.JSONRPCResponse {
	t.Helper()
	resp, err := cl.GetTransport().SendRequest(ctx, transport.JSONRPCRequest{
		JSONRPC: mcp.JSONRPC_VERSION, ID: mcp.NewRequestId(fmt.Sprintf("create-%d", time.Now().UnixNano())),
		Method: string(mcp.MethodToolsCall),
		Params: map[string]any{"name": tool, "arguments": args, "task": map[string]any{"ttl": 60000}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// createTask calls tool as a task and returns the task the host created.
func createTask(ctx context.Context, t *testing.T, cl *mcpgoclient.Client, tool string, args map[string]any) mcp.Task {
	t.Helper()
	resp := callAsTask(ctx, t, cl, tool, args)
	if resp.Error != nil {
		t.Fatalf("tools/call %s as a task: %v", tool, resp.Error.AsError())
	}
	var res mcp.CreateTaskResult
	if err := json.Unmarshal(resp.Result, &res); err != nil || res.Task.TaskId == "" {
		t.Fatalf("tools/call %s as a task = %s (%v); want a CreateTaskResult", tool, resp.Result, err)
	}
	return res.Task
}

// taskErr returns the error text of each task request about id.
func taskErrs(ctx context.Context, cl *mcpgoclient.Client, id string) map[string]string {
	out := map[string]string{}
	errText := func(err error) string {
		if err == nil {
			return "<no error>"
		}
		return err.Error()
	}
	_, err := cl.GetTask(ctx, mcp.GetTaskRequest{Params: mcp.GetTaskParams{TaskId: id}})
	out["tasks/get"] = errText(err)
	_, err = cl.TaskResult(ctx, mcp.TaskResultRequest{Params: mcp.TaskResultParams{TaskId: id}})
	out["tasks/result"] = errText(err)
	_, err = cl.CancelTask(ctx, mcp.CancelTaskRequest{Params: mcp.CancelTaskParams{TaskId: id}})
	out["tasks/cancel"] = errText(err)
	return out
}

// listedTaskIDs returns the IDs tasks/list shows the client.
func listedTaskIDs(ctx context.Context, t *testing.T, cl *mcpgoclient.Client) []string {
	t.Helper()
	res, err := cl.ListTasks(ctx, mcp.ListTasksRequest{})
	if err != nil {
		t.Fatalf("tasks/list: %v", err)
	}
	var ids []string
	for _, tk := range res.Tasks {
		ids = append(ids, tk.TaskId)
	}
	return ids
}

// waitTask polls tasks/get until the task's status is want.
func waitTask(ctx context.Context, t *testing.T, cl *mcpgoclient.Client, id string, want mcp.TaskStatus) {
	t.Helper()
	for {
		res, err := cl.GetTask(ctx, mcp.GetTaskRequest{Params: mcp.GetTaskParams{TaskId: id}})
		if err != nil {
			t.Fatalf("tasks/get: %v", err)
		}
		if res.Status == want {
			return
		}
		if res.Status.IsTerminal() {
			t.Fatalf("task %s is %s; want %s", id, res.Status, want)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("task %s still %s; want %s", id, res.Status, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func resultText(r *mcp.TaskResultResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func TestTasksPerCaller(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	alice, bob := cs[0], cs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	release := make(chan struct{})
	url := taskUpstream(t, release)
	t.Cleanup(func() { close(release) }) // before the upstream's Close
	logs := &logBuffer{}
	var cfg config.Config
	host, err := startHost(ctx, tn.net, "tasks", logs, func(c *config.Config, _ *server.Options) {
		c.ACL = acl.Config{Rules: []acl.Rule{{Src: []string{"*"}, Tools: []string{"*"}}}}
		c.Upstreams = []config.Upstream{{Name: "jobs", URL: url},
			{Name: "jobsp", URL: url, Isolation: config.IsolationPerIdentity, IdleTimeout: 300 * time.Millisecond}}
		c.MCP.SessionKey = base64.StdEncoding.EncodeToString([]byte("tasks-test-session-key-32-bytes!"))
		cfg = *c
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	endpoint := "http://" + host.TailnetIP().String() + "/mcp"
	var aliceNotes, bobNotes taskNotes
	ac := tasksClient(ctx, t, endpoint, alice, &aliceNotes)
	bc := tasksClient(ctx, t, endpoint, bob, &bobNotes)
	// unknown is the answer to a task ID nobody was given.
	unknown := taskErrs(ctx, ac, "t1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	for m, e := range unknown {
		if e == "<no error>" {
			t.Fatalf("%s of an unknown task succeeded", m)
		}
	}
	sameAsUnknown := func(t *testing.T, who string, got map[string]string) {
		t.Helper()
		for m, e := range got {
			if e != unknown[m] {
				t.Errorf("%s's %s = %q; want the answer to an unknown task, %q", who, m, e, unknown[m])
			}
		}
	}

	t.Run("execution is kept and tasks are advertised", func(t *testing.T) {
		res, err := ac.ListTools(ctx, mcp.ListToolsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(res.Tools, func(tl mcp.Tool) bool { return tl.Name == "jobs__research" })
		if i < 0 || res.Tools[i].Execution == nil || res.Tools[i].Execution.TaskSupport != mcp.TaskSupportRequired {
			t.Fatalf("jobs__research listed as %+v; want execution.taskSupport required", res.Tools)
		}
		caps := ac.GetServerCapabilities().Tasks
		if caps == nil || caps.List == nil || caps.Cancel == nil || caps.Requests == nil || caps.Requests.Tools == nil || caps.Requests.Tools.Call == nil {
			t.Fatalf("tasks capability = %+v; want list, cancel and tools/call", caps)
		}
	})

	t.Run("alice creates, polls and fetches; only her session hears of it", func(t *testing.T) {
		tk := createTask(ctx, t, ac, "jobs__research", map[string]any{"topic": "alice"})
		if !strings.HasPrefix(tk.TaskId, "t1.") {
			t.Fatalf("task ID %q is not one of the host's", tk.TaskId)
		}
		waitTask(ctx, t, ac, tk.TaskId, mcp.TaskStatusCompleted)
		res, err := ac.TaskResult(ctx, mcp.TaskResultRequest{Params: mcp.TaskResultParams{TaskId: tk.TaskId}})
		if err != nil || resultText(res) != "report on alice" {
			t.Fatalf("tasks/result = %v, %v; want alice's report", res, err)
		}
		if rel, _ := res.Meta.AdditionalFields[mcp.RelatedTaskMetaKey].(map[string]any); rel["taskId"] != tk.TaskId {
			t.Errorf("the result's related task is %v; want %s", res.Meta.AdditionalFields[mcp.RelatedTaskMetaKey], tk.TaskId)
		}
		for {
			if slices.ContainsFunc(aliceNotes.all(), func(n mcp.Task) bool { return n.TaskId == tk.TaskId && n.Status == mcp.TaskStatusCompleted }) {
				break
			}
			select {
			case <-ctx.Done():
				for _, l := range strings.Split(logs.String(), "\n") {
					if strings.Contains(l, "task") {
						t.Log(l)
					}
				}
				t.Fatalf("alice heard %+v; want her task's completion", aliceNotes.all())
			case <-time.After(20 * time.Millisecond):
			}
		}
		if got := bobNotes.all(); len(got) > 0 {
			t.Errorf("bob heard of alice's task: %+v", got)
		}
		if ids := listedTaskIDs(ctx, t, ac); !slices.Contains(ids, tk.TaskId) {
			t.Errorf("alice's tasks/list = %v; want her task", ids)
		}
		if ids := listedTaskIDs(ctx, t, bc); len(ids) > 0 {
			t.Errorf("bob's tasks/list = %v; want none of alice's", ids)
		}
		sameAsUnknown(t, "bob", taskErrs(ctx, bc, tk.TaskId))
	})

	t.Run("bob cannot cancel alice's running task; alice can", func(t *testing.T) {
		tk := createTask(ctx, t, ac, "jobs__research", map[string]any{"topic": "long", "hold": true})
		sameAsUnknown(t, "bob", taskErrs(ctx, bc, tk.TaskId))
		if ids := listedTaskIDs(ctx, t, bc); len(ids) > 0 {
			t.Errorf("bob's tasks/list = %v; want none of alice's", ids)
		}
		waitTask(ctx, t, ac, tk.TaskId, mcp.TaskStatusWorking)
		res, err := ac.CancelTask(ctx, mcp.CancelTaskRequest{Params: mcp.CancelTaskParams{TaskId: tk.TaskId}})
		if err != nil || res.TaskId != tk.TaskId || res.Status != mcp.TaskStatusCancelled {
			t.Fatalf("alice's tasks/cancel = %+v, %v; want her task cancelled", res, err)
		}
		waitTask(ctx, t, ac, tk.TaskId, mcp.TaskStatusCancelled)
	})

	t.Run("forged and tampered task IDs are unknown", func(t *testing.T) {
		tk := createTask(ctx, t, ac, "jobs__research", map[string]any{"topic": "forgery"})
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tk.TaskId, "t1."))
		if err != nil {
			t.Fatal(err)
		}
		// The payload (after the key ID and the MAC) is not secret:
		// resealed without the key, or altered, it must not open.
		raw[len(raw)-1] ^= 1
		tampered := "t1." + base64.RawURLEncoding.EncodeToString(raw)
		raw[len(raw)-1] ^= 1
		raw[5] ^= 1 // the MAC
		forged := "t1." + base64.RawURLEncoding.EncodeToString(raw)
		for name, id := range map[string]string{"tampered payload": tampered, "forged MAC": forged, "no prefix": strings.TrimPrefix(tk.TaskId, "t1.")} {
			t.Run(name, func(t *testing.T) { sameAsUnknown(t, "alice", taskErrs(ctx, ac, id)) })
		}
		if !strings.Contains(logs.String(), `"msg":"task_get"`) || !strings.Contains(logs.String(), "not a task ID of the caller") {
			t.Error("the refusals are not in the audit log")
		}
	})

	t.Run("policy revoked between creation and result", func(t *testing.T) {
		tk := createTask(ctx, t, ac, "jobs__research", map[string]any{"topic": "revoked"})
		waitTask(ctx, t, ac, tk.TaskId, mcp.TaskStatusCompleted)
		revoked := cfg
		revoked.ACL = acl.Config{Rules: []acl.Rule{{Src: []string{bob.login}, Tools: []string{"*"}}}}
		if err := host.Reload(&revoked); err != nil {
			t.Fatal(err)
		}
		sameAsUnknown(t, "alice (revoked)", taskErrs(ctx, ac, tk.TaskId))
		if ids := listedTaskIDs(ctx, t, ac); len(ids) > 0 {
			t.Errorf("alice's tasks/list after the revocation = %v; want none", ids)
		}
		if !strings.Contains(logs.String(), `"msg":"task_result"`) {
			t.Error("no task_result audit line")
		}
		if err := host.Reload(&cfg); err != nil {
			t.Fatal(err)
		}
		res, err := ac.TaskResult(ctx, mcp.TaskResultRequest{Params: mcp.TaskResultParams{TaskId: tk.TaskId}})
		if err != nil || resultText(res) != "report on revoked" {
			t.Fatalf("tasks/result with the grant back = %v, %v", res, err)
		}
	})

	t.Run("where the host serves no tasks, no call runs as a task", func(t *testing.T) {
		// The legacy SSE transport: the task-only tool is not offered,
		// and the task parameter of a call is dropped, so mcp-go's own
		// task runtime (which would tell every session) never runs one.
		// A session of a version before 2025-11-25 is not told of tasks.
		cl, err := mcpgoclient.NewSSEMCPClient("http://"+host.TailnetIP().String()+"/sse", transport.WithHTTPClient(alice.httpClient()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		if err := cl.Start(ctx); err != nil {
			t.Fatal(err)
		}
		init := mcp.InitializeRequest{}
		init.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
		init.Params.ClientInfo = mcp.Implementation{Name: "tasks-test-sse", Version: "1"}
		res, err := cl.Initialize(ctx, init)
		if err != nil {
			t.Fatal(err)
		}
		if res.Capabilities.Tasks != nil {
			t.Errorf("the SSE transport advertises tasks: %+v", res.Capabilities.Tasks)
		}
		tools, err := cl.ListTools(ctx, mcp.ListToolsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tl := range tools.Tools {
			names = append(names, tl.Name)
		}
		if slices.Contains(names, "jobs__research") || !slices.Contains(names, "jobs__quick") {
			t.Errorf("over SSE the tools are %v; want jobs__quick without jobs__research", names)
		}
		if resp := callAsTask(ctx, t, cl, "jobs__research", map[string]any{"topic": "sse"}); resp.Error == nil {
			t.Errorf("over SSE, jobs__research as a task = %s; want an unknown tool", resp.Result)
		}
		resp := callAsTask(ctx, t, cl, "jobs__quick", nil)
		if resp.Error != nil || strings.Contains(string(resp.Result), `"task"`) || !strings.Contains(string(resp.Result), "quick answer") {
			t.Errorf("over SSE, jobs__quick with a task parameter = %s, %v; want its answer, no task", resp.Result, resp.Error)
		}
		if resp := callAsTask(ctx, t, ac, "jobs__quick", nil); resp.Error != nil || !strings.Contains(string(resp.Result), `"task"`) {
			t.Errorf("on a session, jobs__quick as a task = %s, %v; want a task", resp.Result, resp.Error)
		}
		// A session of a version before 2025-11-25, which has no tasks.
		tr, err := transport.NewStreamableHTTP("http://"+host.TailnetIP().String()+"/mcp", transport.WithHTTPBasicClient(alice.httpClient()))
		if err != nil {
			t.Fatal(err)
		}
		old := mcpgoclient.NewClient(tr)
		t.Cleanup(func() { old.Close() })
		if err := old.Start(ctx); err != nil {
			t.Fatal(err)
		}
		init.Params.ProtocolVersion = mcp.ProtocolVersion20250618
		if res, err := old.Initialize(ctx, init); err != nil || res.ProtocolVersion != mcp.ProtocolVersion20250618 || res.Capabilities.Tasks != nil {
			t.Fatalf("a 2025-06-18 session: %+v, %v; want that version without tasks", res, err)
		}
	})

	t.Run("a per-identity child is held while its caller's task runs", func(t *testing.T) {
		stopped := func(c caller) bool {
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "per-identity child idle, stopping") && strings.Contains(l, `"upstream":"jobsp"`) &&
					strings.Contains(l, `"caller":"user:`+c.login+`"`) {
					return true
				}
			}
			return false
		}
		waitStopped := func(c caller) {
			t.Helper()
			for !stopped(c) {
				select {
				case <-ctx.Done():
					t.Fatalf("%s's jobsp child was never stopped", c.name)
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
		tk := createTask(ctx, t, ac, "jobsp__research", map[string]any{"topic": "held", "hold": true})
		// Bob's child is used after alice's: once it is reaped as idle,
		// alice's would have been too, were it not held for her task.
		if _, err := bc.CallTool(ctx, mcp.CallToolRequest{Params: mcp.CallToolParams{Name: "jobsp__quick"}}); err != nil {
			t.Fatal(err)
		}
		waitStopped(bob)
		if stopped(alice) {
			t.Fatal("alice's child was reaped while her task ran")
		}
		waitTask(ctx, t, ac, tk.TaskId, mcp.TaskStatusWorking)
		if _, err := ac.CancelTask(ctx, mcp.CancelTaskRequest{Params: mcp.CancelTaskParams{TaskId: tk.TaskId}}); err != nil {
			t.Fatal(err)
		}
		waitStopped(alice) // released once her task ended
	})
}
