package playground

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/server"
)

// pageTimeout bounds one look at an identity page.
const pageTimeout = 30 * time.Second

// toolPoll is how often the playground looks whether the host's tools
// changed (an upstream came up, restarted or changed its tools).
const toolPoll = 500 * time.Millisecond

// pageClient reads the identity pages through the loopback endpoints;
// never through a proxy from the environment.
var pageClient = &http.Client{Transport: &http.Transport{Proxy: nil}}

// mayCall returns the tools the host lists to the identity whose page is
// pageURL (its own loopback endpoint's /): the page's JSON form shows the
// same decisions as tools/list, local rules and tailnet grants, bridged
// tools included once their upstream is up.
func mayCall(ctx context.Context, pageURL string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, pageTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pageURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := pageClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d", pageURL, resp.StatusCode)
	}
	var page struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&page); err != nil {
		return nil, fmt.Errorf("%s: %w", pageURL, err)
	}
	names := make([]string, 0, len(page.Tools))
	for _, t := range page.Tools {
		names = append(names, t.Name)
	}
	return names, nil
}

// principalOf is the principal the local rules name id by: its login, or
// its first tag.
func principalOf(id Identity) string {
	if len(id.Tags) > 0 {
		return id.Tags[0]
	}
	return id.Login
}

// lists holds the endpoints with what each identity may use, as printed
// and as the endpoints file has them; the reloader and the tool watcher
// update them.
type lists struct {
	out  io.Writer
	file string // the endpoints file; empty means none

	mu  sync.Mutex // guards the field below
	eps Endpoints
}

// fill asks the host what each identity may call and, when policy is not
// nil, takes each identity's prompt and resource patterns from its local
// rules. It changes nothing if a page cannot be read.
func (l *lists) fill(ctx context.Context, policy *acl.Policy) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fillLocked(ctx, policy)
}

func (l *lists) fillLocked(ctx context.Context, policy *acl.Policy) error {
	ids := slices.Clone(l.eps.Identities)
	for i, id := range ids {
		names, err := mayCall(ctx, id.Page)
		if err != nil {
			return fmt.Errorf("asking the host what %s may call: %w", id.Name, err)
		}
		ids[i].MayCall = names
		if policy != nil {
			ids[i].MayGetPrompts, _ = policy.PatternsFor(principalOf(id), acl.KindPrompt)
			ids[i].MayReadResources, _ = policy.PatternsFor(principalOf(id), acl.KindResource)
		}
	}
	l.eps.Identities = ids
	return nil
}

// refresh fills the lists again, prints what happened ("what") with the
// new lists on one line, and rewrites the endpoints file.
func (l *lists) refresh(ctx context.Context, policy *acl.Policy, what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.fillLocked(ctx, policy); err != nil {
		fmt.Fprintf(l.out, "%s; %v\n", what, err)
		return
	}
	var may []string
	for _, id := range l.eps.Identities {
		may = append(may, id.Name+": "+orNothing(id.MayCall))
	}
	fmt.Fprintf(l.out, "%s; may call: %s\n", what, strings.Join(may, "; "))
	if err := writeEndpoints(l.file, l.eps); err != nil {
		fmt.Fprintf(l.out, "endpoints file: %v\n", err)
	}
}

// snapshot returns a copy of the endpoints.
func (l *lists) snapshot() Endpoints {
	l.mu.Lock()
	defer l.mu.Unlock()
	eps := l.eps
	eps.Identities = slices.Clone(eps.Identities)
	return eps
}

// watchTools prints the lists again each time the host's tools change
// (tools is the set they were last printed for), until ctx ends.
func (l *lists) watchTools(ctx context.Context, host *server.Server, tools []string) {
	t := time.NewTicker(toolPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := host.ToolNames()
		if slices.Equal(now, tools) {
			continue
		}
		tools = now
		l.refresh(ctx, nil, fmt.Sprintf("tools changed (%s)", upstreamStates(host)))
	}
}

// upstreamStates says which upstreams are up and which are not, e.g.
// "upstream fs up; upstream wiki down: starting".
func upstreamStates(host *server.Server) string {
	var parts []string
	for _, st := range host.UpstreamStatus() {
		s := "upstream " + st.Name + " up"
		if !st.Up {
			s = "upstream " + st.Name + " down"
			if st.Detail != "" {
				s += ": " + st.Detail
			}
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "no upstreams"
	}
	return strings.Join(parts, "; ")
}
