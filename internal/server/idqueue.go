package server

import (
	"encoding/json"
	"sync"
	"sync/atomic"
)

// idQueue holds what waits for the answers of the requests posted on one
// legacy SSE session: on that transport a POST /message is answered 202
// at once and the answer travels later on the GET /sse stream, with the
// request's id. Values wait per normalized request id (rpcIDKey) in the
// order their requests were posted (a client may reuse an id). Once
// closed (the stream ended) it takes nothing more. While it is empty,
// answered costs one atomic load.
type idQueue[T comparable] struct {
	n      atomic.Int32 // len(byID), read without the lock
	mu     sync.Mutex   // guards the fields below
	byID   map[string][]T
	closed bool
}

// add queues v under key (an rpcIDKey); false when the queue is closed.
func (q *idQueue[T]) add(key string, v T) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	if q.byID == nil {
		q.byID = map[string][]T{}
	}
	q.byID[key] = append(q.byID[key], v)
	q.n.Store(int32(len(q.byID)))
	return true
}

// await queues v until the answer to request id is written (see
// takeAnswered). It returns nil when the queue is closed; otherwise a
// func that takes v back, for a POST the transport did not accept.
func (q *idQueue[T]) await(id json.RawMessage, v T) (forget func()) {
	key := rpcIDKey(id)
	if !q.add(key, v) {
		return nil
	}
	return func() { q.take(key, v) }
}

// take removes v (the zero T: the oldest) waiting under key and returns
// it; ok is false when there is none.
func (q *idQueue[T]) take(key string, v T) (got T, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	list := q.byID[key]
	var zero T
	i := 0
	if v != zero {
		for i = 0; i < len(list) && list[i] != v; i++ {
		}
	}
	if i >= len(list) {
		return zero, false
	}
	got = list[i]
	list = append(list[:i:i], list[i+1:]...)
	if len(list) == 0 {
		delete(q.byID, key)
	} else {
		q.byID[key] = list
	}
	q.n.Store(int32(len(q.byID)))
	return got, true
}

// takeAnswered removes and returns the oldest value waiting for the
// answer with this id, if any.
func (q *idQueue[T]) takeAnswered(id json.RawMessage) (got T, ok bool) {
	if q.n.Load() == 0 || len(id) == 0 {
		return got, false
	}
	return q.take(rpcIDKey(id), got)
}

// close closes the queue and returns what was still waiting: those
// answers will never be written.
func (q *idQueue[T]) close() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	var out []T
	for _, list := range q.byID {
		out = append(out, list...)
	}
	q.byID = nil
	q.n.Store(0)
	return out
}
