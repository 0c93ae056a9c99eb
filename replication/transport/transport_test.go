package transport

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

func startTransport(mutate func(*Config)) (*Transport, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cfg := DefaultConfig()
	cfg.Listener = ln
	cfg.AdvertiseAddr = ln.Addr().String()
	if mutate != nil {
		mutate(&cfg)
	}
	return New(cfg)
}

func newTestTransport(t *testing.T, mutate func(*Config)) *Transport {
	t.Helper()
	tr, err := startTransport(mutate)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func TestValidateReportsEveryViolation(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RPCTimeout = 0
	cfg.PipelineInFlightMax = -1
	cfg.AdvertiseAddr = "no-port"
	err := cfg.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"Listener is required", "AdvertiseAddr \"no-port\"", "RPCTimeout (0s)", "PipelineInFlightMax (-1)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// answerAll drains a group's consumer, answering every RPC the way a
// follower would, until stop is closed.
func answerAll(g *GroupTransport, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case rpc := <-g.Consumer():
			switch cmd := rpc.Command.(type) {
			case *raft.AppendEntriesRequest:
				rpc.Respond(&raft.AppendEntriesResponse{Term: cmd.Term, LastLog: cmd.PrevLogEntry + uint64(len(cmd.Entries)), Success: true}, nil)
			case *raft.RequestVoteRequest:
				rpc.Respond(&raft.RequestVoteResponse{Term: cmd.Term, Granted: true}, nil)
			case *raft.RequestPreVoteRequest:
				rpc.Respond(&raft.RequestPreVoteResponse{Term: cmd.Term, Granted: true}, nil)
			case *raft.TimeoutNowRequest:
				rpc.Respond(&raft.TimeoutNowResponse{}, nil)
			case *raft.InstallSnapshotRequest:
				rpc.Respond(&raft.InstallSnapshotResponse{Term: cmd.Term, Success: true}, nil)
			default:
				rpc.Respond(nil, fmt.Errorf("unexpected %T", cmd))
			}
		}
	}
}

func TestRPCsReachTheNamedGroup(t *testing.T) {
	a := newTestTransport(t, nil)
	b := newTestTransport(t, nil)
	ga, err := a.Group(7)
	if err != nil {
		t.Fatal(err)
	}
	gb7, _ := b.Group(7)
	gb8, _ := b.Group(8)
	stop := make(chan struct{})
	defer close(stop)
	go answerAll(gb7, stop)
	// group 8 never answers: an RPC for group 7 must not land there.
	target := raft.ServerAddress(b.Addr())

	var resp raft.AppendEntriesResponse
	req := &raft.AppendEntriesRequest{Term: 3, PrevLogEntry: 10, Entries: []*raft.Log{{Index: 11, Term: 3, Data: []byte("x")}}}
	if err := ga.AppendEntries("b", target, req, &resp); err != nil {
		t.Fatal(err)
	}
	if !resp.Success || resp.LastLog != 11 || resp.Term != 3 {
		t.Fatalf("response %+v", resp)
	}
	var pv raft.RequestPreVoteResponse
	if err := ga.RequestPreVote("b", target, &raft.RequestPreVoteRequest{Term: 4}, &pv); err != nil || !pv.Granted {
		t.Fatalf("prevote: %v %+v", err, pv)
	}
	if got := b.Stats().RequestPreVote; got != 1 {
		t.Fatalf("prevotes served = %d, want 1", got)
	}
	// An unknown group is a clear NotFound error.
	ga9, _ := a.Group(9)
	err = ga9.AppendEntries("b", target, req, &resp)
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "group 9 is not served") {
		t.Fatalf("unknown group error = %v", err)
	}
	_ = gb8
}

