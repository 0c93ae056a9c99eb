package cell

import (
	"fmt"
	"math"
	"testing"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
)

// TestPaidOutOverflowChangesNothing is the regression test of a payout
// outcome that wrote half a command: SUCCEEDED lowered the held total
// before it found that the paid-out total would overflow, returned the
// error with the write already in the batch, and every retry subtracted
// again (money vanished from "held" while the payout stayed PENDING).
func TestPaidOutOverflowChangesNothing(t *testing.T) {
	g := newTwin(t)
	mustSucceed(t, g, createCmd(1, "c-a", "alice", "EUR", false))
	mustSucceed(t, g, depositCmd(2, "d-a", "alice", math.MaxInt64, "EUR"))
	mustSucceed(t, g, payoutCmd(3, "po-big", "alice", math.MaxInt64, "bank-a"))
	mustSucceed(t, g, outcomeCmd(4, "alice", "po-big", "bank-a", pb.PayoutState_PAYOUT_STATE_SUCCEEDED, ""))
	// Money that arrives from another cell can be paid out too, but the
	// cell's paid-out total is already at its maximum.
	mustSucceed(t, g, creditInCmd(5, "x-1", "remote-bob", "alice", 10, "EUR"))
	mustSucceed(t, g, payoutCmd(6, "po-small", "alice", 10, "bank-a"))
	before := ledgerHash(t, g)
	for try := range 3 {
		mustFail(t, g, outcomeCmd(int64(7+try), "alice", "po-small", "bank-a", pb.PayoutState_PAYOUT_STATE_SUCCEEDED, ""), pb.ErrorReason_ERROR_REASON_OVERFLOW)
		if ledgerHash(t, g) != before {
			t.Fatalf("try %d: a payout outcome that failed with OVERFLOW changed the ledger", try)
		}
		tot := requireConserved(t, g)
		if tot.Held["EUR"] != 10 {
			t.Fatalf("try %d: held %d, want 10 (the payout is still PENDING)", try, tot.Held["EUR"])
		}
	}
}

// TestEveryFailedCommandChangesNothing runs a seeded random mix of every
// command kind (accounts, deposits, local and cross-cell transfers,
// credits, deliveries, payouts, attempts and outcomes), with amounts near
// MaxInt64 so totals overflow, and checks after each one: a command that
// returned an error changed nothing but, at most, its stored refusal
// (i/...); money is conserved; a keyed command sent again is answered the
// same.
func TestEveryFailedCommandChangesNothing(t *testing.T) {
	g := newTwin(t)
	rng := newRand(7)
	accounts := []string{"a0", "a1", "a2", "a3", "ghost"}
	amount := func() int64 {
		switch p := rng.IntN(10); {
		case p == 0:
			return math.MaxInt64 - rng.Int64N(3)
		case p == 1:
			return math.MaxInt64/2 + rng.Int64N(3)
		case p == 2:
			return -rng.Int64N(2)
		default:
			return 1 + rng.Int64N(1_000)
		}
	}
	pick := func() string { return accounts[rng.IntN(len(accounts))] }
	states := []pb.PayoutState{pb.PayoutState_PAYOUT_STATE_SUCCEEDED, pb.PayoutState_PAYOUT_STATE_FAILED, pb.PayoutState_PAYOUT_STATE_UNKNOWN}
	kinds := map[string]int{}
	failures := map[pb.ErrorReason]int{}
	for i := range 3_000 {
		ts := int64(1_000 + i)
		id := fmt.Sprintf("id-%d", rng.IntN(40)) // few ids: reuse, replays and collisions across payers
		var cmd *pb.Command
		switch rng.IntN(9) {
		case 0:
			cmd = createCmd(ts, id, pick(), "EUR", rng.IntN(5) == 0)
		case 1:
			cmd = depositCmd(ts, id, pick(), amount(), "EUR")
		case 2:
			cmd = transferCmd(ts, id, pick(), pick(), amount(), "EUR")
		case 3:
			cmd = transferOutCmd(ts, id, pick(), "remote-x", amount())
		case 4:
			cmd = creditInCmd(ts, id, "remote-"+pick(), pick(), amount(), "EUR")
		case 5:
			cmd = deliveredCmd(ts, pick(), id, []pb.TransferState{pb.TransferState_TRANSFER_STATE_COMPLETED, pb.TransferState_TRANSFER_STATE_REVERSED}[rng.IntN(2)], "test")
		case 6:
			cmd = payoutCmd(ts, id, pick(), amount(), "bank-a")
		case 7:
			cmd = outcomeCmd(ts, pick(), id, "bank-a", states[rng.IntN(len(states))], "")
		case 8:
			cmd = &pb.Command{TimestampUnixMs: ts, Body: &pb.Command_PayoutAttempt{PayoutAttempt: &pb.PayoutAttempt{PayoutId: id, AccountId: pick(), Provider: "bank-a"}}}
		}
		kinds[fmt.Sprintf("%T", cmd.GetBody())]++
		before := ledgerHash(t, g)
		got := apply(t, g, cmd)
		if e := got.Result.GetError(); e != nil {
			failures[e.GetReason()]++
			if ledgerHash(t, g) != before {
				t.Fatalf("command %d %v failed (%v) and changed the ledger", i, cmd, e)
			}
		}
		requireConserved(t, g)
	}
	for _, r := range []pb.ErrorReason{reasonOverflow, reasonInsufficient, reasonNotFound, reasonKeyReused, reasonNotPositive} {
		if failures[r] == 0 {
			t.Errorf("the workload produced no %v; failures: %v", r, failures)
		}
	}
	t.Logf("kinds %v, failures %v", kinds, failures)
}

