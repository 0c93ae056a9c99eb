package replication

import (
	"fmt"
	"io"

	"github.com/hashicorp/raft"

	"github.com/cellpay/cellpay/replication/storage"
)

// Applier drives a StateMachine exactly as a Group's Raft instance does,
// with the same code (fsm.go): each ApplyBatch is one Pebble batch that
// also records the applied index, entries at or below the stored applied
// index are skipped, Snapshot and Restore use the group's snapshot format.
// The difference is who hands in the entries: the caller, not Raft. It is
// the seam of the in-memory twin (replication/replicationtest), so a state
// machine is tested without Raft or a transport; a node uses
// Host.StartGroup.
//
// An Applier is not safe for concurrent use. Stop using it before the
// store closes.
type Applier struct {
	db  *storage.DB
	fsm *fsm
}

// NewApplier runs sm as group id over db, resuming at the applied index
// stored there.
func NewApplier(db *storage.DB, id uint64, sm StateMachine) (*Applier, error) {
	f, err := newFSM(db.Pebble(), storage.GroupID(id), sm)
	if err != nil {
		return nil, err
	}
	return &Applier{db: db, fsm: f}, nil
}

// ApplyBatch applies committed commands in order, as one batch, and returns
// the state machine's result for each (nil for an entry skipped because it
// was applied before). Indexes must grow; the caller assigns them as Raft
// would. It panics, as a Group does, if the store fails under it.
func (a *Applier) ApplyBatch(entries []Entry) []any {
	logs := make([]*raft.Log, len(entries))
	for i, e := range entries {
		logs[i] = &raft.Log{Index: e.Index, Term: e.Term, Type: raft.LogCommand, Data: e.Data}
	}
	return a.fsm.ApplyBatch(logs)
}

// AppliedIndex is the last index whose effects are in the store.
func (a *Applier) AppliedIndex() uint64 {
	i, _ := a.fsm.appliedIndex()
	return i
}

// Reader reads the group's committed state, as Group.Reader does.
func (a *Applier) Reader() Reader {
	return Reader{group: a.fsm.group, db: a.db.Pebble()}
}

// StateDigest is Group.StateDigest of the applier's group.
func (a *Applier) StateDigest() (appliedIndex uint64, sha [32]byte, err error) {
	return stateDigest(a.db.Pebble(), a.fsm.group)
}

// Snapshot writes a snapshot of the group's state at the applied index to
// w, in the format Group snapshots use (after syncing the store, as a Group
// does before Raft may compact its log).
func (a *Applier) Snapshot(w io.Writer) error {
	s, err := a.fsm.Snapshot()
	if err != nil {
		return err
	}
	defer s.Release()
	return s.Persist(&writerSink{w: w})
}

// Restore replaces the group's state with a snapshot read from r, unless
// the stored state is already at or past it (as Group restores do).
func (a *Applier) Restore(r io.Reader) error {
	return a.fsm.Restore(io.NopCloser(r))
}

// Close waits for checkpoint digests still being computed; the store may
// close after it returns.
func (a *Applier) Close() { a.fsm.checkpoints.wait() }

// writerSink is a raft.SnapshotSink over an io.Writer.
type writerSink struct {
	w        io.Writer
	canceled bool
}

func (s *writerSink) Write(p []byte) (int, error) {
	if s.canceled {
		return 0, fmt.Errorf("replication: snapshot sink: write after cancel")
	}
	return s.w.Write(p)
}

func (s *writerSink) ID() string    { return "applier" }
func (s *writerSink) Close() error  { return nil }
func (s *writerSink) Cancel() error { s.canceled = true; return nil }

var _ raft.SnapshotSink = (*writerSink)(nil)
