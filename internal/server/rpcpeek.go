package server

import (
	"net/http"
	"sync"

	"github.com/tsmcp/tsmcp/internal/jsonrpc"
)

// peekRPC returns the request's decoded JSON-RPC fields (see
// jsonrpc.Peek), decoding the body limitBody buffered on first use and
// sharing it with every later layer. A request without a buffered body
// gets the view of an empty body: nothing decodes. Safe for concurrent
// use; never nil.
func peekRPC(r *http.Request) *jsonrpc.Peek {
	rb, _ := r.Context().Value(bodyKey{}).(*requestBody)
	if rb == nil {
		return &noBody
	}
	// On /mcp every request's _meta is read (the version
	// reconciliation): decode it in the same pass. The legacy SSE
	// transport's /message never reads it.
	rb.once.Do(func() { rb.peek.Decode(rb.body, r.URL.Path == "/mcp") })
	return &rb.peek
}

// requestBody is the body limitBody buffered, stored in the request's
// context with its peek, decoded once when first asked for.
type requestBody struct {
	body []byte
	once sync.Once
	peek jsonrpc.Peek
}

// noBody is the view of an absent body: the zero Peek.
var noBody jsonrpc.Peek
