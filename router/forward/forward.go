package forward

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell/topology"
)

// Forwarder sends one request to the leader of its cell and retries it,
// unchanged (same idempotency key), on anything that is not an answer:
// UNAVAILABLE (not leader, outcome unknown, broken connection) or an
// attempt's timeout. It follows leader hints at once, backs off with
// jitter otherwise, and gives up at the request's deadline. A business
// error is returned at once and never retried. Once an attempt of a
// mutation may have executed, the only answers are its definite result or
// UNAVAILABLE / OUTCOME_UNKNOWN with its key (finality.go).
type Forwarder struct {
	topo  *topology.Topology
	conns *Pool
	table *Routes
	cfg   Config

	// Unreachable, if set, reports whether the prober's latest probe of a
	// node failed: such a node is tried only when every replica is. Set
	// before the first request.
	Unreachable func(nodeID string) bool
	// Metrics, if set, counts requests, attempts, retries and hints
	// followed. Set before the first request.
	Metrics Metrics

	cellsMu sync.Mutex
	cells   map[uint64]*cellState
}

// cellState isolates one cell: its own bound on requests in flight, its
// own counters, so a cell whose leader is unreachable cannot take the
// capacity of the others.
type cellState struct {
	slots          chan struct{}
	ok, failed     atomic.Uint64
	nextReplicaIdx atomic.Uint64

	answeredMu sync.Mutex
	answered   Answered
}

// Answered is which leader answered a cell's requests lately: the node,
// when it first answered (since it took over from another), and when it
// last did. The failover controller reads it to time the first write after
// a failover.
type Answered struct {
	Node            string
	FirstAt, LastAt time.Time
}

func (s *cellState) noteAnswer(node string, at time.Time) {
	s.answeredMu.Lock()
	defer s.answeredMu.Unlock()
	if s.answered.Node != node {
		s.answered = Answered{Node: node, FirstAt: at}
	}
	s.answered.LastAt = at
}

// Metrics is what a Forwarder reports to: a request forwarded to a cell
// (ctx is the request's), each attempt, and each retry with the error that
// caused it and whether a leader hint was followed at once.
type Metrics interface {
	Forwarded(ctx context.Context, cellID uint64)
	Attempt(cellID uint64)
	Retry(cellID uint64, err error, hintFollowed bool)
}

// New is a Forwarder to topo's cells over conns, with leaders from table.
func New(topo *topology.Topology, conns *Pool, table *Routes, cfg Config) *Forwarder {
	return &Forwarder{topo: topo, conns: conns, table: table, cfg: cfg, cells: make(map[uint64]*cellState)}
}

func (f *Forwarder) cell(id uint64) *cellState {
	f.cellsMu.Lock()
	defer f.cellsMu.Unlock()
	s, ok := f.cells[id]
	if !ok {
		s = &cellState{slots: make(chan struct{}, f.cfg.CellInFlightMax)}
		f.cells[id] = s
	}
	return s
}

// Retryable reports whether err means "no answer yet" rather than an
// answer: only then may the same request be sent again.
func Retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted:
		return true
	case codes.NotFound:
		return rpcstatus.Reason(err) == rpcstatus.ReasonCellNotHosted // a replica not yet started
	}
	return false
}

// target picks the node to try: the believed leader, else the cell's
// replicas in turn.
// A node the Prober cannot reach (a black hole would hold the attempt for
// its whole timeout) is skipped while another replica may answer.
func (f *Forwarder) target(c topology.Cell, st *cellState) string {
	down := func(id string) bool { return f.Unreachable != nil && f.Unreachable(id) }
	if id, _ := f.table.Leader(c.ID); id != "" && !down(id) {
		return id
	}
	for range c.Replicas {
		id := c.Replicas[int(st.nextReplicaIdx.Add(1))%len(c.Replicas)]
		if !down(id) {
			return id
		}
	}
	return c.Replicas[int(st.nextReplicaIdx.Add(1))%len(c.Replicas)]
}

// Do runs a read against the leader of cellID until it answers or ctx's
// deadline (at most cfg.RequestTimeout) passes.
func (f *Forwarder) Do(ctx context.Context, cellID uint64, call func(context.Context, pb.CellClient) error) error {
	return f.forward(ctx, forwardRequest{cellID: cellID}, call)
}

// DoMutation runs a mutation (op, e.g. "Transfer", with idempotency key
// key) against the leader of cellID like do, but once an attempt may have
// executed it answers only the definite result or UNAVAILABLE /
// OUTCOME_UNKNOWN carrying the key (see finality).
func (f *Forwarder) DoMutation(ctx context.Context, cellID uint64, op, key string, call func(context.Context, pb.CellClient) error) error {
	return f.forward(ctx, forwardRequest{cellID: cellID, op: op, mutation: true, key: key}, call)
}

