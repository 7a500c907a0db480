// Package logx holds log helpers shared by tsmcp's packages.
package logx

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is the window of a Repeats whose interval is zero.
const DefaultInterval = 10 * time.Second

// Repeats keeps a line that an upstream or a client can make tsmcp log
// at will (one per dropped message, per refused request) from flooding
// the log: of the records with one message, the first burst of each
// interval is logged in full and the rest only counted. When an interval
// in which records were held back ends, one record with the same message
// and level says how many: "more" (the count) and "interval".
//
// The message is the key, so it must be a constant of the caller's, never
// text from outside (which would grow the set of keys without bound).
//
// Repeats is safe for concurrent use and starts no goroutine of its own: a
// timer (time.AfterFunc) is armed only while an interval is open, and
// Flush stops the armed ones.
type Repeats struct {
	log       *slog.Logger
	interval  time.Duration
	burst     int
	afterFunc func(time.Duration, func()) stopper // time.AfterFunc; tests replace it

	mu      sync.Mutex // guards the fields below
	windows map[string]*window
}

// stopper is what Repeats needs of a timer.
type stopper interface{ Stop() bool }

// window is one message's open interval.
type window struct {
	level  slog.Level
	logged int // records logged in full in this interval
	held   int // records only counted
	timer  stopper
}

// NewRepeats returns a Repeats logging to log (nil discards). interval is
// the window (zero means DefaultInterval); burst is how many records of
// one message are logged in full per window (at least 1).
func NewRepeats(log *slog.Logger, interval time.Duration, burst int) *Repeats {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Repeats{
		log:       log,
		interval:  interval,
		burst:     max(burst, 1),
		afterFunc: func(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) },
		windows:   map[string]*window{},
	}
}

// Warn logs msg at LevelWarn with args (as slog.Logger.Warn takes them),
// unless this interval's burst of msg was logged already.
func (r *Repeats) Warn(msg string, args ...any) {
	r.Log(context.Background(), slog.LevelWarn, msg, args...)
}

// Log logs msg at level with args, unless this interval's burst of msg was
// logged already; then the record is only counted.
func (r *Repeats) Log(ctx context.Context, level slog.Level, msg string, args ...any) {
	r.mu.Lock()
	w := r.windows[msg]
	if w == nil {
		w = &window{level: level}
		r.windows[msg] = w
		w.timer = r.afterFunc(r.interval, func() { r.end(msg, w) })
	}
	if w.logged >= r.burst {
		w.held++
		r.mu.Unlock()
		return
	}
	w.logged++
	r.mu.Unlock()
	r.log.Log(ctx, level, msg, args...)
}

// end closes msg's interval w: the next record of msg is logged in full,
// and the records held back in w are reported.
func (r *Repeats) end(msg string, w *window) {
	r.mu.Lock()
	if r.windows[msg] != w {
		r.mu.Unlock()
		return // flushed already
	}
	delete(r.windows, msg)
	held := w.held
	r.mu.Unlock()
	r.report(msg, w.level, held)
}

// Flush ends every open interval now: it stops their timers and reports
// the records they held back. A later record starts a new interval.
func (r *Repeats) Flush() {
	r.mu.Lock()
	windows := r.windows
	r.windows = map[string]*window{}
	r.mu.Unlock()
	for msg, w := range windows {
		w.timer.Stop()
		r.report(msg, w.level, w.held)
	}
}

// report logs the count of the records of msg held back, if any.
func (r *Repeats) report(msg string, level slog.Level, held int) {
	if held == 0 {
		return
	}
	r.log.LogAttrs(context.Background(), level, msg,
		slog.Int("more", held),
		slog.String("interval", r.interval.String()))
}
