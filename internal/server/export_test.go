package server

import "time"

// StaleWhoIs turns off the WhoIs cache's invalidation in o: cached
// answers then live until the host stops. Tests use it to show that the
// invalidation tests fail without it.
func StaleWhoIs(o *Options) { o.staleWhoIs = true }

// WhoIsCacheStats returns how many WhoIs answers came from the cache and
// how many WhoIs calls it made; zeros without a cache.
func WhoIsCacheStats(s *Server) (hits, misses uint64) {
	s.mu.Lock()
	c := s.whoisCache
	s.mu.Unlock()
	if c == nil {
		return 0, 0
	}
	return c.Stats()
}

// SetClock makes the host read session IDs' issue times and max ages from
// now instead of time.Now (a host whose clock is ahead or behind).
func SetClock(o *Options, now func() time.Time) { o.clock = now }
