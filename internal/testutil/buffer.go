// Package testutil holds small helpers shared by tsmcp's tests.
package testutil

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
)

// Buffer is a bytes.Buffer that a process, a logger or a goroutine may write
// while a test reads it. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex // guards the field below
	b  bytes.Buffer
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// JSONLines decodes the JSON log lines written so far whose "msg" is msg;
// other lines are skipped.
func (b *Buffer) JSONLines(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}
