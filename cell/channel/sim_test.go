package channel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSimSucceedPaysOnce(t *testing.T) {
	t.Parallel()
	sim, ctx := newTestSim(t), context.Background()
	p := payout("p-1")
	res, err := sim.Submit(ctx, p)
	wantDefinite(t, "Submit", res, err, OutcomeSucceeded)
	if res.ProviderRef != "bank-a-000001" {
		t.Fatalf("ProviderRef = %q", res.ProviderRef)
	}
	again, err := sim.Submit(ctx, p)
	if err != nil || again != res {
		t.Fatalf("second Submit = %+v, %v; want the first result %+v", again, err, res)
	}
	queried, err := sim.Query(ctx, p.ID)
	if err != nil || queried != res {
		t.Fatalf("Query = %+v, %v; want %+v", queried, err, res)
	}
	st := sim.Statement()
	wantStatement(t, st, "p-1")
	want := StatementEntry{PayoutID: "p-1", Account: p.Account, AmountMinor: p.AmountMinor, Currency: p.Currency, ProviderRef: res.ProviderRef, PaidAt: testTime}
	if st[0] != want {
		t.Fatalf("statement entry %+v, want %+v", st[0], want)
	}
	if sim.SubmitCalls("p-1") != 2 || sim.QueryCalls("p-1") != 1 {
		t.Fatalf("calls: %d submits, %d queries; want 2 and 1", sim.SubmitCalls("p-1"), sim.QueryCalls("p-1"))
	}
}

func TestSimFailIsDefiniteAndPaysNothing(t *testing.T) {
	t.Parallel()
	sim, ctx := newTestSim(t), context.Background()
	mustSet(t, sim, Behaviour{Mode: ModeFail, Reason: "account closed"})
	res, err := sim.Submit(ctx, payout("p-1"))
	wantDefinite(t, "Submit", res, err, OutcomeFailed)
	if res.Reason != "account closed" {
		t.Fatalf("Reason = %q", res.Reason)
	}
	// Failed is final for the id: a later submit under a succeeding mode
	// answers the failure and does not pay.
	mustSet(t, sim, Behaviour{Mode: ModeSucceed})
	res, err = sim.Submit(ctx, payout("p-1"))
	wantDefinite(t, "Submit after the failure", res, err, OutcomeFailed)
	res, err = sim.Query(ctx, "p-1")
	wantDefinite(t, "Query", res, err, OutcomeFailed)
	wantStatement(t, sim.Statement())

	mustSet(t, sim, Behaviour{Mode: ModeFail})
	if res, _ := sim.Submit(ctx, payout("p-2")); res.Reason != DefaultFailReason {
		t.Fatalf("a failure without a reason has Reason %q, want %q", res.Reason, DefaultFailReason)
	}
}

// The incident: the provider pays, then the caller's call times out.
func TestSimTimeoutAfterSuccess(t *testing.T) {
	t.Parallel()
	sim := newTestSim(t)
	mustSet(t, sim, Behaviour{Mode: ModeTimeoutAfterSuccess})
	const timeout = 50 * time.Millisecond
	start := time.Now()
	res, err := sim.Submit(shortContext(t, timeout), payout("p-1"))
	wantUnknown(t, "Submit", res, err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit error %v is not the context's", err)
	}
	if elapsed := time.Since(start); elapsed < timeout {
		t.Fatalf("Submit returned after %s, before the deadline", elapsed)
	}
	// The money left although the caller saw a timeout.
	wantStatement(t, sim.Statement(), "p-1")
	// The caller resolves it by querying the same provider with the same id.
	res, err = sim.Query(context.Background(), "p-1")
	wantDefinite(t, "Query", res, err, OutcomeSucceeded)
	if sim.SubmitCalls("p-1") != 1 {
		t.Fatalf("SubmitCalls = %d", sim.SubmitCalls("p-1"))
	}
	// A submit of the same id in the same mode hangs again but pays nothing.
	_, err = sim.Submit(shortContext(t, 10*time.Millisecond), payout("p-1"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Submit: %v", err)
	}
	wantStatement(t, sim.Statement(), "p-1")
}

func TestSimTimeoutBeforeRecordsNothing(t *testing.T) {
	t.Parallel()
	sim := newTestSim(t)
	mustSet(t, sim, Behaviour{Mode: ModeTimeoutBefore})
	res, err := sim.Submit(shortContext(t, 30*time.Millisecond), payout("p-1"))
	wantUnknown(t, "Submit", res, err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit error %v is not the context's", err)
	}
	wantStatement(t, sim.Statement())
	if _, err := sim.Query(context.Background(), "p-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Query = %v, want ErrNotFound", err)
	}
	// Submitting again to the same provider with the same id is safe.
	mustSet(t, sim, Behaviour{Mode: ModeSucceed})
	res, err = sim.Submit(context.Background(), payout("p-1"))
	wantDefinite(t, "Submit again", res, err, OutcomeSucceeded)
	wantStatement(t, sim.Statement(), "p-1")
}

