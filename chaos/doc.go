// Package chaos runs game days against cellpay: "cut the fiber to hz-a and
// prove the money still adds up". A run starts an in-process three-site
// cluster (chaos/cluster), drives the bank workload through router/client
// while recording a history (chaos/history), injects a scenario's faults
// on a schedule through the chaos fabric, always heals, waits for quiet,
// gathers the final state and runs the checkers (chaos/check); the result
// renders as text, JSON and HTML (chaos/report).
//
// Callers' duties: give Run a fresh directory and a bounded duration; a run
// stops everything it started, also on error.
package chaos
