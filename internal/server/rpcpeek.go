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

	// params._meta is decoded apart, only when a layer asks (on /mcp,
	// not on the SSE transport's /message): see metaVersion.
	body     []byte
	metaOnce sync.Once
	// meta is the protocol version in params._meta of a single message,
	// as requestEra reads it; "" if none. Valid after metaOnce.
	meta string
	// progressToken is the single message's params._meta.progressToken,
	// or nil. Valid after metaOnce.
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
	// On /mcp every request's _meta is read (the version
	// reconciliation): decode it in the same pass. The legacy SSE
	// transport's /message never reads it.
	rb.once.Do(func() { rb.peek.decode(rb.body, r.URL.Path == "/mcp") })
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
	p.decode(nil, false)
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

// metaVersion returns the protocol version the body declares in
// params._meta, as requestEra reads it, or "". The _meta decode (a map of
// everything in it, as mcp-go decodes it) is made on the first call.
func (p *rpcPeek) metaVersion() string {
	p.metaOnce.Do(func() {
		var m struct {
			Params struct {
				Meta *mcp.Meta `json:"_meta"`
			} `json:"params"`
		}
		if json.Unmarshal(p.body, &m) == nil {
			p.meta = m.Params.Meta.ProtocolVersion()
			if m.Params.Meta != nil {
				p.progressToken = m.Params.Meta.ProgressToken
			}
		}
	})
	return p.meta
}

// modern reports whether the request is a stateless (2026-07-28 or later)
// one given its protocol version header, as requestEra decides.
func (p *rpcPeek) modern(header string) bool {
	return mcp.IsModernProtocol(p.metaVersion()) || mcp.IsModernProtocol(header)
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
type peekWire[P any] struct {
	ID     peekID  `json:"id"`
	Method string  `json:"method"`
	Params P       `json:"params"`
	Result present `json:"result"`
	Error  present `json:"error"`
}

// peekParams are the params fields of the one decode.
type peekParams struct {
	Name json.RawMessage `json:"name"`
	URI  json.RawMessage `json:"uri"`
}

// peekParamsMeta are peekParams and _meta, as requestEra decodes it, for
// a request on /mcp, whose layers all read it.
type peekParamsMeta struct {
	Meta *mcp.Meta       `json:"_meta"`
	Name json.RawMessage `json:"name"`
	URI  json.RawMessage `json:"uri"`
}

// presentRaw stands for a result or error that is present, whatever it
// holds: only its presence tells a response (see rpcMessage.isResponse).
var presentRaw = json.RawMessage("null")

func (w *peekWire[P]) message() rpcMessage {
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
// old per-layer decodes otherwise. withMeta decodes params._meta in the
// same pass (when it decodes cleanly); otherwise it is decoded on demand
// (see metaVersion).
func (p *rpcPeek) decode(body []byte, withMeta bool) {
	p.body = body
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var batch []peekWire[peekParams]
		if json.Unmarshal(body, &batch) != nil {
			p.decodeSlow(body)
			return
		}
		// Each layer's decode of a batch succeeds exactly when this one
		// does: the single-message decodes fail on an array, so single
		// is false.
		p.msgs = make([]rpcMessage, len(batch))
		for i := range batch {
			p.msgs[i] = batch[i].message()
			if batch[i].Method != "" {
				p.methods = append(p.methods, batch[i].Method)
			}
		}
		return
	}
	// A clean decode of the union means each layer's decode of its own
	// fields (a subset, of the same types) is clean too, and equal.
	if withMeta {
		var w peekWire[peekParamsMeta]
		if json.Unmarshal(body, &w) != nil {
			p.decodeSlow(body)
			return
		}
		p.setSingle(&w.ID, w.Method, w.message(), w.Params.Name, w.Params.URI)
		p.metaOnce.Do(func() {
			p.meta = w.Params.Meta.ProtocolVersion()
			if w.Params.Meta != nil {
				p.progressToken = w.Params.Meta.ProgressToken
			}
		})
		return
	}
	var w peekWire[peekParams]
	if json.Unmarshal(body, &w) != nil {
		p.decodeSlow(body)
		return
	}
	p.setSingle(&w.ID, w.Method, w.message(), w.Params.Name, w.Params.URI)
}

// setSingle fills p's views of a single message decoded cleanly.
func (p *rpcPeek) setSingle(id *peekID, method string, m rpcMessage, name, uri json.RawMessage) {
	p.one[0] = m
	p.msgs = p.one[:]
	if method != "" {
		p.oneM[0] = method
		p.methods = p.oneM[:]
	}
	p.single = true
	p.id, p.idBad, p.method = id.raw, id.bad, method
	p.name, p.uri = name, uri
}

// decodeSlow fills p from a body that does not decode cleanly in one pass
// (invalid JSON, a non-object, a field of an unexpected type), each view
// as its layer always decoded it.
func (p *rpcPeek) decodeSlow(body []byte) {
	p.msgs = decodeMessages(body)
	p.methods = messageMethods(body)
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
