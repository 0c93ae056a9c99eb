package transport

import (
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// Conversions between hashicorp/raft's command structs and their protobuf
// form. Decoders take input from the network: they validate what raft would
// otherwise trust (log types, sizes) and never panic on any message.

// ClaimedNodeID is the node id a Raft message claims to come from (its
// header's id), for the check that it is the sender's certificate.
func ClaimedNodeID(msg any) (string, bool) {
	if chunk, ok := msg.(*pb.InstallSnapshotChunk); ok {
		if chunk.GetRequest() == nil {
			return "", false // a data chunk: the stream's first message named the sender
		}
		msg = chunk.GetRequest()
	}
	m, ok := msg.(interface{ GetHeader() *pb.RaftHeader })
	if !ok || m.GetHeader() == nil {
		return "", false
	}
	return string(m.GetHeader().GetId()), true
}

func encodeHeader(h raft.RPCHeader) *pb.RaftHeader {
	return &pb.RaftHeader{ProtocolVersion: uint64(h.ProtocolVersion), Id: h.ID, Addr: h.Addr}
}

func decodeHeader(h *pb.RaftHeader) (raft.RPCHeader, error) {
	v := h.GetProtocolVersion()
	if v > uint64(raft.ProtocolVersionMax) {
		return raft.RPCHeader{}, fmt.Errorf("transport: header protocol_version %d is above the supported maximum %d", v, raft.ProtocolVersionMax)
	}
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersion(v), ID: h.GetId(), Addr: h.GetAddr()}, nil
}

// maxLogType is the highest raft.LogType this build knows; anything above is
// rejected rather than handed to raft.
const maxLogType = uint32(raft.LogConfiguration)

func encodeLog(l *raft.Log) *pb.RaftLog {
	m := &pb.RaftLog{Index: l.Index, Term: l.Term, Type: uint32(l.Type), Data: l.Data, Extensions: l.Extensions}
	if !l.AppendedAt.IsZero() {
		m.AppendedAtUnixNanos = l.AppendedAt.UnixNano()
	}
	return m
}

func decodeLog(m *pb.RaftLog) (*raft.Log, error) {
	if m.GetType() > maxLogType {
		return nil, fmt.Errorf("transport: log %d: type %d is unknown (max %d)", m.GetIndex(), m.GetType(), maxLogType)
	}
	l := &raft.Log{Index: m.GetIndex(), Term: m.GetTerm(), Type: raft.LogType(m.GetType()), Data: m.GetData(), Extensions: m.GetExtensions()}
	if ns := m.GetAppendedAtUnixNanos(); ns != 0 {
		l.AppendedAt = time.Unix(0, ns)
	}
	return l, nil
}

func encodeAppendEntriesRequest(group uint64, r *raft.AppendEntriesRequest) *pb.AppendEntriesRequest {
	m := &pb.AppendEntriesRequest{
		GroupId: group, Header: encodeHeader(r.RPCHeader), Term: r.Term, Leader: r.Leader,
		PrevLogEntry: r.PrevLogEntry, PrevLogTerm: r.PrevLogTerm, LeaderCommitIndex: r.LeaderCommitIndex,
		Entries: make([]*pb.RaftLog, len(r.Entries)),
	}
	for i, l := range r.Entries {
		m.Entries[i] = encodeLog(l)
	}
	return m
}

