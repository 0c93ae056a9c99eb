package channel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// simStatementEntriesMin is the least number of payments a Sim's statement
// holds (its bound is the larger of this and PayoutsMax). Without a window
// the statement cannot outgrow PayoutsMax (each remembered id pays once);
// with one, forgotten ids free their room and may be paid again, so the
// statement needs a bound of its own. 1<<20 entries is what an
// HTTPProvider reads in one statement (statementBytesMax).
const simStatementEntriesMin = 1 << 20

// SimConfig configures a Sim. Start from DefaultSimConfig.
type SimConfig struct {
	// Name is the provider's name (required): letters, digits and
	// _ - . :, 1 to NameBytesMax bytes, e.g. "bank-a".
	Name string
	// Clock stamps statement entries and measures the idempotency window;
	// it must be safe for concurrent use. Default time.Now.
	Clock func() time.Time
	// HangDurationMax bounds a call that hangs (ModeTimeoutAfterSuccess,
	// ModeTimeoutBefore, QueryTimeout) when its context never ends: it
	// then returns ErrOutcomeUnknown. Default 1 minute; 1ms to 1 hour.
	HangDurationMax time.Duration
	// PayoutsMax bounds the payout ids the simulator remembers; a new id
	// beyond it is answered ErrOutcomeUnknown, unrecorded, so memory stays
	// bounded. Ids forgotten after IdempotencyWindow free their room.
	// Default 1<<20.
	PayoutsMax int
	// IdempotencyWindow is how long the simulator keeps a payout id after
	// the Submit that recorded it, by Clock, as a real provider keeps its
	// idempotency keys for a limited time. Once it has passed, the id is
	// forgotten: Query answers ErrNotFound although it may have been paid,
	// and a Submit of it is a new payout that pays again (the statement
	// then lists the id twice; see PaidTwice). 0 (the default): ids are
	// kept for ever, and IdempotencyWindow() reports
	// IdempotencyWindowForever. 0 to IdempotencyWindowMax.
	IdempotencyWindow time.Duration
	// Logger logs payments, failures and behaviour changes. Default: none.
	Logger *slog.Logger
}

// DefaultSimConfig is a config with every default filled in.
func DefaultSimConfig(name string) SimConfig {
	return SimConfig{
		Name:            name,
		Clock:           time.Now,
		HangDurationMax: time.Minute,
		PayoutsMax:      1 << 20,
		Logger:          slog.New(slog.DiscardHandler),
	}
}

// Validate reports every problem of c at once (kind ErrInvalidConfig).
func (c SimConfig) Validate() error {
	var errs []error
	if err := checkID("name", c.Name, NameBytesMax, ErrInvalidConfig); err != nil {
		errs = append(errs, err)
	}
	if c.Clock == nil {
		errs = append(errs, &FieldError{Kind: ErrInvalidConfig, Field: "clock", Problem: "is required"})
	}
	if c.HangDurationMax < time.Millisecond || c.HangDurationMax > time.Hour {
		errs = append(errs, &FieldError{Kind: ErrInvalidConfig, Field: "hang_duration_max", Problem: fmt.Sprintf("%s is not between 1ms and 1h", c.HangDurationMax)})
	}
	if c.IdempotencyWindow < 0 || c.IdempotencyWindow > IdempotencyWindowMax {
		errs = append(errs, &FieldError{Kind: ErrInvalidConfig, Field: "idempotency_window", Problem: fmt.Sprintf("%s is not between 0 (for ever) and %s", c.IdempotencyWindow, IdempotencyWindowMax)})
	}
	if c.PayoutsMax < 1 {
		errs = append(errs, &FieldError{Kind: ErrInvalidConfig, Field: "payouts_max", Problem: fmt.Sprintf("%d is not >= 1", c.PayoutsMax)})
	}
	if c.Logger == nil {
		errs = append(errs, &FieldError{Kind: ErrInvalidConfig, Field: "logger", Problem: "is required"})
	}
	return errors.Join(errs...)
}