func TestSimSlow(t *testing.T) {
	t.Parallel()
	sim := newTestSim(t)
	const delay = 60 * time.Millisecond
	mustSet(t, sim, Behaviour{Mode: ModeSucceed, Delay: delay})
	start := time.Now()
	res, err := sim.Submit(context.Background(), payout("p-1"))
	wantDefinite(t, "Submit", res, err, OutcomeSucceeded)
	if elapsed := time.Since(start); elapsed < delay {
		t.Fatalf("answered after %s, want at least %s", elapsed, delay)
	}
	// A caller that gives up first sees no answer, but the payout is paid.
	res, err = sim.Submit(shortContext(t, 10*time.Millisecond), payout("p-2"))
	wantUnknown(t, "impatient Submit", res, err)
	wantStatement(t, sim.Statement(), "p-1", "p-2")
	res, err = sim.Query(context.Background(), "p-2")
	wantDefinite(t, "Query", res, err, OutcomeSucceeded)

	// Slow failures are still failures.
	mustSet(t, sim, Behaviour{Mode: ModeFail, Delay: 10 * time.Millisecond})
	res, err = sim.Submit(context.Background(), payout("p-3"))
	wantDefinite(t, "slow failure", res, err, OutcomeFailed)
}

func TestSimDown(t *testing.T) {
	t.Parallel()
	sim := newTestSim(t)
	mustSet(t, sim, Behaviour{Mode: ModeDown})
	start := time.Now()
	res, err := sim.Submit(context.Background(), payout("p-1"))
	wantUnknown(t, "Submit", res, err)
	if !strings.Contains(err.Error(), "connection refused") || time.Since(start) > time.Second {
		t.Fatalf("down: %v after %s; want a refusal at once", err, time.Since(start))
	}
	wantStatement(t, sim.Statement())
	if _, err := sim.Query(context.Background(), "p-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Query = %v, want ErrNotFound", err)
	}
	if sim.SubmitCalls("p-1") != 1 {
		t.Fatalf("SubmitCalls = %d: a refused call counts too", sim.SubmitCalls("p-1"))
	}
}

func TestSimProcessingSettles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("succeeded after two queries", func(t *testing.T) {
		sim := newTestSim(t)
		mustSet(t, sim, Behaviour{Mode: ModeProcessing, Settle: OutcomeSucceeded, SettleAfterQueries: 2})
		res, err := sim.Submit(ctx, payout("p-1"))
		if err != nil || res.Outcome != OutcomeUnknown || res.Reason != ReasonProcessing || Definite(res, err) {
			t.Fatalf("Submit = %+v, %v; want processing", res, err)
		}
		// A duplicate submit answers processing too, and does not settle it.
		if res, err := sim.Submit(ctx, payout("p-1")); err != nil || res.Reason != ReasonProcessing {
			t.Fatalf("duplicate Submit = %+v, %v", res, err)
		}
		for i := range 2 {
			if res, err := sim.Query(ctx, "p-1"); err != nil || res.Outcome != OutcomeUnknown || res.Reason != ReasonProcessing {
				t.Fatalf("Query %d = %+v, %v; want processing", i, res, err)
			}
		}
		wantStatement(t, sim.Statement())
		res, err = sim.Query(ctx, "p-1")
		wantDefinite(t, "third Query", res, err, OutcomeSucceeded)
		wantStatement(t, sim.Statement(), "p-1")
		res, err = sim.Submit(ctx, payout("p-1"))
		wantDefinite(t, "Submit after settling", res, err, OutcomeSucceeded)
		wantStatement(t, sim.Statement(), "p-1")
	})
	t.Run("failed at the first query", func(t *testing.T) {
		sim := newTestSim(t)
		mustSet(t, sim, Behaviour{Mode: ModeProcessing, Settle: OutcomeFailed, SettleReason: "beneficiary bank rejected"})
		if _, err := sim.Submit(ctx, payout("p-1")); err != nil {
			t.Fatal(err)
		}
		res, err := sim.Query(ctx, "p-1")
		wantDefinite(t, "Query", res, err, OutcomeFailed)
		if res.Reason != "beneficiary bank rejected" {
			t.Fatalf("Reason = %q", res.Reason)
		}
		wantStatement(t, sim.Statement())
	})
	t.Run("never", func(t *testing.T) {
		sim := newTestSim(t)
		mustSet(t, sim, Behaviour{Mode: ModeProcessing})
		if _, err := sim.Submit(ctx, payout("p-1")); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			if res, err := sim.Query(ctx, "p-1"); err != nil || res.Reason != ReasonProcessing {
				t.Fatalf("Query = %+v, %v; want processing for ever", res, err)
			}
		}
		wantStatement(t, sim.Statement())
	})
}

