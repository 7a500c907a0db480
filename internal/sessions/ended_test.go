package sessions

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"tailscale.com/ipn"
	"tailscale.com/ipn/store/mem"

	"github.com/tsmcp/tsmcp/internal/statestore"
)

func TestRecordLimit(t *testing.T) {
	tests := []struct {
		name string
		kind statestore.Kind
		want int
	}{
		{"directory", statestore.Dir, 16384},
		{"Kubernetes Secret", statestore.Kube, 8192},
		{"memory: nothing outlives the process", statestore.Mem, 0},
		{"SSM: a write could undo the node's", statestore.SSM, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RecordLimit(tt.kind); got != tt.want {
				t.Fatalf("RecordLimit(%v) = %d, want %d", tt.kind, got, tt.want)
			}
		})
	}
}

// failingStore is a state store whose reads or writes fail while fail is
// set; wrote receives a value after every write tried.
type failingStore struct {
	mem.Store
	failRead, failWrite bool
	wrote               chan struct{}
}

func (s *failingStore) ReadState(k ipn.StateKey) ([]byte, error) {
	if s.failRead {
		return nil, errors.New("unreadable")
	}
	return s.Store.ReadState(k)
}

func (s *failingStore) WriteState(k ipn.StateKey, b []byte) error {
	defer func() {
		if s.wrote != nil {
			s.wrote <- struct{}{}
		}
	}()
	if s.failWrite {
		s.failWrite = false
		return errors.New("unwritable")
	}
	return s.Store.WriteState(k, b)
}

// TestRestoreEnded: a host restarting with the record of the sessions it
// ended refuses them (and only them); a record that cannot be read or
// decoded refuses every ID issued until the restart, and says so; no
// record refuses nothing.
func TestRestoreEnded(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name        string
		prepare     func(t *testing.T, store *failingStore, ended string)
		wantEnded   bool // the ID ended before the restart is refused
		wantOther   bool // an ID issued before the restart, never ended, is refused
		wantWarning bool
	}{
		{name: "the record written", prepare: func(t *testing.T, store *failingStore, ended string) {
			st := New(Config{Key: testSessionKey, MaxAge: time.Hour})
			stop := st.StartEndedWriter(store, 10, slog.New(slog.DiscardHandler))
			st.End(ended)
			stop()
		}, wantEnded: true},
		{name: "no record", prepare: func(*testing.T, *failingStore, string) {}},
		{name: "a malformed record", prepare: func(t *testing.T, store *failingStore, _ string) {
			store.WriteState(endedStateKey, []byte("not a record"))
		}, wantEnded: true, wantOther: true, wantWarning: true},
		{name: "an unreadable store", prepare: func(t *testing.T, store *failingStore, _ string) {
			store.failRead = true
		}, wantEnded: true, wantOther: true, wantWarning: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			minter := New(Config{Key: testSessionKey, MaxAge: time.Hour})
			ended, other := minter.ids.Mint(sidAlice, now.Add(-time.Minute)), minter.ids.Mint(sidAlice, now.Add(-time.Minute))
			store := &failingStore{}
			tt.prepare(t, store, ended)

			var logs bytes.Buffer
			st := New(Config{Key: testSessionKey, MaxAge: time.Hour})
			st.RestoreEnded(store, slog.New(slog.NewTextHandler(&logs, nil)))
			if got := st.Refused(ended); got != tt.wantEnded {
				t.Errorf("the ended ID refused = %v, want %v", got, tt.wantEnded)
			}
			if got := st.Refused(other); got != tt.wantOther {
				t.Errorf("another ID refused = %v, want %v", got, tt.wantOther)
			}
			if got := strings.Contains(logs.String(), "refusing every session ID issued before now"); got != tt.wantWarning {
				t.Errorf("warned = %v, want %v; log: %s", got, tt.wantWarning, logs.String())
			}
			// The floor is in whole seconds: an ID issued in a later one.
			if fresh := minter.ids.Mint(sidAlice, time.Now().Add(2*time.Second)); st.Refused(fresh) {
				t.Error("an ID issued after the restart is refused")
			}
		})
	}
}

// TestEndedWriterRetries: a write of the record that fails is retried,
// at the latest when the writer stops, and warned about.
func TestEndedWriterRetries(t *testing.T) {
	store := &failingStore{failWrite: true, wrote: make(chan struct{}, 4)}
	var logs bytes.Buffer
	st := newTestStore()
	stop := st.StartEndedWriter(store, 10, slog.New(slog.NewTextHandler(&logs, nil)))
	sid := st.Open(sidAlice)
	st.End(sid)
	<-store.wrote // the failed write
	stop()
	if !strings.Contains(logs.String(), "could not write the ended sessions") {
		t.Errorf("no warning; log: %s", logs.String())
	}
	restarted := newTestStore()
	restarted.RestoreEnded(store, slog.New(slog.DiscardHandler))
	if !restarted.Refused(sid) {
		t.Fatal("the session ended before the restart is not refused: the failed write was not retried")
	}
}
