package cell

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell/channel"
	"github.com/cellpay/cellpay/replication"
	"github.com/cellpay/cellpay/replication/replicationtest"
)

func payoutCmd(ts int64, id, account string, amountMinor int64, provider string) *pb.Command {
	return &pb.Command{TimestampUnixMs: ts, Body: &pb.Command_Payout{Payout: &pb.Payout{
		PayoutId: id, AccountId: account, AmountMinor: amountMinor, Currency: "EUR", Provider: provider,
	}}}
}

func attemptCmd(ts int64, account, id, provider string) *pb.Command {
	return &pb.Command{TimestampUnixMs: ts, Body: &pb.Command_PayoutAttempt{PayoutAttempt: &pb.PayoutAttempt{
		PayoutId: id, AccountId: account, Provider: provider,
	}}}
}

func outcomeCmd(ts int64, account, id, provider string, state pb.PayoutState, rerouteTo string) *pb.Command {
	return &pb.Command{TimestampUnixMs: ts, Body: &pb.Command_PayoutOutcome{PayoutOutcome: &pb.PayoutOutcome{
		PayoutId: id, AccountId: account, Provider: provider, State: state, RerouteTo: rerouteTo, Reason: "test",
	}}}
}

func TestPayoutLedger(t *testing.T) {
	g := newTwin(t)
	mustSucceed(t, g, createCmd(1, "c-a", "alice", "EUR", false))
	mustSucceed(t, g, depositCmd(2, "d-a", "alice", 100, "EUR"))

	rec := mustSucceed(t, g, payoutCmd(3, "po-1", "alice", 40, "bank-a")).GetPayout()
	if rec.GetState() != pb.PayoutState_PAYOUT_STATE_PENDING || account(t, g, "alice").GetBalanceMinor() != 60 {
		t.Fatalf("payout %v, alice %d; want PENDING with 40 held from 100", rec, account(t, g, "alice").GetBalanceMinor())
	}
	if tot := checkTotals(t, g); tot.Held["EUR"] != 40 || tot.Payouts != 1 {
		t.Fatalf("held %d, open payouts %d; want 40 and 1", tot.Held["EUR"], tot.Payouts)
	}
	if a := apply(t, g, payoutCmd(4, "po-1", "alice", 40, "bank-a")); !a.Replayed || account(t, g, "alice").GetBalanceMinor() != 60 {
		t.Fatalf("a duplicate payout request held funds again: %+v", a)
	}
	mustFail(t, g, payoutCmd(4, "po-1", "alice", 41, "bank-a"), pb.ErrorReason_ERROR_REASON_IDEMPOTENCY_KEY_REUSED)
	mustFail(t, g, payoutCmd(4, "po-big", "alice", 61, "bank-a"), pb.ErrorReason_ERROR_REASON_INSUFFICIENT_FUNDS)
	// A payout id and a transfer id with the same text do not collide.
	mustSucceed(t, g, createCmd(4, "c-b", "bob", "EUR", false))
	mustSucceed(t, g, transferCmd(4, "po-1", "alice", "bob", 1, "EUR"))

	mustFail(t, g, outcomeCmd(5, "alice", "po-1", "bank-b", pb.PayoutState_PAYOUT_STATE_SUCCEEDED, ""), pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT)
	unknown := mustSucceed(t, g, outcomeCmd(5, "alice", "po-1", "bank-a", pb.PayoutState_PAYOUT_STATE_UNKNOWN, "")).GetPayout()
	if unknown.GetState() != pb.PayoutState_PAYOUT_STATE_UNKNOWN || unknown.GetUnknownSinceUnixMs() != 5 {
		t.Fatalf("after an unknown answer: %v; want UNKNOWN since 5", unknown)
	}
	// An unknown payout holds its account: it receives, it does not send,
	// and the refusal is not stored under the transfer's id.
	mustFail(t, g, transferCmd(5, "t-held", "alice", "bob", 1, "EUR"), pb.ErrorReason_ERROR_REASON_ACCOUNT_HELD)
	mustFail(t, g, payoutCmd(5, "po-held", "alice", 1, "bank-a"), pb.ErrorReason_ERROR_REASON_ACCOUNT_HELD)
	mustSucceed(t, g, transferCmd(5, "t-in", "bob", "alice", 1, "EUR"))
	// A fallback only after a definite failure: FAILED with reroute_to.
	rerouted := mustSucceed(t, g, outcomeCmd(6, "alice", "po-1", "bank-a", pb.PayoutState_PAYOUT_STATE_FAILED, "bank-b")).GetPayout()
	if rerouted.GetState() != pb.PayoutState_PAYOUT_STATE_PENDING || rerouted.GetProvider() != "bank-b" || len(rerouted.GetFailedProviders()) != 1 {
		t.Fatalf("rerouted payout %v; want PENDING at bank-b after bank-a failed", rerouted)
	}
	// The refusal is final for its key (a router still retrying the first
	// attempt must not execute it after the client was told ACCOUNT_HELD);
	// a new key runs once the hold is released.
	if a := apply(t, g, transferCmd(6, "t-held", "alice", "bob", 1, "EUR")); !a.Replayed || a.Result.GetError().GetReason() != pb.ErrorReason_ERROR_REASON_ACCOUNT_HELD {
		t.Fatalf("the held transfer's key again: %v (replayed %v); want its stored ACCOUNT_HELD", a.Result, a.Replayed)
	}
	if a := mustSucceed(t, g, transferCmd(6, "t-held-2", "alice", "bob", 1, "EUR")); a.GetTransfer() == nil {
		t.Fatalf("a new transfer did not run once the hold was released: %v", a)
	}
	mustFail(t, g, outcomeCmd(7, "alice", "po-1", "bank-b", pb.PayoutState_PAYOUT_STATE_FAILED, "bank-a"), pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT)
	done := mustSucceed(t, g, outcomeCmd(7, "alice", "po-1", "bank-b", pb.PayoutState_PAYOUT_STATE_SUCCEEDED, "")).GetPayout()
	if done.GetState() != pb.PayoutState_PAYOUT_STATE_SUCCEEDED {
		t.Fatalf("payout %v; want SUCCEEDED", done)
	}
	if again := mustSucceed(t, g, outcomeCmd(8, "alice", "po-1", "bank-b", pb.PayoutState_PAYOUT_STATE_FAILED, "")).GetPayout(); again.GetState() != pb.PayoutState_PAYOUT_STATE_SUCCEEDED || account(t, g, "alice").GetBalanceMinor() != 59 {
		t.Fatalf("a settled payout changed: %v, alice %d", again, account(t, g, "alice").GetBalanceMinor())
	}
	if tot := checkTotals(t, g); tot.Held["EUR"] != 0 || tot.PaidOut["EUR"] != 40 || tot.Payouts != 0 {
		t.Fatalf("held %d, paid out %d, open %d; want 0, 40, 0", tot.Held["EUR"], tot.PaidOut["EUR"], tot.Payouts)
	}

	mustSucceed(t, g, payoutCmd(9, "po-2", "alice", 9, "bank-a"))
	failed := mustSucceed(t, g, outcomeCmd(10, "alice", "po-2", "bank-a", pb.PayoutState_PAYOUT_STATE_FAILED, "")).GetPayout()
	if failed.GetState() != pb.PayoutState_PAYOUT_STATE_FAILED || account(t, g, "alice").GetBalanceMinor() != 59 {
		t.Fatalf("failed payout %v, alice %d; want FAILED, funds released to 59", failed, account(t, g, "alice").GetBalanceMinor())
	}
	checkTotals(t, g)
	for state, want := range map[pb.PayoutState]int{pb.PayoutState_PAYOUT_STATE_SUCCEEDED: 1, pb.PayoutState_PAYOUT_STATE_FAILED: 1, pb.PayoutState_PAYOUT_STATE_UNKNOWN: 0, pb.PayoutState_PAYOUT_STATE_UNSPECIFIED: 2} {
		recs, _, err := ListPayouts(g.Reader(), state, 0, "")
		if err != nil || len(recs) != want {
			t.Fatalf("ListPayouts(%s) = %d records, %v; want %d", state, len(recs), err, want)
		}
	}
}

