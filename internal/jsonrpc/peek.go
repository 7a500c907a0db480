package jsonrpc

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
)

// Peek is what the layers in front of an MCP transport read of a posted
// JSON-RPC body: the few fields they decide on (the version
// reconciliation, the session requirement, stateless cancellation, the
// limits, the SSE tracker, the metrics, the spans). It is decoded once,
// with Decode, and then shared read-only by every layer; its methods are
// safe for concurrent use after Decode returns. A Peek must not be
// copied after first use.
//
// The zero Peek is the view of an empty body: no messages, not single,
// no meta version. Decode(nil, ...) gives the same view.
//
// Every view equals what a layer's own decode of the body gives (see the
// method docs), malformed bodies included: a body that does not decode
// cleanly in one pass is decoded again view by view, so behaviour never
// depends on the shortcut.
type Peek struct {
	// msgs is each message of the body (one, or a batch's) as
	// DecodeMessages reads it; nil for invalid JSON.
	msgs []Message
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
	// number out of float64's range).
	idBad bool
	// method is the single message's method.
	method string
	// name and uri are the single message's params.name (tools/call,
	// prompts/get) and params.uri (resources/read), raw; nil when absent
	// or when the body took the slow path.
	name, uri json.RawMessage

	// params._meta is decoded apart, only when asked for, unless Decode
	// was told to decode it in the same pass: see MetaVersion.
	body     []byte
	metaOnce sync.Once
	// meta is the protocol version in params._meta of a single message;
	// "" if none. Valid after metaOnce.
	meta string
	// progressToken is the single message's params._meta.progressToken,
	// or nil. Valid after metaOnce.
	progressToken any

	one  [1]Message // backs msgs for a single message
	oneM [1]string  // backs methods for a single message
}

// Messages returns each message of the body (one, or a batch's), as
// DecodeMessages reads them: nil for invalid JSON. The slice is shared:
// do not modify it.
func (p *Peek) Messages() []Message { return p.msgs }

// Methods returns the method of each message of the body that has one
// (responses have none), in order; nil when there are none, and for a
// batch with any malformed message. The slice is shared: do not modify it.
func (p *Peek) Methods() []string { return p.methods }

// Single reports whether the body is one JSON-RPC message (an object, or
// null) whose id and method decode as mcp-go's HandleMessage reads them
// (a method that is a string, or absent). A batch, invalid JSON and an
// empty body are not single.
func (p *Peek) Single() bool { return p.single }

// ID returns the single message's id, raw as sent: nil when absent (or
// the body is not single), "null" when null.
func (p *Peek) ID() json.RawMessage { return p.id }

// Method returns the single message's method; "" for a response, or when
// the body is not single.
func (p *Peek) Method() string { return p.method }

// Name returns the single message's params.name (tools/call, prompts/get)
// when it is a string; "" otherwise (absent, another type, not single).
func (p *Peek) Name() string { return paramString(p.name) }

// URI returns the single message's params.uri (resources/read,
// resources/subscribe) when it is a string; "" otherwise.
func (p *Peek) URI() string { return paramString(p.uri) }

// IDValue returns the single message's ID decoded as mcp-go's
// HandleMessage decodes it (a string, a float64, nil for absent or null,
// a map or a slice for other JSON); ok is false when the body is not one
// message or its id does not decode (a number out of float64's range).
func (p *Peek) IDValue() (id any, ok bool) {
	if !p.single || p.idBad {
		return nil, false
	}
	if p.id != nil {
		json.Unmarshal(p.id, &id)
	}
	return id, true
}

// MetaVersion returns the protocol version the body declares in
// params._meta, as mcp-go reads it, or "" (none, a batch, or a body that
// does not decode). Unless Decode decoded it in the same pass, the _meta
// decode (a map of everything in it, as mcp-go decodes it) is made on the
// first call.
func (p *Peek) MetaVersion() string {
	p.metaOnce.Do(func() {
		var m struct {
			Params struct {
				Meta *mcp.Meta `json:"_meta"`
			} `json:"params"`
		}
		if json.Unmarshal(p.body, &m) == nil {
			p.setMeta(m.Params.Meta)
		}
	})
	return p.meta
}

// ProgressToken returns the single message's params._meta.progressToken
// as mcp-go decodes it (a float64 or a string), or nil when there is none.
func (p *Peek) ProgressToken() any {
	p.MetaVersion()
	return p.progressToken
}

// Modern reports whether the request is a stateless (2026-07-28 or later)
// one given its MCP-Protocol-Version header: the body's _meta or the
// header names such a version.
func (p *Peek) Modern(header string) bool {
	return mcp.IsModernProtocol(p.MetaVersion()) || mcp.IsModernProtocol(header)
}

// Requests counts the messages in the body that expect a response (see
// Message.IsRequest).
func (p *Peek) Requests() int {
	n := 0
	for _, m := range p.msgs {
		if m.IsRequest() {
			n++
		}
	}
	return n
}

// setMeta records meta's protocol version and progress token.
func (p *Peek) setMeta(meta *mcp.Meta) {
	p.meta = meta.ProtocolVersion()
	if meta != nil {
		p.progressToken = meta.ProgressToken
	}
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

// peekParamsMeta are peekParams and _meta, as mcp-go decodes it.
type peekParamsMeta struct {
	Meta *mcp.Meta       `json:"_meta"`
	Name json.RawMessage `json:"name"`
	URI  json.RawMessage `json:"uri"`
}

// presentRaw stands for a result or error that is present, whatever it
// holds: only its presence tells a response (see Message.IsResponse).
var presentRaw = json.RawMessage("null")

func (w *peekWire[P]) message() Message {
	m := Message{ID: w.ID.raw, Method: w.Method}
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

// Decode fills p from body, which p keeps (the caller must not modify it):
// one pass when the body decodes cleanly, each view's own decode
// otherwise. withMeta decodes params._meta in the same pass, for callers
// that will ask for MetaVersion anyway; otherwise it is decoded on demand.
// (A body whose _meta does not decode takes the slow path when withMeta
// is set, which leaves Name and URI empty.) Call Decode once, before p is
// shared.
func (p *Peek) Decode(body []byte, withMeta bool) {
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
		p.msgs = make([]Message, len(batch))
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
		p.metaOnce.Do(func() { p.setMeta(w.Params.Meta) })
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
func (p *Peek) setSingle(id *peekID, method string, m Message, name, uri json.RawMessage) {
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
func (p *Peek) decodeSlow(body []byte) {
	p.msgs = DecodeMessages(body)
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
