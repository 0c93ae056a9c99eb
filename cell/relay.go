package cell

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/replication"
)

// Courier delivers the payee's leg of a cross-cell transfer to the leader
// of the payee's cell (package router implements it with its forwarder:
// leader hints, retries of the unchanged request). Credit returns the
// payee cell's record, or its error: a gRPC status whose ErrorInfo reason
// tells a refusal (rpcstatus.Stored) from an outcome that is not known.
type Courier interface {
	Credit(ctx context.Context, cellID uint64, c *pb.CreditIn) (*pb.TransferRecord, error)
}

// RelayConfig tunes the outbox relay. Zero fields take the defaults.
type RelayConfig struct {
	// Interval is how often the outbox of every cell this node leads is
	// read. Default 200 ms. A new cross-cell transfer is relayed at once.
	Interval time.Duration
	// BatchMax bounds the outbox records read per cell per pass. Default 256.
	BatchMax int
	// InFlightMax bounds the deliveries in flight on this node. Default 16.
	InFlightMax int
	// AttemptTimeout bounds one delivery, settling included. Default 5 s.
	AttemptTimeout time.Duration
	// BackoffMin and BackoffMax bound the wait before a delivery whose
	// outcome was not known is tried again (doubling). Defaults 100 ms, 5 s.
	BackoffMin, BackoffMax time.Duration
}

func (c *RelayConfig) defaults() {
	if c.Interval <= 0 {
		c.Interval = 200 * time.Millisecond
	}
	if c.BatchMax <= 0 {
		c.BatchMax = 256
	}
	if c.InFlightMax <= 0 {
		c.InFlightMax = 16
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = 5 * time.Second
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 100 * time.Millisecond
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(5*time.Second, c.BackoffMin)
	}
}

// A Courier's error is a final refusal of the credit (the transfer is
// reversed) only if rpcstatus.Stored: a refusal the payee cell's ledger
// stored under the credit's key, so a retry with that key can never apply
// the credit afterwards. Anything else — WRONG_CELL from one node's view of
// the topology, an invalid request, a reused key, a timeout — may follow an
// earlier attempt that did apply it, so reversing would create money: the
// credit is tried again, with the same transfer id, until it is known.

// relay delivers the outbox of every cell its node leads. A new leader
// after a failover finds the records in the replicated state and resumes.
type relay struct {
	leaderWork[*pb.OutboxRecord] // by transfer: in flight or backing off

	service *Service
	courier Courier
	cfg     RelayConfig
	logger  *slog.Logger

	// ctx is cancelled by close, ending deliveries in flight at once.
	ctx    context.Context
	cancel context.CancelFunc
}

func newRelay(host *replication.Host, service *Service, courier Courier, cells []uint64, cfg RelayConfig, logger *slog.Logger) *relay {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	r := &relay{ctx: ctx, cancel: cancel, service: service, courier: courier, cfg: cfg, logger: logger.With("component", "relay")}
	r.leaderWork = leaderWork[*pb.OutboxRecord]{
		host: host, cells: cells, interval: cfg.Interval, batchMax: cfg.BatchMax, logger: r.logger, what: "the outbox",
		list: readOutbox, ref: outboxRef,
		do: func(cellID uint64, rec *pb.OutboxRecord) (bool, bool) { return r.deliver(cellID, rec), false },
		observed: func(cellID uint64, led bool, records []*pb.OutboxRecord, _ time.Time) {
			if !led {
				service.metrics.outbox(cellID, -1)
				return
			}
			service.metrics.outbox(cellID, len(records))
		},
	}
	r.init(cfg.InFlightMax, cfg.BackoffMin, cfg.BackoffMax)
	return r
}

// close stops the relay, ending its deliveries in flight, and waits.
func (r *relay) close() {
	r.cancel()
	r.leaderWork.close()
}

// deliver credits the payee and records the outcome in the payer's cell;
// true once settled. An unknown outcome is never reversed: it is tried
// again with the same transfer id, which the payee's cell deduplicates.
func (r *relay) deliver(cellID uint64, rec *pb.OutboxRecord) bool {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.AttemptTimeout)
	defer cancel()
	t := rec.GetTransfer()
	_, err := r.courier.Credit(ctx, t.GetToCellId(), &pb.CreditIn{
		TransferId: t.GetTransferId(), FromAccountId: t.GetFromAccountId(), FromCellId: cellID,
		ToAccountId: t.GetToAccountId(), AmountMinor: t.GetAmountMinor(), Currency: t.GetCurrency(),
	})
	settle := &pb.OutboxDelivered{TransferId: t.GetTransferId(), FromAccountId: t.GetFromAccountId(), Outcome: pb.TransferState_TRANSFER_STATE_COMPLETED}
	switch {
	case err == nil:
	case rpcstatus.Stored(err):
		settle.Outcome, settle.Reason = pb.TransferState_TRANSFER_STATE_REVERSED, fmt.Sprintf("the payee's cell %d refused the credit: %s", t.GetToCellId(), rpcstatus.Reason(err))
	case status.Code(err) == codes.Unavailable || status.Code(err) == codes.DeadlineExceeded || status.Code(err) == codes.Canceled:
		r.logger.Debug("relay: credit outcome not known, will retry", "transfer", t.GetTransferId(), "cell", t.GetToCellId(), "error", err)
		return false
	default:
		// An answer that is not the payee ledger's stored decision (e.g.
		// WRONG_CELL from a node whose topology differs, a reused key): the
		// credit may have applied under an earlier attempt, so it is never
		// reversed. It stays in flight, retried with backoff, for an
		// operator to see (reconciliation lists stuck transfers).
		r.logger.Warn("relay: the payee's cell answered without a final decision; the transfer stays in flight, retried",
			"transfer", t.GetTransferId(), "cell", t.GetToCellId(), "reason", rpcstatus.Reason(err), "error", err)
		return false
	}
	rctx, rcancel := context.WithTimeout(r.ctx, r.cfg.AttemptTimeout) // The credit may have used up ctx.
	defer rcancel()
	if _, err := r.service.propose(rctx, cellID, &pb.Command{Body: &pb.Command_OutboxDelivered{OutboxDelivered: settle}}); err != nil {
		// Not recorded (or not known to be): the next pass delivers again,
		// the payee's cell replays its answer, and we record it then.
		r.logger.Debug("relay: recording delivery failed, will retry", "transfer", t.GetTransferId(), "error", err)
		return false
	}
	return true
}

// outboxRef names an outbox record in its cell: transfer ids are per payer.
func outboxRef(rec *pb.OutboxRecord) string {
	return transferRef(rec.GetTransfer().GetFromAccountId(), rec.GetTransfer().GetTransferId())
}

// readOutbox returns up to limit outbox records, oldest ids first.
func readOutbox(rd replication.Reader, limit int) ([]*pb.OutboxRecord, error) {
	var out []*pb.OutboxRecord
	var decodeErr error
	err := rd.Scan([]byte("o/"), []byte("o0"), func(_, v []byte) bool {
		var rec pb.OutboxRecord
		if decodeErr = proto.Unmarshal(v, &rec); decodeErr != nil {
			return false
		}
		out = append(out, &rec)
		return len(out) < limit
	})
	return out, errors.Join(err, decodeErr)
}
