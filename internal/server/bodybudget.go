package server

import (
	"errors"
	"io"
	"net/http"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// budgetError is returned by readBudgeted when a body would pass a
// body-bytes budget (mcp.limits.body_bytes_*).
type budgetError struct{ ref *refusal }

func (e *budgetError) Error() string { return "request body over " + e.ref.key }

// firstChunk is the buffer a body of unknown length starts with.
const firstChunk = 16 << 10

// readBudgeted reads r's body, at most limit bytes, into memory. Its bytes
// are reserved from the caller's and the host's body budgets before they
// are allocated: all of Content-Length at once when it is given (a refused
// body is not read at all), otherwise each growth of the buffer as the
// body arrives. release returns them; it is never nil and must be called
// once the body is no longer needed.
func (s *Server) readBudgeted(w http.ResponseWriter, r *http.Request, limit int64) (body []byte, release func(), err error) {
	id, _ := identity.FromContext(r.Context())
	key := id.Key()
	var held int64
	release = func() {
		if held > 0 {
			s.limits.body.release(key, held)
			held = 0
		}
	}
	reserve := func(n int64) error {
		if ref := s.limits.body.acquire(key, n); ref != nil {
			return &budgetError{ref: ref}
		}
		held += n
		return nil
	}
	src := http.MaxBytesReader(w, r.Body, limit)
	if r.ContentLength > 0 {
		if err := reserve(r.ContentLength); err != nil {
			return nil, release, err
		}
		body = make([]byte, r.ContentLength)
		if _, err := io.ReadFull(src, body); err != nil {
			return nil, release, err
		}
		return body, release, nil
	}
	// Unknown length: grow as it arrives, reserving each growth first,
	// never past max (a budget of exactly max_body must hold a body of
	// exactly max_body).
	first := max(min(int64(firstChunk), limit), 1)
	if err := reserve(first); err != nil {
		return nil, release, err
	}
	body = make([]byte, 0, first)
	for {
		if len(body) == cap(body) {
			if int64(cap(body)) >= limit {
				// Full: one more read tells the end of the body from
				// a body over the limit (MaxBytesReader's error).
				var probe [1]byte
				n, err := src.Read(probe[:])
				switch {
				case n == 0 && errors.Is(err, io.EOF):
					return body, release, nil
				case err != nil && !errors.Is(err, io.EOF):
					return nil, release, err
				case n > 0:
					return nil, release, &http.MaxBytesError{Limit: limit}
				}
				continue
			}
			grow := min(int64(cap(body)), limit-int64(cap(body)))
			if err := reserve(grow); err != nil {
				return nil, release, err
			}
			next := make([]byte, len(body), int64(cap(body))+grow)
			copy(next, body)
			body = next
		}
		n, err := src.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if errors.Is(err, io.EOF) {
			return body, release, nil
		}
		if err != nil {
			return nil, release, err
		}
	}
}
