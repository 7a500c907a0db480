package upstream

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/tsmcp/tsmcp/internal/upstream/conn"
)

// TestTapBody: the call-stream tap takes exactly the log messages off an
// SSE stream, keeps their ids (as data-less events), and passes everything
// else through byte for byte, however the body is split into reads.
func TestTapBody(t *testing.T) {
	logMsg := `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}`
	progress := `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1}}`
	result := `{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`
	// A request whose params mention the method is not a notification.
	request := `{"jsonrpc":"2.0","id":7,"method":"elicitation/create","params":{"message":"notifications/message"}}`
	big := `{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"` + strings.Repeat("y", 2*conn.MaxTapEvent) + `"}}`
	for _, tt := range []struct {
		name, in, want string
		taken          int
	}{
		{name: "log message taken", in: "event: message\ndata: " + logMsg + "\n\n" + "data: " + result + "\n\n",
			want: "data: " + result + "\n\n", taken: 1},
		{name: "id kept for resumption", in: "id: 3\ndata: " + logMsg + "\n\nid: 4\ndata: " + result + "\n\n",
			want: "id: 3\n\nid: 4\ndata: " + result + "\n\n", taken: 1},
		{name: "CRLF lines", in: "id: 3\r\ndata: " + logMsg + "\r\n\r\ndata: " + result + "\r\n\r\n",
			want: "id: 3\r\n\ndata: " + result + "\r\n\r\n", taken: 1},
		{name: "progress and requests pass", in: "data: " + progress + "\n\ndata: " + request + "\n\ndata: " + result + "\n\n",
			want: "data: " + progress + "\n\ndata: " + request + "\n\ndata: " + result + "\n\n"},
		{name: "another event type passes", in: "event: other\ndata: " + logMsg + "\n\n",
			want: "event: other\ndata: " + logMsg + "\n\n"},
		{name: "an event too long passes", in: "data: " + big + "\n\ndata: " + logMsg + "\n\n",
			want: "data: " + big + "\n\n", taken: 1},
		{name: "comments and priming events pass", in: ": keepalive\n\nid: 1\n\ndata: " + result + "\n\n",
			want: ": keepalive\n\nid: 1\n\ndata: " + result + "\n\n"},
		{name: "unfinished event at EOF passes", in: "data: " + logMsg + "\n",
			want: "data: " + logMsg + "\n"},
		{name: "multi-line data", in: "data: {\"jsonrpc\":\"2.0\",\ndata: \"method\":\"notifications/message\",\"params\":{}}\n\n",
			want: "", taken: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, split := range []string{"whole", "one byte"} {
				taken := 0
				var r io.Reader = strings.NewReader(tt.in)
				if split == "one byte" {
					r = iotest.OneByteReader(r)
				}
				tb := conn.TapEvents(io.NopCloser(r), func(data []byte) bool {
					f := &flight{ref: &callerRef{ctx: context.Background()}}
					ok := f.takeEvent(bytes.Clone(data))
					if ok {
						taken++
					}
					return ok
				})
				var out []byte
				var err error
				if split == "one byte" {
					out, err = io.ReadAll(iotest.OneByteReader(tb))
				} else {
					out, err = io.ReadAll(tb)
				}
				if err != nil {
					t.Fatal(err)
				}
				if string(out) != tt.want {
					t.Errorf("%s: got %.200q, want %.200q", split, out, tt.want)
				}
				if taken != tt.taken {
					t.Errorf("%s: took %d events, want %d", split, taken, tt.taken)
				}
			}
		})
	}
}
