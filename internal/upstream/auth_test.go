package upstream

import (
	"context"
	"strings"
	"testing"
	"time"

	"tailscale.com/ipn/store/mem"
)

// TestCatalogIdentity: the identity that lists an upstream with auth is
// the first offered, kept in the state store (a new catalog over the
// same store starts with it), replaced only once dropped, and wait
// returns it as soon as there is one.
func TestCatalogIdentity(t *testing.T) {
	st := new(mem.Store)
	c := newCatalog(st, "gh")
	if got := c.current(); got != "" {
		t.Fatalf("a new catalog lists as %q", got)
	}
	got := make(chan string, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { k, _ := c.wait(ctx); got <- k }()
	if !c.offer("user:1") || c.offer("user:2") {
		t.Fatal("offer: the first identity must win, the second must not replace it")
	}
	if k := <-got; k != "user:1" {
		t.Fatalf("wait = %q, want user:1", k)
	}
	if k := newCatalog(st, "gh").current(); k != "user:1" {
		t.Errorf("after a restart the catalog lists as %q, want user:1", k)
	}
	if k := newCatalog(st, "other").current(); k != "" {
		t.Errorf("another upstream's catalog lists as %q", k)
	}
	if c.drop("user:2") {
		t.Error("dropped an identity that was not the catalog's")
	}
	if !c.drop("user:1") || c.current() != "" {
		t.Fatal("drop did not forget the catalog identity")
	}
	if k := newCatalog(st, "gh").current(); k != "" {
		t.Errorf("after drop and a restart the catalog lists as %q", k)
	}
	if !c.offer("user:2") || c.current() != "user:2" {
		t.Error("a dropped catalog takes the next identity offered")
	}
}

func TestResolveEnv(t *testing.T) {
	lookup := func(k string) (string, bool) {
		if k == "SECRET" {
			return "s3cr3t", true
		}
		return "", false
	}
	for _, tt := range []struct {
		name, in, want, err string
	}{
		{name: "literal", in: "plain", want: "plain"},
		{name: "env", in: `{{env "SECRET"}}`, want: "s3cr3t"},
		{name: "unset", in: `{{env "NOPE"}}`, err: `environment variable "NOPE" is not set`},
		{name: "bad template", in: `{{env`, err: "invalid template"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveEnv(tt.in, lookup)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "s3cr3t") {
					t.Fatalf("resolveEnv(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("resolveEnv(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}
