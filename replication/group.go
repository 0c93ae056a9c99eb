package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cellpay/cellpay/replication/storage"
)

// Peer is one voting replica of a group: a node id and its Raft address.
type Peer struct {
	NodeID string
	Addr   string
}

// Group is one Raft group (cell replica) running on this node.
type Group struct {
	id     storage.GroupID
	host   *Host
	raft   *raft.Raft
	fsm    *fsm
	timing Timing

	observations chan raft.Observation
	observer     *raft.Observer
	stopped      chan struct{}
	watchDone    chan struct{}

	reads readBatcher // linearizable reads share barriers
}

// ID is the group id (the cell id).
func (g *Group) ID() uint64 { return uint64(g.id) }

// Raft exposes the underlying raft instance for diagnostics.
func (g *Group) Raft() *raft.Raft { return g.raft }

// Leader returns the leader this replica knows of (empty if none) and its
// current term.
func (g *Group) Leader() (id, addr string, term uint64) {
	a, i := g.raft.LeaderWithID()
	return string(i), string(a), g.raft.CurrentTerm()
}

// IsLeader reports whether this replica is the leader.
func (g *Group) IsLeader() bool { return g.raft.State() == raft.Leader }

// AppliedIndex is the last log index whose effects are in the store.
func (g *Group) AppliedIndex() uint64 {
	i, _ := g.fsm.appliedIndex()
	return i
}

// Reader reads the group's committed local state. Call LinearizableRead
// first when the read must be current.
func (g *Group) Reader() Reader { return Reader{group: g.id, db: g.host.db.Pebble()} }

func (g *Group) notLeader() error {
	id, addr, _ := g.Leader()
	return &NotLeaderError{Group: uint64(g.id), LeaderID: id, LeaderAddr: addr}
}

// Apply proposes data and waits until it is applied on this node, returning
// the StateMachine's result. Errors: *NotLeaderError (not proposed),
// ErrOutcomeUnknown (proposed, fate unknown), ctx's error only before the
// proposal was handed to raft.
func (g *Group) Apply(ctx context.Context, data []byte) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !g.IsLeader() {
		return nil, g.notLeader()
	}
	enqueue := g.timing.ElectionTimeout
	if dl, ok := ctx.Deadline(); ok {
		enqueue = min(enqueue, time.Until(dl))
	}
	f := g.raft.Apply(data, enqueue)
	err := wait(ctx, f)
	switch {
	case err == nil:
		return f.Response(), nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrEnqueueTimeout):
		return nil, g.notLeader()
	case errors.Is(err, raft.ErrRaftShutdown):
		return nil, fmt.Errorf("%w: group %d shut down during the proposal", ErrOutcomeUnknown, g.id)
	default:
		return nil, fmt.Errorf("%w: group %d: %v", ErrOutcomeUnknown, g.id, err)
	}
}

