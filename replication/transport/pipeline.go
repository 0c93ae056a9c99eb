package transport

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// AppendEntriesPipeline implements raft.Transport: one bidirectional stream
// per (group, follower), responses matched to requests in order.
func (g *GroupTransport) AppendEntriesPipeline(_ raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	p, err := g.t.peerFor(string(target))
	if err != nil {
		return nil, err
	}
	c, err := p.client()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := c.AppendEntriesPipeline(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("transport: group %d pipeline to %s: %w", g.id, target, err)
	}
	n := g.t.cfg.PipelineInFlightMax
	pl := &pipeline{
		group: g, peer: p, target: target, stream: stream, cancel: cancel,
		slots: make(chan struct{}, n), done: make(chan raft.AppendFuture, n),
		shutdown: make(chan struct{}), dead: make(chan struct{}),
	}
	pl.wg.Add(2)
	go pl.receive()
	go pl.watch()
	return pl, nil
}

// pipeline is one AppendEntries stream. At most PipelineInFlightMax requests
// are unanswered; if the oldest waits longer than RPCTimeout the stream is
// cancelled, every in-flight future fails, and raft falls back and reopens.
type pipeline struct {
	group  *GroupTransport
	peer   *peer
	target raft.ServerAddress
	stream grpc.BidiStreamingClient[pb.AppendEntriesRequest, pb.AppendEntriesResponse]
	cancel context.CancelFunc

	slots chan struct{}          // one token per in-flight request
	done  chan raft.AppendFuture // answered futures, in order, for raft

	mu       sync.Mutex
	inflight []*appendFuture // sent, not yet answered, oldest first
	failed   error
	dead     chan struct{} // closed when failed is set

	shutdown  chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// AppendEntries implements raft.AppendPipeline.
func (pl *pipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	select {
	case pl.slots <- struct{}{}:
	case <-pl.dead:
		return nil, pl.err()
	case <-pl.shutdown:
		return nil, raft.ErrPipelineShutdown
	}
	f := &appendFuture{start: time.Now(), req: args, resp: resp, ready: make(chan struct{})}
	pl.mu.Lock()
	if err := pl.failed; err != nil {
		pl.mu.Unlock()
		<-pl.slots
		return nil, err
	}
	pl.inflight = append(pl.inflight, f)
	pl.mu.Unlock()
	// Only raft's one replication goroutine sends, so the order of inflight
	// is the order on the wire. Send is outside the lock: it may block on
	// flow control while the receiver needs the lock to drain.
	if err := pl.stream.Send(encodeAppendEntriesRequest(pl.group.id, args)); err != nil {
		pl.fail(err)
		return nil, fmt.Errorf("transport: group %d pipeline to %s: %w", pl.group.id, pl.target, err)
	}
	return f, nil
}

// Consumer implements raft.AppendPipeline.
func (pl *pipeline) Consumer() <-chan raft.AppendFuture { return pl.done }

// Close implements raft.AppendPipeline.
func (pl *pipeline) Close() error {
	pl.closeOnce.Do(func() {
		close(pl.shutdown)
		pl.fail(raft.ErrPipelineShutdown)
		pl.wg.Wait()
	})
	return nil
}

func (pl *pipeline) receive() {
	defer pl.wg.Done()
	for {
		m, err := pl.stream.Recv()
		if err != nil {
			pl.fail(err)
			return
		}
		pl.mu.Lock()
		if len(pl.inflight) == 0 {
			pl.mu.Unlock()
			pl.fail(status.Error(codes.Internal, "transport: pipeline answer without a request"))
			return
		}
		f := pl.inflight[0]
		pl.inflight = pl.inflight[1:]
		pl.mu.Unlock()
		<-pl.slots
		pl.peer.observe(nil)
		f.complete(decodeAppendEntriesResponse(m, f.resp))
		select {
		case pl.done <- f:
		case <-pl.shutdown:
			return
		}
	}
}

// watch fails the pipeline when its oldest request has waited RPCTimeout.
func (pl *pipeline) watch() {
	defer pl.wg.Done()
	timeout := pl.group.t.cfg.RPCTimeout
	tick := time.NewTicker(timeout / 4)
	defer tick.Stop()
	for {
		select {
		case <-pl.shutdown:
			return
		case now := <-tick.C:
			pl.mu.Lock()
			late := len(pl.inflight) > 0 && now.Sub(pl.inflight[0].start) > timeout
			pl.mu.Unlock()
			if late {
				err := status.Errorf(codes.DeadlineExceeded, "transport: group %d pipeline to %s: no answer within %s", pl.group.id, pl.target, timeout)
				pl.peer.observe(err)
				pl.fail(err)
				return
			}
		}
	}
}

// fail ends the stream once; every unanswered future fails with err and is
// handed to raft (whose decoder then sees an unsuccessful response and stops).
func (pl *pipeline) fail(err error) {
	pl.mu.Lock()
	if pl.failed != nil {
		pl.mu.Unlock()
		return
	}
	pl.failed = err
	close(pl.dead)
	pending := pl.inflight
	pl.inflight = nil
	pl.mu.Unlock()
	pl.cancel()
	for _, f := range pending {
		f.complete(err)
		select {
		case pl.done <- f:
		default: // raft has stopped reading; the future is complete anyway
		}
	}
}

func (pl *pipeline) err() error {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.failed
}

// appendFuture implements raft.AppendFuture.
type appendFuture struct {
	start time.Time
	req   *raft.AppendEntriesRequest
	resp  *raft.AppendEntriesResponse
	err   error
	ready chan struct{}
}

func (f *appendFuture) complete(err error) {
	f.err = err
	close(f.ready)
}

func (f *appendFuture) Error() error                          { <-f.ready; return f.err }
func (f *appendFuture) Start() time.Time                      { return f.start }
func (f *appendFuture) Request() *raft.AppendEntriesRequest   { return f.req }
func (f *appendFuture) Response() *raft.AppendEntriesResponse { return f.resp }
