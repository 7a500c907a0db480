package jsonrpc

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestMessageKinds(t *testing.T) {
	for _, tt := range []struct {
		name                                string
		msg                                 Message
		hasID, request, notification, reply bool
	}{
		{name: "zero", msg: Message{}},
		{name: "request", msg: Message{ID: raw(`1`), Method: "tools/list"}, hasID: true, request: true},
		{name: "request with string id", msg: Message{ID: raw(`"a"`), Method: "ping"}, hasID: true, request: true},
		{name: "notification", msg: Message{Method: "notifications/initialized"}, notification: true},
		{name: "null id is a notification", msg: Message{ID: raw(`null`), Method: "notifications/cancelled"}, notification: true},
		{name: "result", msg: Message{ID: raw(`1`), Result: raw(`{}`)}, hasID: true, reply: true},
		{name: "null result", msg: Message{ID: raw(`1`), Result: raw(`null`)}, hasID: true, reply: true},
		{name: "error", msg: Message{ID: raw(`null`), Error: raw(`{"code":-32700}`)}, reply: true},
		{name: "id alone is no response", msg: Message{ID: raw(`1`)}, hasID: true},
		{name: "method and result is a request", msg: Message{ID: raw(`1`), Method: "x", Result: raw(`1`)}, hasID: true, request: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.msg
			got := [4]bool{m.HasID(), m.IsRequest(), m.IsNotification(), m.IsResponse()}
			want := [4]bool{tt.hasID, tt.request, tt.notification, tt.reply}
			if got != want {
				t.Errorf("HasID, IsRequest, IsNotification, IsResponse = %v, want %v", got, want)
			}
		})
	}
}

func TestDecodeMessages(t *testing.T) {
	for _, tt := range []struct {
		name string
		body string
		want []Message
	}{
		{name: "empty", body: ``},
		{name: "whitespace", body: " \n\t"},
		{name: "invalid JSON", body: `{"id":1,`},
		{name: "not JSON", body: `hello`},
		{name: "request", body: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
			want: []Message{{ID: raw(`1`), Method: "tools/list"}}},
		{name: "notification", body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`,
			want: []Message{{Method: "notifications/initialized"}}},
		{name: "null id kept raw", body: `{"id":null,"method":"x"}`,
			want: []Message{{ID: raw(`null`), Method: "x"}}},
		{name: "response keeps result and error raw", body: `{"id":"a","result":{"k":[1]},"error":null}`,
			want: []Message{{ID: raw(`"a"`), Result: raw(`{"k":[1]}`), Error: raw(`null`)}}},
		{name: "oversized numeric id kept raw", body: `{"id":1e400,"method":"x"}`,
			want: []Message{{ID: raw(`1e400`), Method: "x"}}},
		{name: "object id kept raw", body: `{"id":{"a":1},"method":"x"}`,
			want: []Message{{ID: raw(`{"a":1}`), Method: "x"}}},
		{name: "method of the wrong type", body: `{"id":1,"method":7}`},
		{name: "null", body: `null`, want: []Message{{}}},
		{name: "a number", body: `7`},
		{name: "surrounding whitespace", body: " {\"id\":2,\"method\":\"ping\"}\n",
			want: []Message{{ID: raw(`2`), Method: "ping"}}},
		{name: "batch", body: `[{"id":1,"method":"tools/list"},{"method":"notifications/initialized"},{"id":1,"result":{}}]`,
			want: []Message{{ID: raw(`1`), Method: "tools/list"}, {Method: "notifications/initialized"}, {ID: raw(`1`), Result: raw(`{}`)}}},
		{name: "batch after whitespace", body: "\n [{\"id\":1,\"method\":\"ping\"}]",
			want: []Message{{ID: raw(`1`), Method: "ping"}}},
		{name: "empty batch", body: `[]`, want: []Message{}},
		{name: "batch with odd elements", body: `[{"id":1,"method":"tools/list"},3,{"id":2,"method":9},null]`,
			want: []Message{{ID: raw(`1`), Method: "tools/list"}, {}, {ID: raw(`2`)}, {}}},
		{name: "invalid batch", body: `[{"id":1,"method":"tools/list"},`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := DecodeMessages([]byte(tt.body))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeMessages(%q) = %s, want %s", tt.body, show(got), show(tt.want))
			}
		})
	}
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// show renders messages with their raw fields readable.
func show(ms []Message) string {
	if ms == nil {
		return "nil"
	}
	b, _ := json.Marshal(ms)
	return string(b)
}
