// Package client is the Go SDK of cellpay: it calls the Payments service of
// the regional routers over gRPC, picks a healthy router (its own region
// first, other regions while its own is down), and retries every request,
// unchanged, until it gets an answer or its deadline passes.
//
// # The one rule: an unknown outcome is not a failure
//
// A payment whose answer was lost (an attempt timed out, a connection broke
// after the request was sent, the ledger answered OUTCOME_UNKNOWN) may have
// executed. Sending the money again with a new key, or through another
// channel, pays twice: that is how a fintech paid its investors twice when a
// provider "failed" after succeeding (MISSION.md, incident 2). So:
//
//   - Every mutation carries an idempotency key (a transfer's key is its
//     transfer id, a payout's its payout id). The client generates one per
//     call unless you pass WithIdempotencyKey / WithTransferID /
//     WithPayoutID, and sends the SAME key on every
//     retry, to any router of any region: the cell executes it once and
//     replays the stored result afterwards.
//   - When the deadline passes after an attempt whose outcome is ambiguous,
//     the call returns an *UnknownOutcomeError (errors.Is(err,
//     ErrOutcomeUnknown)) carrying the key. It is never reported as a plain
//     failure.
//
// # The caller's duties
//
//  1. For money movement, choose the key yourself: generate it with NewKey,
//     store it with your intent (the payout row, the job's state) BEFORE the
//     call, and pass it with WithIdempotencyKey, WithTransferID or
//     WithPayoutID. Then a crash of your own process is resolved the same
//     way as a lost answer.
//  2. On an *UnknownOutcomeError, resolve the outcome by calling again with
//     the SAME key and the same parameters (or look it up with GetTransfer
//     or GetPayout). Never retry with a new key, never send it through
//     another system, and alert if it stays unknown.
//  3. A Payout answered with a record in state PENDING or UNKNOWN is not
//     a failure either: the funds are held and the cell resolves it with
//     the same provider. Follow it with GetPayout (or ListPayouts by
//     state); never pay it again under another id.
//  4. On ErrUnavailable from a mutation, no attempt reached a router: the
//     operation did not execute. Retrying (with the same key is still best)
//     is safe.
//  5. A *BusinessError is a definitive answer (insufficient funds, unknown
//     account, key reused with other parameters, ...). It is not retried; a
//     retry with the same key returns the same answer. After an ambiguous
//     attempt of a mutation you never get one unless the ledger stored the
//     refusal under the key (see "Which answers are final" below).
//  6. Reusing a key with different parameters is rejected
//     (FAILED_PRECONDITION, reason IDEMPOTENCY_KEY_REUSED): one key, one
//     intent.
//  7. Call Close when done: it stops the background health prober and
//     closes the connections. Operations started after Close fail with
//     ErrClosed.
//
// # Retries and errors
//
// Retried (same request, same key, jittered exponential backoff between
// BackoffMin and BackoffMax, each attempt bounded by AttemptTimeout, all
// bounded by Deadline or the context's own deadline): transport errors,
// UNAVAILABLE with any reason (NOT_LEADER, OUTCOME_UNKNOWN, none),
// DEADLINE_EXCEEDED, ABORTED, RESOURCE_EXHAUSTED. Reads are retried the same
// way.
//
// Not retried: INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS,
// FAILED_PRECONDITION, OUT_OF_RANGE, PERMISSION_DENIED, UNAUTHENTICATED and
// UNIMPLEMENTED come back as *BusinessError. INTERNAL, UNKNOWN and DATA_LOSS
// are not retried either (they are not an answer the client understands):
// after a mutation was sent they come back as *UnknownOutcomeError, else as
// a plain error.
//
// An attempt counts as sent as soon as gRPC has put its request headers on
// a connection; a mutation whose every attempt was never sent (connection
// refused, no connection before the attempt timeout) certainly did not
// execute and fails with ErrUnavailable. Every retried error after a sent
// mutation counts as ambiguous, NOT_LEADER included: the router forwards
// with retries of its own, and one of its earlier tries may have executed.
//
// # Which answers are final
//
// Once an attempt of a mutation is ambiguous, the only definite answers are
// a success and a refusal that the cell's ledger stored under the key (its
// ErrorInfo has metadata stored=true: every retry with the key gets it
// again). Any other refusal that follows (WRONG_CELL from one node's view
// of the topology, NOT_FOUND, INVALID_ARGUMENT, ACCOUNT_HELD without the
// mark, ...) describes that later attempt only, so it comes back as an
// *UnknownOutcomeError, never as a *BusinessError. An answer with reason
// OUTCOME_UNKNOWN (the router sends it, as UNAVAILABLE with the key in
// metadata idempotency_key, once one of its own attempts may have executed)
// makes the mutation ambiguous whatever its code: it is retried with the
// same key and, if still unknown at the deadline, returned as
// *UnknownOutcomeError; it is never a *BusinessError. The router follows
// the same rule (docs/ROUTER.md, "Which answers are final").
//
// # Router choice
//
// The client round-robins over the healthy routers of its own region. A
// router is marked unhealthy when an attempt to it fails with a transport
// error (UNAVAILABLE without a cellpay reason, a broken or refused
// connection, an attempt timeout); a retry then goes at once to another
// healthy router. While every router of the own region is unhealthy, the
// client uses the first other region (in sorted order) with a healthy
// router. A background prober re-checks unhealthy routers every
// ProbeInterval with the standard gRPC health check and marks them healthy
// again, so the client returns to its own region when one recovers. When no
// router at all is healthy, the client tries every router in turn.
// CurrentRegion reports the region in use.
package client
