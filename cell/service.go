package cell

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/replication"
)

// Directory is what the Cell service needs to know of the topology.
type Directory interface {
	// CellOfAccount names the cell that owns an account (by its slot).
	CellOfAccount(accountID string) (cellID uint64, ok bool)
	// ClientAddr is the Cell service address of a node.
	ClientAddr(nodeID string) (addr string, ok bool)
}

// ServiceConfig tunes the Cell service. Zero fields take the defaults.
type ServiceConfig struct {
	// ProposalTimeout bounds how long a mutation waits to be applied.
	// Default 5 s. Past it the outcome is UNKNOWN (retry with the same key).
	ProposalTimeout time.Duration
	// IdempotencyRetention is how long Deposit keys are kept (0: the
	// default, DefaultDepositKeyRetention; negative: forever). Every other
	// kind's keys are kept forever (retention.go).
	IdempotencyRetention time.Duration
	// Now is the leader's clock, stamped into each command. Default time.Now.
	Now func() time.Time
	// CrossCellWait is how long a cross-cell Transfer waits for its credit
	// to settle before it answers IN_FLIGHT, at most half of what is left of
	// the request's deadline. Default 1 s; negative: never.
	CrossCellWait time.Duration
}

// ReplayedHeader is set to "true" in the response header when a mutation's
// result was replayed from its idempotency key.
const ReplayedHeader = "idempotent-replayed"

// Service is a node's gRPC Cell service over its replication.Host.
type Service struct {
	pb.UnimplementedCellServer
	host *replication.Host
	dir  Directory
	cfg  ServiceConfig
	// relay, if set (StartNode with a Courier), settles cross-cell transfers.
	relay *relay
	// payouts, if set (StartNode with providers), executes payouts.
	payouts *payoutExecutor
	// metrics, if set (StartNode with NodeConfig.Metrics), counts proposals.
	metrics *nodeMetrics
}

