package replicationtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/raft"

	"github.com/cellpay/cellpay/replication"
	"github.com/cellpay/cellpay/replication/storage"
)

// Defaults of a Twin.
const (
	// DefaultGroup is the group id of a Twin unless WithGroup says otherwise.
	DefaultGroup = 1
	// NodeID is the id a Twin reports as its (only, always) leader.
	NodeID = "twin"
	// replayBatchMax is how many log entries one replay batch applies after
	// a Crash or Reopen: Raft hands the FSM batches of up to
	// MaxAppendEntries, so a batch boundary falls inside the replay.
	replayBatchMax = 64
	// dataDir is where the store lives on the in-memory filesystem.
	dataDir = "/twin/pebble"
)

// Option adjusts a Twin made by New.
type Option func(*settings)

type settings struct {
	group     uint64
	crashable bool
	storage   storage.Options
}

// WithGroup runs the state machine as group id (default DefaultGroup).
func WithGroup(id uint64) Option { return func(s *settings) { s.group = id } }

// WithCrashableFS puts the store on vfs.NewCrashableMem, so Crash can drop
// unsynced writes. Without it the store is on vfs.NewMem, which is faster.
func WithCrashableFS() Option { return func(s *settings) { s.crashable = true } }

// WithStorage replaces the store's options (default: storage.DefaultOptions
// with a small cache and memtable). Its FS is always the twin's.
func WithStorage(opts storage.Options) Option { return func(s *settings) { s.storage = opts } }

// Twin is a state machine over an in-memory node store, applied without
// Raft (see the package comment). Its methods panic on store errors, as a
// Group does when its store fails under an apply: a test cannot handle
// them, and a panic, unlike t.Fatal, is allowed in any goroutine and
// inside a fuzz target.
type Twin struct {
	sm replication.StateMachine
	s  settings

	mu      sync.Mutex // serialises Apply, Crash, Reopen, Restore and Close
	fs      *vfs.MemFS
	db      *storage.DB
	log     *storage.GroupStore
	applier *replication.Applier
	term    uint64
	last    uint64 // index of the last entry in the log
	closed  bool
}

// New opens an empty store on an in-memory filesystem and runs sm on it as
// a group would. The twin closes with the test.
func New(t testing.TB, sm replication.StateMachine, opts ...Option) *Twin {
	t.Helper()
	s := settings{group: DefaultGroup, storage: storage.DefaultOptions()}
	s.storage.CacheSizeBytes = 8 << 20
	s.storage.MemTableSizeBytes = 4 << 20
	for _, o := range opts {
		o(&s)
	}
	if s.storage.Logger == nil {
		s.storage.Logger = quietLogger{}
	}
	fs := vfs.NewMem()
	if s.crashable {
		fs = vfs.NewCrashableMem()
	}
	tw := &Twin{sm: sm, s: s, term: 1}
	tw.open(fs)
	t.Cleanup(tw.Close)
	return tw
}

// quietLogger drops Pebble's chatter (every open logs its WAL replay),
// keeps its errors on stderr and its fatal errors fatal.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "replicationtest: pebble: "+format+"\n", args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("replicationtest: pebble: "+format, args...))
}

// open opens the store on fs, starts the applier at the stored applied
// index and replays the log after it, as Raft does on a restart.
func (tw *Twin) open(fs *vfs.MemFS) {
	opts := tw.s.storage
	opts.FS = fs
	db, err := storage.Open(dataDir, opts)
	if err != nil {
		fail("replicationtest: open the store: %v", err)
	}
	applier, err := replication.NewApplier(db, tw.s.group, tw.sm)
	if err != nil {
		_ = db.Close()
		fail("replicationtest: start the state machine: %v", err)
	}
	tw.fs, tw.db, tw.applier = fs, db, applier
	tw.log = db.Group(storage.GroupID(tw.s.group))
	first, last := tw.logBounds()
	tw.last = max(last, applier.AppliedIndex())
	var batch []replication.Entry
	for i := first; i != 0 && i <= last; i++ {
		var l raft.Log
		if err := tw.log.GetLog(i, &l); err != nil {
			fail("replicationtest: replay entry %d of [%d, %d]: %v", i, first, last, err)
		}
		tw.term = max(tw.term, l.Term)
		batch = append(batch, replication.Entry{Index: l.Index, Term: l.Term, Data: l.Data})
		if len(batch) == replayBatchMax || i == last {
			applier.ApplyBatch(batch) // entries already applied are skipped
			batch = batch[:0]
		}
	}
}

func (tw *Twin) logBounds() (first, last uint64) {
	first, err := tw.log.FirstIndex()
	if err != nil {
		fail("replicationtest: first log index: %v", err)
	}
	last, err = tw.log.LastIndex()
	if err != nil {
		fail("replicationtest: last log index: %v", err)
	}
	return first, last
}

// closeStore stops the applier and closes the store.
func (tw *Twin) closeStore() {
	tw.applier.Close()
	if err := tw.db.Close(); err != nil {
		fail("replicationtest: close the store: %v", err)
	}
}

// Apply appends data to the log as the next entry of the current term and
// applies it, returning the state machine's result, as Group.Apply does on
// a leader. The only error is ctx's, before anything is appended.
func (tw *Twin) Apply(ctx context.Context, data []byte) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return tw.ApplyBatch(data)[0], nil
}

