package acl

import (
	"strings"
	"sync"
)

// A decision runs once per item on every list request, so with thousands
// of tools and rules it must not scan the whole policy per call. Two caches,
// both owned by one immutable Policy (a reload builds a new Policy, and so
// new caches):
//
//   - subjectCache: for each caller seen (a login, or a set of tags), the
//     rules whose src names that caller, per kind indexed by exact name,
//     plus their glob patterns in rule order. Built on first sight in
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

// subjectRules are the rules whose src names one subject, per kind.
type subjectRules [numKinds]kindRules

// kindRules are the patterns of one kind in the rules naming a subject.
type kindRules struct {
	// exact maps a name to the first rule listing it without a glob.
	exact map[string]ruleHit
	// globs are the rules' glob patterns, in rule order.
	globs []globHit
}

// allows reports the first rule (in acl.rules order) that lets the subject
// use name. It does not allocate.
func (kr *kindRules) allows(name string) (string, bool) {
	best, ok := kr.exact[name]
	for i := range kr.globs {
		g := &kr.globs[i]
		if ok && g.index > best.index {
			break
		}
		if matchGlob(g.pattern, name) {
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
	sr := &subjectRules{}
	for k := range sr {
		sr[k].exact = map[string]ruleHit{}
	}
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
		for k := range r.pats {
			kr := &sr[k]
			for _, t := range r.pats[k] {
				if t.glob {
					kr.globs = append(kr.globs, globHit{ruleHit: hit, pattern: t.text})
				} else if _, dup := kr.exact[t.text]; !dup {
					kr.exact[t.text] = hit
				}
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
