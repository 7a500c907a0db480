package upstream

// Observer is told about upstream lifecycle events, for metrics. Its
// methods are called from the provider's goroutines and must not block.
// Every name is the configured name of the upstream.
type Observer interface {
	// UpstreamRestarted is called each time a supervisor starts a new
	// stdio child or remote session after its first: a restart after the
	// child exited or crashed, or after a session or dial failed. It
	// counts per-identity children's restarts too.
	UpstreamRestarted(upstream string)
	// UpstreamChildStarted is called when a stdio child process (shared,
	// discovery or per-identity) has started.
	UpstreamChildStarted(upstream string)
	// UpstreamChildExited is called once that process has exited and been
	// reaped; every UpstreamChildStarted is followed by exactly one.
	UpstreamChildExited(upstream string)
}

// restarted reports a supervisor's restart to the observer, if any.
func (u *upstream) restarted() {
	if o := u.p.opts.Observer; o != nil {
		o.UpstreamRestarted(u.name)
	}
}

// trackChild reports a child process starting (delta 1) or exiting and
// reaped (delta -1) to the observer, if any.
func (u *upstream) trackChild(delta int) {
	o := u.p.opts.Observer
	switch {
	case o == nil:
	case delta > 0:
		o.UpstreamChildStarted(u.name)
	default:
		o.UpstreamChildExited(u.name)
	}
}