// Sim is a simulated provider, in process: it keeps the statement of what
// it really paid, honours the payout id as its idempotency key (for ever,
// or for SimConfig.IdempotencyWindow), and misbehaves on demand (see
// Behaviour and QueryBehaviour). Safe for concurrent use. Close releases
// the calls that hang.
type Sim struct {
	cfg     SimConfig
	closing chan struct{}
	// closeOnce guards closing.
	closeOnce sync.Once

	// mu guards everything below. Every decision about a payout (is it
	// known, is it paid) is taken under mu, so concurrent duplicates of
	// one id pay once.
	mu         sync.Mutex
	behaviours Behaviours
	records    map[string]*simRecord
	// recordedOrder holds the records in the order they were recorded,
	// so that the calls forget those past the idempotency window from the
	// front, each record once (empty without a window). An entry whose id
	// was forgotten already (or recorded again since) is dropped unused.
	recordedOrder []*simRecord
	statement     []StatementEntry
	// statementEntriesMax bounds statement: a new payout beyond it is
	// answered ErrOutcomeUnknown, unrecorded. A processing payout accepted
	// before may still settle past it, so the statement holds at most
	// statementEntriesMax + PayoutsMax entries.
	statementEntriesMax int
	submitCalls         map[string]int
	queryCalls          map[string]int
	refSeq              int64
}

// simRecord is what the simulator knows of one payout id.
type simRecord struct {
	payout Payout
	result Result
	// recordedAt is when the Submit that recorded it came (by Clock): the
	// idempotency window starts there, and later Submits do not extend it.
	recordedAt time.Time
	// For a processing payout: how it settles, and after how many more
	// queries.
	settle            Outcome
	settleReason      string
	settleQueriesLeft int
}

// NewSim builds a simulator whose every call succeeds, until told
// otherwise.
func NewSim(cfg SimConfig) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Sim{
		cfg:                 cfg,
		closing:             make(chan struct{}),
		behaviours:          DefaultBehaviours(),
		records:             map[string]*simRecord{},
		statementEntriesMax: max(simStatementEntriesMin, cfg.PayoutsMax),
		submitCalls:         map[string]int{},
		queryCalls:          map[string]int{},
	}, nil
}

// Name is the provider's name.
func (s *Sim) Name() string { return s.cfg.Name }

// IdempotencyWindow is SimConfig.IdempotencyWindow, or
// IdempotencyWindowForever when that is 0: a simulator that keeps every id
// (and records a payout before it pays it) makes every ErrNotFound final.
// It holds for the life of the Sim only: a new Sim (a restarted `cellpay
// provider`) knows nothing of the old one's payouts.
func (s *Sim) IdempotencyWindow() time.Duration {
	if s.cfg.IdempotencyWindow == 0 {
		return IdempotencyWindowForever
	}
	return s.cfg.IdempotencyWindow
}

// Close makes every call that hangs, and every later call, return
// ErrOutcomeUnknown. The statement stays readable.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	return nil
}

// Submit pays p once per payout id, as the current Behaviour says.
func (s *Sim) Submit(ctx context.Context, p Payout) (Result, error) {
	if err := p.Validate(); err != nil {
		return Result{}, err
	}
	s.mu.Lock()
	s.count(s.submitCalls, p.ID)
	if err := s.usable(ctx); err != nil {
		s.mu.Unlock()
		return Result{}, s.unknown("submit", p.ID, err)
	}
	b := s.nextSubmitBehaviour()
	switch b.Mode {
	case ModeDown:
		s.mu.Unlock()
		return Result{}, s.unknown("submit", p.ID, errors.New("down: connection refused"))
	case ModeTimeoutBefore:
		s.mu.Unlock()
		return Result{}, s.unknown("submit", p.ID, s.hang(ctx))
	}
	now := s.cfg.Clock()
	rec, known := s.lookup(p.ID, now)
	if known && rec.payout != p {
		s.mu.Unlock()
		return Result{}, fmt.Errorf("channel: %s: submit %s: %w: first %s, now %s", s.cfg.Name, p.ID, ErrIDReused, describe(rec.payout), describe(p))
	}
	if !known {
		if len(s.records) >= s.cfg.PayoutsMax {
			s.mu.Unlock()
			return Result{}, s.unknown("submit", p.ID, fmt.Errorf("remembers %d payouts, its maximum", s.cfg.PayoutsMax))
		}
		if len(s.statement) >= s.statementEntriesMax {
			s.mu.Unlock()
			return Result{}, s.unknown("submit", p.ID, fmt.Errorf("its statement holds %d payments, its maximum", s.statementEntriesMax))
		}
		rec = s.accept(p, b, now)
	}
	res := rec.result
	s.mu.Unlock()

	if b.Mode == ModeTimeoutAfterSuccess {
		return Result{}, s.unknown("submit", p.ID, s.hang(ctx))
	}
	if err := s.wait(ctx, b.Delay); err != nil {
		return Result{}, s.unknown("submit", p.ID, err)
	}
	return res, nil
}