func TestSimQueryBehaviours(t *testing.T) {
	t.Parallel()
	sim, ctx := newTestSim(t), context.Background()
	if _, err := sim.Submit(ctx, payout("p-1")); err != nil {
		t.Fatal(err)
	}
	if err := sim.ScriptQueries(QueryBehaviour{Mode: QueryDown}, QueryBehaviour{Mode: QueryTimeout}, QueryBehaviour{Mode: QueryAnswer, Delay: 40 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	res, err := sim.Query(ctx, "p-1")
	wantUnknown(t, "down Query", res, err)
	res, err = sim.Query(shortContext(t, 20*time.Millisecond), "p-1")
	wantUnknown(t, "timed-out Query", res, err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timed-out Query: %v", err)
	}
	start := time.Now()
	res, err = sim.Query(ctx, "p-1")
	wantDefinite(t, "slow Query", res, err, OutcomeSucceeded)
	if time.Since(start) < 40*time.Millisecond {
		t.Fatalf("slow Query answered after %s", time.Since(start))
	}
	// The script is used up: the standing behaviour answers.
	res, err = sim.Query(ctx, "p-1")
	wantDefinite(t, "Query", res, err, OutcomeSucceeded)
	if err := sim.SetQueryBehaviour(QueryBehaviour{Mode: QueryDown}); err != nil {
		t.Fatal(err)
	}
	_, err = sim.Query(ctx, "never-submitted")
	if errors.Is(err, ErrNotFound) || !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("a down provider answered %v; it must not say not found", err)
	}
	if sim.QueryCalls("p-1") != 4 {
		t.Fatalf("QueryCalls = %d", sim.QueryCalls("p-1"))
	}
}

func TestSimScriptThenStandingBehaviour(t *testing.T) {
	t.Parallel()
	sim, ctx := newTestSim(t), context.Background()
	if err := sim.ScriptSubmits(Behaviour{Mode: ModeFail, Reason: "limit"}, Behaviour{Mode: ModeDown}); err != nil {
		t.Fatal(err)
	}
	if got := sim.Behaviours(); len(got.SubmitScript) != 2 || got.Submit.Mode != ModeSucceed {
		t.Fatalf("Behaviours = %+v", got)
	}
	res, err := sim.Submit(ctx, payout("p-1"))
	wantDefinite(t, "first", res, err, OutcomeFailed)
	res, err = sim.Submit(ctx, payout("p-2"))
	wantUnknown(t, "second", res, err)
	res, err = sim.Submit(ctx, payout("p-2"))
	wantDefinite(t, "third", res, err, OutcomeSucceeded)
	wantStatement(t, sim.Statement(), "p-2")
	if err := sim.ScriptSubmits(Behaviour{Mode: ModeDown}); err != nil {
		t.Fatal(err)
	}
	if err := sim.ScriptSubmits(); err != nil || len(sim.Behaviours().SubmitScript) != 0 {
		t.Fatalf("ScriptSubmits() did not clear the script: %v %+v", err, sim.Behaviours())
	}
}

// 50 concurrent submits of one payout id (the overlapping batch jobs of
// the incident) pay once, in every mode that can pay.
func TestSimConcurrentDuplicateSubmitsPayOnce(t *testing.T) {
	t.Parallel()
	for _, b := range []Behaviour{
		{Mode: ModeSucceed},
		{Mode: ModeSucceed, Delay: 5 * time.Millisecond},
		{Mode: ModeTimeoutAfterSuccess},
		{Mode: ModeProcessing, Settle: OutcomeSucceeded},
	} {
		t.Run(string(b.Mode), func(t *testing.T) {
			t.Parallel()
			sim := newTestSim(t)
			mustSet(t, sim, b)
			const callers = 50
			results := make([]Result, callers)
			errs := make([]error, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
					defer cancel()
					results[i], errs[i] = sim.Submit(ctx, payout("p-1"))
					if i%2 == 0 {
						// Some callers resolve at once, concurrently.
						_, _ = sim.Query(ctx, "p-1")
					}
				})
			}
			wg.Wait()
			if b.Mode == ModeProcessing {
				if _, err := sim.Query(context.Background(), "p-1"); err != nil {
					t.Fatal(err)
				}
			}
			wantStatement(t, sim.Statement(), "p-1")
			if n := sim.SubmitCalls("p-1"); n != callers {
				t.Fatalf("SubmitCalls = %d, want %d", n, callers)
			}
			for i := range callers {
				if errs[i] == nil && results[i].ProviderRef != "bank-a-000001" {
					t.Fatalf("caller %d got %+v: another payment?", i, results[i])
				}
			}
		})
	}
}