// ApplyBatch appends the commands as consecutive entries and applies them
// as one batch (one Pebble batch, as Raft hands a follower's FSM several
// committed entries at once): a later command sees an earlier one's
// writes. It returns one result per command.
func (tw *Twin) ApplyBatch(commands ...[]byte) []any {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.mustBeOpen("ApplyBatch")
	logs := make([]*raft.Log, len(commands))
	entries := make([]replication.Entry, len(commands))
	for i, data := range commands {
		index := tw.last + 1 + uint64(i)
		data = bytes.Clone(data) // the caller may reuse its buffer
		logs[i] = &raft.Log{Index: index, Term: tw.term, Type: raft.LogCommand, Data: data}
		entries[i] = replication.Entry{Index: index, Term: tw.term, Data: data}
	}
	if err := tw.log.StoreLogs(logs); err != nil {
		fail("replicationtest: store log entries: %v", err)
	}
	tw.last += uint64(len(commands))
	return tw.applier.ApplyBatch(entries)
}

// NewTerm starts the next term, as a new election would, and returns it.
// Later entries carry it.
func (tw *Twin) NewTerm() uint64 {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.term++
	return tw.term
}

// Leader is Group.Leader: the twin always leads, in its current term.
func (tw *Twin) Leader() (id, addr string, term uint64) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return NodeID, "", tw.term
}

// IsLeader is Group.IsLeader: always true.
func (tw *Twin) IsLeader() bool { return true }

// AppliedIndex is the last index whose effects are in the store.
func (tw *Twin) AppliedIndex() uint64 {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return tw.applier.AppliedIndex()
}

// LastIndex is the index of the last entry in the log.
func (tw *Twin) LastIndex() uint64 {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return tw.last
}

// Reader reads the committed state, as Group.Reader does. It is valid
// until the next Crash, Reopen or Close.
func (tw *Twin) Reader() replication.Reader {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return tw.applier.Reader()
}

// StateDigest is Group.StateDigest: the applied index and a hash of the
// whole state, equal on replicas with equal state.
func (tw *Twin) StateDigest() (appliedIndex uint64, sha [32]byte) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	appliedIndex, sha, err := tw.applier.StateDigest()
	if err != nil {
		fail("replicationtest: state digest: %v", err)
	}
	return appliedIndex, sha
}

// LogStore is the group's Raft log and stable store, for tests of the
// store itself. Valid until the next Crash, Reopen or Close.
func (tw *Twin) LogStore() *storage.GroupStore {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return tw.log
}

// Snapshot returns a snapshot of the state at the applied index, in the
// format Group snapshots use.
func (tw *Twin) Snapshot() []byte {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	var b bytes.Buffer
	if err := tw.applier.Snapshot(&b); err != nil {
		fail("replicationtest: snapshot: %v", err)
	}
	return b.Bytes()
}

// Restore installs a snapshot as a follower does that was sent one: the
// state is replaced (unless already at or past the snapshot), the log
// before it is dropped, and the next entry follows the snapshot. An error
// means the snapshot was refused (corrupt); the state is then whatever
// the restore left, as on a node.
func (tw *Twin) Restore(snapshot []byte) error {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.mustBeOpen("Restore")
	if err := tw.applier.Restore(bytes.NewReader(snapshot)); err != nil {
		return err
	}
	applied := tw.applier.AppliedIndex()
	if applied > tw.last {
		// Raft drops a log that the snapshot overtook; its indexes restart
		// after the snapshot.
		if first, last := tw.logBounds(); first != 0 {
			if err := tw.log.DeleteRange(first, last); err != nil {
				fail("replicationtest: drop the log before the snapshot: %v", err)
			}
		}
		tw.last = applied
	}
	return nil
}

// Reopen closes the store cleanly and opens it again, as a node restart
// does: the state machine resumes at its applied index and the log after
// it is replayed.
func (tw *Twin) Reopen() {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.mustBeOpen("Reopen")
	tw.closeStore()
	tw.open(tw.fs)
}

// Crash simulates a power loss that keeps exactly what was synced, then
// reopens as Reopen does. The twin must have been made WithCrashableFS.
func (tw *Twin) Crash() { tw.CrashWith(vfs.CrashCloneCfg{}) }

// CrashWith is Crash keeping, as cfg says, a random part of what was not
// synced (cfg.UnsyncedDataPercent, drawn from cfg.RNG): a crash may keep
// any unsynced write or lose it.
func (tw *Twin) CrashWith(cfg vfs.CrashCloneCfg) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.mustBeOpen("Crash")
	if !tw.s.crashable {
		fail("replicationtest: Crash on a twin made without WithCrashableFS")
	}
	// The clone is taken first: what the store does while closing (flushes,
	// compactions) happens after the crash and reaches the old filesystem
	// only.
	crashed := tw.fs.CrashClone(cfg)
	tw.closeStore()
	tw.open(crashed)
}

// Close stops the state machine and closes the store; it runs with the
// test's cleanup and may be called earlier.
func (tw *Twin) Close() {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.closed {
		return
	}
	tw.closed = true
	tw.closeStore()
}

func (tw *Twin) mustBeOpen(op string) {
	if tw.closed {
		fail("replicationtest: %s after Close", op)
	}
}

func fail(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
