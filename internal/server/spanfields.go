package server

import (
	"encoding/json"
	"net/http"
)

// spanFields is what a request span needs from a posted JSON-RPC message.
type spanFields struct {
	// Method is the JSON-RPC method; empty for a response.
	Method string
	// ID is the request's id as sent (raw JSON); empty for a
	// notification or a null id.
	ID json.RawMessage
	// Name is params.name (tools/call, prompts/get); URI is params.uri
	// (resources/read, resources/subscribe); empty when absent or not
	// strings.
	Name, URI string
}

// spanFieldsOf reads the span's fields from the host's one decoding of the
// body (peekRPC). A batch (which mcp-go v1.2.1 refuses with a parse error)
// and an undecodable or empty body give ok false. Arguments are never
// read.
func spanFieldsOf(r *http.Request) (f spanFields, ok bool) {
	p := peekRPC(r)
	if !p.Single() {
		return spanFields{}, false
	}
	id := p.ID()
	if string(id) == "null" {
		id = nil
	}
	return spanFields{Method: p.Method(), ID: id, Name: p.Name(), URI: p.URI()}, true
}