// The heartbeat fast path: while the group's consumer is stuck (a large
// AppendEntries being processed), heartbeats still get answered.
func TestHeartbeatBypassesBlockedConsumer(t *testing.T) {
	a := newTestTransport(t, func(c *Config) { c.RPCTimeout = 2 * time.Second })
	b := newTestTransport(t, func(c *Config) { c.RPCTimeout = 2 * time.Second })
	ga, _ := a.Group(1)
	gb, _ := b.Group(1)
	gb.SetHeartbeatHandler(func(rpc raft.RPC) {
		req := rpc.Command.(*raft.AppendEntriesRequest)
		rpc.Respond(&raft.AppendEntriesResponse{Term: req.Term, Success: true}, nil)
	})
	// Nobody reads gb.Consumer(): a normal AppendEntries hangs until its deadline.
	big := &raft.AppendEntriesRequest{Term: 2, PrevLogEntry: 1, PrevLogTerm: 1, Entries: []*raft.Log{{Index: 2, Term: 2, Data: make([]byte, 1<<20)}}}
	bigDone := make(chan error, 1)
	go func() {
		var resp raft.AppendEntriesResponse
		bigDone <- ga.AppendEntries("b", raft.ServerAddress(b.Addr()), big, &resp)
	}()
	hb := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{Addr: []byte(a.Addr())}, Term: 2}
	for i := 0; i < 20; i++ {
		var resp raft.AppendEntriesResponse
		if err := ga.AppendEntries("b", raft.ServerAddress(b.Addr()), hb, &resp); err != nil || !resp.Success {
			t.Fatalf("heartbeat %d: %v %+v", i, err, resp)
		}
	}
	select {
	case err := <-bigDone:
		t.Fatalf("the blocked AppendEntries returned (%v) before the heartbeats finished", err)
	default:
	}
	if err := <-bigDone; !isDeadline(err) {
		t.Fatalf("blocked AppendEntries error = %v, want a deadline error", err)
	}
	if s := b.Stats(); s.Heartbeats != 20 || s.AppendEntries != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestPipelineAnswersInOrder(t *testing.T) {
	a := newTestTransport(t, nil)
	b := newTestTransport(t, nil)
	ga, _ := a.Group(3)
	gb, _ := b.Group(3)
	stop := make(chan struct{})
	defer close(stop)
	go answerAll(gb, stop)
	p, err := ga.AppendEntriesPipeline("b", raft.ServerAddress(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const n = 500
	go func() {
		for i := 0; i < n; i++ {
			req := &raft.AppendEntriesRequest{Term: 1, PrevLogEntry: uint64(i), Entries: []*raft.Log{{Index: uint64(i + 1), Term: 1}}}
			if _, err := p.AppendEntries(req, new(raft.AppendEntriesResponse)); err != nil {
				t.Errorf("send %d: %v", i, err)
				return
			}
		}
	}()
	for i := 0; i < n; i++ {
		select {
		case f := <-p.Consumer():
			if err := f.Error(); err != nil {
				t.Fatalf("future %d: %v", i, err)
			}
			if f.Response().LastLog != uint64(i+1) || f.Request().PrevLogEntry != uint64(i) {
				t.Fatalf("future %d out of order: req prev %d resp last %d", i, f.Request().PrevLogEntry, f.Response().LastLog)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no answer %d", i)
		}
	}
	if got := b.Stats().PipelinedAppendEntries; got != n {
		t.Fatalf("pipelined served = %d, want %d", got, n)
	}
}

// A pipeline whose follower stops answering fails within about RPCTimeout,
// so raft falls back instead of waiting forever.
func TestPipelineFailsWhenFollowerStopsAnswering(t *testing.T) {
	a := newTestTransport(t, func(c *Config) { c.RPCTimeout = 300 * time.Millisecond; c.PeerDeadAfter = time.Hour })
	b := newTestTransport(t, nil)
	ga, _ := a.Group(3)
	_, _ = b.Group(3) // registered, but its consumer is never read
	p, err := ga.AppendEntriesPipeline("b", raft.ServerAddress(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.AppendEntries(&raft.AppendEntriesRequest{Term: 1, Entries: []*raft.Log{{Index: 1}}}, new(raft.AppendEntriesResponse)); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-p.Consumer():
		if err := f.Error(); !isDeadline(err) || f.Response().Success {
			t.Fatalf("future error = %v, success %v; want a deadline failure", err, f.Response().Success)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("pipeline never failed")
	}
	if _, err := p.AppendEntries(&raft.AppendEntriesRequest{Term: 1}, new(raft.AppendEntriesResponse)); err == nil {
		t.Fatal("a failed pipeline accepted another request")
	}
}

func TestInstallSnapshotStreamsChunks(t *testing.T) {
	a := newTestTransport(t, func(c *Config) { c.SnapshotChunkBytes = 1000 })
	b := newTestTransport(t, nil)
	ga, _ := a.Group(5)
	gb, _ := b.Group(5)
	data := make([]byte, 12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	got := make(chan []byte, 1)
	go func() {
		rpc := <-gb.Consumer()
		b, err := io.ReadAll(rpc.Reader)
		got <- b
		req := rpc.Command.(*raft.InstallSnapshotRequest)
		rpc.Respond(&raft.InstallSnapshotResponse{Term: req.Term, Success: err == nil && int64(len(b)) == req.Size}, nil)
	}()
	var resp raft.InstallSnapshotResponse
	req := &raft.InstallSnapshotRequest{SnapshotVersion: 1, Term: 9, LastLogIndex: 100, Size: int64(len(data))}
	if err := ga.InstallSnapshot("b", raft.ServerAddress(b.Addr()), req, &resp, strings.NewReader(string(data))); err != nil {
		t.Fatal(err)
	}
	if !resp.Success || resp.Term != 9 {
		t.Fatalf("response %+v", resp)
	}
	if g := <-got; string(g) != string(data) {
		t.Fatalf("received %d bytes, differing from the %d sent", len(g), len(data))
	}
}

// Malformed requests (nil header, unknown log type, impossible protocol
// version) get clear InvalidArgument errors and no panic.
func TestServerRejectsBadMessages(t *testing.T) {
	b := newTestTransport(t, nil)
	gb, _ := b.Group(1)
	stop := make(chan struct{})
	defer close(stop)
	go answerAll(gb, stop)
	s := &server{t: b}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.AppendEntries(ctx, &pb.AppendEntriesRequest{GroupId: 1, Entries: []*pb.RaftLog{{Type: 99}}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "type 99") {
		t.Fatalf("bad log type: %v", err)
	}
	_, err = s.AppendEntries(ctx, &pb.AppendEntriesRequest{GroupId: 1, Header: &pb.RaftHeader{ProtocolVersion: 1 << 40}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "protocol_version") {
		t.Fatalf("bad protocol version: %v", err)
	}
	if _, err := s.AppendEntries(ctx, &pb.AppendEntriesRequest{GroupId: 1}); err != nil {
		t.Fatalf("an empty but valid request failed: %v", err)
	}
}
