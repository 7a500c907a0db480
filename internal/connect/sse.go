package connect

import (
	"bufio"
	"io"
	"strings"
)

// maxEventSize bounds one server-sent event (a JSON-RPC message).
const maxEventSize = 64 << 20

// readEvents parses the text/event-stream r and calls fn with each event's
// type ("message" when unnamed) and data until r ends (nil) or breaks
// (its error), or fn returns false (nil).
func readEvents(r io.Reader, fn func(event, data string) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventSize)
	var event string
	var data strings.Builder
	hasData := false
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			if hasData {
				if event == "" {
					event = "message"
				}
				if !fn(event, data.String()) {
					return nil
				}
			}
			event, hasData = "", false
			data.Reset()
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment: keepalive
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			event = value
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			hasData = true
		}
	}
	return sc.Err()
}
