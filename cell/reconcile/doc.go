// Package reconcile proves, after a failover and continuously, that a
// cell's money adds up: it checks one cell's committed state, the
// cross-cell sums of every cell's summary, and one provider's statement
// against the payouts the ledger recorded, and it writes the report an
// operator (and a test) reads. DESIGN.md, "Reconciliation"; MISSION.md,
// incidents 1 and 2.
//
// Everything here is pure: no clock (callers pass now and the window), no
// network, no Raft. The cluster-wide driver (which cells and replicas to
// read, when, on which leader), replica digests (ReplicaMismatch findings),
// resolving in-flight work and the account holds live elsewhere.
//
//   - CheckCell reads one cell's state in one pass and returns a
//     CellSummary (counts by state, totals per currency) and its findings:
//     the identity per currency (NotConserved), accounts below their limit
//     (BelowLimit), cross-cell transfers and payouts waiting longer than the
//     stuck age (StuckTransfer, StuckPayout), stored totals, index keys and
//     account holds that disagree with the records (Inconsistent). It
//     decodes only the keys it checks, and only five fields of each
//     transfer record (decode.go); a SnapshotScanner lets it skip the other
//     keys unread (docs/BENCHMARKS.md: a cell of 1M transfers in ~0.75 s
//     through replication.Reader, ~0.35 s from a snapshot).
//   - CrossCell checks sum(sent) against sum(received) over the summaries
//     (CrossCellImbalance; CheckSkipped while money is in flight).
//   - MatchStatement matches a provider's statement against the recorded
//     payouts of a window (MissingAtProvider, MissingInLedger,
//     AmountMismatch, DuplicateAtProvider; Unresolved for payouts the
//     provider paid that the ledger has not settled yet). ReadPayouts
//     reads a cell's payouts for it.
//   - NewReport assembles a Report (JSON-tagged; WriteText for terminals).
//
// Unresolved and CheckSkipped findings are listed but are not problems
// (Kind.Problem): a report with only those is all clear. A payout PENDING
// or UNKNOWN that the provider paid is work in progress, which the
// executor's next query settles, not a discrepancy; if it stays unsettled
// past the stuck age, CheckCell reports it as StuckPayout.
//
// Every function returns its findings sorted (by kind in the order of
// Kinds, then cell, ids, currency), so equal inputs give equal reports;
// CheckCell and MatchStatement list at most 1,000 findings of one kind per
// cell and count the rest in one more finding of that kind.
//
// Callers' duties:
//   - pass CheckCell a Scanner whose one Scan sees the state at one moment
//     (replication.Reader does: one Pebble iterator), or a SnapshotScanner
//     only if every Scan reads the same snapshot; record the applied index
//     it read at (Coverage.IndexRanges) from the same replica;
//   - pass the real time as now, and a stuck age longer than the outbox
//     relay's and the payout executor's normal delays (e.g. a few minutes):
//     younger work is in progress, not stuck;
//   - pass CrossCell the summaries of every cell, and confirm a
//     CrossCellImbalance on a second round before alerting, since the cells
//     were read at different moments while transfers moved;
//   - pass MatchStatement every payout of the cells (every provider, not
//     only the window; ReadPayouts reads one cell's) and a statement that
//     reaches past the window's end by the provider's settlement delay;
//   - compare replica digests at one applied index and add
//     ReplicaMismatch findings to the report themselves.
package reconcile
