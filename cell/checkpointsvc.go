package cell

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell/reconcile"
	"github.com/cellpay/cellpay/replication"
)

// States of a CheckpointDigestResponse.
const (
	DigestReady       = "READY"
	DigestPending     = "PENDING"
	DigestUnavailable = "UNAVAILABLE"
)

// Checkpoint implements pb.CellServer: the leader appends a checkpoint to
// the cell's log (replication.Group.Checkpoint).
func (s *Service) Checkpoint(ctx context.Context, req *pb.CheckpointRequest) (*pb.CheckpointResponse, error) {
	g, err := s.group(req.GetCellId())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ProposalTimeout)
	defer cancel()
	index, err := g.Checkpoint(ctx)
	if err != nil {
		if st := s.notLeader(req.GetCellId(), err); st != nil {
			return nil, st
		}
		// A checkpoint changes no state: retrying it is always safe.
		return nil, rpcstatus.Error(codes.Unavailable, rpcstatus.ReasonOutcomeUnknown, err.Error(), nil)
	}
	return &pb.CheckpointResponse{CellId: req.GetCellId(), Index: index}, nil
}

// CheckpointDigest implements pb.CellServer: this replica's digest at a
// checkpoint, leader or not.
func (s *Service) CheckpointDigest(_ context.Context, req *pb.CheckpointDigestRequest) (*pb.CheckpointDigestResponse, error) {
	g, err := s.group(req.GetCellId())
	if err != nil {
		return nil, err
	}
	resp := &pb.CheckpointDigestResponse{CellId: req.GetCellId(), NodeId: s.host.NodeID(), Index: req.GetIndex()}
	d, err := g.CheckpointDigest(req.GetIndex())
	switch {
	case errors.Is(err, replication.ErrCheckpointPending):
		resp.State = DigestPending
	case err != nil:
		resp.State = DigestUnavailable
	default:
		resp.State, resp.Sha256 = DigestReady, d.SHA256[:]
		for _, r := range d.Ranges {
			resp.Ranges = append(resp.Ranges, &pb.RangeDigest{Lower: r.Lower, Upper: r.Upper, Keys: uint32(r.Keys), Sha256: r.SHA256[:]})
		}
	}
	return resp, nil
}

// DigestOf converts a CheckpointDigestResponse (READY) back into a
// replication.Digest, for replication.FirstDifference.
func DigestOf(resp *pb.CheckpointDigestResponse) replication.Digest {
	d := replication.Digest{Index: resp.GetIndex()}
	copy(d.SHA256[:], resp.GetSha256())
	for _, r := range resp.GetRanges() {
		rd := replication.RangeDigest{Lower: r.GetLower(), Upper: r.GetUpper(), Keys: int(r.GetKeys())}
		copy(rd.SHA256[:], r.GetSha256())
		d.Ranges = append(d.Ranges, rd)
	}
	return d
}

// reconcileStuckAfterDefault is ReconcileCell's stuck age when the request
// gives none.
const reconcileStuckAfterDefault = time.Minute

// ReconcileCell implements pb.CellServer: the leader checks the cell's
// current state (reconcile.CheckCell) after a linearizable read.
func (s *Service) ReconcileCell(ctx context.Context, req *pb.ReconcileCellRequest) (*pb.ReconcileCellResponse, error) {
	r, err := s.currentReader(ctx, req.GetCellId())
	if err != nil {
		return nil, err
	}
	g, _ := s.group(req.GetCellId()) // currentReader found it
	applied := g.AppliedIndex()
	stuck := time.Duration(req.GetStuckAfterMs()) * time.Millisecond
	if stuck <= 0 {
		stuck = reconcileStuckAfterDefault
	}
	summary, findings, err := reconcile.CheckCell(req.GetCellId(), r, s.cfg.Now(), stuck)
	if err != nil {
		return nil, status.Errorf(codes.DataLoss, "cell %d: reconcile: %v", req.GetCellId(), err)
	}
	resp := &pb.ReconcileCellResponse{CellId: req.GetCellId(), NodeId: s.host.NodeID(), AppliedIndex: applied}
	if resp.SummaryJson, err = json.Marshal(summary); err == nil {
		resp.FindingsJson, err = json.Marshal(findings)
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "cell %d: encoding the reconcile result: %v", req.GetCellId(), err)
	}
	return resp, nil
}
