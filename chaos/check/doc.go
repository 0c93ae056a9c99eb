// Package check holds the invariant checkers of cellpay's chaos runs on the
// bank workload, after Jepsen's bank and linearizability checkers. Each
// checker is a pure function of the history (chaos/history: ops with their
// outcomes, events) and of the final state gathered from the healed, quiet
// cluster, and returns a history.CheckResult whose evidence (at most
// history.EvidenceMax lines) names the operation ids, transfer ids,
// accounts and amounts at fault.
//
// The workload creates accounts (balance 0), funds them with deposits,
// then runs transfers (within a cell and to other cells), small deposits,
// payouts through the simulated providers, and balance reads.
// Outcomes, as the checkers read them:
//
//   - ok: took effect exactly once;
//   - fail: a business error, took no effect (failed ops are left out);
//   - unknown: may or may not have taken effect, at most once;
//   - pending (never completed): like unknown.
//
// Ops that share an idempotency key and parameters (a client retrying the
// same transfer id or deposit key) are one effect: the ledger executes a
// key once and replays the result. It is acknowledged if any of its ops
// was.
//
// The checkers:
//
// Conservation ("conservation"): the final balances, plus the money in
// flight between cells, held by unsettled payouts and paid out, sum to the
// deposits the cells recorded (final.Deposited), and that total lies
// between the acknowledged deposits and the acknowledged plus uncertain
// ones; when the uncertain deposits have at most 2^12 distinct subset sums,
// it must be the acknowledged total plus one of them.
//
// NoLostWrites ("no-lost-writes", RPO = 0): every acknowledged transfer is
// stored with its payer, payee and amount; every stored transfer was
// invoked with those parameters, and not only by ops that failed; every
// account's balance is its acknowledged deposits plus the net of the
// stored transfers, minus its stored payouts not FAILED, plus a subset of
// its uncertain deposits (inconclusive past 2^12 distinct subset sums). A
// mismatch names the single transfer, deposit or payout whose double (or
// missing) application would explain it.
//
// CrossCell ("cross-cell"): every cross-cell transfer, as its two cells
// store it (final.CrossCell), ended COMPLETED and credited once, or
// REVERSED and not credited, reversed only on a refusal the payee's ledger
// stored under the credit's key (a WRONG_CELL from one node's view of the
// topology is no refusal: the credit may have applied); none in flight.
//
// Payouts ("payouts"): the providers' statements (final.Providers) against
// the ledgers' payouts (final.Payouts, matched by the provider's id,
// cell.ProviderPayoutID): no id paid twice (in one statement or two), every
// SUCCEEDED payout paid by its provider, every payment a SUCCEEDED payout of
// some ledger at that provider, none PENDING or UNKNOWN after quiet (each
// listed), no provider given more Submits of an id than the ledger
// committed PayoutAttempts for it (a call from a deposed leader), every
// acknowledged payout stored, every stored payout invoked, and the ledgers'
// held and paid-out totals equal to their records.
//
// ReplicasAgree ("replicas-agree"): per cell, every replica reports the
// same applied index and state digest. The check runs after quiet, so a
// replica behind is a failure, not lag. No reports at all: inconclusive.
//
// Linearizable ("linearizable-reads"): per account, the ok balance reads
// are linearizable (porcupine) against a register starting at 0 that
// deposits and transfers move by their amounts. Unknown and pending
// transfers are resolved by the final state: stored, they took effect at
// an unseen time (completion math.MaxInt64, so they may be linearized
// anywhere after their invocation); not stored, they are left out; payouts
// are debits, resolved the same way (a FAILED one is released again at an
// unseen time). An
// unknown or pending deposit (the final state does not say which ones took
// effect) is kept with a math.MaxInt64 completion: the search may place it
// before the reads that saw it or after every read, so "took effect" and
// "did not" both stay possible without a nondeterministic model. The
// search runs per account with the given timeout, on at most
// LinearizableOpsMax operations (a sound prefix, said in the evidence). A
// timeout makes the result inconclusive, naming the accounts; a violation
// names the account, the read that no order explains, its value and time,
// and the writes completed before it began.
//
// Availability ("availability"): the per-second series (by completion
// time) of ok, fail and unknown outcomes (pending ones in the last second)
// with p50/p99 latency, passing iff unknown + pending <= errorsMax, and the
// failovers measured from events: for each fault-start event naming a site,
// each cell last led from that site gets a leader in another site at its
// next such leader event (EndNs 0 if never).
//
// All runs the seven in that order: conservation, no-lost-writes,
// cross-cell, payouts, replicas-agree, linearizable-reads, availability.
//
// Assumptions and callers' duties: the final state is read after every
// fault healed and the cluster went quiet (replicas caught up, leaders
// stable); op times are Unix nanoseconds from one clock; deposit and
// transfer amounts are positive; a transfer's Key is its transfer id, as
// stored in final.Transfers. The balance model does not enforce the
// ledger's overdraft rule (accounts may be created to go negative): that is
// the ledger's business, not linearizability's.
package check
