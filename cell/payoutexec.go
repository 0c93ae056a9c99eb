package cell

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/channel"
	"github.com/cellpay/cellpay/replication"
)

// PayoutConfig configures the payout executor. Zero fields take the
// defaults; without Providers the node refuses payouts.
type PayoutConfig struct {
	// Providers pay payouts out, in order of preference: a payout that names
	// none goes to the first; after a definite FAILED it is rerouted to the
	// next one that has not failed it (never while its outcome is unknown).
	Providers []channel.Provider
	// Interval is how often the work items of every cell led here are read.
	// Default 200 ms. A new payout is executed at once.
	Interval time.Duration
	// BatchMax bounds the work items read per cell per pass. Default 256.
	BatchMax int
	// InFlightMax bounds the provider calls in flight on this node.
	// Default 16.
	InFlightMax int
	// CallTimeout bounds one Submit or Query, and the recording of its
	// answer. Default 10 s: past it the outcome is UNKNOWN.
	CallTimeout time.Duration
	// BackoffMin and BackoffMax bound the wait between queries of a payout
	// whose outcome is not known (doubling). Defaults 200 ms and 10 s.
	BackoffMin, BackoffMax time.Duration
	// UnresolvedAge is how old an unsettled payout may get before it is an
	// alert (Node.UnresolvedPayouts). Default 5 min.
	UnresolvedAge time.Duration
	// Wait is how long a Payout request waits for a definite outcome before
	// it answers PENDING or UNKNOWN, at most half of what is left of the
	// request's deadline. Default 1 s; negative: never.
	Wait time.Duration
}

func (c *PayoutConfig) defaults() {
	if c.Interval <= 0 {
		c.Interval = 200 * time.Millisecond
	}
	if c.BatchMax <= 0 {
		c.BatchMax = 256
	}
	if c.InFlightMax <= 0 {
		c.InFlightMax = 16
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 200 * time.Millisecond
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(10*time.Second, c.BackoffMin)
	}
	if c.UnresolvedAge <= 0 {
		c.UnresolvedAge = 5 * time.Minute
	}
	if c.Wait == 0 {
		c.Wait = time.Second
	}
	c.Wait = max(c.Wait, 0)
}

// validate reports every problem of the providers at once.
func (c PayoutConfig) validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, p := range c.Providers {
		switch {
		case p == nil:
			errs = append(errs, fmt.Errorf("cell: PayoutConfig.Providers[%d] is nil", i))
		case validID("provider", p.Name(), providerNameBytesMax) != nil:
			errs = append(errs, fmt.Errorf("cell: PayoutConfig.Providers[%d]: name %q is not a valid provider name", i, truncate(p.Name())))
		case seen[p.Name()]:
			errs = append(errs, fmt.Errorf("cell: PayoutConfig.Providers[%d]: name %q is used twice", i, p.Name()))
		default:
			seen[p.Name()] = true
		}
	}
	return errors.Join(errs...)
}

// payoutExecutor drives every unsettled payout of the cells its node leads
// to a definite outcome. Its rules, which the incident of the double
// payout taught:
//
//   - a payout is recorded PENDING (funds held) before any provider call;
//   - every Submit is preceded by a PayoutAttempt committed through Raft in
//     the current term: a deposed leader cannot commit it, so it never
//     calls a provider (the fence), and the record counts the attempts;
//   - a payout with no committed attempt is submitted; one with an attempt
//     may have reached the provider, so it is queried, and submitted again
//     only if the provider answers "not found" well inside the idempotency
//     window it promises (channel.IdempotencyWindower); otherwise it stays
//     UNKNOWN for an operator, never sent twice;
//   - the provider knows the payout by ProviderPayoutID (cell, account and
//     payout id): payout ids are per account, the provider's are global;
//   - an answer that is not definite is recorded UNKNOWN and resolved only
//     by querying the same provider with the same id, with backoff; a
//     Query that rejects the id as invalid is not definite either;
//   - only a definite FAILED reroutes to the next provider.
type payoutExecutor struct {
	// by payout; fresh: recorded PENDING by this node's service, never
	// submitted.
	leaderWork[*pb.PayoutRecord]

	service   *Service
	cfg       PayoutConfig
	providers map[string]channel.Provider
	logger    *slog.Logger

	// ctx is cancelled by close: calls in flight end at once, unrecorded,
	// as if the node had crashed (the next leader queries them).
	ctx    context.Context
	cancel context.CancelFunc
}

