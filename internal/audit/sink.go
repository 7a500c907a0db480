package audit

import "context"

// Sink receives audit events. Record is called once per event, on the
// goroutine that made the decision, with the request's context; it must be
// safe for concurrent use, must not block for long, and has nothing to
// return: a sink that fails reports it its own way.
type Sink interface {
	Record(ctx context.Context, e Event)
}

// Sinks is a Sink that hands each event to each of its sinks, in order.
// Nil entries are skipped; an empty Sinks records nothing.
type Sinks []Sink

// Record implements Sink.
func (ss Sinks) Record(ctx context.Context, e Event) {
	for _, s := range ss {
		if s != nil {
			s.Record(ctx, e)
		}
	}
}