// payoutRig is one cell on one node with an executor over simulated
// providers bank-a (preferred) and bank-b.
type payoutRig struct {
	g            *replication.Group
	svc          *Service
	bankA, bankB *channel.Sim
}

func newPayoutRig(t *testing.T, callTimeout time.Duration) *payoutRig {
	return newPayoutRigWindow(t, callTimeout, 0)
}

// newPayoutRigWindow is newPayoutRig with providers that forget payout
// ids window after their first submit (0: never).
func newPayoutRigWindow(t *testing.T, callTimeout, window time.Duration) *payoutRig {
	t.Helper()
	host, g := newSingleHost(t)
	sim := func(name string) *channel.Sim {
		cfg := channel.DefaultSimConfig(name)
		cfg.HangDurationMax = 30 * time.Second
		cfg.IdempotencyWindow = window
		s, err := channel.NewSim(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	r := &payoutRig{g: g, bankA: sim("bank-a"), bankB: sim("bank-b")}
	r.svc = NewService(host, oneCellDirectory{}, ServiceConfig{})
	cfg := PayoutConfig{Providers: []channel.Provider{r.bankA, r.bankB}, Interval: 20 * time.Millisecond,
		CallTimeout: callTimeout, BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond, Wait: -1}
	e := newPayoutExecutor(host, r.svc, []uint64{1}, cfg, quietLogger())
	r.svc.payouts = e
	go e.run()
	t.Cleanup(e.close)
	mustSucceed(t, g, createCmd(1, "c-a", "alice", "EUR", false))
	mustSucceed(t, g, depositCmd(2, "d-a", "alice", 1_000_000, "EUR"))
	return r
}

func (r *payoutRig) request(t *testing.T, id string, amountMinor int64) *pb.PayoutRecord {
	t.Helper()
	rec, err := r.svc.Payout(context.Background(), &pb.PayoutRequest{CellId: 1, Command: &pb.Payout{PayoutId: id, AccountId: "alice", AmountMinor: amountMinor, Currency: "EUR"}})
	if err != nil {
		t.Fatalf("payout %s: %v", id, err)
	}
	return rec
}

func (r *payoutRig) waitState(t *testing.T, id string, want pb.PayoutState) *pb.PayoutRecord {
	t.Helper()
	var rec *pb.PayoutRecord
	replicationtest.EventuallyNoError(t, 20*time.Second, func() error {
		var err error
		if rec, err = GetPayout(r.g.Reader(), "alice", id); err != nil || rec.GetState() != want {
			return fmt.Errorf("payout %s: %v, %v", id, rec, err)
		}
		return nil
	}, fmt.Sprintf("payout %s %s", id, want))
	return rec
}

// pid is the id a provider knows alice's payout id by.
func pid(id string) string { return ProviderPayoutID(1, "alice", id) }

// paidAt counts the payments of alice's payout id at a provider (which
// knows it by its global id).
func paidAt(s *channel.Sim, id string) int {
	n := 0
	for _, e := range s.Statement() {
		if e.PayoutID == ProviderPayoutID(1, "alice", id) {
			n++
		}
	}
	return n
}

// TestPayoutTimeoutAfterSuccessIsQueriedNeverRerouted is the incident: the
// provider pays, then times out. The payout is UNKNOWN, resolved by a
// query of the same provider: SUCCEEDED, one payment, nothing sent to the
// fallback.
func TestPayoutTimeoutAfterSuccessIsQueriedNeverRerouted(t *testing.T) {
	r := newPayoutRig(t, 300*time.Millisecond)
	r.bankA.SetBehaviour(channel.Behaviour{Mode: channel.ModeTimeoutAfterSuccess})
	r.request(t, "po-incident", 500)
	r.waitState(t, "po-incident", pb.PayoutState_PAYOUT_STATE_SUCCEEDED)
	if n := paidAt(r.bankA, "po-incident"); n != 1 {
		t.Fatalf("bank-a paid %d times, want 1", n)
	}
	if n := r.bankB.SubmitCalls(pid("po-incident")); n != 0 {
		t.Fatalf("the fallback bank-b was asked to pay %d times while the outcome was unknown", n)
	}
	if n := r.bankA.SubmitCalls(pid("po-incident")); n != 1 {
		t.Fatalf("bank-a saw %d submits, want 1 (then queries only)", n)
	}
	checkTotals(t, r.g)
}

// TestPayoutDefiniteFailureReroutes: a definite FAILED goes to the next
// provider, which pays.
func TestPayoutDefiniteFailureReroutes(t *testing.T) {
	r := newPayoutRig(t, 2*time.Second)
	r.bankA.SetBehaviour(channel.Behaviour{Mode: channel.ModeFail, Reason: "account closed"})
	r.request(t, "po-fallback", 300)
	rec := r.waitState(t, "po-fallback", pb.PayoutState_PAYOUT_STATE_SUCCEEDED)
	if rec.GetProvider() != "bank-b" || paidAt(r.bankA, "po-fallback") != 0 || paidAt(r.bankB, "po-fallback") != 1 {
		t.Fatalf("payout %v; bank-a paid %d, bank-b %d; want paid once by bank-b", rec, paidAt(r.bankA, "po-fallback"), paidAt(r.bankB, "po-fallback"))
	}
	// Both fail: FAILED, funds released.
	r.bankB.SetBehaviour(channel.Behaviour{Mode: channel.ModeFail})
	r.request(t, "po-nowhere", 300)
	r.waitState(t, "po-nowhere", pb.PayoutState_PAYOUT_STATE_FAILED)
	if got := account(t, r.g, "alice").GetBalanceMinor(); got != 1_000_000-300 {
		t.Fatalf("alice holds %d, want %d (one payout paid, one released)", got, 1_000_000-300)
	}
	checkTotals(t, r.g)
}

// TestPayoutFoundPendingIsQueriedFirst: a payout found PENDING that this
// executor did not record (the leader that submitted it crashed before
// recording the answer) is queried, not submitted again.
func TestPayoutFoundPendingIsQueriedFirst(t *testing.T) {
	r := newPayoutRig(t, 2*time.Second)
	// The "old leader": records PENDING (behind this executor's back),
	// commits its attempt and submits, then dies before recording the
	// outcome.
	mustSucceed(t, r.g, payoutCmd(10, "po-orphan", "alice", 700, "bank-a"))
	mustSucceed(t, r.g, attemptCmd(10, "alice", "po-orphan", "bank-a"))
	if res, err := r.bankA.Submit(context.Background(), channel.Payout{ID: pid("po-orphan"), Account: "alice", AmountMinor: 700, Currency: "EUR"}); err != nil || res.Outcome != channel.OutcomeSucceeded {
		t.Fatalf("the old leader's submit: %v, %v", res, err)
	}
	r.waitState(t, "po-orphan", pb.PayoutState_PAYOUT_STATE_SUCCEEDED)
	if n := r.bankA.SubmitCalls(pid("po-orphan")); n != 1 {
		t.Fatalf("bank-a saw %d submits of the orphan, want 1 (the executor must query)", n)
	}
	if r.bankA.QueryCalls(pid("po-orphan")) == 0 || paidAt(r.bankA, "po-orphan") != 1 {
		t.Fatalf("queries %d, payments %d; want at least one query and one payment", r.bankA.QueryCalls(pid("po-orphan")), paidAt(r.bankA, "po-orphan"))
	}
	// Found PENDING with no attempt committed: no provider has seen it
	// (attempts are committed before every submit), so it is submitted,
	// once.
	mustSucceed(t, r.g, payoutCmd(11, "po-never-sent", "alice", 5, "bank-a"))
	r.waitState(t, "po-never-sent", pb.PayoutState_PAYOUT_STATE_SUCCEEDED)
	if n := paidAt(r.bankA, "po-never-sent"); n != 1 {
		t.Fatalf("paid %d times, want 1", n)
	}
}

// TestPayoutDuplicatesAndCompetingBatchesPayOnce: 50 concurrent requests of
// one payout, and two batch runs submitting the same 40 payouts at the same
// time (the incident's overlap), pay each payout once.
func TestPayoutDuplicatesAndCompetingBatchesPayOnce(t *testing.T) {
	r := newPayoutRig(t, 2*time.Second)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); r.request(t, "po-dup", 10) }()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				r.request(t, fmt.Sprintf("po-batch-%d", i), int64(100+i))
			}
		}()
	}
	wg.Wait()
	ids := []string{"po-dup"}
	for i := range 40 {
		ids = append(ids, fmt.Sprintf("po-batch-%d", i))
	}
	for _, id := range ids {
		r.waitState(t, id, pb.PayoutState_PAYOUT_STATE_SUCCEEDED)
	}
	if n := len(r.bankA.Statement()); n != len(ids) {
		t.Fatalf("bank-a's statement has %d payments, want %d (one per payout)", n, len(ids))
	}
	for _, id := range ids {
		if n := paidAt(r.bankA, id); n != 1 {
			t.Fatalf("%s paid %d times", id, n)
		}
	}
	var want int64 = 10
	for i := range 40 {
		want += int64(100 + i)
	}
	if tot := checkTotals(t, r.g); tot.PaidOut["EUR"] != want {
		t.Fatalf("paid out %d, want %d", tot.PaidOut["EUR"], want)
	}
}

