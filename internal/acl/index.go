package acl

import (
	"strings"
	"sync"

	"tailscale.com/tailcfg"
)

// Decide runs once per tool on every tools/list, so with thousands of
// tools and rules it must not scan the whole policy per call. Two caches,
// both owned by one immutable Policy (a reload builds a new Policy, and so
// new caches):
//
//   - subjectCache: for each caller seen (a login, or a set of tags), the
//     rules whose src names that caller, indexed by exact tool name, plus
//     their glob patterns in rule order. Built on first sight in
//     O(rules); afterwards a decision is a map lookup and a scan of that
//     caller's own globs.
//   - grantCache: the decoded patterns of each distinct grant value seen
//     (the raw JSON from the tailnet policy). The caller's grants still
//     come from its current WhoIs on every request, so a revoked grant
//     stops working at once; only the decoding of identical bytes is
//     reused.
//
// Both are bounded; past the bound, decisions are computed without
// caching (correct, just slower).

// maxCachedSubjects and maxCachedGrants bound the caches. A tailnet has
// far fewer distinct users, tag sets and grant values than this.
const (
	maxCachedSubjects = 16384
	maxCachedGrants   = 4096
)

// subjectKey identifies a caller for the subject cache. Tagged nodes are
// keyed by their tags (joined with ","), users by lower-cased login and
// whether their node is shared in.
type subjectKey struct {
	tagged bool
	shared bool
	key    string
}

// ruleHit is a rule that allows a tool, and the reason to give.
type ruleHit struct {
	// index is the rule's position in acl.rules: the first rule in order
	// wins, so reasons are stable.
	index  int
	reason string
}

// globHit is a glob pattern of a rule that names the subject.
type globHit struct {
	ruleHit
	pattern string
}

// subjectRules are the rules whose src names one subject.
type subjectRules struct {
	// exact maps a tool name to the first rule listing it without a glob.
	exact map[string]ruleHit
	// globs are the rules' glob patterns, in rule order.
	globs []globHit
}

// allows reports the first rule (in acl.rules order) that lets the subject
// call tool. It does not allocate.
func (sr *subjectRules) allows(tool string) (string, bool) {
	best, ok := sr.exact[tool]
	for i := range sr.globs {
		g := &sr.globs[i]
		if ok && g.index > best.index {
			break
		}
		if matchGlob(g.pattern, tool) {
			return g.reason, true
		}
	}
	return best.reason, ok
}

// boundedCache memoizes one value per key, for at most max keys; past
// that, values are computed but not kept. It is safe for concurrent use.
type boundedCache[K comparable, V any] struct {
	mu sync.RWMutex // guards m
	m  map[K]V
}

// get returns the value for k, computing and (room permitting) keeping it
// on a miss. Two racing misses may both compute; the first kept wins.
func (c *boundedCache[K, V]) get(k K, max int, compute func() V) V {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	v = compute()
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[k]; ok {
		return prev
	}
	if len(c.m) < max {
		if c.m == nil {
			c.m = make(map[K]V)
		}
		c.m[k] = v
	}
	return v
}

// rulesFor returns the rules naming s, from the cache when possible.
func (p *Policy) rulesFor(s *subject, k subjectKey) *subjectRules {
	return p.subjects.get(k, maxCachedSubjects, func() *subjectRules { return p.buildSubjectRules(s) })
}

// buildSubjectRules collects the rules whose src names s.
func (p *Policy) buildSubjectRules(s *subject) *subjectRules {
	sr := &subjectRules{exact: map[string]ruleHit{}}
	for i := range p.rules {
		r := &p.rules[i]
		var hit ruleHit
		found := false
		for j := range r.src {
			if r.src[j].matches(s) {
				hit, found = ruleHit{index: i, reason: r.reasons[j]}, true
				break
			}
		}
		if !found {
			continue
		}
		for _, t := range r.tools {
			if t.glob {
				sr.globs = append(sr.globs, globHit{ruleHit: hit, pattern: t.text})
			} else if _, dup := sr.exact[t.text]; !dup {
				sr.exact[t.text] = hit
			}
		}
	}
	return sr
}

// keyFor returns the subject cache key of a caller. It allocates only for
// a node with more than one tag.
func keyFor(s *subject) subjectKey {
	switch len(s.tags) {
	case 0:
		return subjectKey{shared: s.shared, key: s.login}
	case 1:
		return subjectKey{tagged: true, key: s.tags[0]}
	}
	return subjectKey{tagged: true, key: strings.Join(s.tags, ",")}
}

// decodedGrant is one grant value, decoded: its valid patterns, or why it
// could not be decoded.
type decodedGrant struct {
	patterns []string
	err      error
}

// grant decodes one raw grant value under the policy's capability with
// tailcfg.UnmarshalCapJSON, from the cache when possible.
func (p *Policy) grant(raw tailcfg.RawMessage) *decodedGrant {
	return p.grants.get(raw, maxCachedGrants, func() *decodedGrant { return p.decodeGrant(raw) })
}

// decodeGrant decodes one raw grant value.
func (p *Policy) decodeGrant(raw tailcfg.RawMessage) *decodedGrant {
	g := &decodedGrant{}
	gs, err := tailcfg.UnmarshalCapJSON[Grant](tailcfg.PeerCapMap{p.capKey: {raw}}, p.capKey)
	if err != nil {
		g.err = err
		return g
	}
	for _, gr := range gs {
		for _, pat := range gr.Tools {
			// An invalid pattern in a grant matches nothing; the rest
			// of the grant still counts.
			if validPattern(pat) {
				g.patterns = append(g.patterns, pat)
			}
		}
	}
	return g
}
