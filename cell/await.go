package cell

import (
	"context"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// awaitPollInterval is how often a request waiting for an outcome reads
// the local replica again.
const awaitPollInterval = 10 * time.Millisecond

// pollUntil calls done every awaitPollInterval until it returns true, wait
// has passed, or ctx is done. The wait is bounded to half of what is left
// of ctx's deadline, so the answer (settled or not) still reaches a caller
// that would otherwise give up and retry.
func pollUntil(ctx context.Context, wait time.Duration, done func() bool) {
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)/2)
	}
	if wait <= 0 {
		return
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	poll := time.NewTicker(awaitPollInterval)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		case <-poll.C:
		}
		if done() {
			return
		}
	}
}

// awaitSettled wakes the relay and waits (CrossCellWait, see pollUntil)
// for a cross-cell transfer to settle; it returns the latest record. The
// local replica is the leader's (it just applied the debit), so a settled
// record read here is committed.
func (s *Service) awaitSettled(ctx context.Context, cellID uint64, rec *pb.TransferRecord) *pb.TransferRecord {
	s.relay.notify()
	g, err := s.group(cellID)
	if err != nil {
		return rec
	}
	pollUntil(ctx, s.cfg.CrossCellWait, func() bool {
		now, err := GetTransfer(g.Reader(), rec.GetFromAccountId(), rec.GetTransferId())
		if err != nil || now.GetState() == pb.TransferState_TRANSFER_STATE_IN_FLIGHT {
			return false
		}
		rec = now
		return true
	})
	return rec
}

// awaitPayout waits (PayoutConfig.Wait, see pollUntil) for a payout to
// settle; it returns the latest record, read at least once if time allows
// (a replayed request's stored record may be stale).
func (s *Service) awaitPayout(ctx context.Context, cellID uint64, rec *pb.PayoutRecord) *pb.PayoutRecord {
	g, err := s.group(cellID)
	if err != nil {
		return rec
	}
	pollUntil(ctx, s.payouts.cfg.Wait, func() bool {
		now, err := GetPayout(g.Reader(), rec.GetAccountId(), rec.GetPayoutId())
		if err != nil {
			return false
		}
		rec = now
		return settledPayout(now.GetState())
	})
	return rec
}
