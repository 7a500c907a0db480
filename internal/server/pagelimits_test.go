package server_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// heldResources is a resource provider whose Resources, which the
// identity page asks, waits while held: a page view stays in progress
// until the test lets it go.
type heldResources struct {
	entered chan struct{} // receives when a Resources call begins

	mu   sync.Mutex    // guards the field below
	hold chan struct{} // nil: Resources answers at once
}

func (p *heldResources) Name() string                                { return "held" }
func (p *heldResources) Close() error                                { return nil }
func (p *heldResources) Tools(context.Context) ([]tools.Tool, error) { return nil, nil }
func (p *heldResources) Resources(ctx context.Context) ([]mcpgo.Resource, []mcpgo.ResourceTemplate) {
	p.mu.Lock()
	hold := p.hold
	p.mu.Unlock()
	if hold != nil {
		p.entered <- struct{}{}
		select {
		case <-hold:
		case <-ctx.Done():
		}
	}
	return []mcpgo.Resource{{URI: "held://r", Name: "r"}}, nil
}
func (p *heldResources) ReadResource(context.Context, string) ([]mcpgo.ResourceContents, error) {
	return nil, tools.ErrNotFound
}
func (p *heldResources) SubscribeResource(context.Context, string, func()) (func(), error) {
	return nil, tools.ErrNotFound
}
func (p *heldResources) CompleteResource(context.Context, string, mcpgo.CompleteArgument, mcpgo.CompleteContext) (*mcpgo.Completion, error) {
	return nil, tools.ErrNotFound
}
func (p *heldResources) OnResourcesChanged(func()) {}

// holdAll makes every Resources call wait until the returned func.
func (p *heldResources) holdAll() (release func()) {
	ch := make(chan struct{})
	p.mu.Lock()
	p.hold = ch
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		p.hold = nil
		p.mu.Unlock()
		close(ch)
	}
}

// TestPageViewLimits: identity page views count against
// mcp.limits.pages_per_identity and pages_total like any other request:
// an identity with as many views in progress as it may gets 429 (another
// identity is still served), past the total everyone gets 503, both with
// Retry-After and a limit audit line; a finished view frees its place.
func TestPageViewLimits(t *testing.T) {
	held := &heldResources{entered: make(chan struct{}, 16)}
	// testLimits: two page views per identity, three in all.
	host, logs := startLimitsHost(t, "limits-pages", func(_ *config.Config, o *server.Options) {
		o.Tools = server.Providers(tools.Builtin{}, held)
	})
	base := "http://" + host.TailnetIP().String()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tn := startTailnet(t)
	cs := tn.callers()
	alice, bob, ci := cs[0].httpClient(), cs[1].httpClient(), cs[2].httpClient()

	type answer struct {
		resp *http.Response
		err  error
	}
	view := func(hc *http.Client) <-chan answer {
		ch := make(chan answer, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
			resp, err := hc.Do(req)
			if err == nil {
				readAll(resp) // the body, so that the view ends
				resp.Body.Close()
			}
			ch <- answer{resp, err}
		}()
		return ch
	}
	// inProgress starts a view as hc and waits until the host builds it.
	inProgress := func(hc *http.Client, who string) <-chan answer {
		t.Helper()
		ch := view(hc)
		select {
		case <-held.entered:
		case a := <-ch:
			t.Fatalf("%s's page view ended at once: %v %v", who, a.resp.StatusCode, a.err)
		case <-ctx.Done():
			t.Fatalf("%s's page view never started", who)
		}
		return ch
	}
	// refused wants a view as hc refused with code, never built.
	refused := func(hc *http.Client, who string, code int, limit string) {
		t.Helper()
		select {
		case a := <-view(hc):
			if a.err != nil {
				t.Fatal(a.err)
			}
			wantRefused(t, logs, a.resp, code, limit)
		case <-held.entered:
			t.Fatalf("%s's page view was admitted past %s", who, limit)
		case <-ctx.Done():
			t.Fatalf("%s's page view: no answer", who)
		}
	}

	release := held.holdAll()
	views := []<-chan answer{inProgress(alice, "alice"), inProgress(alice, "alice")}
	refused(alice, "alice", http.StatusTooManyRequests, "mcp.limits.pages_per_identity")
	views = append(views, inProgress(bob, "bob"))
	refused(ci, "ci", http.StatusServiceUnavailable, "mcp.limits.pages_total")

	release()
	for _, ch := range views {
		if a := <-ch; a.err != nil || a.resp.StatusCode != http.StatusOK {
			t.Fatalf("a held page view ended with %v %v, want 200", a.resp, a.err)
		}
	}
	// Finished views free their places.
	for _, hc := range []*http.Client{alice, alice, ci} {
		if code, _ := get(t, hc, base+"/"); code != http.StatusOK {
			t.Fatalf("GET / after the views ended = %d, want 200", code)
		}
	}
}
