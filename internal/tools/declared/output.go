package declared

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// tailSize is how much of the end of a stream an error result shows.
const tailSize = 4096

// capBuffer keeps the first max bytes written to it and the last
// tailSize bytes, counts the rest and discards it. Write never fails and
// never blocks, so a child writing to it is never stalled, and memory is
// bounded whatever the child writes. It is not safe for concurrent
// writers (each stream has its own).
type capBuffer struct {
	max   int
	head  []byte
	tail  []byte // the last tailSize bytes of the whole stream
	total int64
}

func newCapBuffer(max int) *capBuffer { return &capBuffer{max: max} }

func (c *capBuffer) Write(p []byte) (int, error) {
	c.total += int64(len(p))
	if room := c.max - len(c.head); room > 0 {
		take := min(room, len(p))
		if cap(c.head)-len(c.head) < take {
			// Grow at most to max: never more memory than the cap.
			grown := make([]byte, len(c.head), min(c.max, max(2*cap(c.head), len(c.head)+take, 512)))
			copy(grown, c.head)
			c.head = grown
		}
		c.head = append(c.head, p[:take]...)
	}
	if len(p) >= tailSize {
		c.tail = append(c.tail[:0], p[len(p)-tailSize:]...)
	} else {
		if over := len(c.tail) + len(p) - tailSize; over > 0 {
			c.tail = append(c.tail[:0], c.tail[over:]...)
		}
		c.tail = append(c.tail, p...)
	}
	return len(p), nil
}

// truncated is how many bytes were discarded.
func (c *capBuffer) truncated() int64 { return c.total - int64(len(c.head)) }

// text returns what was kept, with a note when bytes were discarded.
func (c *capBuffer) text(what string) string {
	s := string(c.head)
	if n := c.truncated(); n > 0 {
		s += fmt.Sprintf("\n[%s truncated: %d of %d bytes shown, %d bytes discarded]", what, len(c.head), c.total, n)
	}
	return s
}

// tailText returns the end of the stream, noting when it is not all of
// it.
func (c *capBuffer) tailText(what string) string {
	if c.total <= int64(len(c.tail)) {
		return what + ":\n" + string(c.tail)
	}
	return fmt.Sprintf("%s (last %d of %d bytes):\n%s", what, len(c.tail), c.total, c.tail)
}

// redactor replaces secrets (values read with {{env "NAME"}}) in text
// that goes to a caller.
type redactor []string

// minSecretLen is the shortest value redacted: shorter values ("1",
// "true") are not secrets and replacing them would garble the output.
const minSecretLen = 4

// add returns r with v, keeping the longest secrets first so that apply
// replaces a secret containing another whole.
func (r redactor) add(v string) redactor {
	if len(v) < minSecretLen {
		return r
	}
	i, _ := slices.BinarySearchFunc(r, len(v), func(s string, n int) int { return n - len(s) })
	return slices.Insert(r, i, v)
}

// addSecret returns r with the secret v as it may appear in a response:
// as is, escaped for a URL path or query and as a JSON string's content.
func (r redactor) addSecret(v string) redactor {
	r = r.add(v)
	r = r.add(url.PathEscape(v))
	r = r.add(url.QueryEscape(v))
	return r.add(strings.Trim(jsonString(v), `"`))
}

func (r redactor) apply(s string) string {
	for _, v := range r {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}
