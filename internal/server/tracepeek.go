package server

import (
	"bytes"
	"encoding/json"
)

// rpcPeek is what a request span needs from a posted JSON-RPC message.
type rpcPeek struct {
	// Method is the JSON-RPC method; empty for a response or an
	// undecodable body.
	Method string
	// ID is the request's id as sent (raw JSON); empty for a
	// notification.
	ID json.RawMessage
	// Name is params.name (tools/call, prompts/get); URI is params.uri
	// (resources/read, resources/subscribe).
	Name, URI string
}

// peekRPC decodes the parts of a posted body a request span needs. A batch
// (a JSON array), which mcp-go v1.2.1 refuses with a parse error, and an
// undecodable body give ok false. It decodes only method, id, params.name
// and params.uri: the arguments are skipped, never kept.
//
// It is separate so that it can be swapped for the host's one decoding of
// the body.
func peekRPC(body []byte) (p rpcPeek, ok bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return rpcPeek{}, false
	}
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method json.RawMessage `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(body, &m) != nil {
		return rpcPeek{}, false
	}
	// A field of the wrong type stays empty; the transport answers such
	// a message with an error of its own.
	var params struct {
		Name json.RawMessage `json:"name"`
		URI  json.RawMessage `json:"uri"`
	}
	_ = json.Unmarshal(m.Params, &params)
	var method, name, uri string
	_ = json.Unmarshal(m.Method, &method)
	_ = json.Unmarshal(params.Name, &name)
	_ = json.Unmarshal(params.URI, &uri)
	id := m.ID
	if string(id) == "null" {
		id = nil
	}
	return rpcPeek{Method: method, ID: id, Name: name, URI: uri}, true
}