// TestUnknownPayoutHoldsItsAccount: while a payout's outcome is unknown its
// account can receive but not send; once the provider answers, the very
// same requests go through.
func TestUnknownPayoutHoldsItsAccount(t *testing.T) {
	r := newPayoutRig(t, 200*time.Millisecond)
	mustSucceed(t, r.g, createCmd(3, "c-b", "bob", "EUR", false))
	r.bankA.SetBehaviour(channel.Behaviour{Mode: channel.ModeTimeoutBefore})
	r.request(t, "po-hang", 100)
	r.waitState(t, "po-hang", pb.PayoutState_PAYOUT_STATE_UNKNOWN)

	ctx := context.Background()
	send := &pb.TransferRequest{CellId: 1, Command: &pb.Transfer{TransferId: "t-after-hold", FromAccountId: "alice", ToAccountId: "bob", AmountMinor: 5, Currency: "EUR"}}
	if _, err := r.svc.Transfer(ctx, send); rpcstatus.Reason(err) != rpcstatus.ReasonString(pb.ErrorReason_ERROR_REASON_ACCOUNT_HELD) {
		t.Fatalf("a transfer from a held account: %v; want ACCOUNT_HELD", err)
	}
	if _, err := r.svc.Payout(ctx, &pb.PayoutRequest{CellId: 1, Command: &pb.Payout{PayoutId: "po-second", AccountId: "alice", AmountMinor: 5, Currency: "EUR"}}); rpcstatus.Reason(err) != rpcstatus.ReasonString(pb.ErrorReason_ERROR_REASON_ACCOUNT_HELD) {
		t.Fatalf("a payout from a held account: %v; want ACCOUNT_HELD", err)
	}
	if _, err := r.svc.Deposit(ctx, &pb.DepositRequest{CellId: 1, Command: &pb.Deposit{IdempotencyKey: "d-held", AccountId: "alice", AmountMinor: 5, Currency: "EUR", ExternalRef: "x"}}); err != nil {
		t.Fatalf("a deposit to a held account: %v; want it accepted", err)
	}

	r.bankA.SetBehaviour(channel.Behaviour{Mode: channel.ModeSucceed})
	r.waitState(t, "po-hang", pb.PayoutState_PAYOUT_STATE_SUCCEEDED)
	if _, err := r.svc.Transfer(ctx, send); rpcstatus.Reason(err) != rpcstatus.ReasonString(pb.ErrorReason_ERROR_REASON_ACCOUNT_HELD) || !rpcstatus.Stored(err) {
		t.Fatalf("the same transfer id after the payout resolved: %v; want its stored ACCOUNT_HELD (final for its key)", err)
	}
	send.Command.TransferId = "t-after-release"
	if rec, err := r.svc.Transfer(ctx, send); err != nil || rec.GetState() != pb.TransferState_TRANSFER_STATE_COMPLETED {
		t.Fatalf("a new transfer after the payout resolved: %v, %v; want COMPLETED", rec, err)
	}
	if n := paidAt(r.bankA, "po-hang"); n != 1 {
		t.Fatalf("po-hang paid %d times, want 1", n)
	}
	checkTotals(t, r.g)
}

