package cell

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/replication/replicationtest"
)

// One group plays both cells of a saga here: the payer's commands carry
// cell ids 1 -> 2, the payee's credit lands on another account of the same
// state machine. The identity of Totals holds for any mix of them.

func transferOutCmd(ts int64, id, from, to string, amountMinor int64) *pb.Command {
	cmd := transferCmd(ts, id, from, to, amountMinor, "EUR")
	cmd.GetTransfer().FromCellId, cmd.GetTransfer().ToCellId = 1, 2
	return cmd
}

func creditInCmd(ts int64, id, from, to string, amountMinor int64, currency string) *pb.Command {
	return &pb.Command{TimestampUnixMs: ts, Body: &pb.Command_CreditIn{CreditIn: &pb.CreditIn{
		TransferId: id, FromAccountId: from, FromCellId: 1, ToAccountId: to, AmountMinor: amountMinor, Currency: currency,
	}}}
}

func deliveredCmd(ts int64, from, id string, outcome pb.TransferState, reason string) *pb.Command {
	return &pb.Command{TimestampUnixMs: ts, Body: &pb.Command_OutboxDelivered{OutboxDelivered: &pb.OutboxDelivered{
		TransferId: id, FromAccountId: from, Outcome: outcome, Reason: reason,
	}}}
}

// checkTotals reads the totals, fails unless the identity holds, and
// returns them.
func checkTotals(t *testing.T, g ledgerGroup) Totals {
	t.Helper()
	tot, err := ReadTotals(g.Reader())
	if err != nil {
		t.Fatal(err)
	}
	if ok, bad := tot.Conserved(); !ok {
		t.Fatalf("money not conserved: %v", bad)
	}
	return tot
}

