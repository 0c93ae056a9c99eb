package transport

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// server is the gRPC RaftTransport service of one node: it decodes each
// request, finds the group it names and hands it to that group's raft.
type server struct {
	pb.UnimplementedRaftTransportServer
	t *Transport
}

func (s *server) group(id uint64) (*GroupTransport, error) {
	g := s.t.lookup(id)
	if g == nil {
		return nil, status.Errorf(codes.NotFound, "transport: group %d is not served on %s", id, s.t.cfg.AdvertiseAddr)
	}
	return g, nil
}

func invalid(err error) error { return status.Error(codes.InvalidArgument, err.Error()) }

// serve is the common shape of the unary handlers: find the group, decode,
// dispatch, check the answer's type.
func serve[Req any, Resp any](ctx context.Context, s *server, groupID uint64, decode func() (Req, error), heartbeat func(Req) bool) (Resp, error) {
	var zero Resp
	g, err := s.group(groupID)
	if err != nil {
		return zero, err
	}
	req, err := decode()
	if err != nil {
		return zero, invalid(err)
	}
	out, err := g.dispatch(ctx, req, nil, heartbeat != nil && heartbeat(req))
	if err != nil {
		return zero, err
	}
	resp, ok := out.(Resp)
	if !ok {
		return zero, status.Errorf(codes.Internal, "transport: group %d answered %T, want %T", groupID, out, zero)
	}
	return resp, nil
}

// isHeartbeat matches hashicorp/raft's own transport: an AppendEntries with
// a term and a leader but no entries and no log position.
func isHeartbeat(r *raft.AppendEntriesRequest) bool {
	leader := r.Addr
	if len(leader) == 0 {
		leader = r.Leader
	}
	return r.Term != 0 && len(leader) != 0 && r.PrevLogEntry == 0 && r.PrevLogTerm == 0 &&
		len(r.Entries) == 0 && r.LeaderCommitIndex == 0
}

func (s *server) AppendEntries(ctx context.Context, m *pb.AppendEntriesRequest) (*pb.AppendEntriesResponse, error) {
	resp, err := serve[*raft.AppendEntriesRequest, *raft.AppendEntriesResponse](ctx, s, m.GetGroupId(),
		func() (*raft.AppendEntriesRequest, error) { return decodeAppendEntriesRequest(m) },
		func(r *raft.AppendEntriesRequest) bool {
			hb := isHeartbeat(r)
			if hb {
				s.t.stats.heartbeats.Add(1)
			} else {
				s.t.stats.appendEntries.Add(1)
			}
			return hb
		})
	if err != nil {
		return nil, err
	}
	return encodeAppendEntriesResponse(resp), nil
}

func (s *server) RequestVote(ctx context.Context, m *pb.RequestVoteRequest) (*pb.RequestVoteResponse, error) {
	s.t.stats.requestVote.Add(1)
	resp, err := serve[*raft.RequestVoteRequest, *raft.RequestVoteResponse](ctx, s, m.GetGroupId(),
		func() (*raft.RequestVoteRequest, error) { return decodeRequestVoteRequest(m) }, nil)
	if err != nil {
		return nil, err
	}
	return encodeRequestVoteResponse(resp), nil
}

func (s *server) RequestPreVote(ctx context.Context, m *pb.RequestPreVoteRequest) (*pb.RequestPreVoteResponse, error) {
	s.t.stats.requestPreVote.Add(1)
	resp, err := serve[*raft.RequestPreVoteRequest, *raft.RequestPreVoteResponse](ctx, s, m.GetGroupId(),
		func() (*raft.RequestPreVoteRequest, error) { return decodeRequestPreVoteRequest(m) }, nil)
	if err != nil {
		return nil, err
	}
	return encodeRequestPreVoteResponse(resp), nil
}

func (s *server) TimeoutNow(ctx context.Context, m *pb.TimeoutNowRequest) (*pb.TimeoutNowResponse, error) {
	s.t.stats.timeoutNow.Add(1)
	resp, err := serve[*raft.TimeoutNowRequest, *raft.TimeoutNowResponse](ctx, s, m.GetGroupId(),
		func() (*raft.TimeoutNowRequest, error) { return decodeTimeoutNowRequest(m) }, nil)
	if err != nil {
		return nil, err
	}
	return encodeTimeoutNowResponse(resp), nil
}

// AppendEntriesPipeline answers a stream of AppendEntries in order. raft
// handles one group's RPCs one at a time, so serving them sequentially
// loses nothing; the client keeps sending while we work.
func (s *server) AppendEntriesPipeline(stream grpc.BidiStreamingServer[pb.AppendEntriesRequest, pb.AppendEntriesResponse]) error {
	ctx := stream.Context()
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		s.t.stats.pipelined.Add(1)
		resp, err := serve[*raft.AppendEntriesRequest, *raft.AppendEntriesResponse](ctx, s, m.GetGroupId(),
			func() (*raft.AppendEntriesRequest, error) { return decodeAppendEntriesRequest(m) }, nil)
		if err != nil {
			return err
		}
		if err := stream.Send(encodeAppendEntriesResponse(resp)); err != nil {
			return err
		}
	}
}

// InstallSnapshot receives the request, then pipes the data chunks into
// raft as the RPC's Reader. raft reads to EOF and checks the size itself.
func (s *server) InstallSnapshot(stream grpc.ClientStreamingServer[pb.InstallSnapshotChunk, pb.InstallSnapshotResponse]) error {
	s.t.stats.installSnapshot.Add(1)
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	m := first.GetRequest()
	if m == nil {
		return status.Error(codes.InvalidArgument, "transport: install snapshot: the first message must carry the request")
	}
	g, err := s.group(m.GetGroupId())
	if err != nil {
		return err
	}
	req, err := decodeInstallSnapshotRequest(m)
	if err != nil {
		return invalid(err)
	}
	pr, pw := io.Pipe()
	go func() {
		for {
			c, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				_ = pw.Close()
				return
			}
			if err != nil {
				_ = pw.CloseWithError(err)
				return
			}
			if c.GetRequest() != nil {
				_ = pw.CloseWithError(fmt.Errorf("transport: install snapshot: request repeated inside the data"))
				return
			}
			if _, err := pw.Write(c.GetData()); err != nil {
				return // raft stopped reading; the handler reports why
			}
		}
	}()
	out, err := g.dispatch(stream.Context(), req, pr, false)
	_ = pr.Close() // unblocks the pump if raft gave up early
	if err != nil {
		return err
	}
	resp, ok := out.(*raft.InstallSnapshotResponse)
	if !ok {
		return status.Errorf(codes.Internal, "transport: group %d answered %T to install snapshot", m.GetGroupId(), out)
	}
	return stream.SendAndClose(encodeInstallSnapshotResponse(resp))
}
