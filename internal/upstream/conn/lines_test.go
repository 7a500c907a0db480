package conn

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

func TestFilterStdout(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		max     int
		want    string
		logMsgs []string
	}{
		{name: "messages pass", in: "{\"a\":1}\n{\"b\":2}\r\n", max: 100, want: "{\"a\":1}\n{\"b\":2}\n"},
		{name: "blank lines skipped", in: "\n  \n{\"a\":1}\n", max: 100, want: "{\"a\":1}\n"},
		{name: "surrounding whitespace trimmed", in: " \t{\"a\":1} \t\r\n{\"b\":2}\n", max: 100, want: "{\"a\":1}\n{\"b\":2}\n"},
		{name: "non-JSON dropped", in: "hello\n[1]\n{\"a\":\n{\"a\":1}\n", max: 100, want: "{\"a\":1}\n",
			logMsgs: []string{"upstream stdout line is not JSON, dropped"}},
		{name: "long line discarded, next one kept", in: "{\"a\":\"" + strings.Repeat("x", 500) + "\"}\n{\"b\":2}\n", max: 100, want: "{\"b\":2}\n",
			logMsgs: []string{"upstream stdout line too long, discarded"}},
		{name: "unterminated last line dropped", in: "{\"a\":1}\n{\"b\":", max: 100, want: "{\"a\":1}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := &testutil.Buffer{}
			lim := NewLogLimiter(slog.New(slog.NewJSONHandler(logs, nil)), "stdout")
			var out bytes.Buffer
			filterStdout(strings.NewReader(tc.in), &out, tc.max, lim)
			if out.String() != tc.want {
				t.Errorf("out = %q, want %q", out.String(), tc.want)
			}
			for _, m := range tc.logMsgs {
				if len(logs.JSONLines(m)) == 0 {
					t.Errorf("no %q log record; logs:\n%s", m, logs.String())
				}
			}
		})
	}
}

// forwardLine appends the newline in the line's own buffer: forwarding a
// message allocates nothing.
func TestForwardLineDoesNotAllocate(t *testing.T) {
	testutil.SkipAllocsUnderRace(t)
	lim := NewLogLimiter(slog.New(slog.NewTextHandler(io.Discard, nil)), "stdout")
	line := []byte("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r\n")
	var out bytes.Buffer
	out.Grow(1 << 10)
	allocs := testing.AllocsPerRun(100, func() {
		out.Reset()
		if err := forwardLine(line, &out, lim); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per forwarded line, want 0", allocs)
	}
	if want := "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n"; out.String() != want {
		t.Errorf("out = %q, want %q", out.String(), want)
	}
}

func TestLogStderr(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantLines []string
		truncated bool
	}{
		{name: "lines", in: "one\ntwo\r\n\nthree", wantLines: []string{"one", "two", "three"}},
		{name: "long line cut", in: strings.Repeat("y", 3*MaxStderrLine) + "\nafter\n",
			wantLines: []string{strings.Repeat("y", MaxStderrLine), "after"}, truncated: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := &testutil.Buffer{}
			logStderr(strings.NewReader(tc.in), NewLogLimiter(slog.New(slog.NewJSONHandler(logs, nil)), "stderr"))
			recs := logs.JSONLines("upstream stderr")
			var got []string
			truncated := false
			for _, r := range recs {
				got = append(got, r["line"].(string))
				truncated = truncated || r["truncated"] == true
			}
			if strings.Join(got, "|") != strings.Join(tc.wantLines, "|") || truncated != tc.truncated {
				t.Errorf("lines = %q (truncated %v), want %q (truncated %v)", got, truncated, tc.wantLines, tc.truncated)
			}
		})
	}
}