func TestCrossCellSaga(t *testing.T) {
	g := newTwin(t)
	mustSucceed(t, g, createCmd(1, "c-a", "alice", "EUR", false))
	mustSucceed(t, g, createCmd(1, "c-b", "bob", "EUR", false))
	mustSucceed(t, g, createCmd(1, "c-u", "usd", "USD", false))
	mustSucceed(t, g, depositCmd(2, "d-a", "alice", 100, "EUR"))

	// The payer's leg: debit and outbox, in flight.
	out := mustSucceed(t, g, transferOutCmd(3, "t1", "alice", "remote-bob", 30)).GetTransfer()
	if out.GetState() != pb.TransferState_TRANSFER_STATE_IN_FLIGHT || out.GetFromCellId() != 1 || out.GetToCellId() != 2 || out.GetFromBalanceAfterMinor() != 70 {
		t.Fatalf("payer's record %v; want IN_FLIGHT from cell 1 to 2, payer left with 70", out)
	}
	tot := checkTotals(t, g)
	if tot.InFlight["EUR"] != 30 || tot.Outbox != 1 {
		t.Fatalf("in flight %d, outbox %d; want 30 and 1", tot.InFlight["EUR"], tot.Outbox)
	}
	if replay := apply(t, g, transferOutCmd(4, "t1", "alice", "remote-bob", 30)); !replay.Replayed || account(t, g, "alice").GetBalanceMinor() != 70 {
		t.Fatalf("a retried transfer debited again or was not replayed: %+v", replay)
	}
	mustFail(t, g, transferOutCmd(4, "t1", "alice", "remote-bob", 31), pb.ErrorReason_ERROR_REASON_IDEMPOTENCY_KEY_REUSED)
	mustFail(t, g, transferOutCmd(4, "t-big", "alice", "remote-bob", 71), pb.ErrorReason_ERROR_REASON_INSUFFICIENT_FUNDS)

	// The payee's leg, and its refusals (which change nothing).
	in := mustSucceed(t, g, creditInCmd(5, "t9", "remote-carol", "bob", 25, "EUR")).GetTransfer()
	if in.GetState() != pb.TransferState_TRANSFER_STATE_COMPLETED || in.GetToBalanceAfterMinor() != 25 || account(t, g, "bob").GetBalanceMinor() != 25 {
		t.Fatalf("payee's record %v; want COMPLETED, bob at 25", in)
	}
	if replay := apply(t, g, creditInCmd(6, "t9", "remote-carol", "bob", 25, "EUR")); !replay.Replayed || account(t, g, "bob").GetBalanceMinor() != 25 {
		t.Fatalf("a redelivered credit was applied again: %+v", replay)
	}
	mustFail(t, g, creditInCmd(6, "t9", "remote-carol", "bob", 26, "EUR"), pb.ErrorReason_ERROR_REASON_IDEMPOTENCY_KEY_REUSED)
	mustFail(t, g, creditInCmd(6, "t10", "remote-carol", "nobody", 5, "EUR"), pb.ErrorReason_ERROR_REASON_ACCOUNT_NOT_FOUND)
	mustFail(t, g, creditInCmd(6, "t11", "remote-carol", "usd", 5, "EUR"), pb.ErrorReason_ERROR_REASON_CURRENCY_MISMATCH)
	if tot := checkTotals(t, g); tot.Received["EUR"] != 25 {
		t.Fatalf("received %d, want 25", tot.Received["EUR"])
	}

	// Settled: COMPLETED once; recording again changes nothing.
	done := mustSucceed(t, g, deliveredCmd(7, "alice", "t1", pb.TransferState_TRANSFER_STATE_COMPLETED, "")).GetTransfer()
	if done.GetState() != pb.TransferState_TRANSFER_STATE_COMPLETED || done.GetSettledAtUnixMs() != 7 {
		t.Fatalf("settled record %v; want COMPLETED at 7", done)
	}
	again := mustSucceed(t, g, deliveredCmd(8, "alice", "t1", pb.TransferState_TRANSFER_STATE_REVERSED, "late")).GetTransfer()
	if again.GetState() != pb.TransferState_TRANSFER_STATE_COMPLETED || account(t, g, "alice").GetBalanceMinor() != 70 {
		t.Fatalf("a second settlement changed a settled transfer: %v, alice %d", again, account(t, g, "alice").GetBalanceMinor())
	}
	if tot := checkTotals(t, g); tot.InFlight["EUR"] != 0 || tot.Sent["EUR"] != 30 || tot.Outbox != 0 {
		t.Fatalf("after settling: in flight %d, sent %d, outbox %d; want 0, 30, 0", tot.InFlight["EUR"], tot.Sent["EUR"], tot.Outbox)
	}

	// Reversed: the payer is refunded, the reason kept.
	mustSucceed(t, g, transferOutCmd(9, "t2", "alice", "remote-nobody", 20))
	rev := mustSucceed(t, g, deliveredCmd(10, "alice", "t2", pb.TransferState_TRANSFER_STATE_REVERSED, "no such account")).GetTransfer()
	if rev.GetState() != pb.TransferState_TRANSFER_STATE_REVERSED || rev.GetReversalReason() != "no such account" || account(t, g, "alice").GetBalanceMinor() != 70 {
		t.Fatalf("reversed record %v, alice %d; want REVERSED with its reason, alice back at 70", rev, account(t, g, "alice").GetBalanceMinor())
	}
	if tot := checkTotals(t, g); tot.InFlight["EUR"] != 0 || tot.Sent["EUR"] != 30 {
		t.Fatalf("after the reversal: in flight %d, sent %d; want 0, 30", tot.InFlight["EUR"], tot.Sent["EUR"])
	}
	mustFail(t, g, deliveredCmd(11, "alice", "t-none", pb.TransferState_TRANSFER_STATE_COMPLETED, ""), pb.ErrorReason_ERROR_REASON_TRANSFER_NOT_FOUND)
	mustSucceed(t, g, transferOutCmd(12, "t3", "alice", "remote-bob", 1))
	mustFail(t, g, deliveredCmd(13, "alice", "t3", pb.TransferState_TRANSFER_STATE_IN_FLIGHT, ""), pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT)
}

func TestConservedCatchesABrokenCell(t *testing.T) {
	tot := Totals{
		Balances: map[string]int64{"EUR": 100}, Deposited: map[string]int64{"EUR": 100},
		InFlight: map[string]int64{"EUR": 10}, Sent: map[string]int64{}, Received: map[string]int64{},
	}
	if ok, bad := tot.Conserved(); ok || len(bad) != 1 {
		t.Fatalf("10 in flight yet all 100 still in balances: Conserved = %v, %v; want a violation", ok, bad)
	}
}

// fakeCourier answers credits from a script and counts them per transfer.
type fakeCourier struct {
	mu     sync.Mutex
	calls  map[string]int
	answer func(id string, call int) error
}

func (f *fakeCourier) Credit(_ context.Context, _ uint64, c *pb.CreditIn) (*pb.TransferRecord, error) {
	f.mu.Lock()
	f.calls[c.GetTransferId()]++
	n := f.calls[c.GetTransferId()]
	f.mu.Unlock()
	if err := f.answer(c.GetTransferId(), n); err != nil {
		return nil, err
	}
	return &pb.TransferRecord{TransferId: c.GetTransferId(), State: pb.TransferState_TRANSFER_STATE_COMPLETED}, nil
}

func (f *fakeCourier) count(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[id]
}

type oneCellDirectory struct{}

func (oneCellDirectory) CellOfAccount(id string) (uint64, bool) {
	if len(id) > 7 && id[:7] == "remote-" {
		return 2, true
	}
	return 1, true
}
func (oneCellDirectory) ClientAddr(string) (string, bool) { return "", false }