// NewService serves the cells hosted by host.
func NewService(host *replication.Host, dir Directory, cfg ServiceConfig) *Service {
	if cfg.ProposalTimeout <= 0 {
		cfg.ProposalTimeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch {
	case cfg.IdempotencyRetention == 0:
		cfg.IdempotencyRetention = DefaultDepositKeyRetention
	case cfg.IdempotencyRetention < 0:
		cfg.IdempotencyRetention = 0 // forever
	}
	if cfg.CrossCellWait == 0 {
		cfg.CrossCellWait = time.Second
	}
	cfg.CrossCellWait = max(cfg.CrossCellWait, 0)
	return &Service{host: host, dir: dir, cfg: cfg}
}

func (s *Service) group(cellID uint64) (*replication.Group, error) {
	if cellID == 0 {
		return nil, inputStatus(&InputError{Field: "cell_id", Reason: "is required"}, 0)
	}
	g, err := s.host.Group(cellID)
	if err != nil {
		return nil, rpcstatus.Error(codes.NotFound, rpcstatus.ReasonCellNotHosted, fmt.Sprintf("cell %d is not hosted on node %s", cellID, s.host.NodeID()),
			map[string]string{rpcstatus.MetaCellID: strconv.FormatUint(cellID, 10)})
	}
	return g, nil
}

// owns checks that account belongs to cellID.
func (s *Service) owns(cellID uint64, field, account string) error {
	owner, ok := s.dir.CellOfAccount(account)
	if ok && owner == cellID {
		return nil
	}
	return rpcstatus.Error(codes.FailedPrecondition, rpcstatus.ReasonWrongCell,
		fmt.Sprintf("%s %q belongs to cell %d, not cell %d", field, account, owner, cellID),
		map[string]string{rpcstatus.MetaField: field, rpcstatus.MetaCellID: strconv.FormatUint(owner, 10)})
}

func (s *Service) notLeader(cellID uint64, err error) error {
	var nl *replication.NotLeaderError
	if !errors.As(err, &nl) {
		return nil
	}
	addr, _ := s.dir.ClientAddr(nl.LeaderID)
	var term uint64
	if g, err := s.host.Group(cellID); err == nil {
		_, _, term = g.Leader()
	}
	return rpcstatus.NotLeader(cellID, nl.LeaderID, addr, term)
}

// propose stamps, replicates and applies one command on the cell's leader.
func (s *Service) propose(ctx context.Context, cellID uint64, cmd *pb.Command) (*pb.CommandResult, error) {
	res, _, err := s.proposeReplayed(ctx, cellID, cmd)
	return res, err
}

// proposeReplayed is propose that also reports whether the result was
// replayed from the command's idempotency key (nothing executed now).
func (s *Service) proposeReplayed(ctx context.Context, cellID uint64, cmd *pb.Command) (_ *pb.CommandResult, replayed bool, err error) {
	g, err := s.group(cellID)
	if err != nil {
		return nil, false, err
	}
	var applyTook time.Duration // zero unless applied
	defer func() { s.metrics.proposed(cellID, cmd, applyTook, replayed, err) }()
	cmd.TimestampUnixMs = s.cfg.Now().UnixMilli()
	if _, isDeposit := cmd.GetBody().(*pb.Command_Deposit); isDeposit {
		cmd.IdempotencyRetentionMs = s.cfg.IdempotencyRetention.Milliseconds()
	}
	data, err := proto.Marshal(cmd)
	if err != nil {
		return nil, false, status.Errorf(codes.Internal, "cell: encoding command: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ProposalTimeout)
	defer cancel()
	applyStart := time.Now()
	out, err := g.Apply(ctx, data)
	if err != nil {
		if st := s.notLeader(cellID, err); st != nil {
			return nil, false, st
		}
		if errors.Is(err, replication.ErrOutcomeUnknown) {
			return nil, false, rpcstatus.Error(codes.Unavailable, rpcstatus.ReasonOutcomeUnknown,
				fmt.Sprintf("cell %d: the outcome is unknown (%v); retry with the same idempotency key", cellID, err),
				map[string]string{rpcstatus.MetaCellID: strconv.FormatUint(cellID, 10)})
		}
		return nil, false, status.FromContextError(err).Err()
	}
	applyTook = time.Since(applyStart)
	applied, ok := out.(Applied)
	if !ok {
		return nil, false, status.Errorf(codes.Internal, "cell %d: apply returned %T", cellID, out)
	}
	if applied.Replayed {
		_ = grpc.SetHeader(ctx, metadata.Pairs(ReplayedHeader, "true"))
	}
	if e := applied.Result.GetError(); e != nil {
		if applied.Stored {
			return nil, applied.Replayed, storedLedgerStatus(e, cellID)
		}
		return nil, applied.Replayed, ledgerStatus(e, cellID)
	}
	return applied.Result, applied.Replayed, nil
}

// CreateAccount implements pb.CellServer.
func (s *Service) CreateAccount(ctx context.Context, req *pb.CreateAccountRequest) (*pb.Account, error) {
	c := req.GetCommand()
	if err := ValidateCreateAccount(c); err != nil {
		return nil, inputStatus(err, req.GetCellId())
	}
	if err := s.owns(req.GetCellId(), "account_id", c.GetAccountId()); err != nil {
		return nil, err
	}
	res, err := s.propose(ctx, req.GetCellId(), &pb.Command{Body: &pb.Command_CreateAccount{CreateAccount: c}})
	if err != nil {
		return nil, err
	}
	return res.GetAccount(), nil
}

// Deposit implements pb.CellServer.
func (s *Service) Deposit(ctx context.Context, req *pb.DepositRequest) (*pb.DepositRecord, error) {
	c := req.GetCommand()
	if err := ValidateDeposit(c); err != nil {
		return nil, inputStatus(err, req.GetCellId())
	}
	if err := s.owns(req.GetCellId(), "account_id", c.GetAccountId()); err != nil {
		return nil, err
	}
	res, err := s.propose(ctx, req.GetCellId(), &pb.Command{Body: &pb.Command_Deposit{Deposit: c}})
	if err != nil {
		return nil, err
	}
	return res.GetDeposit(), nil
}

// Transfer implements pb.CellServer. The payer must be in the cell; a
// payee in another cell makes it a cross-cell transfer (crosscell.go): the
// answer is its record IN_FLIGHT, or COMPLETED / REVERSED if the relay
// settled it within CrossCellWait.
func (s *Service) Transfer(ctx context.Context, req *pb.TransferRequest) (*pb.TransferRecord, error) {
	c := req.GetCommand()
	if err := ValidateTransfer(c); err != nil {
		return nil, inputStatus(err, req.GetCellId())
	}
	if err := s.owns(req.GetCellId(), "from_account_id", c.GetFromAccountId()); err != nil {
		return nil, err
	}
	owner, ok := s.dir.CellOfAccount(c.GetToAccountId())
	if !ok {
		return nil, rpcstatus.Error(codes.FailedPrecondition, rpcstatus.ReasonWrongCell,
			fmt.Sprintf("to_account_id %q belongs to no cell", c.GetToAccountId()), map[string]string{rpcstatus.MetaField: "to_account_id"})
	}
	c = proto.Clone(c).(*pb.Transfer)
	c.FromCellId, c.ToCellId = 0, 0 // Stamped here, never taken from the caller.
	crossCell := owner != req.GetCellId()
	if crossCell {
		if s.relay == nil {
			return nil, rpcstatus.Error(codes.FailedPrecondition, rpcstatus.ReasonCrossCellNotEnabled,
				fmt.Sprintf("to_account_id %q is in cell %d: this node has no outbox relay for cross-cell transfers", c.GetToAccountId(), owner),
				map[string]string{rpcstatus.MetaField: "to_account_id", rpcstatus.MetaCellID: strconv.FormatUint(owner, 10)})
		}
		c.FromCellId, c.ToCellId = req.GetCellId(), owner
	}
	res, err := s.propose(ctx, req.GetCellId(), &pb.Command{Body: &pb.Command_Transfer{Transfer: c}})
	if err != nil {
		return nil, err
	}
	rec := res.GetTransfer()
	if crossCell && rec.GetState() == pb.TransferState_TRANSFER_STATE_IN_FLIGHT {
		rec = s.awaitSettled(ctx, req.GetCellId(), rec)
	}
	return rec, nil
}

// CreditIn implements pb.CellServer: the payee's leg of a cross-cell
// transfer, for the payer cell's relay.
func (s *Service) CreditIn(ctx context.Context, req *pb.CreditInRequest) (*pb.TransferRecord, error) {
	c := req.GetCommand()
	if err := validateCreditIn(c); err != nil {
		return nil, inputStatus(err, req.GetCellId())
	}
	if err := s.owns(req.GetCellId(), "to_account_id", c.GetToAccountId()); err != nil {
		return nil, err
	}
	res, err := s.propose(ctx, req.GetCellId(), &pb.Command{Body: &pb.Command_CreditIn{CreditIn: c}})
	if err != nil {
		return nil, err
	}
	return res.GetTransfer(), nil
}

// Payout implements pb.CellServer: the payout is recorded PENDING (funds
// held) before any provider is called; the answer is its record, settled if
// the executor got a definite answer within PayoutConfig.Wait.
func (s *Service) Payout(ctx context.Context, req *pb.PayoutRequest) (*pb.PayoutRecord, error) {
	c := req.GetCommand()
	if err := ValidatePayout(c); err != nil {
		return nil, inputStatus(err, req.GetCellId())
	}
	if err := s.owns(req.GetCellId(), "account_id", c.GetAccountId()); err != nil {
		return nil, err
	}
	if s.payouts == nil {
		return nil, rpcstatus.Error(codes.FailedPrecondition, rpcstatus.ReasonPayoutsNotEnabled,
			"payouts are not enabled on this node: it has no providers", map[string]string{rpcstatus.MetaCellID: strconv.FormatUint(req.GetCellId(), 10)})
	}
	c = proto.Clone(c).(*pb.Payout)
	c.ProviderPayoutId = ProviderPayoutID(req.GetCellId(), c.GetAccountId(), c.GetPayoutId()) // never the caller's
	if c.Provider == "" {
		c.Provider = s.payouts.defaultProvider()
	}
	if _, ok := s.payouts.providers[c.GetProvider()]; !ok {
		return nil, ledgerStatus(&pb.LedgerError{Reason: pb.ErrorReason_ERROR_REASON_UNKNOWN_PROVIDER, Field: "provider",
			Message: fmt.Sprintf("provider %q is not configured", c.GetProvider())}, req.GetCellId())
	}
	res, replayed, err := s.proposeReplayed(ctx, req.GetCellId(), &pb.Command{Body: &pb.Command_Payout{Payout: c}})
	if err != nil {
		return nil, err
	}
	rec := res.GetPayout()
	if !replayed {
		s.payouts.recorded(req.GetCellId(), rec) // Recorded just now: never submitted.
	}
	return s.awaitPayout(ctx, req.GetCellId(), rec), nil
}

// GetPayout implements pb.CellServer (a current read).
func (s *Service) GetPayout(ctx context.Context, req *pb.GetPayoutRequest) (*pb.PayoutRecord, error) {
	if err := validID("payout_id", req.GetPayoutId(), idempotencyKeyBytesMax); err != nil {
		return nil, inputStatus(err, req.GetCellId())
	}
	if err := validID("account_id", req.GetAccountId(), accountIDBytesMax); err != nil {
		return nil, inputStatus(err, req.GetCellId())
	}
	r, err := s.currentReader(ctx, req.GetCellId())
	if err != nil {
		return nil, err
	}
	rec, err := GetPayout(r, req.GetAccountId(), req.GetPayoutId())
	if err != nil {
		return nil, readStatus(err, req.GetCellId(), pb.ErrorReason_ERROR_REASON_PAYOUT_NOT_FOUND, "payout_id")
	}
	return rec, nil
}

// ListPayouts implements pb.CellServer (a current read).
func (s *Service) ListPayouts(ctx context.Context, req *pb.ListPayoutsRequest) (*pb.ListPayoutsResponse, error) {
	r, err := s.currentReader(ctx, req.GetCellId())
	if err != nil {
		return nil, err
	}
	recs, next, err := ListPayouts(r, req.GetState(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) {
			return nil, inputStatus(err, req.GetCellId())
		}
		return nil, status.Errorf(codes.Internal, "cell %d: listing payouts: %v", req.GetCellId(), err)
	}
	return &pb.ListPayoutsResponse{Payouts: recs, NextPageToken: next}, nil
}

// currentReader returns the cell's state after a linearizable read check.
func (s *Service) currentReader(ctx context.Context, cellID uint64) (replication.Reader, error) {
	g, err := s.group(cellID)
	if err != nil {
		return replication.Reader{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ProposalTimeout)
	defer cancel()
	if err := g.LinearizableRead(ctx); err != nil {
		if st := s.notLeader(cellID, err); st != nil {
			return replication.Reader{}, st
		}
		return replication.Reader{}, status.FromContextError(err).Err()
	}
	return g.Reader(), nil
}

func readStatus(err error, cellID uint64, reason pb.ErrorReason, field string) error {
	if errors.Is(err, ErrNotFound) {
		return ledgerStatus(&pb.LedgerError{Reason: reason, Message: err.Error(), Field: field}, cellID)
	}
	var ie *InputError
	if errors.As(err, &ie) {
		return inputStatus(err, cellID)
	}
	return status.Errorf(codes.Internal, "cell %d: %v", cellID, err)
}

// GetAccount implements pb.CellServer (a linearizable read on the leader).
func (s *Service) GetAccount(ctx context.Context, req *pb.GetAccountRequest) (*pb.Account, error) {
	if err := validID("account_id", req.GetAccountId(), accountIDBytesMax); err != nil {
		return nil, inputStatus(err, req.GetCellId())
	}
	r, err := s.currentReader(ctx, req.GetCellId())
	if err != nil {
		return nil, err
	}
	acc, err := GetAccount(r, req.GetAccountId())
	if err != nil {
		return nil, readStatus(err, req.GetCellId(), pb.ErrorReason_ERROR_REASON_ACCOUNT_NOT_FOUND, "account_id")
	}
	return acc, nil
}

// GetTransfer implements pb.CellServer (a linearizable read on the leader).
func (s *Service) GetTransfer(ctx context.Context, req *pb.GetTransferRequest) (*pb.TransferRecord, error) {
	if err := validID("transfer_id", req.GetTransferId(), idempotencyKeyBytesMax); err != nil {
		return nil, inputStatus(err, req.GetCellId())
	}
	if err := validID("from_account_id", req.GetFromAccountId(), accountIDBytesMax); err != nil {
		return nil, inputStatus(err, req.GetCellId())
	}
	if to := req.GetToAccountId(); to != "" {
		if err := validID("to_account_id", to, accountIDBytesMax); err != nil {
			return nil, inputStatus(err, req.GetCellId())
		}
	}
	r, err := s.currentReader(ctx, req.GetCellId())
	if err != nil {
		return nil, err
	}
	rec, err := GetTransfer(r, req.GetFromAccountId(), req.GetTransferId())
	if err == nil && req.GetToAccountId() != "" && rec.GetToAccountId() != req.GetToAccountId() {
		// The record exists but not between the named accounts: answered
		// exactly as a missing one, so a lookup learns nothing of others.
		err = fmt.Errorf("transfer %q: %w", req.GetTransferId(), ErrNotFound)
	}
	if err != nil {
		return nil, readStatus(err, req.GetCellId(), pb.ErrorReason_ERROR_REASON_TRANSFER_NOT_FOUND, "transfer_id")
	}
	return rec, nil
}

// ListTransfers implements pb.CellServer (a linearizable read on the leader).
func (s *Service) ListTransfers(ctx context.Context, req *pb.ListTransfersRequest) (*pb.ListTransfersResponse, error) {
	if err := validID("account_id", req.GetAccountId(), accountIDBytesMax); err != nil {
		return nil, inputStatus(err, req.GetCellId())
	}
	r, err := s.currentReader(ctx, req.GetCellId())
	if err != nil {
		return nil, err
	}
	recs, next, err := ListTransfers(r, req.GetAccountId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, readStatus(err, req.GetCellId(), pb.ErrorReason_ERROR_REASON_ACCOUNT_NOT_FOUND, "account_id")
	}
	return &pb.ListTransfersResponse{Transfers: recs, NextPageToken: next}, nil
}

// ReplicaStatus implements pb.CellServer: this node's replica, leader or not.
func (s *Service) ReplicaStatus(_ context.Context, req *pb.ReplicaStatusRequest) (*pb.ReplicaStatusResponse, error) {
	g, err := s.group(req.GetCellId())
	if err != nil {
		return nil, err
	}
	applied := g.AppliedIndex()
	var digest []byte
	if req.GetWithDigest() {
		var sha [32]byte
		if applied, sha, err = g.StateDigest(); err != nil {
			return nil, status.Errorf(codes.Internal, "cell %d: digest: %v", req.GetCellId(), err)
		}
		digest = sha[:]
	}
	leader, _, term := g.Leader()
	resp := &pb.ReplicaStatusResponse{
		CellId: req.GetCellId(), NodeId: s.host.NodeID(), AppliedIndex: applied, StateSha256: digest,
		Leader: g.IsLeader(), LeaderNodeId: leader, Term: term,
	}
	if s.payouts != nil {
		for _, rec := range s.payouts.unresolvedOf(req.GetCellId(), s.cfg.Now()) {
			resp.UnresolvedPayouts++
			if at := rec.GetCreatedAtUnixMs(); resp.OldestUnresolvedPayoutUnixMs == 0 || at < resp.OldestUnresolvedPayoutUnixMs {
				resp.OldestUnresolvedPayoutUnixMs = at
			}
		}
	}
	return resp, nil
}
