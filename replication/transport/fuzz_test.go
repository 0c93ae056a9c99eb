package transport

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// FuzzTransportDecode feeds arbitrary bytes, as they could arrive from the
// network, through protobuf decoding and every handler of a live server
// whose group answers like a follower. Nothing may panic.
func FuzzTransportDecode(f *testing.F) {
	seed := func(m proto.Message) { b, _ := proto.Marshal(m); f.Add(b) }
	seed(&pb.AppendEntriesRequest{GroupId: 1, Header: &pb.RaftHeader{ProtocolVersion: 3, Id: []byte("n1"), Addr: []byte("127.0.0.1:1")}, Term: 2, Entries: []*pb.RaftLog{{Index: 1, Term: 2, Type: 0, Data: []byte("d")}}})
	seed(&pb.RequestVoteRequest{GroupId: 1, Term: 5, LastLogIndex: 9})
	seed(&pb.InstallSnapshotRequest{GroupId: 1, SnapshotVersion: 1, SizeBytes: -1})
	f.Add([]byte{0xff, 0x01, 0x02})

	b, err := startTransport(nil)
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	g, err := b.Group(1)
	if err != nil {
		f.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go answerAll(g, stop)
	s := &server{t: b}

	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var ae pb.AppendEntriesRequest
		if proto.Unmarshal(data, &ae) == nil {
			_, _ = s.AppendEntries(ctx, &ae)
		}
		var rv pb.RequestVoteRequest
		if proto.Unmarshal(data, &rv) == nil {
			_, _ = s.RequestVote(ctx, &rv)
		}
		var pv pb.RequestPreVoteRequest
		if proto.Unmarshal(data, &pv) == nil {
			_, _ = s.RequestPreVote(ctx, &pv)
		}
		var tn pb.TimeoutNowRequest
		if proto.Unmarshal(data, &tn) == nil {
			_, _ = s.TimeoutNow(ctx, &tn)
		}
		var is pb.InstallSnapshotRequest
		if proto.Unmarshal(data, &is) == nil {
			_, _ = decodeInstallSnapshotRequest(&is)
		}
		var resp pb.AppendEntriesResponse
		if proto.Unmarshal(data, &resp) == nil {
			_ = decodeAppendEntriesResponse(&resp, new(raft.AppendEntriesResponse))
		}
	})
}