// TestPayoutQueryRefusingTheIDIsNotAFailure (issue 13, item 4): the
// provider paid, the answer was lost, and its Query rejects the id as
// invalid (its validation differs from Submit's). Only a Submit refusal is
// definite: the payout stays UNKNOWN with its funds held, never FAILED and
// released, and settles once a query answers.
func TestPayoutQueryRefusingTheIDIsNotAFailure(t *testing.T) {
	r := newPayoutRig(t, 300*time.Millisecond)
	r.bankA.SetBehaviour(channel.Behaviour{Mode: channel.ModeTimeoutAfterSuccess})
	r.bankA.SetQueryBehaviour(channel.QueryBehaviour{Mode: channel.QueryInvalid})
	r.request(t, "po-paid", 400)
	r.waitState(t, "po-paid", pb.PayoutState_PAYOUT_STATE_UNKNOWN)
	replicationtest.EventuallyNoError(t, 20*time.Second, func() error {
		if n := r.bankA.QueryCalls(pid("po-paid")); n < 3 {
			return fmt.Errorf("%d queries", n)
		}
		return nil
	}, "several queries refused")
	if rec, _ := GetPayout(r.g.Reader(), "alice", "po-paid"); rec.GetState() != pb.PayoutState_PAYOUT_STATE_UNKNOWN || account(t, r.g, "alice").GetBalanceMinor() != 1_000_000-400 {
		t.Fatalf("payout %v, alice %d; want UNKNOWN with 400 held", rec, account(t, r.g, "alice").GetBalanceMinor())
	}
	r.bankA.SetQueryBehaviour(channel.QueryBehaviour{Mode: channel.QueryAnswer})
	r.waitState(t, "po-paid", pb.PayoutState_PAYOUT_STATE_SUCCEEDED)
	if n := paidAt(r.bankA, "po-paid"); n != 1 || r.bankA.SubmitCalls(pid("po-paid")) != 1 {
		t.Fatalf("paid %d times, %d submits; want 1 and 1", n, r.bankA.SubmitCalls(pid("po-paid")))
	}
	checkTotals(t, r.g)
}

