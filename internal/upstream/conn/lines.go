package conn

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Bounds on what a child can make tsmcp log, per child and stream.
const (
	// MaxStderrLine is the longest stderr line logged; the rest of a
	// longer line is dropped and the record says truncated=true.
	MaxStderrLine = 4 << 10
	// logLinesPerSecond and logBytesPerSecond bound the log records (and
	// their bytes) per second from one stream of one child; lines beyond
	// are counted, and the count is logged once the window is over.
	logLinesPerSecond = 100
	logBytesPerSecond = 64 << 10
	// headBytes is how much of a dropped stdout line is quoted in the log.
	headBytes = 128
)

// LogLimiter rate-limits the records one stream of one child produces.
type LogLimiter struct {
	log    *slog.Logger
	stream string

	mu      sync.Mutex // guards the fields below
	window  time.Time
	lines   int
	bytes   int
	dropped int
}

// NewLogLimiter returns the limiter of the records of stream (named in
// its own records), logged to log.
func NewLogLimiter(log *slog.Logger, stream string) *LogLimiter {
	return &LogLimiter{log: log, stream: stream}
}

// Logger is the logger the records go to.
func (l *LogLimiter) Logger() *slog.Logger { return l.log }

// Allow reports whether a record of n bytes may be logged now.
func (l *LogLimiter) Allow(n int) bool {
	l.mu.Lock()
	now := time.Now()
	var dropped int
	if now.Sub(l.window) >= time.Second {
		dropped = l.dropped
		l.window, l.lines, l.bytes, l.dropped = now, 0, 0, 0
	}
	ok := l.lines < logLinesPerSecond && l.bytes+n <= logBytesPerSecond
	if ok {
		l.lines++
		l.bytes += n
	} else {
		l.dropped++
	}
	l.mu.Unlock()
	if dropped > 0 {
		l.log.Warn("upstream output dropped", "stream", l.stream, "lines", dropped)
	}
	return ok
}

// Flush logs the count of lines dropped in the current window.
func (l *LogLimiter) Flush() {
	l.mu.Lock()
	dropped := l.dropped
	l.dropped = 0
	l.mu.Unlock()
	if dropped > 0 {
		l.log.Warn("upstream output dropped", "stream", l.stream, "lines", dropped)
	}
}

// logStderr logs r line by line ("upstream stderr", line=...), each line cut
// at MaxStderrLine, rate-limited by lim. It reads until EOF or an error, never
// blocking on the logger for longer than one record, so the child never
// stalls on a full stderr pipe.
func logStderr(r io.Reader, lim *LogLimiter) {
	br := bufio.NewReaderSize(r, MaxStderrLine)
	skipping := false // inside the dropped tail of a long line
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			full := errors.Is(err, bufio.ErrBufferFull)
			if !skipping {
				line := bytes.TrimRight(chunk, "\r\n")
				if len(line) > 0 && lim.Allow(len(line)) {
					if full {
						lim.log.Info("upstream stderr", "line", string(line), "truncated", true)
					} else {
						lim.log.Info("upstream stderr", "line", string(line))
					}
				}
			}
			skipping = full
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			lim.Flush()
			return
		}
	}
}

// filterStdout copies JSON-RPC messages from a child's stdout to w, one per
// line. Lines longer than maxLine are discarded as they stream by (never
// buffered whole) and logged with their size; blank lines are skipped;
// lines that are not a JSON object are dropped and logged with their first
// headBytes bytes. It returns at EOF, on a read error, or when w fails.
func filterStdout(r io.Reader, w io.Writer, maxLine int, lim *LogLimiter) {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	discarding := false
	discarded := 0
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			switch {
			case discarding:
				discarded += len(chunk)
			case len(line)+len(chunk) > maxLine:
				discarding = true
				discarded = len(line) + len(chunk)
				line = nil
			default:
				line = append(line, chunk...)
			}
			if chunk[len(chunk)-1] == '\n' {
				if discarding {
					if lim.Allow(0) {
						lim.log.Warn("upstream stdout line too long, discarded", "bytes", discarded, "max", maxLine)
					}
					discarding, discarded = false, 0
				} else if werr := forwardLine(line, w, lim); werr != nil {
					return
				}
				if cap(line) > 64<<10 {
					line = nil // do not keep a large buffer around
				} else {
					line = line[:0]
				}
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// forwardLine writes one complete line to w if it is a JSON object. line
// ends in '\n' and is the caller's buffer: forwardLine overwrites bytes of
// its trailing whitespace.
func forwardLine(line []byte, w io.Writer, lim *LogLimiter) error {
	msg := bytes.TrimSpace(line)
	if len(msg) == 0 {
		return nil
	}
	if msg[0] != '{' || !json.Valid(msg) {
		if lim.Allow(min(len(msg), headBytes)) {
			lim.log.Warn("upstream stdout line is not JSON, dropped", "bytes", len(msg), "head", string(msg[:min(len(msg), headBytes)]))
		}
		return nil
	}
	// msg stops before line's trailing newline, so the append writes
	// into line's capacity without allocating. w does not retain the bytes
	// (the io.Writer contract; io.Pipe copies them to the reader before
	// Write returns), and filterStdout reuses line only after Write
	// returned.
	_, err := w.Write(append(msg, '\n'))
	return err
}
