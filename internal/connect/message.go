package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/tsmcp/tsmcp/internal/jsonrpc"
)

// kind classifies one JSON-RPC message by its shape.
type kind int

const (
	kindOther        kind = iota // a batch or something unparsable: forwarded as is
	kindRequest                  // method and id
	kindNotification             // method, no id
	kindResponse                 // id, no method
)

// envelope is the part of a JSON-RPC message the relay looks at.
type envelope = jsonrpc.Message

// classify returns the kind of msg and its envelope. An id without a
// method is a response, whether or not it carries a result or an error.
func classify(msg []byte) (kind, envelope) {
	var env envelope
	trimmed := bytes.TrimSpace(msg)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return kindOther, env
	}
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return kindOther, env
	}
	switch {
	case env.IsRequest():
		return kindRequest, env
	case env.IsNotification():
		return kindNotification, env
	case env.HasID():
		return kindResponse, env
	}
	return kindOther, env
}

// sameID reports whether two raw JSON-RPC ids are the same id.
func sameID(a, b json.RawMessage) bool {
	return len(a) > 0 && bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b))
}

// errorCode is the JSON-RPC error code of the relay's own error answers:
// the "server error" range that JSON-RPC leaves to implementations.
const errorCode = -32000

// output writes JSON-RPC messages to the client, one a line. Nothing else
// ever reaches it.
type output struct {
	log *slog.Logger

	mu sync.Mutex // guards the field below
	w  io.Writer
}

// write sends msg to the client if it is JSON; anything else is logged and
// dropped, so stdout carries only JSON-RPC.
func (o *output) write(msg []byte) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, msg); err != nil {
		o.log.Warn("dropped a message from the host that is not JSON", slog.String("error", err.Error()), slog.Int("bytes", len(msg)))
		return
	}
	if o.log.Enabled(context.Background(), slog.LevelDebug) {
		_, env := classify(buf.Bytes())
		o.log.Debug("to the client", slog.String("method", env.Method), slog.String("id", string(env.ID)))
	}
	buf.WriteByte('\n')
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := o.w.Write(buf.Bytes()); err != nil {
		o.log.Debug("writing to the client failed", slog.String("error", err.Error()))
	}
}

// fail answers the client's request id with a JSON-RPC error.
func (o *output) fail(id json.RawMessage, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{JSONRPC: "2.0", ID: id, Error: struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{errorCode, "tsmcp connect: " + msg}})
	if err != nil {
		return
	}
	o.write(b)
}
