package connect

import "testing"

// TestClassify pins the relay's reading of a message's shape: an id
// without a method is a response even with neither result nor error, and
// anything but one object is passed on as it is.
func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		name   string
		msg    string
		kind   kind
		method string
		id     string
	}{
		{name: "request", msg: `{"jsonrpc":"2.0","id":1,"method":"initialize"}`, kind: kindRequest, method: "initialize", id: `1`},
		{name: "request after whitespace", msg: " \n{\"id\":\"a\",\"method\":\"ping\"}", kind: kindRequest, method: "ping", id: `"a"`},
		{name: "notification", msg: `{"jsonrpc":"2.0","method":"notifications/initialized"}`, kind: kindNotification, method: "notifications/initialized"},
		{name: "null id is a notification", msg: `{"id":null,"method":"notifications/cancelled"}`, kind: kindNotification, method: "notifications/cancelled", id: `null`},
		{name: "result", msg: `{"id":1,"result":{}}`, kind: kindResponse, id: `1`},
		{name: "error", msg: `{"id":2,"error":{"code":-1}}`, kind: kindResponse, id: `2`},
		{name: "bare id", msg: `{"id":3}`, kind: kindResponse, id: `3`},
		{name: "error with null id", msg: `{"id":null,"error":{"code":-32700}}`, kind: kindOther, id: `null`},
		{name: "batch", msg: `[{"id":1,"method":"ping"}]`, kind: kindOther},
		{name: "not JSON", msg: `{"id":1,`, kind: kindOther},
		{name: "method not a string", msg: `{"id":1,"method":7}`, kind: kindOther, id: `1`},
		{name: "empty", msg: ``, kind: kindOther},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, env := classify([]byte(tt.msg))
			if k != tt.kind || env.Method != tt.method || string(env.ID) != tt.id {
				t.Errorf("classify = %v %q %s, want %v %q %s", k, env.Method, env.ID, tt.kind, tt.method, tt.id)
			}
		})
	}
}
