package sessions

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"tailscale.com/ipn"

	"github.com/tsmcp/tsmcp/internal/statestore"
)

// The sessions ended on a host (its tombstones) are kept in the node's
// state store (tailnet.state), so that a restarted host with the same state
// still refuses them: a DELETEd session does not come back after a
// restart. Replicas do not share a state store (one store has one writer),
// so this is per replica; across replicas, a session's max age is what
// bounds it (see docs/security.md, "Session IDs").

// endedStateKey is the state store key of the record.
const endedStateKey ipn.StateKey = "tsmcp-ended-sessions"

// endedWriteEvery is the least time between two writes of the record: an
// end is written within about this long (and when the writer stops).
const endedWriteEvery = 2 * time.Second

// RecordLimit returns how many ended sessions the record may name in a
// state store of kind k (16 bytes each; older ones raise its floor, see
// sessionid.Tombstones.Marshal); 0 means nothing is kept, and the host
// neither restores nor writes the record. The file store rewrites its
// file under a lock, and the Kubernetes store patches one key of the
// Secret per write, so the record's writes never undo the node's own. A
// mem: store does not outlive the process. The SSM store puts a snapshot
// of all its keys per write, unlocked: a write of the record racing one of
// the node's (a renewed node key) could put the older snapshot last and
// lose the node's change, so nothing is kept there.
func RecordLimit(k statestore.Kind) int {
	switch k {
	case statestore.Dir:
		return 16384
	case statestore.Kube:
		return 8192 // a Secret holds at most 1 MiB
	default:
		return 0
	}
}

// RestoreEnded reads the record from store into the store's tombstones;
// no record is nothing to restore. A record that cannot be read or
// decoded fails closed: every session ID issued until now is refused
// here, and a warning on log says so.
func (st *Store) RestoreEnded(store ipn.StateStore, log *slog.Logger) {
	now := st.now()
	b, err := store.ReadState(endedStateKey)
	if errors.Is(err, ipn.ErrStateNotExist) {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if err == nil {
		err = st.ended.Restore(b, now)
	}
	if err != nil {
		st.ended.RaiseFloor(now)
		log.Warn("could not read the sessions ended before this start from tailnet.state; refusing every session ID issued before now", "err", err)
		return
	}
	log.Debug("restored the sessions ended before this start", "sessions", st.ended.Len())
}

// StartEndedWriter writes the record (at most limit sessions, see
// RecordLimit) to store whenever the tombstones change, at most every
// endedWriteEvery, and once more when the returned func stops it if they
// changed since. A failed write is logged on log and retried.
func (st *Store) StartEndedWriter(store ipn.StateStore, limit int, log *slog.Logger) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	write := func() {
		st.mu.Lock()
		b := st.ended.Marshal(st.now(), limit)
		st.mu.Unlock()
		if err := store.WriteState(endedStateKey, b); err != nil {
			log.Warn("could not write the ended sessions to tailnet.state; retrying", "err", err)
			st.notifyEnded()
		}
	}
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-st.endedChanged:
				write()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(endedWriteEvery):
			}
		}
	}()
	return func() error {
		cancel()
		<-done
		select {
		case <-st.endedChanged:
			write()
		default:
		}
		return nil
	}
}
