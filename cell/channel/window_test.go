package channel

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// Within the window a second Submit is answered from the record; once the
// window has passed since the first, the id is forgotten: Query says not
// found although it was paid, and a Submit pays it again.
func TestSimForgetsIDsAfterTheWindow(t *testing.T) {
	t.Parallel()
	const window = 24 * time.Hour
	sim, clock := newWindowSim(t, window)
	ctx := context.Background()
	if got := sim.IdempotencyWindow(); got != window {
		t.Fatalf("IdempotencyWindow = %s, want %s", got, window)
	}
	first, err := sim.Submit(ctx, payout("p-1"))
	wantDefinite(t, "Submit", first, err, OutcomeSucceeded)

	// A later Submit, inside the window, neither pays nor extends it.
	clock.Advance(window - time.Minute)
	again, err := sim.Submit(ctx, payout("p-1"))
	if err != nil || again != first {
		t.Fatalf("Submit inside the window = %+v, %v; want the first result %+v", again, err, first)
	}
	res, err := sim.Query(ctx, "p-1")
	wantDefinite(t, "Query inside the window", res, err, OutcomeSucceeded)
	wantStatement(t, sim.Statement(), "p-1")
	if twice := sim.PaidTwice(); len(twice) != 0 {
		t.Fatalf("PaidTwice = %v inside the window", twice)
	}

	clock.Advance(time.Minute) // exactly the window since the first Submit
	if _, err := sim.Query(ctx, "p-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Query after the window = %v; want ErrNotFound (forgotten)", err)
	}
	paidAgain, err := sim.Submit(ctx, payout("p-1"))
	wantDefinite(t, "Submit after the window", paidAgain, err, OutcomeSucceeded)
	if paidAgain.ProviderRef == first.ProviderRef {
		t.Fatalf("the second payment has the first one's ref %q", first.ProviderRef)
	}
	// The double payout, as a test must see it.
	st := sim.Statement()
	wantStatement(t, st, "p-1", "p-1")
	if st[0].ProviderRef != first.ProviderRef || st[1].ProviderRef != paidAgain.ProviderRef || !st[1].PaidAt.Equal(testTime.Add(window)) {
		t.Fatalf("statement %+v", st)
	}
	if twice := sim.PaidTwice(); !slices.Equal(twice, []string{"p-1"}) {
		t.Fatalf("PaidTwice = %v, want [p-1]", twice)
	}
	// The calls are counted across the forgetting: a test sees the Submit
	// after the window.
	if n := sim.SubmitCalls("p-1"); n != 3 {
		t.Fatalf("SubmitCalls = %d, want 3", n)
	}
	// The new record has a window of its own.
	res, err = sim.Query(ctx, "p-1")
	if err != nil || res != paidAgain {
		t.Fatalf("Query of the new payment = %+v, %v", res, err)
	}
}

// A forgotten id is a new payout in every way: other parameters are not a
// reuse, a forgotten failure can be paid, and a payout still processing
// at the end of its window never settles.
func TestSimForgottenIDIsANewPayout(t *testing.T) {
	t.Parallel()
	const window = time.Hour
	sim, clock := newWindowSim(t, window)
	ctx := context.Background()
	if _, err := sim.Submit(ctx, payout("reused")); err != nil {
		t.Fatal(err)
	}
	if err := sim.ScriptSubmits(Behaviour{Mode: ModeFail}, Behaviour{Mode: ModeProcessing, Settle: OutcomeSucceeded}); err != nil {
		t.Fatal(err)
	}
	res, err := sim.Submit(ctx, payout("failed"))
	wantDefinite(t, "Submit", res, err, OutcomeFailed)
	if res, err := sim.Submit(ctx, payout("processing")); err != nil || res.Reason != ReasonProcessing {
		t.Fatalf("Submit = %+v, %v; want processing", res, err)
	}
	clock.Advance(window)

	other := payout("reused")
	other.AmountMinor *= 3
	res, err = sim.Submit(ctx, other)
	wantDefinite(t, "Submit of a forgotten id with another amount", res, err, OutcomeSucceeded)
	res, err = sim.Submit(ctx, payout("failed"))
	wantDefinite(t, "Submit of a forgotten failure", res, err, OutcomeSucceeded)
	if _, err := sim.Query(ctx, "processing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Query of a forgotten processing payout = %v; want ErrNotFound", err)
	}
	st := sim.Statement()
	wantStatement(t, st, "reused", "reused", "failed")
	if st[1].AmountMinor != other.AmountMinor {
		t.Fatalf("the second payment of reused is %+v, want %d", st[1], other.AmountMinor)
	}
	if twice := sim.PaidTwice(); !slices.Equal(twice, []string{"reused"}) {
		t.Fatalf("PaidTwice = %v", twice)
	}
}