// TestPayoutNeverResubmittedAfterTheProviderForgot (issue 13, item 6): the
// provider paid and the answer was lost; by the time it is queried, the
// provider's idempotency window has passed and it answers "not found". A
// re-submit would pay again (the window is what made submits idempotent):
// the payout stays UNKNOWN, submitted once, paid once.
func TestPayoutNeverResubmittedAfterTheProviderForgot(t *testing.T) {
	const window = 400 * time.Millisecond
	r := newPayoutRigWindow(t, 200*time.Millisecond, window)
	r.bankA.SetBehaviour(channel.Behaviour{Mode: channel.ModeTimeoutAfterSuccess})
	r.bankA.SetQueryBehaviour(channel.QueryBehaviour{Mode: channel.QueryDown}) // the provider is unreachable ...
	r.request(t, "po-forgotten", 250)
	r.waitState(t, "po-forgotten", pb.PayoutState_PAYOUT_STATE_UNKNOWN)
	time.Sleep(window) // ... until it has forgotten the id (the sim's clock is real time)
	r.bankA.SetBehaviour(channel.Behaviour{Mode: channel.ModeSucceed})
	r.bankA.SetQueryBehaviour(channel.QueryBehaviour{Mode: channel.QueryAnswer})
	replicationtest.EventuallyNoError(t, 20*time.Second, func() error {
		if n := r.bankA.QueryCalls(pid("po-forgotten")); n < 4 {
			return fmt.Errorf("%d queries", n)
		}
		return nil
	}, "queries answered not found")
	if n := r.bankA.SubmitCalls(pid("po-forgotten")); n != 1 {
		t.Fatalf("%d submits; want 1: a payout that may have been paid is never sent again outside the window", n)
	}
	if twice := r.bankA.PaidTwice(); len(twice) != 0 {
		t.Fatalf("paid twice: %v", twice)
	}
	if rec, _ := GetPayout(r.g.Reader(), "alice", "po-forgotten"); rec.GetState() != pb.PayoutState_PAYOUT_STATE_UNKNOWN || rec.GetSubmitAttempts() != 1 {
		t.Fatalf("payout %v; want UNKNOWN after one attempt, for an operator", rec)
	}
	checkTotals(t, r.g)
}

