package chaos

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cellpay/cellpay/cell/channel"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/cluster"
	"github.com/cellpay/cellpay/chaos/history"
	"github.com/cellpay/cellpay/router/client"
)

// Target is the cluster a run plays on: a fresh in-process cluster
// (StartInProcess, what Run uses without Options.Target) or separate
// processes behind the chaos proxy (DialRemote). A run drives its clients,
// faults its network, polls its leaders and reads its final state only
// through this interface.
type Target interface {
	// Topology is the cluster's topology.
	Topology() *topology.Topology
	// ClientConfig says how a client in region reaches the routers: every
	// region's router addresses and a dialer that goes through the same
	// ingress links the faults act on. Deadlines are the run's to set.
	ClientConfig(region string) client.Config
	// Leaders returns the node that leads each cell now; a cell without a
	// known leader is absent. When two replicas claim a cell, the higher
	// term wins.
	Leaders(ctx context.Context) map[uint64]string
	// MoveLeader moves cellID's leadership to nodeID (refusals are errors).
	MoveLeader(ctx context.Context, cellID uint64, nodeID string) error
	// Replicas reports, per cell, every replica that answered with its
	// applied index and state digest.
	Replicas(ctx context.Context) map[uint64][]history.Replica
	// ReadLedger reads, from the leaders, the final balances of accounts,
	// every transfer stored touching them, and the money deposited.
	ReadLedger(ctx context.Context, accounts []string) (history.Final, error)
	Network
	// Describe says in one line what the target is, for the report.
	Describe() string
	// Close stops what the target started (the in-process cluster); a
	// remote target only drops its connections.
	Close() error
}

// Network is what faults do to a target's links between sites, and from
// the clients to the sites (ingress). Every call changes the links at once
// or fails; HealAll undoes every cut, never delays.
type Network interface {
	Cut(a, b string) error
	Heal(a, b string) error
	Isolate(site string) error
	CutIngress(site string) error
	HealAll() error
	// Delay is the one-way delay and jitter from a to b now.
	Delay(a, b string) (oneWay, jitter time.Duration, err error)
	// SetDelay sets both directions between a and b.
	SetDelay(a, b string, oneWay, jitter time.Duration) error
	// SetDelayOneWay sets the direction from a to b only; b to a keeps its
	// delay (a slow return path).
	SetDelayOneWay(from, to string, oneWay, jitter time.Duration) error
}

// PayoutTarget is the optional ability of a target whose nodes pay payouts
// out through providers the run can read (an in-process cluster's
// simulated banks): the workload then sends payouts too, and the payouts
// checker compares the providers' statements with the ledgers.
type PayoutTarget interface {
	// PayoutProviders are the providers the workload pays through (nil:
	// it sends none).
	PayoutProviders() []string
	// ReadProviders reads every provider's statement and Submit counts,
	// and how often each of payoutIDs (the providers' ids) was queried.
	ReadProviders(ctx context.Context, payoutIDs []string) (map[string]history.ProviderStatement, error)
}

// ProviderFaulter is the optional ability to change what the payout
// providers do (the payout-ambiguity scenario): an in-process cluster's
// simulated banks.
type ProviderFaulter interface {
	// ChangeProviders applies change to every provider at once
	// (channel.Sim.ChangeBehaviours).
	ChangeProviders(change channel.BehaviourChange) error
}

// CreditFaulter is the optional ability to change how the cross-cell
// credit path sees a payee cell's ownership (the topology-flip scenario):
// an in-process cluster's couriers (cluster.CreditFault).
type CreditFaulter interface {
	// SetCreditFault puts f in force (nil ends it).
	SetCreditFault(f *cluster.CreditFault)
	CreditFaultCounts() cluster.CreditFaultCounts
}

// inProcessFaults is what the scenarios marked InProcessOnly need.
type inProcessFaults interface {
	PayoutTarget
	ProviderFaulter
	CreditFaulter
}

// Crasher is the optional ability to stop processes abruptly and restart
// them: the node-crash and router-crash scenarios need it. An in-process
// cluster has it; a remote target has it when it knows the processes' pid
// files (RemoteConfig.PidDir).
type Crasher interface {
	CrashNode(nodeID string) error
	RestartNode(nodeID string) error
	CrashRouter(site string) error
	RestartRouter(site string) error
}

// Leader and MoveLeader retries: a move can be refused while another is
// under way (the failover controller moves cells home too).
const (
	leaderPollInterval = 50 * time.Millisecond
	moveTimeout        = 5 * time.Second
	moveRetryPause     = 100 * time.Millisecond
)

// waitLeaders waits until every cell of t has a leader.
func waitLeaders(ctx context.Context, t Target) error {
	for {
		leaders := t.Leaders(ctx)
		var missing []uint64
		for _, c := range t.Topology().Cells() {
			if leaders[c.ID] == "" {
				missing = append(missing, c.ID)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if !pause(leaderPollInterval, ctx.Done()) {
			return fmt.Errorf("chaos: cells %v have no leader: %w", missing, ctx.Err())
		}
	}
}

// leadersHome moves every cell's leadership to its replica in its home site
// and waits until each leads there, retrying refused moves until ctx ends.
func leadersHome(ctx context.Context, t Target) error {
	topo := t.Topology()
	var errs []error
	for _, c := range topo.Cells() {
		home := ""
		for _, id := range c.Replicas {
			if n, _ := topo.Node(id); n.Site == c.Home {
				home = id
			}
		}
		if home == "" {
			continue
		}
		var last error
		for t.Leaders(ctx)[c.ID] != home && ctx.Err() == nil {
			mctx, cancel := context.WithTimeout(ctx, moveTimeout)
			last = t.MoveLeader(mctx, c.ID, home)
			cancel()
			if last != nil {
				pause(moveRetryPause, ctx.Done())
			}
		}
		if t.Leaders(ctx)[c.ID] != home {
			errs = append(errs, fmt.Errorf("chaos: cell %d does not lead at home %s: %w", c.ID, home, errors.Join(last, ctx.Err())))
		}
	}
	return errors.Join(errs...)
}