// Forgotten ids free their room in PayoutsMax.
func TestSimForgottenIDsFreePayoutsMax(t *testing.T) {
	t.Parallel()
	const window = time.Hour
	sim, clock := newWindowSim(t, window, func(c *SimConfig) { c.PayoutsMax = 2 })
	ctx := context.Background()
	for _, id := range []string{"p-1", "p-2"} {
		if _, err := sim.Submit(ctx, payout(id)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := sim.Submit(ctx, payout("p-3"))
	wantUnknown(t, "Submit beyond PayoutsMax", res, err)
	clock.Advance(window)
	res, err = sim.Submit(ctx, payout("p-3"))
	wantDefinite(t, "Submit once the others are forgotten", res, err, OutcomeSucceeded)
	res, err = sim.Submit(ctx, payout("p-4"))
	wantDefinite(t, "Submit of a second new id", res, err, OutcomeSucceeded)
	wantStatement(t, sim.Statement(), "p-1", "p-2", "p-3", "p-4")
	if n := len(sim.records); n != 2 {
		t.Fatalf("the simulator remembers %d ids, want 2", n)
	}
}

// A clock that goes back does not keep an id past its window: the id is
// forgotten when asked for, even if older-looking records are still kept.
func TestSimWindowWithAClockGoingBack(t *testing.T) {
	t.Parallel()
	const window = 24 * time.Hour
	sim, clock := newWindowSim(t, window)
	ctx := context.Background()
	clock.Advance(10 * time.Hour)
	if _, err := sim.Submit(ctx, payout("later")); err != nil {
		t.Fatal(err)
	}
	clock.Advance(-10 * time.Hour)
	if _, err := sim.Submit(ctx, payout("earlier")); err != nil {
		t.Fatal(err)
	}
	clock.Advance(window + 5*time.Hour)
	if _, err := sim.Query(ctx, "earlier"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Query of earlier, %s after it = %v; want ErrNotFound", window+5*time.Hour, err)
	}
	res, err := sim.Query(ctx, "later")
	wantDefinite(t, "Query of later, inside its window", res, err, OutcomeSucceeded)
}

// Without a window the simulator keeps ids for ever and says so.
func TestSimWithoutAWindowKeepsIDsForever(t *testing.T) {
	t.Parallel()
	sim, clock := newWindowSim(t, 0)
	if got := sim.IdempotencyWindow(); got != IdempotencyWindowForever {
		t.Fatalf("IdempotencyWindow = %s, want IdempotencyWindowForever", got)
	}
	ctx := context.Background()
	if _, err := sim.Submit(ctx, payout("p-1")); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * IdempotencyWindowMax)
	res, err := sim.Query(ctx, "p-1")
	wantDefinite(t, "Query ten years on", res, err, OutcomeSucceeded)
	if _, err := sim.Submit(ctx, payout("p-1")); err != nil {
		t.Fatal(err)
	}
	wantStatement(t, sim.Statement(), "p-1")
	if len(sim.recordedOrder) != 0 {
		t.Fatalf("a simulator without a window queues %d records for forgetting", len(sim.recordedOrder))
	}
}

// Paying forgotten ids again cannot grow the statement without bound.
func TestSimStatementIsBounded(t *testing.T) {
	t.Parallel()
	sim, clock := newWindowSim(t, time.Hour)
	sim.statementEntriesMax = 2 // as NewSim would for a statement of 2
	ctx := context.Background()
	for range 2 {
		if _, err := sim.Submit(ctx, payout("p-1")); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
	}
	res, err := sim.Submit(ctx, payout("p-1"))
	wantUnknown(t, "Submit with a full statement", res, err)
	if !strings.Contains(err.Error(), "statement holds 2 payments") {
		t.Fatalf("error %v does not say the statement is full", err)
	}
	if _, err := sim.Query(ctx, "p-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused Submit was recorded: %v", err)
	}
	wantStatement(t, sim.Statement(), "p-1", "p-1")
}

func TestSimConfigValidateIdempotencyWindow(t *testing.T) {
	t.Parallel()
	for _, window := range []time.Duration{-time.Nanosecond, -time.Hour, IdempotencyWindowMax + 1, IdempotencyWindowForever} {
		cfg := DefaultSimConfig("bank-a")
		cfg.IdempotencyWindow = window
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) || FieldOf(err) != "idempotency_window" {
			t.Errorf("IdempotencyWindow %s: Validate = %v; want field idempotency_window", window, err)
		}
	}
	for _, window := range []time.Duration{0, time.Nanosecond, 24 * time.Hour, IdempotencyWindowMax} {
		cfg := DefaultSimConfig("bank-a")
		cfg.IdempotencyWindow = window
		if err := cfg.Validate(); err != nil {
			t.Errorf("IdempotencyWindow %s: %v", window, err)
		}
	}
}

// QueryInvalid refuses the id, definitely about the call, saying nothing
// of the payout: it is neither not found nor an unknown outcome, and the
// record is untouched.
func TestSimQueryInvalid(t *testing.T) {
	t.Parallel()
	sim, ctx := newTestSim(t), context.Background()
	if _, err := sim.Submit(ctx, payout("p-1")); err != nil {
		t.Fatal(err)
	}
	if err := sim.ScriptQueries(QueryBehaviour{Mode: QueryInvalid}); err != nil {
		t.Fatal(err)
	}
	res, err := sim.Query(ctx, "p-1")
	wantQueryInvalid(t, "Query", res, err)
	res, err = sim.Query(ctx, "p-1")
	wantDefinite(t, "Query after the script", res, err, OutcomeSucceeded)
	if n := sim.QueryCalls("p-1"); n != 2 {
		t.Fatalf("QueryCalls = %d, want 2", n)
	}
	wantStatement(t, sim.Statement(), "p-1")
}

