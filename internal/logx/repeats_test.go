package logx

import (
	"encoding/json"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

// fakeTimers stands in for time.AfterFunc: a test fires the armed timers
// when it wants an interval to end.
type fakeTimers struct {
	mu    sync.Mutex // guards the field below
	armed []*fakeTimer
}

type fakeTimer struct {
	f       func()
	stopped bool
	d       time.Duration
}

func (t *fakeTimer) Stop() bool { t.stopped = true; return true }

func (ft *fakeTimers) afterFunc(d time.Duration, f func()) stopper {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	t := &fakeTimer{f: f, d: d}
	ft.armed = append(ft.armed, t)
	return t
}

// fire runs every armed, unstopped timer once, as their intervals ending.
func (ft *fakeTimers) fire() {
	ft.mu.Lock()
	armed := ft.armed
	ft.armed = nil
	ft.mu.Unlock()
	for _, t := range armed {
		if !t.stopped {
			t.f()
		}
	}
}

func newTestRepeats(burst int) (*Repeats, *testutil.Buffer, *fakeTimers) {
	logs := &testutil.Buffer{}
	r := NewRepeats(slog.New(slog.NewJSONHandler(logs, nil)), time.Minute, burst)
	ft := &fakeTimers{}
	r.afterFunc = ft.afterFunc
	return r, logs, ft
}

func records(t *testing.T, logs *testutil.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestRepeatsLogsTheFirstAndCountsTheRest(t *testing.T) {
	r, logs, ft := newTestRepeats(1)
	for i := range 4000 {
		r.Warn("resource update dropped", "uri", "x://"+string(rune('a'+i%26)))
	}
	r.Warn("another line", "n", 1)
	recs := records(t, logs)
	if len(recs) != 2 {
		t.Fatalf("%d records during the interval, want 2 (the first of each message): %v", len(recs), recs)
	}
	if recs[0]["msg"] != "resource update dropped" || recs[0]["uri"] != "x://a" || recs[0]["level"] != "WARN" {
		t.Errorf("first record = %v", recs[0])
	}
	if _, ok := recs[0]["more"]; ok {
		t.Errorf("the first record carries a count: %v", recs[0])
	}

	ft.fire()
	recs = records(t, logs)
	if len(recs) != 3 {
		t.Fatalf("%d records after the interval, want 3 (one summary): %v", len(recs), recs)
	}
	sum := recs[2]
	if sum["msg"] != "resource update dropped" || sum["more"] != float64(3999) || sum["interval"] != "1m0s" || sum["level"] != "WARN" {
		t.Errorf("summary = %v, want the message with more=3999 interval=1m0s", sum)
	}

	// The next interval starts afresh: its first record is logged whole.
	r.Warn("resource update dropped", "uri", "x://next")
	recs = records(t, logs)
	if len(recs) != 4 || recs[3]["uri"] != "x://next" {
		t.Fatalf("after the interval, records = %v", recs)
	}
	ft.fire()
	if got := len(records(t, logs)); got != 4 {
		t.Errorf("an interval with nothing held back wrote a summary: %d records", got)
	}
}

func TestRepeatsBurst(t *testing.T) {
	r, logs, ft := newTestRepeats(3)
	for range 10 {
		r.Warn("skipped")
	}
	if got := len(records(t, logs)); got != 3 {
		t.Fatalf("%d records, want the burst of 3", got)
	}
	ft.fire()
	recs := records(t, logs)
	if len(recs) != 4 || recs[3]["more"] != float64(7) {
		t.Fatalf("records = %v, want 3 and a summary of 7 more", recs)
	}
}

func TestRepeatsFlush(t *testing.T) {
	r, logs, ft := newTestRepeats(1)
	for range 5 {
		r.Warn("a")
	}
	r.Warn("b")
	r.Flush()
	recs := records(t, logs)
	if len(recs) != 3 || recs[2]["msg"] != "a" || recs[2]["more"] != float64(4) {
		t.Fatalf("records after Flush = %v, want a, b and a's summary of 4", recs)
	}
	for _, tm := range ft.armed {
		if !tm.stopped {
			t.Error("Flush left a timer armed")
		}
	}
	ft.fire() // stopped timers: nothing more
	if got := len(records(t, logs)); got != 3 {
		t.Errorf("%d records after the flushed timers' time, want 3", got)
	}
}

func TestRepeatsConcurrent(t *testing.T) {
	r, logs, ft := newTestRepeats(1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				r.Warn("flood")
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			ft.fire()
			runtime.Gosched()
		}
	})
	wg.Wait()
	r.Flush()
	total := 0
	for _, rec := range records(t, logs) {
		total++
		if n, ok := rec["more"].(float64); ok {
			total += int(n) - 1 // the summary stands for n records
		}
	}
	if total != 8*500 {
		t.Errorf("records logged or counted: %d, want %d", total, 8*500)
	}
}

// TestRepeatsRealTimer: with the real clock, a record after the interval
// is logged in full and the summary of the first arrives, and nothing is
// left running after Flush.
func TestRepeatsRealTimer(t *testing.T) {
	// The two records must fall in one window for the second to be
	// counted: when the interval (1ms, real) passed between them, the
	// second opened a window of its own and was logged in full, which
	// proves nothing about the timer: try again, with new windows.
	for attempt := 1; ; attempt++ {
		logs := &testutil.Buffer{}
		r := NewRepeats(slog.New(slog.NewJSONHandler(logs, nil)), time.Millisecond, 1)
		r.Warn("x")
		r.Warn("x")
		deadline := time.Now().Add(10 * time.Second)
		for len(logs.JSONLines("x")) < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("no summary: %s", logs.String())
			}
			time.Sleep(time.Millisecond)
		}
		r.Flush()
		second := logs.JSONLines("x")[1]
		if _, summary := second["more"]; !summary && attempt < 100 {
			continue // the interval passed between the two records
		}
		if second["more"] != float64(1) {
			t.Errorf("summary = %v", second)
		}
		return
	}
}