// TestPayoutIDsAreScopedToTheirAccount (issue 13, item 6): two accounts of
// one cell both pay out "po-1"; the provider knows them by two global ids
// and pays each once (with one id per cell they collided at the bank, and
// one payee's funds stayed held or were debited and never paid).
func TestPayoutIDsAreScopedToTheirAccount(t *testing.T) {
	r := newPayoutRig(t, 2*time.Second)
	mustSucceed(t, r.g, createCmd(3, "c-b", "bob", "EUR", false))
	mustSucceed(t, r.g, depositCmd(4, "d-b", "bob", 1_000, "EUR"))
	r.request(t, "po-1", 100)
	if _, err := r.svc.Payout(context.Background(), &pb.PayoutRequest{CellId: 1, Command: &pb.Payout{PayoutId: "po-1", AccountId: "bob", AmountMinor: 200, Currency: "EUR"}}); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "po-1", pb.PayoutState_PAYOUT_STATE_SUCCEEDED)
	replicationtest.EventuallyNoError(t, 20*time.Second, func() error {
		if rec, err := GetPayout(r.g.Reader(), "bob", "po-1"); err != nil || rec.GetState() != pb.PayoutState_PAYOUT_STATE_SUCCEEDED {
			return fmt.Errorf("%v, %v", rec, err)
		}
		return nil
	}, "bob's po-1 SUCCEEDED")
	paid := map[string]int64{}
	for _, e := range r.bankA.Statement() {
		paid[e.PayoutID] += e.AmountMinor
	}
	if len(paid) != 2 || paid[ProviderPayoutID(1, "alice", "po-1")] != 100 || paid[ProviderPayoutID(1, "bob", "po-1")] != 200 {
		t.Fatalf("bank-a paid %v; want alice's 100 and bob's 200 under two ids", paid)
	}
	// A lookup names the payout's account: another account's is not found.
	if _, err := r.svc.GetPayout(context.Background(), &pb.GetPayoutRequest{CellId: 1, PayoutId: "po-1", AccountId: "carol"}); rpcstatus.Reason(err) != rpcstatus.ReasonString(pb.ErrorReason_ERROR_REASON_PAYOUT_NOT_FOUND) {
		t.Fatalf("GetPayout naming another account: %v; want PAYOUT_NOT_FOUND", err)
	}
	checkTotals(t, r.g)
}