// accept records a new payout as b's mode says, paying it if it succeeds.
// Called with mu held.
func (s *Sim) accept(p Payout, b Behaviour, now time.Time) *simRecord {
	s.refSeq++
	rec := &simRecord{payout: p, recordedAt: now}
	rec.result.ProviderRef = fmt.Sprintf("%s-%06d", s.cfg.Name, s.refSeq)
	switch b.Mode {
	case ModeSucceed, ModeTimeoutAfterSuccess:
		rec.result.Outcome = OutcomeSucceeded
		s.pay(rec, now)
	case ModeFail:
		rec.result.Outcome, rec.result.Reason = OutcomeFailed, b.Reason
		if rec.result.Reason == "" {
			rec.result.Reason = DefaultFailReason
		}
		s.cfg.Logger.Info("payout failed", "provider", s.cfg.Name, "payout_id", p.ID, "reason", rec.result.Reason)
	case ModeProcessing:
		rec.result.Outcome, rec.result.Reason = OutcomeUnknown, ReasonProcessing
		rec.settle, rec.settleReason, rec.settleQueriesLeft = b.Settle, b.SettleReason, b.SettleAfterQueries
		s.cfg.Logger.Info("payout processing", "provider", s.cfg.Name, "payout_id", p.ID, "settle", b.Settle)
	default:
		// Behaviours are validated on the way in; the modes that record
		// nothing never get here.
		panic(fmt.Sprintf("channel: accept with mode %q", b.Mode))
	}
	s.records[p.ID] = rec
	if s.cfg.IdempotencyWindow > 0 {
		s.recordedOrder = append(s.recordedOrder, rec)
	}
	return rec
}

// lookup is the record of payout id, if the simulator still remembers it
// at now; first it forgets what is past the idempotency window. Called
// with mu held, before any decision about an id.
func (s *Sim) lookup(id string, now time.Time) (*simRecord, bool) {
	s.forgetExpired(now)
	rec, known := s.records[id]
	if known && s.expired(rec, now) {
		// Past the window but not yet reached from the front of
		// recordedOrder (the clock went back): forgotten all the same.
		s.forget(rec)
		return nil, false
	}
	return rec, known
}

// forgetExpired forgets the records past the idempotency window, oldest
// first, freeing their room in PayoutsMax. Each record is dropped once,
// so the work is bounded by the records made. Called with mu held.
func (s *Sim) forgetExpired(now time.Time) {
	for len(s.recordedOrder) > 0 && s.expired(s.recordedOrder[0], now) {
		rec := s.recordedOrder[0]
		s.recordedOrder[0] = nil // the backing array must not keep it alive
		s.recordedOrder = s.recordedOrder[1:]
		if s.records[rec.payout.ID] == rec {
			s.forget(rec)
		}
	}
}

// expired: the window (if any) has passed since rec was recorded.
func (s *Sim) expired(rec *simRecord, now time.Time) bool {
	return s.cfg.IdempotencyWindow > 0 && now.Sub(rec.recordedAt) >= s.cfg.IdempotencyWindow
}

// forget drops rec, as a real provider drops an idempotency key past its
// window: the statement keeps its payment, the call counts stay. Called
// with mu held.
func (s *Sim) forget(rec *simRecord) {
	delete(s.records, rec.payout.ID)
	s.cfg.Logger.Info("payout id forgotten", "provider", s.cfg.Name, "payout_id", rec.payout.ID,
		"outcome", rec.result.Outcome, "idempotency_window", s.cfg.IdempotencyWindow)
}

// pay adds rec's payout to the statement. Called with mu held.
func (s *Sim) pay(rec *simRecord, now time.Time) {
	p := rec.payout
	s.statement = append(s.statement, StatementEntry{
		PayoutID: p.ID, Account: p.Account, AmountMinor: p.AmountMinor, Currency: p.Currency,
		ProviderRef: rec.result.ProviderRef, PaidAt: now,
	})
	s.cfg.Logger.Info("payout paid", "provider", s.cfg.Name, "payout_id", p.ID, "account", p.Account,
		"amount_minor", p.AmountMinor, "currency", p.Currency, "provider_ref", rec.result.ProviderRef)
}