func newPayoutExecutor(host *replication.Host, service *Service, cells []uint64, cfg PayoutConfig, logger *slog.Logger) *payoutExecutor {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	e := &payoutExecutor{
		ctx: ctx, cancel: cancel, service: service, cfg: cfg, providers: map[string]channel.Provider{},
		logger: logger.With("component", "payouts"),
	}
	for _, p := range cfg.Providers {
		e.providers[p.Name()] = p
	}
	e.leaderWork = leaderWork[*pb.PayoutRecord]{
		host: host, cells: cells, interval: cfg.Interval, batchMax: cfg.BatchMax, logger: e.logger, what: "the payout work items",
		list: listPayoutWork, ref: payoutRef, do: e.execute,
		observed: func(cellID uint64, led bool, records []*pb.PayoutRecord, now time.Time) {
			service.metrics.payoutPass(cellID, led, records, now, cfg.UnresolvedAge)
		},
	}
	e.init(cfg.InFlightMax, cfg.BackoffMin, cfg.BackoffMax)
	return e
}

// listPayoutWork is a cell's unfinished payouts: PENDING, then UNKNOWN, up
// to batchMax of each.
func listPayoutWork(rd replication.Reader, batchMax int) ([]*pb.PayoutRecord, error) {
	records, _, err := ListPayouts(rd, pb.PayoutState_PAYOUT_STATE_PENDING, uint32(batchMax), "")
	if err != nil {
		return nil, err
	}
	unknown, _, err := ListPayouts(rd, pb.PayoutState_PAYOUT_STATE_UNKNOWN, uint32(batchMax), "")
	return append(records, unknown...), err
}

// defaultProvider is the provider of a payout that names none.
func (e *payoutExecutor) defaultProvider() string { return e.cfg.Providers[0].Name() }

// recorded tells the executor that this node just recorded a payout
// PENDING (so it was never submitted) and asks for a pass now.
func (e *payoutExecutor) recorded(cellID uint64, rec *pb.PayoutRecord) {
	e.work.markFresh(cellID, payoutRef(rec))
	e.notify()
}

// close stops the executor, ending its calls in flight, and waits.
func (e *payoutExecutor) close() {
	e.cancel()
	e.leaderWork.close()
}

// execute takes one step for a payout: it reports whether the payout is
// settled, and whether it should be executed again at once.
func (e *payoutExecutor) execute(cellID uint64, rec *pb.PayoutRecord) (settled, again bool) {
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.CallTimeout)
	defer cancel()
	p, ok := e.providers[rec.GetProvider()]
	if !ok {
		e.logger.Error("payouts: the payout's provider is not configured on this node; it stays unresolved", "payout", rec.GetPayoutId(), "provider", rec.GetProvider())
		return false, false
	}
	payout := channel.Payout{ID: providerIDOf(cellID, rec), Account: rec.GetAccountId(), AmountMinor: rec.GetAmountMinor(), Currency: rec.GetCurrency()}
	var res channel.Result
	var err error
	var submitted bool // the answer is Submit's (only then is ErrInvalidPayout definite)
	switch action := nextPayoutAction(rec, e.now()); {
	case action == payoutSubmit:
		res, err, submitted = e.fencedSubmit(ctx, cellID, p, rec, payout)
	default:
		res, err = e.query(ctx, p, payout.ID)
		if errors.Is(err, channel.ErrNotFound) {
			if resubmitSafe(rec, windowOf(p), e.now()) {
				// Within the provider's idempotency window its "not found"
				// is final, and a Submit of the same id is deduplicated.
				res, err, submitted = e.fencedSubmit(ctx, cellID, p, rec, payout)
			} else {
				// It may have reached the provider, and the provider's
				// "not found" does not prove it did not pay: never send it
				// again. It stays held as UNKNOWN for an operator.
				e.logger.Error("payouts: the provider has no record of a payout that may have reached it, and promises no idempotency window covering it; it stays UNKNOWN for an operator",
					"payout", rec.GetPayoutId(), "provider", rec.GetProvider(), "attempts", rec.GetSubmitAttempts())
				err = fmt.Errorf("provider %q has no record of %q, submitted %d time(s), outside any idempotency window it promises: resolve by hand: %w",
					rec.GetProvider(), payout.ID, rec.GetSubmitAttempts(), channel.ErrOutcomeUnknown)
			}
		}
	}
	if ctx.Err() != nil && e.ctx.Err() != nil {
		return false, false // closing: unrecorded, as if crashed (the next leader queries)
	}
	outcome := e.outcomeOf(rec, res, err, submitted)
	if outcome == nil {
		return false, false // Still unknown and already recorded so: query again later.
	}
	// The call may have used up its context (a timeout is an answer too):
	// recording gets its own.
	rctx, rcancel := context.WithTimeout(e.ctx, e.cfg.CallTimeout)
	defer rcancel()
	recorded, perr := e.service.propose(rctx, cellID, &pb.Command{Body: &pb.Command_PayoutOutcome{PayoutOutcome: outcome}})
	if perr != nil {
		e.logger.Debug("payouts: recording the outcome failed, will ask again", "payout", rec.GetPayoutId(), "error", perr)
		return false, false
	}
	now := recorded.GetPayout()
	if settledPayout(now.GetState()) {
		return true, false
	}
	return false, now.GetState() == pb.PayoutState_PAYOUT_STATE_PENDING // rerouted
}