func decodeAppendEntriesRequest(m *pb.AppendEntriesRequest) (*raft.AppendEntriesRequest, error) {
	h, err := decodeHeader(m.GetHeader())
	if err != nil {
		return nil, err
	}
	r := &raft.AppendEntriesRequest{
		RPCHeader: h, Term: m.GetTerm(), Leader: m.GetLeader(), PrevLogEntry: m.GetPrevLogEntry(),
		PrevLogTerm: m.GetPrevLogTerm(), LeaderCommitIndex: m.GetLeaderCommitIndex(),
	}
	if n := len(m.GetEntries()); n > 0 {
		r.Entries = make([]*raft.Log, n)
		for i, e := range m.GetEntries() {
			if r.Entries[i], err = decodeLog(e); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

func encodeAppendEntriesResponse(r *raft.AppendEntriesResponse) *pb.AppendEntriesResponse {
	return &pb.AppendEntriesResponse{Header: encodeHeader(r.RPCHeader), Term: r.Term, LastLog: r.LastLog, Success: r.Success, NoRetryBackoff: r.NoRetryBackoff}
}

func decodeAppendEntriesResponse(m *pb.AppendEntriesResponse, r *raft.AppendEntriesResponse) error {
	h, err := decodeHeader(m.GetHeader())
	if err != nil {
		return err
	}
	*r = raft.AppendEntriesResponse{RPCHeader: h, Term: m.GetTerm(), LastLog: m.GetLastLog(), Success: m.GetSuccess(), NoRetryBackoff: m.GetNoRetryBackoff()}
	return nil
}

func encodeRequestVoteRequest(group uint64, r *raft.RequestVoteRequest) *pb.RequestVoteRequest {
	return &pb.RequestVoteRequest{
		GroupId: group, Header: encodeHeader(r.RPCHeader), Term: r.Term, Candidate: r.Candidate,
		LastLogIndex: r.LastLogIndex, LastLogTerm: r.LastLogTerm, LeadershipTransfer: r.LeadershipTransfer,
	}
}

func decodeRequestVoteRequest(m *pb.RequestVoteRequest) (*raft.RequestVoteRequest, error) {
	h, err := decodeHeader(m.GetHeader())
	if err != nil {
		return nil, err
	}
	return &raft.RequestVoteRequest{
		RPCHeader: h, Term: m.GetTerm(), Candidate: m.GetCandidate(), LastLogIndex: m.GetLastLogIndex(),
		LastLogTerm: m.GetLastLogTerm(), LeadershipTransfer: m.GetLeadershipTransfer(),
	}, nil
}

func encodeRequestVoteResponse(r *raft.RequestVoteResponse) *pb.RequestVoteResponse {
	return &pb.RequestVoteResponse{Header: encodeHeader(r.RPCHeader), Term: r.Term, Peers: r.Peers, Granted: r.Granted}
}

func decodeRequestVoteResponse(m *pb.RequestVoteResponse, r *raft.RequestVoteResponse) error {
	h, err := decodeHeader(m.GetHeader())
	if err != nil {
		return err
	}
	*r = raft.RequestVoteResponse{RPCHeader: h, Term: m.GetTerm(), Peers: m.GetPeers(), Granted: m.GetGranted()}
	return nil
}

func encodeRequestPreVoteRequest(group uint64, r *raft.RequestPreVoteRequest) *pb.RequestPreVoteRequest {
	return &pb.RequestPreVoteRequest{GroupId: group, Header: encodeHeader(r.RPCHeader), Term: r.Term, LastLogIndex: r.LastLogIndex, LastLogTerm: r.LastLogTerm}
}

func decodeRequestPreVoteRequest(m *pb.RequestPreVoteRequest) (*raft.RequestPreVoteRequest, error) {
	h, err := decodeHeader(m.GetHeader())
	if err != nil {
		return nil, err
	}
	return &raft.RequestPreVoteRequest{RPCHeader: h, Term: m.GetTerm(), LastLogIndex: m.GetLastLogIndex(), LastLogTerm: m.GetLastLogTerm()}, nil
}

func encodeRequestPreVoteResponse(r *raft.RequestPreVoteResponse) *pb.RequestPreVoteResponse {
	return &pb.RequestPreVoteResponse{Header: encodeHeader(r.RPCHeader), Term: r.Term, Granted: r.Granted}
}

func decodeRequestPreVoteResponse(m *pb.RequestPreVoteResponse, r *raft.RequestPreVoteResponse) error {
	h, err := decodeHeader(m.GetHeader())
	if err != nil {
		return err
	}
	*r = raft.RequestPreVoteResponse{RPCHeader: h, Term: m.GetTerm(), Granted: m.GetGranted()}
	return nil
}

func encodeTimeoutNowRequest(group uint64, r *raft.TimeoutNowRequest) *pb.TimeoutNowRequest {
	return &pb.TimeoutNowRequest{GroupId: group, Header: encodeHeader(r.RPCHeader)}
}

func decodeTimeoutNowRequest(m *pb.TimeoutNowRequest) (*raft.TimeoutNowRequest, error) {
	h, err := decodeHeader(m.GetHeader())
	if err != nil {
		return nil, err
	}
	return &raft.TimeoutNowRequest{RPCHeader: h}, nil
}

func encodeTimeoutNowResponse(r *raft.TimeoutNowResponse) *pb.TimeoutNowResponse {
	return &pb.TimeoutNowResponse{Header: encodeHeader(r.RPCHeader)}
}

func decodeTimeoutNowResponse(m *pb.TimeoutNowResponse, r *raft.TimeoutNowResponse) error {
	h, err := decodeHeader(m.GetHeader())
	if err != nil {
		return err
	}
	*r = raft.TimeoutNowResponse{RPCHeader: h}
	return nil
}

func encodeInstallSnapshotRequest(group uint64, r *raft.InstallSnapshotRequest) *pb.InstallSnapshotRequest {
	return &pb.InstallSnapshotRequest{
		GroupId: group, Header: encodeHeader(r.RPCHeader), SnapshotVersion: int64(r.SnapshotVersion), Term: r.Term,
		Leader: r.Leader, LastLogIndex: r.LastLogIndex, LastLogTerm: r.LastLogTerm, Peers: r.Peers,
		Configuration: r.Configuration, ConfigurationIndex: r.ConfigurationIndex, SizeBytes: r.Size,
	}
}

func decodeInstallSnapshotRequest(m *pb.InstallSnapshotRequest) (*raft.InstallSnapshotRequest, error) {
	h, err := decodeHeader(m.GetHeader())
	if err != nil {
		return nil, err
	}
	if m.GetSizeBytes() < 0 {
		return nil, fmt.Errorf("transport: install snapshot: size_bytes %d is negative", m.GetSizeBytes())
	}
	v := m.GetSnapshotVersion()
	if v < int64(raft.SnapshotVersionMin) || v > int64(raft.SnapshotVersionMax) {
		return nil, fmt.Errorf("transport: install snapshot: snapshot_version %d is outside [%d, %d]", v, raft.SnapshotVersionMin, raft.SnapshotVersionMax)
	}
	return &raft.InstallSnapshotRequest{
		RPCHeader: h, SnapshotVersion: raft.SnapshotVersion(v), Term: m.GetTerm(), Leader: m.GetLeader(),
		LastLogIndex: m.GetLastLogIndex(), LastLogTerm: m.GetLastLogTerm(), Peers: m.GetPeers(),
		Configuration: m.GetConfiguration(), ConfigurationIndex: m.GetConfigurationIndex(), Size: m.GetSizeBytes(),
	}, nil
}

func encodeInstallSnapshotResponse(r *raft.InstallSnapshotResponse) *pb.InstallSnapshotResponse {
	return &pb.InstallSnapshotResponse{Header: encodeHeader(r.RPCHeader), Term: r.Term, Success: r.Success}
}

func decodeInstallSnapshotResponse(m *pb.InstallSnapshotResponse, r *raft.InstallSnapshotResponse) error {
	h, err := decodeHeader(m.GetHeader())
	if err != nil {
		return err
	}
	*r = raft.InstallSnapshotResponse{RPCHeader: h, Term: m.GetTerm(), Success: m.GetSuccess()}
	return nil
}