// Query answers what became of the payout, as the current QueryBehaviour
// says; a processing payout may settle (see Behaviour.Settle).
func (s *Sim) Query(ctx context.Context, payoutID string) (Result, error) {
	if err := ValidatePayoutID(payoutID); err != nil {
		return Result{}, err
	}
	s.mu.Lock()
	s.count(s.queryCalls, payoutID)
	if err := s.usable(ctx); err != nil {
		s.mu.Unlock()
		return Result{}, s.unknown("query", payoutID, err)
	}
	q := s.nextQueryBehaviour()
	switch q.Mode {
	case QueryDown:
		s.mu.Unlock()
		return Result{}, s.unknown("query", payoutID, errors.New("down: connection refused"))
	case QueryTimeout:
		s.mu.Unlock()
		return Result{}, s.unknown("query", payoutID, s.hang(ctx))
	case QueryInvalid:
		s.mu.Unlock()
		return Result{}, fmt.Errorf("channel: %s: query %s: %w", s.cfg.Name, payoutID,
			&FieldError{Kind: ErrInvalidPayout, Field: "id", Problem: "refused by the simulated provider's query validation (its submit accepted such ids)"})
	}
	now := s.cfg.Clock()
	rec, known := s.lookup(payoutID, now)
	var res Result
	if known {
		s.settle(rec, now)
		res = rec.result
	}
	s.mu.Unlock()

	if err := s.wait(ctx, q.Delay); err != nil {
		return Result{}, s.unknown("query", payoutID, err)
	}
	if !known {
		return Result{}, fmt.Errorf("channel: %s: query %s: %w", s.cfg.Name, payoutID, ErrNotFound)
	}
	return res, nil
}

// settle counts one query of a processing payout and settles it when its
// turn has come. Called with mu held.
func (s *Sim) settle(rec *simRecord, now time.Time) {
	if rec.result.Outcome != OutcomeUnknown || rec.settle == OutcomeUnknown {
		return
	}
	if rec.settleQueriesLeft > 0 {
		rec.settleQueriesLeft--
		return
	}
	rec.result.Outcome, rec.result.Reason = rec.settle, ""
	if rec.settle == OutcomeSucceeded {
		s.pay(rec, now)
		return
	}
	rec.result.Reason = rec.settleReason
	if rec.result.Reason == "" {
		rec.result.Reason = DefaultFailReason
	}
	s.cfg.Logger.Info("payout failed", "provider", s.cfg.Name, "payout_id", rec.payout.ID, "reason", rec.result.Reason)
}

// Statement is a copy of what the simulator really paid, in order.
func (s *Sim) Statement() []StatementEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.statement)
}

// PaidTwice lists, sorted, the payout ids the statement shows paid more
// than once (twice or more): the double payouts that a caller submitting
// again an id the simulator had forgotten (SimConfig.IdempotencyWindow)
// causes. Nil when no id was paid twice.
func (s *Sim) PaidTwice() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	payments := make(map[string]int, len(s.statement))
	var twice []string
	for _, e := range s.statement {
		payments[e.PayoutID]++
		if payments[e.PayoutID] == 2 {
			twice = append(twice, e.PayoutID)
		}
	}
	slices.Sort(twice)
	return twice
}

// ReadStatement is Statement, as a StatementReader.
func (s *Sim) ReadStatement(ctx context.Context) ([]StatementEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("channel: %s: statement: %w", s.cfg.Name, err)
	}
	return s.Statement(), nil
}

// SubmitCalls is how many Submit calls of a valid payout with this id the
// simulator got, whatever it did with them (down, timeouts, a done
// context, a closed simulator included), before and after it forgot the
// id.
func (s *Sim) SubmitCalls(payoutID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.submitCalls[payoutID]
}

// QueryCalls is how many Query calls of this id the simulator got.
func (s *Sim) QueryCalls(payoutID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queryCalls[payoutID]
}

// AllSubmitCalls is a copy of SubmitCalls for every id.
func (s *Sim) AllSubmitCalls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.submitCalls))
	for id, n := range s.submitCalls {
		out[id] = n
	}
	return out
}

// count adds one call of id to calls, while the map has room (PayoutsMax
// ids): the counts stay exact for every payout the simulator remembers.
// A forgotten id keeps its count (a test must see a Submit after the
// window), so a simulator with a window stops counting new ids once
// PayoutsMax ids were counted in its life. Called with mu held.
func (s *Sim) count(calls map[string]int, id string) {
	if _, ok := calls[id]; ok || len(calls) < s.cfg.PayoutsMax {
		calls[id]++
	}
}