// forward makes the attempts of req; finality decides which answer is
// final.
func (f *Forwarder) forward(ctx context.Context, req forwardRequest, call func(context.Context, pb.CellClient) error) error {
	cellID := req.cellID
	c, ok := f.topo.Cell(cellID)
	if !ok {
		return status.Errorf(codes.Internal, "router: cell %d is not in the topology", cellID)
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
	defer cancel()
	st := f.cell(cellID)
	if f.Metrics != nil {
		f.Metrics.Forwarded(ctx, cellID)
	}
	select {
	case st.slots <- struct{}{}:
		defer func() { <-st.slots }()
	case <-ctx.Done():
		// No attempt was made: nothing can have executed.
		st.failed.Add(1)
		return status.Errorf(codes.ResourceExhausted, "router: cell %d has %d requests in flight; none finished before the deadline", cellID, f.cfg.CellInFlightMax)
	}
	backoff := f.cfg.BackoffMin
	answers := finality{req: req}
	for attempt := 0; ; attempt++ {
		nodeID := f.target(c, st)
		if f.Metrics != nil {
			f.Metrics.Attempt(cellID)
		}
		sent, err := f.attempt(ctx, nodeID, call)
		if answer, final := answers.add(attemptOutcome{err: err, sent: sent}); final {
			if sent {
				st.noteAnswer(nodeID, time.Now()) // an answer, even if a business error
			}
			if IsOutcomeUnknown(answer) {
				st.failed.Add(1)
			} else {
				st.ok.Add(1)
			}
			return answer
		}
		followed := false
		if hinted, _, ok := rpcstatus.LeaderHint(err); ok {
			f.table.Contradicted(cellID, nodeID, hinted, rpcstatus.LeaderHintTerm(err))
			followed = hinted != nodeID
		} else {
			f.table.Forget(cellID, nodeID)
		}
		if ctx.Err() != nil {
			break
		}
		if followed && attempt < len(c.Replicas) {
			f.retried(cellID, err, true)
			continue // a fresh hint: go there at once
		}
		sleep := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, f.cfg.BackoffMax)
		t := time.NewTimer(sleep)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		if ctx.Err() != nil {
			break
		}
		f.retried(cellID, err, false)
	}
	st.failed.Add(1)
	return answers.atDeadline()
}

func (f *Forwarder) retried(cellID uint64, err error, hintFollowed bool) {
	if f.Metrics != nil {
		f.Metrics.Retry(cellID, err, hintFollowed)
	}
}

// attempt makes one call to nodeID with an attempt timeout. sent reports
// whether the request may have reached the node.
func (f *Forwarder) attempt(ctx context.Context, nodeID string, call func(context.Context, pb.CellClient) error) (sent bool, err error) {
	n, ok := f.topo.Node(nodeID)
	if !ok {
		return false, status.Errorf(codes.Unavailable, "router: node %q is not in the topology", nodeID)
	}
	conn, err := f.conns.Get(n.ClientAddr)
	if err != nil {
		return false, status.Errorf(codes.Unavailable, "router: node %s: %v", nodeID, err)
	}
	actx, cancel := context.WithTimeout(ctx, f.cfg.AttemptTimeout)
	defer cancel()
	trace := &sendTrace{ClientConnInterface: conn}
	err = call(actx, pb.NewCellClient(trace))
	sent = trace.sent()
	if err != nil && status.Code(err) == codes.Canceled && ctx.Err() == nil {
		return sent, status.Errorf(codes.Unavailable, "router: node %s: %v", nodeID, err)
	}
	return sent, err
}

// sendTrace is a connection that records whether a call's request may
// have reached the server. It asks gRPC for the call's peer: gRPC fills it
// in only once a stream for the call exists on a transport, that is once
// the request headers may be on the wire. Without a peer the call failed
// before sending (no connection became ready), so it cannot have executed.
// One sendTrace serves one attempt.
type sendTrace struct {
	grpc.ClientConnInterface
	peer     peer.Peer
	streamed atomic.Bool
}

func (t *sendTrace) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	// A full slice expression: never write into the caller's spare capacity.
	return t.ClientConnInterface.Invoke(ctx, method, args, reply, append(opts[:len(opts):len(opts)], grpc.Peer(&t.peer))...)
}

// NewStream counts a stream as sent: its peer would be filled in only when
// it ends, possibly after the attempt returned.
func (t *sendTrace) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	t.streamed.Store(true)
	return t.ClientConnInterface.NewStream(ctx, desc, method, opts...)
}

// sent is read after the unary call returned (gRPC fills the peer before).
func (t *sendTrace) sent() bool { return t.peer.Addr != nil || t.streamed.Load() }

// LastAnswer returns which leader answered a cell's requests lately.
func (f *Forwarder) LastAnswer(cellID uint64) Answered {
	st := f.cell(cellID)
	st.answeredMu.Lock()
	defer st.answeredMu.Unlock()
	return st.answered
}

// Counters returns the ok and failed request counts of a cell.
func (f *Forwarder) Counters(cellID uint64) (ok, failed uint64) {
	st := f.cell(cellID)
	return st.ok.Load(), st.failed.Load()
}