// wantQueryInvalid checks err is the refusal of QueryInvalid.
func wantQueryInvalid(t testing.TB, what string, res Result, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalidPayout) || FieldOf(err) != "id" || Definite(res, err) {
		t.Fatalf("%s = %+v, %v; want ErrInvalidPayout naming field id", what, res, err)
	}
	for _, other := range []error{ErrNotFound, ErrOutcomeUnknown, ErrIDReused} {
		if errors.Is(err, other) {
			t.Fatalf("%s: %v is also %v", what, err, other)
		}
	}
}

func TestHTTPQueryInvalid(t *testing.T) {
	t.Parallel()
	h := startHTTPSim(t)
	bg := context.Background()
	if _, err := h.provider.Submit(bg, payout("p-1")); err != nil {
		t.Fatal(err)
	}
	h.setBehaviour(t, `{"query":{"mode":"invalid"}}`)
	var got behavioursJSON
	if status := call(t, http.MethodGet, h.url+"/behaviour", "", &got); status != http.StatusOK || got.Query.Mode != QueryInvalid {
		t.Fatalf("GET /behaviour: %d %+v", status, got.Query)
	}
	var apiErr errorJSON
	if status := call(t, http.MethodGet, h.url+"/payouts/p-1", "", &apiErr); status != http.StatusBadRequest || apiErr.Kind != kindInvalidPayout || apiErr.Field != "id" {
		t.Fatalf("GET /payouts/p-1: %d %+v; want 400 invalid_payout field id", status, apiErr)
	}
	res, err := h.provider.Query(bg, "p-1")
	wantQueryInvalid(t, "HTTPProvider.Query", res, err)
	wantStatement(t, h.statement(t), "p-1")
}

// Through HTTP, the forgotten id and the double payout look the same.
func TestHTTPForgottenIDIsPaidTwice(t *testing.T) {
	t.Parallel()
	const window = 24 * time.Hour
	sim, clock := newWindowSim(t, window)
	srv := httptest.NewServer(NewHTTPHandler(sim))
	t.Cleanup(func() { sim.Close(); srv.Close() })
	provider := newTestHTTPProvider(t, srv.URL)
	bg := context.Background()

	res, err := provider.Submit(bg, payout("p-1"))
	wantDefinite(t, "Submit", res, err, OutcomeSucceeded)
	clock.Advance(window)
	if _, err := provider.Query(bg, "p-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Query after the window = %v; want ErrNotFound", err)
	}
	res, err = provider.Submit(bg, payout("p-1"))
	wantDefinite(t, "Submit after the window", res, err, OutcomeSucceeded)
	entries, err := provider.ReadStatement(bg)
	if err != nil {
		t.Fatal(err)
	}
	wantStatement(t, entries, "p-1", "p-1")
}

func TestHTTPHealthReportsTheWindow(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		window time.Duration
		want   string
	}{
		{0, "forever"},
		{24 * time.Hour, "24h0m0s"},
		{90 * time.Minute, "1h30m0s"},
	} {
		sim, _ := newWindowSim(t, tt.window)
		srv := httptest.NewServer(NewHTTPHandler(sim))
		t.Cleanup(func() { sim.Close(); srv.Close() })
		var health healthJSON
		status := call(t, http.MethodGet, srv.URL+"/healthz", "", &health)
		if want := (healthJSON{Status: "ok", Provider: "bank-a", IdempotencyWindow: tt.want}); status != http.StatusOK || health != want {
			t.Errorf("window %s: /healthz %d %+v; want %+v", tt.window, status, health, want)
		}
	}
}

func TestHTTPProviderIdempotencyWindow(t *testing.T) {
	t.Parallel()
	p := newTestHTTPProvider(t, "http://127.0.0.1:1")
	if got := p.IdempotencyWindow(); got != 0 {
		t.Fatalf("default IdempotencyWindow = %s, want 0 (none promised)", got)
	}
	cfg := DefaultHTTPProviderConfig("bank-a", "http://127.0.0.1:1")
	cfg.IdempotencyWindow = 24 * time.Hour
	p, err := NewHTTPProvider(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var provider Provider = p
	windower, ok := provider.(IdempotencyWindower)
	if !ok || windower.IdempotencyWindow() != 24*time.Hour {
		t.Fatalf("HTTPProvider as an IdempotencyWindower: %v, %v", ok, windower)
	}
	for _, window := range []time.Duration{-time.Second, IdempotencyWindowMax + 1, IdempotencyWindowForever} {
		cfg.IdempotencyWindow = window
		if _, err := NewHTTPProvider(cfg); !errors.Is(err, ErrInvalidConfig) || FieldOf(err) != "idempotency_window" {
			t.Errorf("IdempotencyWindow %s: %v; want field idempotency_window", window, err)
		}
	}
}
