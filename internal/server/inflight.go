package server

import "sync"

// inflight counts tool calls in progress, so that shutdown can wait for
// them. Unlike sync.WaitGroup it allows begin after wait has started.
type inflight struct {
	mu   sync.Mutex // guards the fields below
	n    int
	idle chan struct{} // closed while n == 0; replaced when n leaves 0
}

func newInflight() *inflight {
	c := make(chan struct{})
	close(c)
	return &inflight{idle: c}
}

// begin records a call; the returned func ends it.
func (f *inflight) begin() (done func()) {
	f.mu.Lock()
	if f.n == 0 {
		f.idle = make(chan struct{})
	}
	f.n++
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.n--
			if f.n == 0 {
				close(f.idle)
			}
		})
	}
}

// wait returns a channel closed when no call is in progress.
func (f *inflight) wait() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.idle
}
