package tsnetx

import (
	"log"
	"slices"
	"strconv"
	"sync"
	"testing"
)

// TestLogGate: lines written through the log package are held, in order
// and bounded, until Open, then written; later lines pass straight
// through, and concurrent writers never overtake the held lines.
func TestLogGate(t *testing.T) {
	for _, tt := range []struct {
		name  string
		lines int
		max   int
		want  []string
	}{
		{name: "nothing held", lines: 0, max: 4, want: []string{"after"}},
		{name: "held in order", lines: 2, max: 4, want: []string{"line 0", "line 1", "after"}},
		{name: "over the bound", lines: 6, max: 4, want: []string{"line 0", "line 1", "line 2", "line 3", "(2 more lines of the standard log while joining were dropped)", "after"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &collector{}
			g := NewLogGate(c.emit, tt.max)
			l := log.New(g, "", 0)
			for i := range tt.lines {
				l.Print("line " + strconv.Itoa(i))
			}
			if got := c.lines(); len(got) != 0 {
				t.Fatalf("lines written while closed: %q", got)
			}
			g.Open()
			g.Open() // a second Open writes nothing again
			l.Print("after")
			if got := c.lines(); !slices.Equal(got, tt.want) {
				t.Errorf("lines = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("concurrent writers", func(t *testing.T) {
		c := &collector{}
		g := NewLogGate(c.emit, 1000)
		for i := range 50 {
			g.Write([]byte("held " + strconv.Itoa(i) + "\n"))
		}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 50 {
					g.Write([]byte("w" + strconv.Itoa(i) + " " + strconv.Itoa(j) + "\n"))
				}
			}()
		}
		g.Open()
		wg.Wait()
		got := c.lines()
		if len(got) != 50+8*50 {
			t.Fatalf("%d lines, want %d", len(got), 50+8*50)
		}
		// The held lines come first, in order, whatever was written
		// while Open ran.
		for i := range 50 {
			if got[i] != "held "+strconv.Itoa(i) {
				t.Fatalf("line %d = %q, want %q", i, got[i], "held "+strconv.Itoa(i))
			}
		}
	})
}

// collector records the lines a LogGate emits.
type collector struct {
	mu  sync.Mutex // guards the field below
	got []string
}

func (c *collector) emit(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, line)
}

func (c *collector) lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}
