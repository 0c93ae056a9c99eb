// Package failover is the failover controller's pure core: a function from
// (observations, the controller's state, the time) to decisions. It never
// touches the network, a disk or a clock; the caller (control.Control, on
// the meta group's leader) does the I/O around it.
//
// Besides Decide it holds the controller's other decisions, as pure
// functions and trackers fed events and the time:
//   - PlanDrill checks and plans an operator's drill (evacuate, failback,
//     move, or a dry run of one) against the State and Input, returning
//     the drill and the State it sets, or a *DrillRefusal with a
//     RefusalReason; AbortDrillState is the State after an abort. The
//     caller records the State (site records, pins) before adopting it.
//   - MoveTracker is the bookkeeping of a term's moves: under way, held
//     back after a failure or until the observers see the new leader; its
//     Moving is the next Input's Moving.
//   - RTOTracker measures recovery times: fed faults (WatchFault), the
//     completed moves (WatchMove) and the routers' first writes (Observe),
//     it returns the measurements to record as first_write events; every
//     watch ends after its wait maximum (FirstWriteWaitMax by default).
//
// Their scenarios are transcripts in testdata/*.txt (transcript_test.go
// describes the commands; regenerate with -rewrite, then read the diff).
//
// The caller acts for one meta term at a time (the Raft term of the meta
// group in which it leads). Each tick it must, in order:
//  0. check that it still leads in the same term; if the term changed (or
//     leadership ended, however briefly), drop the State and everything
//     else held for the old term, cancel the old term's moves, and, if it
//     leads, rebuild the State from the meta group's records (site records
//     with their Failures, pins) after a linearizable read;
//  1. gather the newest Observation of every observer (nodes and routers in
//     every site) and the replicas' states (CellView), with their ages;
//  2. call Decide with the State it got from the previous tick;
//  3. record every SiteChange (state, Since = Input.Now, Reason, Failures)
//     in the meta group before acting on it, stamped with its term and
//     conditional on the record it last read (a controller that lost its
//     quorum or its term cannot record, so it cannot act);
//  4. start the Moves (each bounded by a timeout, cancelled when its term
//     ends, and carrying the term so that nodes refuse older terms), and
//     report moves under way in the next Input.
//
// Rules, with the thresholds of Config:
//   - A site is judged unreachable when observers in at least
//     ObserverSitesMin other sites judge it so; an observer site judges by
//     the majority of its fresh observers, on the backbone (site to site)
//     and on ingress (as a client reaches it). One observer, or one site's
//     observers, never fail a site over.
//   - healthy -> suspect at once; suspect -> down after DownAfter of
//     continuous unreachability; suspect -> healthy when no longer judged
//     unreachable; down -> healthy after RecoverAfter of being judged
//     reachable by ObserverSitesMin sites. drained is set and cleared only
//     by operators.
//   - Flap damping: each entry into down counts as a failure
//     (SiteStatus.Failures); a site healthy for FlapResetAfter is forgiven
//     (its count drops to 0 when it next turns suspect). The hold-down
//     before failback is HoldDownFor: min(HoldDown · 2^(failures-1),
//     HoldDownMax).
//   - A cell's leader belongs on: its pin (a move drill), else its home when
//     the home is healthy and has been for its hold-down, else the preferred
//     backup: a healthy replica site in the home's region first, then the
//     others, by site id; only a caught-up replica (lag at most
//     CatchUpLagMax) is a target.
//   - A leader in a down or drained site is moved at once (failover);
//     a leader in a healthy site that is not the preferred one is moved too
//     (Raft's own choice corrected, or a failback); a leader in a suspect
//     site is left alone. Failbacks run in waves of at most
//     FailbackWaveMax moves; other moves at most MovesInFlightMax at once.
package failover
