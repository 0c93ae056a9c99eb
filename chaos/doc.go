// Package chaos runs game days against cellpay: "cut the fiber to hz-a and
// prove the money still adds up". A run plays one scenario on a Target:
// it drives the bank workload (transfers, deposits, payouts, reads) through
// router/client while recording a history (chaos/history), injects the
// scenario's faults during the fault window (Options.FaultStart to
// FaultEnd, default 20% to 60% of the traffic), always heals, waits for
// quiet, gathers the final state and runs the checkers (chaos/check); the
// result renders as text, JSON and HTML (chaos/report).
//
// A Target is the cluster behind one small interface (target.go): its
// topology, how clients reach its routers, its leaders (polled, and moved
// home before traffic), its network faults (Network), the replicas' digests
// and the final ledger. Two exist:
//
//   - in process (StartInProcess, what Run uses without Options.Target): a
//     fresh chaos/cluster whose links go through a chaos/fabric, read
//     straight from the nodes' stores (InProcess wraps a cluster the caller
//     started, as the demo does, with Traffic for the workload alone);
//   - separate processes (DialRemote): a running cluster whose inter-site
//     and client traffic goes through one chaos proxy (chaos/proxy). Faults
//     go to the proxy's control API, clients dial the proxy's client routes,
//     and leaders, digests and balances come from the nodes' Control and
//     Cell gRPC services, dialed directly. With the processes' pid files
//     (RemoteConfig.PidDir) it can also crash and restart them (Crasher):
//     SIGKILL, then the same command line again, logging to the same files.
//
// Scenarios that crash processes (Scenario.Crashes) need a Crasher; Validate
// refuses them, by name, on a target without one. Scenarios that act on an
// in-process cluster's parts (Scenario.InProcessOnly: its simulated payout
// providers, ProviderFaulter; its nodes' credit path, CreditFaulter) are
// refused on any other target.
//
// Payouts: a target that is a PayoutTarget (an in-process cluster started
// by StartInProcess) gets payouts in its workload, through its simulated
// banks, which time out after paying now and then and keep payout ids for
// a window far beyond the run; the payouts checker compares their
// statements with the ledgers. A remote target is none (see docs/CHAOS.md:
// the local multi-process cluster runs no provider), so its workload sends
// no payouts.
//
// Callers' duties: validate Options first (Validate reports every violation,
// schedule included); give Run a fresh directory (in process) or a dialed
// Target, and a bounded duration. A run stops everything it started, also on
// error, and heals the network before it returns; a Target passed in stays
// the caller's to Close. Runs on a long-lived cluster use a run tag in every
// account id and key (Options.RunTag), so they never collide.
package chaos