// fencedSubmit commits a PayoutAttempt in the current term and only then
// submits: a leader that was deposed (cut off from its quorum, its lease
// not yet run out) cannot commit, so it never calls the provider. When the
// attempt is not committed, nothing was called: the error is not an
// answer of the provider (submitted false; the caller records nothing).
func (e *payoutExecutor) fencedSubmit(ctx context.Context, cellID uint64, p channel.Provider, rec *pb.PayoutRecord, payout channel.Payout) (channel.Result, error, bool) {
	attempt := &pb.PayoutAttempt{PayoutId: rec.GetPayoutId(), AccountId: rec.GetAccountId(), Provider: rec.GetProvider()}
	if _, err := e.service.propose(ctx, cellID, &pb.Command{Body: &pb.Command_PayoutAttempt{PayoutAttempt: attempt}}); err != nil {
		return channel.Result{}, errAttemptNotCommitted{err}, false
	}
	res, err := e.submit(ctx, p, payout)
	return res, err, true
}

// errAttemptNotCommitted: the PayoutAttempt was not committed (not the
// leader any more, or its outcome unknown), so the provider was not
// called. It is recorded as nothing.
type errAttemptNotCommitted struct{ err error }

func (e errAttemptNotCommitted) Error() string {
	return fmt.Sprintf("cell: payout attempt not committed, provider not called: %v", e.err)
}

// payoutAction is what the executor does next with an unsettled payout.
type payoutAction int

const (
	// payoutSubmit: no attempt of it was ever committed, so no provider
	// has seen it (attempts are committed before every Submit).
	payoutSubmit payoutAction = iota
	// payoutQuery: it may have reached its provider; ask first.
	payoutQuery
)

// nextPayoutAction decides from the replicated record alone, so every
// leader decides the same.
func nextPayoutAction(rec *pb.PayoutRecord, _ time.Time) payoutAction {
	if rec.GetState() == pb.PayoutState_PAYOUT_STATE_PENDING && rec.GetSubmitAttempts() == 0 {
		return payoutSubmit
	}
	return payoutQuery
}

// resubmitSafe reports whether a payout the provider answered "not found"
// for may be submitted again: only if no attempt was ever committed, or
// the provider promises an idempotency window and the first attempt is
// well inside it (half the window: room for the clocks of the leader that
// stamped the attempt, this one and the provider's to differ).
func resubmitSafe(rec *pb.PayoutRecord, window time.Duration, now time.Time) bool {
	if rec.GetSubmitAttempts() == 0 {
		return true
	}
	if window <= 0 {
		return false
	}
	elapsed := now.Sub(time.UnixMilli(rec.GetFirstSubmitAtUnixMs()))
	return elapsed >= 0 && elapsed < window/2
}

// windowOf is the idempotency window a provider promises (0: none).
func windowOf(p channel.Provider) time.Duration {
	if w, ok := p.(channel.IdempotencyWindower); ok {
		return max(w.IdempotencyWindow(), 0)
	}
	return 0
}

// providerIDOf is the id the provider knows the payout by: stamped in the
// record when it was made (older records have none: derived the same way).
func providerIDOf(cellID uint64, rec *pb.PayoutRecord) string {
	if id := rec.GetProviderPayoutId(); id != "" {
		return id
	}
	return ProviderPayoutID(cellID, rec.GetAccountId(), rec.GetPayoutId())
}

// payoutRef names a payout in its cell: payout ids are per account.
func payoutRef(rec *pb.PayoutRecord) string { return rec.GetAccountId() + "/" + rec.GetPayoutId() }

func (e *payoutExecutor) now() time.Time { return e.service.cfg.Now() }

