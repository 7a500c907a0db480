package upstream

import (
	"fmt"
	"testing"
	"time"
)

func TestURLElicitationID(t *testing.T) {
	for _, tt := range []struct {
		name, params string
		want         string // "" for not remembered
	}{
		{name: "url mode", params: `{"mode":"url","url":"https://x","elicitationId":"e1"}`, want: "e1"},
		{name: "form mode", params: `{"message":"m","elicitationId":"e2"}`},
		{name: "explicit form mode", params: `{"mode":"form","elicitationId":"e2"}`},
		{name: "no id", params: `{"mode":"url","url":"https://x"}`},
		{name: "id too long", params: fmt.Sprintf(`{"mode":"url","elicitationId":"%0300d"}`, 1)},
		{name: "undecodable", params: `{"mode":`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := urlElicitationID([]byte(tt.params))
			if got := map[bool]string{true: id}[ok]; got != tt.want {
				t.Errorf("urlElicitationID(%s) = %q, %v; want %q", tt.params, id, ok, tt.want)
			}
		})
	}
}

func TestURLElicitsPutAndTake(t *testing.T) {
	now := time.Now()
	t.Run("taken once", func(t *testing.T) {
		var e urlElicits
		e.put("e1", urlElicit{session: "s1"}, now)
		if el, ok := e.take("e1"); !ok || el.session != "s1" {
			t.Fatalf("take = %+v, %v; want s1", el, ok)
		}
		if _, ok := e.take("e1"); ok {
			t.Error("taken twice: a completion would be delivered twice")
		}
		if _, ok := e.take("e9"); ok {
			t.Error("an ID never put was found")
		}
	})
	t.Run("expired entries are forgotten", func(t *testing.T) {
		var e urlElicits
		e.put("old", urlElicit{session: "s1"}, now.Add(-2*urlElicitTTL))
		e.put("new", urlElicit{session: "s2"}, now)
		if _, ok := e.take("old"); ok {
			t.Error("an expired elicitation was still remembered")
		}
		if _, ok := e.take("new"); !ok {
			t.Error("a fresh elicitation was forgotten")
		}
	})
	t.Run("bounded: the oldest is forgotten", func(t *testing.T) {
		var e urlElicits
		for i := range maxURLElicits + 5 {
			e.put(fmt.Sprint(i), urlElicit{session: "s"}, now)
		}
		if _, ok := e.take("0"); ok {
			t.Error("the oldest of more than maxURLElicits is still remembered")
		}
		if _, ok := e.take(fmt.Sprint(maxURLElicits + 4)); !ok {
			t.Error("the newest is forgotten")
		}
		if len(e.pending) != maxURLElicits-1 || len(e.order) != len(e.pending) {
			t.Errorf("%d pending, %d ordered; want %d of each", len(e.pending), len(e.order), maxURLElicits-1)
		}
	})
}
