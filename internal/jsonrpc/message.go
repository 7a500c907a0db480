// Package jsonrpc reads the envelope of JSON-RPC 2.0 messages (id,
// method, whether a result or an error is present) without their
// payloads: enough to tell requests, notifications and responses apart
// and to route, count and limit them. Message is one envelope and
// DecodeMessages reads a message or a batch; Peek is the one decode of a
// posted request body that the layers in front of mcp-go share.
// Decoding never fails loudly: what does not decode yields nothing, and
// the MCP transport behind answers it with a parse error.
package jsonrpc

import (
	"bytes"
	"encoding/json"
)

// Message is the envelope of one JSON-RPC message: the fields that tell
// requests, notifications and responses apart. Fields are raw as sent: an
// absent id, result or error is nil, a null one is "null". The zero
// Message is none of a request, a notification or a response.
type Message struct {
	// ID is the message's id, raw; nil when absent, "null" when null.
	ID json.RawMessage `json:"id"`
	// Method is the method; "" for a response (or when absent).
	Method string `json:"method"`
	// Result is the response's result, raw; nil when absent.
	Result json.RawMessage `json:"result"`
	// Error is the response's error, raw; nil when absent.
	Error json.RawMessage `json:"error"`
}

// HasID reports whether the message has an id other than null.
func (m Message) HasID() bool {
	return len(m.ID) > 0 && string(m.ID) != "null"
}

// IsRequest reports whether the message expects a response: it has a
// method and an id other than null.
func (m Message) IsRequest() bool {
	return m.Method != "" && m.HasID()
}

// IsNotification reports whether the message is a notification: a method
// and no id (or a null one).
func (m Message) IsNotification() bool {
	return m.Method != "" && !m.HasID()
}

// IsResponse reports whether the message is a response: no method, and a
// result or an error (null included).
func (m Message) IsResponse() bool {
	return m.Method == "" && (m.Result != nil || m.Error != nil)
}

// DecodeMessages decodes a JSON-RPC message or a batch (a JSON array;
// whitespace around it allowed). Invalid JSON yields nil, as does a single
// message whose envelope fields have the wrong types (a method that is not
// a string). A batch keeps every element, with what encoding/json decodes
// of each: it goes on past an element of the wrong type (which stays the
// zero Message) or a field of the wrong type (which stays unset).
func DecodeMessages(b []byte) []Message {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var batch []Message
		json.Unmarshal(b, &batch)
		return batch
	}
	var m Message
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return []Message{m}
}

// messageMethods returns the method of each JSON-RPC message in body (one
// message or a batch); answers (no method) are skipped, and a batch with
// any malformed message yields none.
func messageMethods(body []byte) []string {
	var one struct {
		Method string `json:"method"`
	}
	if json.Unmarshal(body, &one) == nil {
		if one.Method == "" {
			return nil
		}
		return []string{one.Method}
	}
	var batch []struct {
		Method string `json:"method"`
	}
	if json.Unmarshal(body, &batch) != nil {
		return nil
	}
	var out []string
	for _, m := range batch {
		if m.Method != "" {
			out = append(out, m.Method)
		}
	}
	return out
}
