package secrets

import "sync"

// lazy is a client a source makes on first use (Open reaches nothing). A
// failure to make it is not kept, so that the next lookup tries again.
// The zero value holds no client yet.
type lazy[T any] struct {
	mu   sync.Mutex // guards the fields below
	v    T
	made bool
}

// get returns the client, making it with newClient the first time, or
// again after a failure.
func (l *lazy[T]) get(newClient func() (T, error)) (T, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.made {
		v, err := newClient()
		if err != nil {
			return v, err
		}
		l.v, l.made = v, true
	}
	return l.v, nil
}