// Two batch runs submitting the same 200 payouts at once, in opposite
// orders, pay each once.
func TestSimTwoBatchRunsPayOnce(t *testing.T) {
	t.Parallel()
	sim := newTestSim(t)
	const payouts = 200
	var wg sync.WaitGroup
	for run := range 2 {
		wg.Go(func() {
			for i := range payouts {
				n := i
				if run == 1 {
					n = payouts - 1 - i
				}
				if _, err := sim.Submit(context.Background(), payout(fmt.Sprintf("interest-%03d", n))); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	st := sim.Statement()
	if len(st) != payouts {
		t.Fatalf("statement has %d entries, want %d", len(st), payouts)
	}
	seen := map[string]bool{}
	for _, e := range st {
		if seen[e.PayoutID] {
			t.Fatalf("%s paid twice", e.PayoutID)
		}
		seen[e.PayoutID] = true
	}
}

func TestSimIDReusedIsRejectedAndNotPaid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, first := range []Behaviour{{Mode: ModeSucceed}, {Mode: ModeFail}, {Mode: ModeProcessing}, {Mode: ModeTimeoutAfterSuccess}} {
		t.Run(string(first.Mode), func(t *testing.T) {
			sim := newTestSim(t)
			mustSet(t, sim, first)
			p := payout("p-1")
			_, _ = sim.Submit(shortContext(t, 10*time.Millisecond), p)
			before := sim.Statement()
			mustSet(t, sim, Behaviour{Mode: ModeSucceed})
			for _, edit := range []func(*Payout){
				func(p *Payout) { p.AmountMinor++ },
				func(p *Payout) { p.Account = "someone-else" },
				func(p *Payout) { p.Currency = "USD" },
			} {
				other := p
				edit(&other)
				res, err := sim.Submit(ctx, other)
				if !errors.Is(err, ErrIDReused) || Definite(res, err) || errors.Is(err, ErrOutcomeUnknown) {
					t.Fatalf("Submit(%+v) = %+v, %v; want ErrIDReused", other, res, err)
				}
			}
			after := sim.Statement()
			if len(after) != len(before) {
				t.Fatalf("a reused id was paid: %+v", after)
			}
			for _, e := range after {
				if e.AmountMinor != p.AmountMinor {
					t.Fatalf("paid %+v", e)
				}
			}
		})
	}
}

func TestSimInvalidPayoutRecordsNothing(t *testing.T) {
	t.Parallel()
	sim := newTestSim(t)
	p := payout("p-1")
	p.AmountMinor = 0
	if _, err := sim.Submit(context.Background(), p); !errors.Is(err, ErrInvalidPayout) || FieldOf(err) != "amount_minor" {
		t.Fatalf("Submit = %v", err)
	}
	if _, err := sim.Query(context.Background(), "p 1"); !errors.Is(err, ErrInvalidPayout) || FieldOf(err) != "id" {
		t.Fatalf("Query = %v", err)
	}
	if _, err := sim.Query(context.Background(), "p-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an invalid payout was recorded: %v", err)
	}
	wantStatement(t, sim.Statement())
}

func TestSimHangsAreBounded(t *testing.T) {
	t.Parallel()
	cfg := DefaultSimConfig("bank-a")
	cfg.HangDurationMax = 20 * time.Millisecond
	sim, err := NewSim(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, sim, Behaviour{Mode: ModeTimeoutBefore})
	res, err := sim.Submit(context.Background(), payout("p-1"))
	wantUnknown(t, "Submit without a deadline", res, err)
	if !strings.Contains(err.Error(), "hung for 20ms") {
		t.Fatalf("error %v does not say it hung", err)
	}

	// Close releases the calls that hang, and refuses later calls.
	done := make(chan error, 1)
	sim2 := newTestSim(t)
	mustSet(t, sim2, Behaviour{Mode: ModeTimeoutAfterSuccess})
	go func() {
		_, err := sim2.Submit(context.Background(), payout("p-1"))
		done <- err
	}()
	for sim2.SubmitCalls("p-1") == 0 {
		time.Sleep(time.Millisecond)
	}
	sim2.Close()
	select {
	case err := <-done:
		wantUnknown(t, "Submit hung at Close", Result{}, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release a hung Submit")
	}
	res, err = sim2.Query(context.Background(), "p-1")
	wantUnknown(t, "Query after Close", res, err)
	wantStatement(t, sim2.Statement(), "p-1")
}

func TestSimPayoutsMax(t *testing.T) {
	t.Parallel()
	cfg := DefaultSimConfig("bank-a")
	cfg.PayoutsMax = 2
	sim, err := NewSim(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []string{"p-1", "p-2"} {
		if _, err := sim.Submit(ctx, payout(id)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := sim.Submit(ctx, payout("p-3"))
	wantUnknown(t, "Submit beyond PayoutsMax", res, err)
	res, err = sim.Submit(ctx, payout("p-1"))
	wantDefinite(t, "known id", res, err, OutcomeSucceeded)
	wantStatement(t, sim.Statement(), "p-1", "p-2")
}

func TestSimConfigValidateReportsEverything(t *testing.T) {
	t.Parallel()
	_, err := NewSim(SimConfig{Name: "bank a"})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("NewSim = %v", err)
	}
	for _, field := range []string{"name:", "clock:", "hang_duration_max:", "payouts_max:", "logger:"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("%q does not name %s", err, field)
		}
	}
}

func TestSimBehaviourChangesAreValidatedAndAtomic(t *testing.T) {
	t.Parallel()
	sim := newTestSim(t)
	tests := []struct {
		change BehaviourChange
		field  string
	}{
		{BehaviourChange{Submit: &Behaviour{Mode: "explode"}}, "submit.mode"},
		{BehaviourChange{Submit: &Behaviour{Mode: ModeSucceed, Reason: "why"}}, "submit.reason"},
		{BehaviourChange{Submit: &Behaviour{Mode: ModeFail, Reason: "line\nbreak"}}, "submit.reason"},
		{BehaviourChange{Submit: &Behaviour{Mode: ModeSucceed, Delay: -time.Second}}, "submit.delay"},
		{BehaviourChange{Submit: &Behaviour{Mode: ModeSucceed, Delay: DelayMax + 1}}, "submit.delay"},
		{BehaviourChange{Submit: &Behaviour{Mode: ModeSucceed, Settle: OutcomeSucceeded}}, "submit.settle"},
		{BehaviourChange{Submit: &Behaviour{Mode: ModeProcessing, Settle: Outcome(5)}}, "submit.settle"},
		{BehaviourChange{Submit: &Behaviour{Mode: ModeProcessing, Settle: OutcomeSucceeded, SettleReason: "x"}}, "submit.settle_reason"},
		{BehaviourChange{Submit: &Behaviour{Mode: ModeProcessing, SettleAfterQueries: 3}}, "submit.settle_after_queries"},
		{BehaviourChange{Submit: &Behaviour{Mode: ModeProcessing, Settle: OutcomeFailed, SettleAfterQueries: -1}}, "submit.settle_after_queries"},
		{BehaviourChange{SubmitScript: &[]Behaviour{{Mode: ModeSucceed}, {Mode: ""}}}, "submit_script[1].mode"},
		{BehaviourChange{SubmitScript: func() *[]Behaviour { s := make([]Behaviour, ScriptLenMax+1); return &s }()}, "submit_script"},
		{BehaviourChange{Query: &QueryBehaviour{Mode: "lie"}}, "query.mode"},
		{BehaviourChange{QueryScript: &[]QueryBehaviour{{Mode: QueryAnswer, Delay: -1}}}, "query_script[0].delay"},
	}
	for _, tt := range tests {
		// A valid part next to the bad one must not be applied either.
		tt.change.Query = cmpOr(tt.change.Query, &QueryBehaviour{Mode: QueryDown})
		_, err := sim.ChangeBehaviours(tt.change)
		if !errors.Is(err, ErrInvalidBehaviour) || FieldOf(err) != tt.field {
			t.Errorf("ChangeBehaviours(%+v) = %v (field %q); want field %q", tt.change, err, FieldOf(err), tt.field)
		}
	}
	if got := sim.Behaviours(); got.Submit.Mode != ModeSucceed || got.Query.Mode != QueryAnswer || len(got.SubmitScript) != 0 {
		t.Fatalf("rejected changes changed the behaviours: %+v", got)
	}
}

func cmpOr[T any](p, otherwise *T) *T {
	if p != nil {
		return p
	}
	return otherwise
}