// Behaviours is a copy of what the simulator will do.
func (s *Sim) Behaviours() Behaviours {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.behavioursLocked()
}

func (s *Sim) behavioursLocked() Behaviours {
	b := s.behaviours
	b.SubmitScript = slices.Clone(b.SubmitScript)
	b.QueryScript = slices.Clone(b.QueryScript)
	return b
}

// ChangeBehaviours validates c as a whole (every problem at once, kind
// ErrInvalidBehaviour) and applies it atomically; it returns the
// behaviours now in force.
func (s *Sim) ChangeBehaviours(c BehaviourChange) (Behaviours, error) {
	if err := c.validate(); err != nil {
		return Behaviours{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Submit != nil {
		s.behaviours.Submit = *c.Submit
	}
	if c.SubmitScript != nil {
		s.behaviours.SubmitScript = slices.Clone(*c.SubmitScript)
	}
	if c.Query != nil {
		s.behaviours.Query = *c.Query
	}
	if c.QueryScript != nil {
		s.behaviours.QueryScript = slices.Clone(*c.QueryScript)
	}
	b := s.behavioursLocked()
	s.cfg.Logger.Info("behaviour changed", "provider", s.cfg.Name, "submit", b.Submit.Mode, "submit_script", len(b.SubmitScript),
		"query", b.Query.Mode, "query_script", len(b.QueryScript))
	return b, nil
}

// SetBehaviour sets what every Submit call does once the script is used up.
func (s *Sim) SetBehaviour(b Behaviour) error {
	_, err := s.ChangeBehaviours(BehaviourChange{Submit: &b})
	return err
}

// ScriptSubmits sets what the next len(bs) Submit calls do, replacing the
// script left.
func (s *Sim) ScriptSubmits(bs ...Behaviour) error {
	if bs == nil {
		bs = []Behaviour{}
	}
	_, err := s.ChangeBehaviours(BehaviourChange{SubmitScript: &bs})
	return err
}

// SetQueryBehaviour sets what every Query call does once the script is
// used up.
func (s *Sim) SetQueryBehaviour(q QueryBehaviour) error {
	_, err := s.ChangeBehaviours(BehaviourChange{Query: &q})
	return err
}

// ScriptQueries sets what the next len(qs) Query calls do.
func (s *Sim) ScriptQueries(qs ...QueryBehaviour) error {
	if qs == nil {
		qs = []QueryBehaviour{}
	}
	_, err := s.ChangeBehaviours(BehaviourChange{QueryScript: &qs})
	return err
}

// nextSubmitBehaviour consumes the script's next entry, else the standing
// behaviour. Called with mu held.
func (s *Sim) nextSubmitBehaviour() Behaviour {
	if len(s.behaviours.SubmitScript) > 0 {
		b := s.behaviours.SubmitScript[0]
		s.behaviours.SubmitScript = s.behaviours.SubmitScript[1:]
		return b
	}
	return s.behaviours.Submit
}

func (s *Sim) nextQueryBehaviour() QueryBehaviour {
	if len(s.behaviours.QueryScript) > 0 {
		q := s.behaviours.QueryScript[0]
		s.behaviours.QueryScript = s.behaviours.QueryScript[1:]
		return q
	}
	return s.behaviours.Query
}

// usable is the error of a call that cannot start: a done context or a
// closed simulator.
func (s *Sim) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-s.closing:
		return errors.New("simulator closed")
	default:
		return nil
	}
}

// hang waits until ctx is done (and returns its error), the simulator is
// closed, or HangDurationMax has passed.
func (s *Sim) hang(ctx context.Context) error {
	timer := time.NewTimer(s.cfg.HangDurationMax)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return errors.New("simulator closed")
	case <-timer.C:
		return fmt.Errorf("hung for %s, the maximum", s.cfg.HangDurationMax)
	}
}

// wait sleeps d, unless ctx is done or the simulator closed first.
func (s *Sim) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return errors.New("simulator closed")
	case <-timer.C:
		return nil
	}
}

// unknown wraps the cause of a call without a definite answer.
func (s *Sim) unknown(call, payoutID string, cause error) error {
	return fmt.Errorf("channel: %s: %s %s: %w: %w", s.cfg.Name, call, payoutID, ErrOutcomeUnknown, cause)
}

func describe(p Payout) string {
	return fmt.Sprintf("account %s, %d %s", p.Account, p.AmountMinor, p.Currency)
}
