// Package report renders the result of one chaos run (a game day: "cut the
// fiber to hz-a and prove the money still adds up") three ways:
//
//   - WriteText: a screenful for the terminal — the verdict first, then the
//     scenario, operation counts, every checker with its evidence when it did
//     not pass, failover times per cell, client-visible errors and p99.
//   - WriteJSON: the whole Run, indented, with stable snake_case field names,
//     for scripts and for archiving next to the history.
//   - WriteHTML: one self-contained HTML file (no external assets, no
//     JavaScript) with the verdict, a timeline chart drawn as inline SVG
//     (throughput and client-visible errors, p99 latency, and a lane of fault
//     windows and failovers, with fault windows shaded across all panels), the
//     checker results, the failovers and the event log.
//
// The package is pure rendering: it reads a Run and writes bytes, with no
// clock, no randomness and no I/O besides the writer, so equal Runs render to
// equal bytes (the text output is tested against a golden file).
//
// Callers' duties: fill a Run from the history and the checkers (Ops with
// CountOps, Results from chaos/check, Seconds and Failovers computed from the
// history, Events from History.Events); set StartNs to the history's start so
// that Seconds offsets and event times share one origin; then call the
// writers. Pass is the verdict the caller should turn into its exit code: a
// run with no checker results, or with an inconclusive one, did not pass.
package report
