package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
)

// rpcPeek is what the host's middleware reads of a posted JSON-RPC body:
// the few fields the layers in front of mcp-go decide on (the version
// reconciliation, the session requirement, stateless cancellation, the
// limits, the SSE tracker, the metrics). It is decoded once per request,
// on first use, from the body limitBody buffered, and shared by every
// layer: get it with peekRPC(r). It is read-only once built.
//
// Every view equals what the layer's own decode of the body used to give,
// malformed bodies included: a body that does not decode cleanly in one
// pass is decoded again the old way, view by view (see peekSlow), so
// behaviour never depends on the shortcut.
type rpcPeek struct {
	// msgs is each message of the body (one, or a batch's) as
	// decodeMessages reads it; nil for invalid JSON.
	msgs []rpcMessage
	// methods is the method of each message that has one, as
	// messageMethods reads them (a batch with any malformed message
	// yields none).
	methods []string
	// meta is the protocol version in params._meta of a single message,
	// as requestEra reads it; "" if none.
	meta string
	// single reports that the body is one JSON-RPC message (an object or
	// null) whose id and method decode as mcp-go's HandleMessage reads
	// them; id and method are then that message's.
	single bool
	// id is the single message's id, raw: nil when absent, "null" when
	// null.
	id json.RawMessage
	// idBad reports an id that does not decode into an interface (a
	// number out of float64's range), as scopeCancels's decode fails.
	idBad bool
	// method is the single message's method.
	method string
	// name and uri are the single message's params.name (tools/call,
	// prompts/get) and params.uri (resources/read), raw; nil when absent
	// or when the body took the slow path.
	name, uri json.RawMessage
	// progressToken is the single message's params._meta.progressToken,
	// or nil.
	progressToken any

	one  [1]rpcMessage // backs msgs for a single message
	oneM [1]string     // backs methods for a single message
}

// peekRPC returns the request's decoded JSON-RPC fields (see rpcPeek),
// decoding the body limitBody buffered on first use. A request without a
// buffered body gets the view of an empty body: nothing decodes. Safe for
// concurrent use; never nil.
func peekRPC(r *http.Request) *rpcPeek {
	rb, _ := r.Context().Value(bodyKey{}).(*requestBody)
	if rb == nil {
		return emptyPeek()
	}
	rb.once.Do(func() { rb.peek.decode(rb.body) })
	return &rb.peek
}

// requestBody is the body limitBody buffered, stored in the request's
// context with its peek, decoded once when first asked for.
type requestBody struct {
	body []byte
	once sync.Once
	peek rpcPeek
}

// emptyPeek is the view of an absent body.
var emptyPeek = sync.OnceValue(func() *rpcPeek {
	p := new(rpcPeek)
	p.decode(nil)
	return p
})

// idValue is the single message's ID decoded as mcp-go's HandleMessage
// decodes it (a string, a float64, nil for absent or null, ...); ok is
// false when the body is not one message or its id does not decode.
func (p *rpcPeek) idValue() (id any, ok bool) {
	if !p.single || p.idBad {
		return nil, false
	}
	if p.id != nil {
		json.Unmarshal(p.id, &id)
	}
	return id, true
}

// modern reports whether the request is a stateless (2026-07-28 or later)
// one given its protocol version header, as requestEra decides.
func (p *rpcPeek) modern(header string) bool {
	return mcp.IsModernProtocol(p.meta) || mcp.IsModernProtocol(header)
}

// requests counts the messages in the body that expect a response.
func (p *rpcPeek) requests() int {
	n := 0
	for _, m := range p.msgs {
		if m.isRequest() {
			n++
		}
	}
	return n
}

// paramString returns a raw params field (name, uri) as a string, or ""
// when it is absent or not a string.
func paramString(raw json.RawMessage) string {
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	var s string
	json.Unmarshal(raw, &s)
	return s
}

// peekWire is the one decode of a message: the union of the fields the
// layers read, with their types.
type peekWire struct {
	ID     peekID `json:"id"`
	Method string `json:"method"`
	Params struct {
		Meta *mcp.Meta       `json:"_meta"`
		Name json.RawMessage `json:"name"`
		URI  json.RawMessage `json:"uri"`
	} `json:"params"`
	Result present `json:"result"`
	Error  present `json:"error"`
}

// presentRaw stands for a result or error that is present, whatever it
// holds: only its presence tells a response (see rpcMessage.isResponse).
var presentRaw = json.RawMessage("null")

func (w *peekWire) message() rpcMessage {
	m := rpcMessage{ID: w.ID.raw, Method: w.Method}
	if w.Result {
		m.Result = presentRaw
	}
	if w.Error {
		m.Error = presentRaw
	}
	return m
}

// present records that a field is in the message (null included) without
// copying its value.
type present bool

func (p *present) UnmarshalJSON([]byte) error {
	*p = true
	return nil
}

// peekID is a message's id, raw, noting whether any occurrence of it fails
// to decode into an interface (a number out of float64's range), as it
// does for mcp-go's HandleMessage.
type peekID struct {
	raw json.RawMessage
	bad bool
}

func (id *peekID) UnmarshalJSON(b []byte) error {
	id.raw = append(id.raw[:0:0], b...)
	if len(b) > 0 && (b[0] == '-' || '0' <= b[0] && b[0] <= '9') {
		if _, err := strconv.ParseFloat(string(b), 64); err != nil {
			id.bad = true
		}
	}
	return nil
}

// decode fills p from body: one pass when the body decodes cleanly, the
// old per-layer decodes otherwise.
func (p *rpcPeek) decode(body []byte) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var batch []peekWire
		if json.Unmarshal(body, &batch) != nil {
			p.decodeSlow(body)
			return
		}
		// Each layer's decode of a batch succeeds exactly when this one
		// does: requestEra and the single-message decodes fail on an
		// array, so meta is "" and single false.
		p.msgs = make([]rpcMessage, len(batch))
		for i := range batch {
			p.msgs[i] = batch[i].message()
			if batch[i].Method != "" {
				p.methods = append(p.methods, batch[i].Method)
			}
		}
		return
	}
	var w peekWire
	if json.Unmarshal(body, &w) != nil {
		p.decodeSlow(body)
		return
	}
	// A clean decode of the union means each layer's decode of its own
	// fields (a subset, of the same types) is clean too, and equal.
	p.one[0] = w.message()
	p.msgs = p.one[:]
	if w.Method != "" {
		p.oneM[0] = w.Method
		p.methods = p.oneM[:]
	}
	p.meta = w.Params.Meta.ProtocolVersion()
	p.single = true
	p.id, p.idBad, p.method = w.ID.raw, w.ID.bad, w.Method
	p.name, p.uri = w.Params.Name, w.Params.URI
	if w.Params.Meta != nil {
		p.progressToken = w.Params.Meta.ProgressToken
	}
}

// decodeSlow fills p from a body that does not decode cleanly in one pass
// (invalid JSON, a non-object, a field of an unexpected type), each view
// as its layer always decoded it.
func (p *rpcPeek) decodeSlow(body []byte) {
	p.msgs = decodeMessages(body)
	p.methods = messageMethods(body)
	p.meta = metaProtocolVersion(body)
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method mcp.MCPMethod   `json:"method"`
	}
	if json.Unmarshal(body, &m) == nil {
		p.single = true
		p.id, p.method = m.ID, string(m.Method)
		var c struct {
			ID     any           `json:"id"`
			Method mcp.MCPMethod `json:"method"`
		}
		p.idBad = json.Unmarshal(body, &c) != nil
	}
}