// TestRelaySettlesOnlyOnDefiniteAnswers: an answer that is not known is
// delivered again (same transfer id) until it is; a refusal reverses; a
// success completes; each transfer settles once.
func TestRelaySettlesOnlyOnDefiniteAnswers(t *testing.T) {
	host, g := newSingleHost(t)
	courier := &fakeCourier{calls: map[string]int{}, answer: func(id string, call int) error {
		switch {
		case id == "t-unknown" && call < 3:
			return rpcstatus.Error(codes.Unavailable, rpcstatus.ReasonOutcomeUnknown, "lost in the network", nil)
		case id == "t-refused":
			return rpcstatus.Error(codes.NotFound, rpcstatus.ReasonString(pb.ErrorReason_ERROR_REASON_ACCOUNT_NOT_FOUND), "no such payee", map[string]string{rpcstatus.MetaStored: "true"})
		case id == "t-wrong-cell":
			// One node's topology view: says nothing of an earlier attempt.
			return rpcstatus.Error(codes.FailedPrecondition, rpcstatus.ReasonWrongCell, "to_account_id belongs to cell 3", nil)
		case id == "t-unstored-refusal":
			// A refusal the payee's ledger did not store under the key.
			return rpcstatus.Error(codes.NotFound, rpcstatus.ReasonString(pb.ErrorReason_ERROR_REASON_ACCOUNT_NOT_FOUND), "no such payee", nil)
		}
		return nil
	}}
	svc := NewService(host, oneCellDirectory{}, ServiceConfig{CrossCellWait: -1})
	r := newRelay(host, svc, courier, []uint64{1}, RelayConfig{Interval: 20 * time.Millisecond, BackoffMin: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond}, quietLogger())
	svc.relay = r
	go r.run()
	t.Cleanup(r.close)

	ctx := context.Background()
	mustSucceed(t, g, createCmd(1, "c-a", "alice", "EUR", false))
	mustSucceed(t, g, depositCmd(2, "d-a", "alice", 100, "EUR"))
	for _, id := range []string{"t-ok", "t-unknown", "t-refused", "t-wrong-cell", "t-unstored-refusal"} {
		rec, err := svc.Transfer(ctx, &pb.TransferRequest{CellId: 1, Command: &pb.Transfer{TransferId: id, FromAccountId: "alice", ToAccountId: "remote-bob", AmountMinor: 10, Currency: "EUR"}})
		if err != nil || rec.GetState() != pb.TransferState_TRANSFER_STATE_IN_FLIGHT {
			t.Fatalf("transfer %s: %v, %v; want IN_FLIGHT (CrossCellWait is off)", id, rec, err)
		}
	}
	want := map[string]pb.TransferState{
		"t-ok": pb.TransferState_TRANSFER_STATE_COMPLETED, "t-unknown": pb.TransferState_TRANSFER_STATE_COMPLETED,
		"t-refused": pb.TransferState_TRANSFER_STATE_REVERSED,
		// Never reversed (the credit may have applied): still in flight.
		"t-wrong-cell": pb.TransferState_TRANSFER_STATE_IN_FLIGHT, "t-unstored-refusal": pb.TransferState_TRANSFER_STATE_IN_FLIGHT,
	}
	replicationtest.EventuallyNoError(t, 20*time.Second, func() error {
		for id, state := range want {
			rec, err := GetTransfer(g.Reader(), "alice", id)
			if err != nil || rec.GetState() != state {
				return fmt.Errorf("%s: %v, %v; want %s", id, rec, err, state)
			}
		}
		return nil
	}, "every transfer settled")
	if n := courier.count("t-unknown"); n != 3 {
		t.Fatalf("the credit with unknown outcomes was delivered %d times, want 3 (two unknown, one answer)", n)
	}
	replicationtest.EventuallyNoError(t, 20*time.Second, func() error {
		if n := min(courier.count("t-wrong-cell"), courier.count("t-unstored-refusal")); n < 3 {
			return fmt.Errorf("delivered %d times", n)
		}
		return nil
	}, "the unanswered credits delivered again")
	for id := range want {
		if want[id] == pb.TransferState_TRANSFER_STATE_IN_FLIGHT {
			continue
		}
		if n, limit := courier.count(id), map[string]int{"t-unknown": 3}[id]; n > max(limit, 1) {
			t.Fatalf("%s delivered %d times after it settled", id, n)
		}
	}
	if tot := checkTotals(t, g); tot.Outbox != 2 || tot.InFlight["EUR"] != 20 || account(t, g, "alice").GetBalanceMinor() != 60 {
		t.Fatalf("outbox %d, in flight %d, alice %d; want 2, 20, 60 (one refund, two still in flight)", tot.Outbox, tot.InFlight["EUR"], account(t, g, "alice").GetBalanceMinor())
	}
}