// wait waits for a raft future, bounded by ctx. raft futures have no
// channel, so the wait runs in a goroutine that ends when raft answers
// (commit, leadership loss or shutdown all answer every future).
func wait(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// LinearizableRead returns once this replica's state reflects every write
// acknowledged before the call (a read index of our own, readindex.go): a
// barrier entry that started after the call commits in this leader's term,
// and is applied here, with everything before it. A leader cut off from its
// quorum, or already replaced, cannot pass (fencing).
func (g *Group) LinearizableRead(ctx context.Context) error {
	if !g.IsLeader() {
		return g.notLeader()
	}
	if err := g.reads.wait(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

func (g *Group) waitApplied(ctx context.Context, index uint64) error {
	for {
		applied, changed := g.fsm.appliedIndex()
		if applied >= index || g.onlyNonCommandsBetween(applied, index) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-g.stopped:
			return ErrClosed
		}
	}
}

// nonCommandWalkMax bounds the log entries onlyNonCommandsBetween reads.
const nonCommandWalkMax = 64

// onlyNonCommandsBetween reports whether every log entry in (applied, index]
// is one the state machine never sees (a leader's no-op, a barrier). raft
// commits such entries but does not hand them to the FSM, so the applied
// index alone would wait for the next command. It reads at most
// nonCommandWalkMax entries of the local log; false means "wait".
func (g *Group) onlyNonCommandsBetween(applied, index uint64) bool {
	if index-applied > nonCommandWalkMax {
		return false
	}
	store := g.host.db.Group(g.id)
	for i := index; i > applied; i-- {
		var l raft.Log
		if err := store.GetLog(i, &l); err != nil {
			return false
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return false
		}
	}
	return true
}

// WaitApplied blocks until this replica has applied every command up to
// index (or ctx ends).
func (g *Group) WaitApplied(ctx context.Context, index uint64) error {
	return g.waitApplied(ctx, index)
}

// TransferLeadership moves the group's leadership to nodeID and waits until
// that node leads. It must be called on the leader. The error says why a
// transfer failed (*NotLeaderError, or *TransferError with a reason).
func (g *Group) TransferLeadership(ctx context.Context, nodeID string) error {
	if !g.IsLeader() {
		return g.notLeader()
	}
	if nodeID == g.host.cfg.NodeID {
		return nil
	}
	cf := g.raft.GetConfiguration()
	if err := wait(ctx, cf); err != nil {
		return &TransferError{Group: uint64(g.id), Target: nodeID, Reason: "reading the configuration", Err: err}
	}
	var target *raft.Server
	for _, s := range cf.Configuration().Servers {
		if string(s.ID) == nodeID {
			target = &s
			break
		}
	}
	if target == nil {
		return &TransferError{Group: uint64(g.id), Target: nodeID, Reason: "the node holds no replica of the group"}
	}
	if target.Suffrage != raft.Voter {
		return &TransferError{Group: uint64(g.id), Target: nodeID, Reason: "the node's replica is not a voter"}
	}
	if err := wait(ctx, g.raft.LeadershipTransferToServer(target.ID, target.Address)); err != nil {
		reason := "raft refused or timed out (the target may be unreachable or far behind)"
		switch {
		case errors.Is(err, raft.ErrNotLeader):
			return g.notLeader()
		case errors.Is(err, raft.ErrLeadershipTransferInProgress):
			reason = "another transfer is in progress"
		case ctx.Err() != nil:
			reason = "deadline reached"
		}
		return &TransferError{Group: uint64(g.id), Target: nodeID, Reason: reason, Err: err}
	}
	// raft answers once the target was told to campaign; wait to see it lead.
	tick := time.NewTicker(g.timing.HeartbeatInterval)
	defer tick.Stop()
	for {
		id, _, _ := g.Leader()
		if id == nodeID {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return &TransferError{Group: uint64(g.id), Target: nodeID, Reason: fmt.Sprintf("the target did not take over before the deadline (leader now %q)", id), Err: ctx.Err()}
		}
	}
}

// AddVoter adds (or promotes) a voting replica on nodeID at addr. It runs on
// the leader; the new replica catches up by log or by snapshot.
func (g *Group) AddVoter(ctx context.Context, nodeID, addr string) error {
	if !g.IsLeader() {
		return g.notLeader()
	}
	if err := wait(ctx, g.raft.AddVoter(raft.ServerID(nodeID), raft.ServerAddress(addr), 0, g.timing.ElectionTimeout)); err != nil {
		return fmt.Errorf("replication: group %d: add voter %s: %w", g.id, nodeID, err)
	}
	return nil
}

// Snapshot takes a snapshot now (which lets raft compact the log).
func (g *Group) Snapshot(ctx context.Context) error {
	if err := wait(ctx, g.raft.Snapshot()); err != nil {
		return fmt.Errorf("replication: group %d: snapshot: %w", g.id, err)
	}
	return nil
}

// Voters lists the group's current voting replicas.
func (g *Group) Voters() ([]Peer, error) {
	cf := g.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return nil, err
	}
	var out []Peer
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			out = append(out, Peer{NodeID: string(s.ID), Addr: string(s.Address)})
		}
	}
	return out, nil
}

// watch turns raft's leader observations into host leader events.
func (g *Group) watch() {
	defer close(g.watchDone)
	for {
		select {
		case <-g.stopped:
			return
		case o := <-g.observations:
			if _, ok := o.Data.(raft.LeaderObservation); ok {
				g.host.leaders.publish(g.leaderEvent())
			}
		}
	}
}

func (g *Group) leaderEvent() LeaderEvent {
	id, addr, term := g.Leader()
	return LeaderEvent{Group: uint64(g.id), LeaderID: id, LeaderAddr: addr, Term: term}
}