// submit and query call the provider, counted and timed in the metrics.
func (e *payoutExecutor) submit(ctx context.Context, p channel.Provider, payout channel.Payout) (channel.Result, error) {
	start := time.Now()
	res, err := p.Submit(ctx, payout)
	e.service.metrics.providerCall(p.Name(), "submit", res, err, time.Since(start))
	return res, err
}

func (e *payoutExecutor) query(ctx context.Context, p channel.Provider, payoutID string) (channel.Result, error) {
	start := time.Now()
	res, err := p.Query(ctx, payoutID)
	e.service.metrics.providerCall(p.Name(), "query", res, err, time.Since(start))
	return res, err
}

// outcomeOf turns a provider's answer into the outcome to record, or nil
// when there is nothing new to record (unknown, and already UNKNOWN).
// submitted tells whether the answer is Submit's: a Query that rejects an
// id as invalid says nothing about a Submit that accepted it.
func (e *payoutExecutor) outcomeOf(rec *pb.PayoutRecord, res channel.Result, err error, submitted bool) *pb.PayoutOutcome {
	o := &pb.PayoutOutcome{PayoutId: rec.GetPayoutId(), AccountId: rec.GetAccountId(), Provider: rec.GetProvider(), Reason: res.Reason, ProviderRef: res.ProviderRef}
	var notCommitted errAttemptNotCommitted
	switch {
	case errors.As(err, &notCommitted):
		return nil // nothing was called: nothing to record, try again later
	case channel.Definite(res, err) && res.Outcome == channel.OutcomeSucceeded:
		o.State = pb.PayoutState_PAYOUT_STATE_SUCCEEDED
	case channel.Definite(res, err):
		o.State = pb.PayoutState_PAYOUT_STATE_FAILED
		o.RerouteTo = e.fallback(rec)
	case submitted && errors.Is(err, channel.ErrInvalidPayout):
		// Submit refused it before anything was paid, and any provider
		// would refuse it.
		o.State, o.Reason = pb.PayoutState_PAYOUT_STATE_FAILED, err.Error()
	default:
		// No definite answer (timeout, reset, down, processing, or an id the
		// provider knows with other parameters): funds stay held.
		if errors.Is(err, channel.ErrIDReused) {
			e.logger.Error("payouts: the provider holds another payout with this id; resolve by hand", "payout", rec.GetPayoutId(), "provider", rec.GetProvider())
		}
		if rec.GetState() == pb.PayoutState_PAYOUT_STATE_UNKNOWN {
			return nil
		}
		o.State = pb.PayoutState_PAYOUT_STATE_UNKNOWN
		if err != nil {
			o.Reason = err.Error()
		}
	}
	return o
}

// fallback is the next provider, in preference order, that has not failed
// this payout ("" when none is left).
func (e *payoutExecutor) fallback(rec *pb.PayoutRecord) string {
	for _, p := range e.cfg.Providers {
		name := p.Name()
		if name != rec.GetProvider() && !slices.Contains(rec.GetFailedProviders(), name) {
			return name
		}
	}
	return ""
}

// overdue reports whether an unsettled payout is an alert: created at least
// age before now.
func overdue(rec *pb.PayoutRecord, now time.Time, age time.Duration) bool {
	return now.Sub(time.UnixMilli(rec.GetCreatedAtUnixMs())) >= age
}

// unresolved lists the payouts of cells led here that are unsettled and
// older than UnresolvedAge: each is an alert.
func (e *payoutExecutor) unresolved(now time.Time) []*pb.PayoutRecord {
	var out []*pb.PayoutRecord
	for _, cellID := range e.cells {
		out = append(out, e.unresolvedOf(cellID, now)...)
	}
	return out
}

// unresolvedOf is unresolved for one cell (none unless led here). It reads
// at most listPageSizeMax payouts per state.
func (e *payoutExecutor) unresolvedOf(cellID uint64, now time.Time) []*pb.PayoutRecord {
	g, err := e.host.Group(cellID)
	if err != nil || !g.IsLeader() {
		return nil
	}
	var out []*pb.PayoutRecord
	for _, state := range []pb.PayoutState{pb.PayoutState_PAYOUT_STATE_PENDING, pb.PayoutState_PAYOUT_STATE_UNKNOWN} {
		recs, _, err := ListPayouts(g.Reader(), state, listPageSizeMax, "")
		if err != nil {
			continue
		}
		for _, rec := range recs {
			if overdue(rec, now, e.cfg.UnresolvedAge) {
				out = append(out, rec)
			}
		}
	}
	return out
}
