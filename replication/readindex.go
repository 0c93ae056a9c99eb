package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Linearizable reads go through the log, not through VerifyLeader.
//
// hashicorp/raft v1.8.0's VerifyLeader counts, as a follower's vote, any
// successful response that arrives after the check starts, including the
// answer to a heartbeat sent before the read began. Behind a slow return
// path, a leader that has already been replaced (a leadership transfer, an
// election it has not heard of yet) can pass the check on such delayed
// acknowledgements and serve a read that misses a write the new leader
// acknowledged. A barrier cannot be fooled that way: it is a log entry that
// commits only when a majority accepts it in this leader's term, and a
// follower that has moved on to a newer term refuses it.
//
// A barrier costs a log append, so reads share them: a read joins the next
// barrier to start (never one already in flight, which may have started
// before the read did), and one barrier serves every read that joined it.
// At most one barrier per group is in flight; each is bounded by the
// election timeout.

// readRound is one barrier and the reads waiting for it.
type readRound struct {
	done chan struct{}
	err  error
}

// readBatcher runs a group's read barriers one at a time.
type readBatcher struct {
	g *Group

	mu      sync.Mutex
	pending *readRound // the round that reads arriving now join
	running bool       // a barrier is in flight (run is looping)
}

// wait returns once a barrier that started after the call has committed in
// this leader's term and been applied: hashicorp/raft answers a barrier
// from the FSM goroutine after every entry before it was applied, and the
// state machine commits each batch before it returns, so the replica's
// state then holds every write acknowledged before the call. (Waiting for
// the applied index instead would wait on entries the state machine never
// sees: a run of read-only barriers.)
func (b *readBatcher) wait(ctx context.Context) error {
	b.mu.Lock()
	if b.pending == nil {
		b.pending = &readRound{done: make(chan struct{})}
	}
	r := b.pending
	if !b.running {
		b.running, b.pending = true, nil
		go b.run(r)
	}
	b.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run commits the barrier of round r, then of every round that gathered
// reads meanwhile, until none is pending.
func (b *readBatcher) run(r *readRound) {
	for r != nil {
		r.err = b.barrier()
		close(r.done)
		b.mu.Lock()
		r, b.pending = b.pending, nil
		if r == nil {
			b.running = false
		}
		b.mu.Unlock()
	}
}

// barrier commits one barrier entry, bounded by the election timeout.
func (b *readBatcher) barrier() error {
	g := b.g
	if !g.IsLeader() {
		return g.notLeader()
	}
	timeout := g.timing.ElectionTimeout
	f := g.raft.Barrier(timeout)
	select {
	case <-g.stopped:
		return g.notLeader()
	case err := <-futureDone(f):
		switch {
		case err == nil:
			return nil
		case errors.Is(err, raft.ErrEnqueueTimeout):
			return fmt.Errorf("replication: group %d: the read's barrier was not accepted within %s", g.id, timeout)
		default:
			return g.notLeader() // deposed, transferring or shut down: not a leader that can serve reads
		}
	case <-time.After(2 * timeout):
		// A barrier that neither commits nor fails: the leader cannot reach a
		// quorum (a fiber cut). Refuse the read; the entry may still commit.
		return fmt.Errorf("replication: group %d: the read's barrier did not commit within %s", g.id, 2*timeout)
	}
}

// futureDone delivers f's error once it is known.
func futureDone(f raft.Future) <-chan error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	return done
}
