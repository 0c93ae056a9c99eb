package cell

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/channel"
	"github.com/cellpay/cellpay/replication/replicationtest"
)

// callLog records which node called the provider, and when.
type callLog struct {
	mu    sync.Mutex
	calls []providerCall
}

type providerCall struct {
	node, kind string
	at         time.Time
}

func (l *callLog) add(node, kind string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, providerCall{node: node, kind: kind, at: time.Now()})
}

func (l *callLog) submitsBy(node string, from, to time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.calls {
		if c.node == node && c.kind == "submit" && c.at.After(from) && c.at.Before(to) {
			n++
		}
	}
	return n
}

// taggedProvider is one node's view of a shared simulated provider: every
// call is logged with the node that made it.
type taggedProvider struct {
	*channel.Sim
	node string
	log  *callLog
}

func (p taggedProvider) Submit(ctx context.Context, po channel.Payout) (channel.Result, error) {
	p.log.add(p.node, "submit")
	return p.Sim.Submit(ctx, po)
}

func (p taggedProvider) Query(ctx context.Context, id string) (channel.Result, error) {
	p.log.add(p.node, "query")
	return p.Sim.Query(ctx, id)
}

// TestDeposedLeaderNeverCallsAProvider (issue 13, item 6): a payout is
// UNKNOWN (its submit hung and recorded nothing at the provider), and the
// leader's site is cut off. The old leader still believes it leads for up
// to its lease, queries, hears "not found" and would submit again; with
// every submit fenced by a PayoutAttempt committed in the current term, it
// cannot commit the attempt and so never calls the provider. The new leader
// elsewhere settles the payout: paid once.
func TestDeposedLeaderNeverCallsAProvider(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node cluster with a fiber cut (about 10 s)")
	}
	sim, err := channel.NewSim(channel.DefaultSimConfig("bank-a"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	log := &callLog{}
	c := newTestClusterWith(t, func(i int, cfg *NodeConfig) {
		cfg.Payouts = PayoutConfig{
			Providers:   []channel.Provider{taggedProvider{Sim: sim, node: fmt.Sprintf("n%d", i+1), log: log}},
			CallTimeout: 300 * time.Millisecond, BackoffMin: 250 * time.Millisecond, BackoffMax: 500 * time.Millisecond, Wait: -1,
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	acct := c.accountsIn(1, 1, "fence")[0]
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.route(ctx, 1, func(ctx context.Context, cl pb.CellClient) error {
		_, err := cl.CreateAccount(ctx, &pb.CreateAccountRequest{CellId: 1, Command: &pb.CreateAccount{IdempotencyKey: "c-" + acct, AccountId: acct, Currency: "CNY"}})
		return err
	}))
	must(c.route(ctx, 1, func(ctx context.Context, cl pb.CellClient) error {
		_, err := cl.Deposit(ctx, &pb.DepositRequest{CellId: 1, Command: &pb.Deposit{IdempotencyKey: "d-" + acct, AccountId: acct, AmountMinor: 1_000, Currency: "CNY", ExternalRef: "x"}})
		return err
	}))
	leader := -1
	replicationtest.EventuallyNoError(t, 20*time.Second, func() error {
		for i := range c.ids {
			if g, err := c.node(i).Host().Group(1); err == nil && g.IsLeader() {
				leader = i
				return nil
			}
		}
		return fmt.Errorf("none")
	}, "a leader of cell 1")

	must(sim.SetBehaviour(channel.Behaviour{Mode: channel.ModeTimeoutBefore})) // hangs, records nothing
	must(c.route(ctx, 1, func(ctx context.Context, cl pb.CellClient) error {
		_, err := cl.Payout(ctx, &pb.PayoutRequest{CellId: 1, Command: &pb.Payout{PayoutId: "po-fenced", AccountId: acct, AmountMinor: 300, Currency: "CNY"}})
		return err
	}))
	g, err := c.node(leader).Host().Group(1)
	must(err)
	replicationtest.EventuallyNoError(t, 20*time.Second, func() error {
		rec, err := GetPayout(g.Reader(), acct, "po-fenced")
		if err != nil || rec.GetState() != pb.PayoutState_PAYOUT_STATE_UNKNOWN {
			return fmt.Errorf("%v, %v", rec, err)
		}
		return nil
	}, "the payout UNKNOWN")
	// Cut the leader off before its next query (backoff >= 125 ms); from
	// now on the provider would pay any submit.
	must(sim.SetBehaviour(channel.Behaviour{Mode: channel.ModeSucceed}))
	c.fab.Isolate(c.sites[leader])
	cut := time.Now()
	replicationtest.EventuallyNoError(t, 20*time.Second, func() error {
		if g.IsLeader() {
			return fmt.Errorf("%s still leads", c.ids[leader])
		}
		return nil
	}, "the old leader stepped down")
	time.Sleep(500 * time.Millisecond) // a query and a submit attempt on the old leader would be done by now
	healed := time.Now()
	if n := log.submitsBy(c.ids[leader], cut, healed); n != 0 {
		t.Fatalf("the cut-off leader %s called the provider's Submit %d times after the cut", c.ids[leader], n)
	}
	c.fab.HealAll()
	replicationtest.EventuallyNoError(t, 30*time.Second, func() error {
		var rec *pb.PayoutRecord
		err := c.route(ctx, 1, func(ctx context.Context, cl pb.CellClient) (err error) {
			rec, err = cl.GetPayout(ctx, &pb.GetPayoutRequest{CellId: 1, PayoutId: "po-fenced", AccountId: acct})
			return err
		})
		if err != nil || rec.GetState() != pb.PayoutState_PAYOUT_STATE_SUCCEEDED {
			return fmt.Errorf("%v, %v", rec, err)
		}
		return nil
	}, "the payout SUCCEEDED")
	if twice := sim.PaidTwice(); len(twice) != 0 || len(sim.Statement()) != 1 {
		t.Fatalf("statement %v, paid twice %v; want one payment", sim.Statement(), twice)
	}
}