// TestGetTransferAnswersOnlyANamedAccount (issue 13, item 2b): a lookup
// returns a record only to a request naming its payer (the id's scope),
// and, with a payee, only if the record names it; anything else is
// TRANSFER_NOT_FOUND, exactly as a missing transfer.
func TestGetTransferAnswersOnlyANamedAccount(t *testing.T) {
	host, _ := newSingleHost(t)
	svc := NewService(host, oneCellDirectory{}, ServiceConfig{})
	ctx := t.Context()
	for _, id := range []string{"alice", "bob", "eve"} {
		if _, err := svc.CreateAccount(ctx, &pb.CreateAccountRequest{CellId: 1, Command: &pb.CreateAccount{IdempotencyKey: "c-" + id, AccountId: id, Currency: "EUR"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Deposit(ctx, &pb.DepositRequest{CellId: 1, Command: &pb.Deposit{IdempotencyKey: "d", AccountId: "alice", AmountMinor: 50, Currency: "EUR", ExternalRef: "x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Transfer(ctx, &pb.TransferRequest{CellId: 1, Command: &pb.Transfer{TransferId: "t-1", FromAccountId: "alice", ToAccountId: "bob", AmountMinor: 5, Currency: "EUR"}}); err != nil {
		t.Fatal(err)
	}
	notFound := rpcstatus.ReasonString(pb.ErrorReason_ERROR_REASON_TRANSFER_NOT_FOUND)
	for _, tc := range []struct {
		name     string
		from, to string
		reason   string
	}{
		{"the payer", "alice", "", ""},
		{"the payer and the payee", "alice", "bob", ""},
		{"another payer", "eve", "", notFound},
		{"the payer and another payee", "alice", "eve", notFound},
		{"no payer", "", "bob", rpcstatus.ReasonString(pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT)},
	} {
		rec, err := svc.GetTransfer(ctx, &pb.GetTransferRequest{CellId: 1, TransferId: "t-1", FromAccountId: tc.from, ToAccountId: tc.to})
		if rpcstatus.Reason(err) != tc.reason || (tc.reason == "" && rec.GetFromAccountId() != "alice") {
			t.Errorf("%s: %v, %v; want reason %q", tc.name, rec, err, tc.reason)
		}
	}
}
