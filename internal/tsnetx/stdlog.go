package tsnetx

import (
	"fmt"
	"strings"
	"sync"
)

// LogGate is a writer for the standard library's log package, which some
// tailscale.com packages write to directly rather than to tsnet's Logf:
// tlsdial's "server cert … failed … validation" lines, for instance, when
// tsnet uploads its own logs through a network that intercepts TLS, or
// resolves log.tailscale.com through the DERP servers' DNS fallback while
// the control server is unreachable. Logged as they come, such lines open
// a failed join with alarming words about DERP certificates before the
// real cause. A LogGate holds them while the node joins and writes them
// once Open is called (when the node is up, or the join has failed and its
// cause was logged); from then on lines pass straight through.
type LogGate struct {
	emit func(line string) // writes one line; called without mu held
	max  int               // lines held at most; later ones are counted

	mu      sync.Mutex // guards the fields below
	open    bool
	held    []string
	dropped int
}

// NewLogGate returns a closed gate that writes each line with emit and
// holds at most max lines while closed. emit must not write to the log
// package itself.
func NewLogGate(emit func(line string), max int) *LogGate {
	return &LogGate{emit: emit, max: max}
}

// Write takes one log line (the log package writes each entry with one
// call) and holds it, or passes it on once the gate is open.
func (g *LogGate) Write(p []byte) (int, error) {
	line := strings.TrimSuffix(string(p), "\n")
	g.mu.Lock()
	if !g.open {
		if len(g.held) < g.max {
			g.held = append(g.held, line)
		} else {
			g.dropped++
		}
		g.mu.Unlock()
		return len(p), nil
	}
	g.mu.Unlock()
	g.emit(line)
	return len(p), nil
}

// Open writes the held lines, in order, and lets later lines through.
// Calls after the first do nothing.
func (g *LogGate) Open() {
	g.mu.Lock()
	if g.open {
		g.mu.Unlock()
		return
	}
	held, dropped := g.held, g.dropped
	g.held, g.dropped = nil, 0
	g.open = true
	// Emitted under the lock, so that no line written meanwhile
	// overtakes the held ones.
	for _, line := range held {
		g.emit(line)
	}
	if dropped > 0 {
		g.emit(fmt.Sprintf("(%d more lines of the standard log while joining were dropped)", dropped))
	}
	g.mu.Unlock()
}
