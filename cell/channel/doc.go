// Package channel is the provider side of payouts: the payment channels
// (banks, third-party payment interfaces) through which money leaves a
// cell. It defines the Provider contract, a simulated provider (Sim) that
// keeps its own statement of what it really paid and misbehaves on demand,
// an HTTP API for the simulator (NewHTTPHandler, run by `cellpay provider`)
// and the Provider that calls such an API (HTTPProvider).
//
// It exists because of the double payout (MISSION.md, incident 2): an
// interface that "timed out" had in fact paid, a second interface was
// tried, and investors were paid twice. So the contract below separates,
// with no middle ground, answers that are definite from answers that are
// not, and a caller never turns the second kind into the first by guessing.
//
// This package keeps no ledger and decides nothing about a payout's state:
// the ledger (package cell) records it and calls a Provider. It imports
// nothing of the project.
//
// # The Provider contract
//
// Submit(ctx, payout) asks the provider to pay. Its answer is definite in
// exactly these cases:
//
//   - a nil error and OutcomeSucceeded: the provider paid;
//   - a nil error and OutcomeFailed: the provider did not pay and never
//     will under this payout id (Definite reports these two);
//   - an error of kind ErrInvalidPayout: the payout is malformed; it was
//     rejected before anything was recorded, nothing was paid;
//   - an error of kind ErrIDReused: this id was already submitted with
//     another account, amount or currency; this call paid nothing. It
//     says nothing about the first payout with this id, which may be paid.
//
// Everything else is NOT definite: any other error (ErrOutcomeUnknown, a
// context deadline or cancellation, a connection refused or reset, an HTTP
// 5xx, an unreadable answer), and a nil error with OutcomeUnknown (Reason
// ReasonProcessing: accepted, not finished). The payout may or may not have
// been paid, even when the call failed at once: a provider can pay and then
// lose the answer.
//
// Submit is idempotent on the payout id for as long as the provider keeps
// the id: a second Submit of the same id (the same account, amount and
// currency) never pays again; it answers the first outcome, or processing,
// or fails without a definite answer as any call may. The same id with
// another account, amount or currency is rejected with ErrIDReused and not
// paid. Real providers keep ids for a limited time only (often 24 hours to
// 30 days): past it they forget a paid id, and a Submit of it pays again.
// A provider that documents how long it keeps them implements
// IdempotencyWindower; the simulator keeps them for ever unless told a
// window (SimConfig.IdempotencyWindow).
//
// Query(ctx, payoutID) asks what became of a payout. Its definite answers
// are a nil error with OutcomeSucceeded or OutcomeFailed, as for Submit,
// and an error of kind ErrNotFound: the provider has no record of the id
// now (what that proves is duty 5 below). An error of kind
// ErrInvalidPayout from Query is definite about that call only: the
// provider refused the id (its Query may validate ids differently from its
// Submit); it says nothing about the payout, which may be paid. Anything
// else is not definite, as for Submit.
//
// # Callers' duties
//
//  1. Record the payout (PENDING, funds held) durably before the first
//     Submit, with the provider's name, and use the payout id as the
//     provider's idempotency key for its whole life.
//  2. On a definite answer, record it: SUCCEEDED (the funds leave) or
//     FAILED (the funds are released).
//  3. On anything else, record the payout UNKNOWN and resolve it only by
//     calling Query on the same provider with the same payout id, with
//     backoff, until a definite answer. Submitting the same id again to
//     the same provider is safe too within its idempotency window (duty
//     5), but never submit the payout to another provider, or under a new
//     id, while its outcome is unknown: that is the double payout. A
//     fallback provider is for payouts that FAILED definitely.
//  4. ErrIDReused means two payouts share an id: a bug or a corrupted
//     record. Do not record the payout FAILED and do not fall back: the id
//     may be paid. Alert and let an operator resolve it.
//  5. ErrNotFound means the provider has no record of the id now. It is
//     final only within the provider's idempotency window, measured from
//     the first Submit that may have reached it (IdempotencyWindower;
//     leave a margin for the clocks): the provider then has kept every id
//     it got, and records a payout before it pays it. Within the window,
//     submitting again to the same provider with the same id is safe: a
//     first Submit still in flight (stuck in a network queue, arriving
//     after the Query) is deduplicated against it. Treating ErrNotFound as
//     "never paid" (FAILED, free to be retried elsewhere) needs more: the
//     window, and every Submit call of the payout ended (none that may
//     still arrive). Past the window, or from a provider that promises
//     none (no IdempotencyWindower, or 0), ErrNotFound of a payout that
//     may have reached the provider says nothing: it may have been paid
//     and forgotten, and a new Submit may pay again. Keep it UNKNOWN
//     (funds held) for an operator, who resolves it from the provider's
//     statement. A payout no Submit of which was ever sent may be
//     submitted at any time. ErrInvalidPayout from Query says nothing
//     about the payout either: keep it UNKNOWN too.
//  6. Give every call a deadline. HTTPProvider also bounds each call by
//     its CallTimeout.
//
// # The simulator
//
// Sim is safe for concurrent use: whether a payout id is known, and
// whether it is paid, is decided under one lock, so concurrent duplicate
// submits pay once. Its Statement lists what it really paid; SubmitCalls
// counts the Submit calls per payout id, so a test can prove there was no
// second submission. What each call does is a Behaviour (Submit) or a
// QueryBehaviour (Query): a standing one, and a script for the next calls.
// The modes: succeed, fail, timeout_after_success (pays, then hangs until
// the caller's context is done and returns its error: the incident),
// timeout_before (records nothing, hangs), down (fails at once), processing
// (answers processing; Queries settle it to SUCCEEDED or FAILED after a
// set number of queries, or never); a Delay makes any answer slow. Queries
// can answer, be down, time out, or refuse the id as invalid (a provider
// whose Query validates ids differently from its Submit). Hangs are
// bounded by SimConfig.HangDurationMax, and Close releases them.
//
// With SimConfig.IdempotencyWindow, the simulator forgets an id that long
// after the Submit that recorded it (by SimConfig.Clock, so a test with a
// fake clock moves past it at once), as real providers do: Query then
// answers ErrNotFound, and a Submit of the id pays again. The statement
// keeps both payments, and PaidTwice lists such ids: a test proves that a
// caller never paid twice by finding it empty. Without a window it keeps
// ids for ever and its IdempotencyWindow is IdempotencyWindowForever.
//
// # The HTTP API
//
// NewHTTPHandler serves a Sim; every body is JSON, every error answer is
// {"error": "...", "kind": "...", "field": "...", "payout_id": "..."}
// (field and payout_id when known):
//
//	POST /payouts        {"id", "account", "amount_minor", "currency"}
//	                     200 {"payout_id", "outcome", "reason", "provider_ref"}
//	                     400 kind invalid_payout (field named) or bad_request
//	                     409 kind id_reused; 503 kind outcome_unknown
//	GET  /payouts/{id}   200 as above; 404 kind not_found (payout_id echoed);
//	                     400 kind invalid_payout (field id)
//	GET  /statement      200 {"provider", "entries": [StatementEntry...],
//	                     "submit_calls": {id: n}}
//	GET  /behaviour      200 {"submit", "submit_script", "query", "query_script"}
//	POST /behaviour      a part of the above; absent parts stay, an empty
//	                     script clears it; answers the whole. A behaviour is
//	                     {"mode", "reason", "delay": "1.5s", "settle":
//	                     "SUCCEEDED"|"FAILED", "settle_reason",
//	                     "settle_after_queries"}; a query behaviour
//	                     {"mode": "answer"|"down"|"timeout"|"invalid",
//	                     "delay"}.
//	GET  /healthz        200 {"status": "ok", "provider",
//	                     "idempotency_window": "24h0m0s"|"forever"}
//
// Bodies are bounded (2 MiB). The handler does not authenticate: wrap it
// in RequireBearerToken unless it listens on loopback only (`cellpay
// provider` refuses any other address without a token).
package channel
