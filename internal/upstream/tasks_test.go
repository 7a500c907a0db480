package upstream

import (
	"fmt"
	"slices"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

// statusParams is a notifications/tasks/status's params for task id.
func statusParams(id string, status mcp.TaskStatus) map[string]any {
	return map[string]any{"taskId": id, "status": string(status), "createdAt": "2026-12-07T00:00:00Z", "lastUpdatedAt": "2026-12-07T00:00:00Z"}
}

func TestTaskRoutes(t *testing.T) {
	type heard struct {
		notes    []string
		released int
	}
	route := func(r *taskRoutes, id string) *heard {
		h := &heard{}
		r.add(id, func(tk mcp.Task) { h.notes = append(h.notes, tk.TaskId+" "+string(tk.Status)) }, func() { h.released++ })
		return h
	}
	t.Run("a task's news goes to its route only; the end releases it once", func(t *testing.T) {
		var r taskRoutes
		a, b := route(&r, "a"), route(&r, "b")
		r.deliver(statusParams("a", mcp.TaskStatusWorking))
		r.ended("a") // a tasks/get answer said so first
		r.deliver(statusParams("a", mcp.TaskStatusCompleted))
		if want := []string{"a working", "a completed"}; !slices.Equal(a.notes, want) || len(b.notes) > 0 {
			t.Errorf("a heard %v, b %v; want a %v, b nothing", a.notes, b.notes, want)
		}
		if a.released == 0 || b.released != 0 {
			t.Errorf("released a %d times, b %d; want a at least once, b never", a.released, b.released)
		}
		if r.deliver(statusParams("a", mcp.TaskStatusCompleted)) {
			t.Error("a's route outlived its end")
		}
	})
	t.Run("news that comes before the route is handed over", func(t *testing.T) {
		var r taskRoutes
		if r.deliver(statusParams("quick", mcp.TaskStatusCompleted)) {
			t.Fatal("news of a task without a route was delivered")
		}
		h := route(&r, "quick")
		if !slices.Equal(h.notes, []string{"quick completed"}) || h.released != 1 {
			t.Errorf("heard %v, released %d; want the early completion and one release", h.notes, h.released)
		}
	})
	t.Run("bounds", func(t *testing.T) {
		var r taskRoutes
		first := route(&r, "t0")
		for i := 1; i <= maxTaskRoutes; i++ {
			route(&r, fmt.Sprint("t", i))
		}
		if first.released != 1 || len(r.byID) != maxTaskRoutes {
			t.Errorf("after %d routes: the oldest released %d times, %d kept; want it dropped and released", maxTaskRoutes+1, first.released, len(r.byID))
		}
		for i := range maxEarlyTasks + 10 {
			for range maxEarlyNotes + 3 {
				r.deliver(statusParams(fmt.Sprint("early", i), mcp.TaskStatusWorking))
			}
		}
		kept := 0
		for _, l := range r.early {
			if len(l) > maxEarlyNotes {
				t.Errorf("%d notifications kept for one task; want at most %d", len(l), maxEarlyNotes)
			}
			kept++
		}
		if kept > maxEarlyTasks {
			t.Errorf("early news of %d tasks kept; want at most %d", kept, maxEarlyTasks)
		}
	})
	t.Run("status messages are bounded", func(t *testing.T) {
		var r taskRoutes
		var msg string
		r.add("m", func(tk mcp.Task) { msg = tk.StatusMessage }, nil)
		p := statusParams("m", mcp.TaskStatusWorking)
		p["statusMessage"] = string(make([]byte, 10*maxStatusMessage))
		r.deliver(p)
		if len(msg) > maxStatusMessage+8 {
			t.Errorf("statusMessage of %d bytes passed; want at most about %d", len(msg), maxStatusMessage)
		}
	})
}
